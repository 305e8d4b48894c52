// The MIME types of changelab display bundles. The kernel library emits one of these next to
// `text/html` and `text/plain` fallbacks, so notebooks still read well without the extension.

export const MimeTypes = {
  status: 'application/vnd.changelab.status+json',
  table: 'application/vnd.changelab.table+json',
  validation: 'application/vnd.changelab.validation+json',
  map: 'application/vnd.changelab.map+json',
  profile: 'application/vnd.changelab.profile+json',
  progress: 'application/vnd.changelab.progress+json'
} as const;

export type ChangelabMimeType = (typeof MimeTypes)[keyof typeof MimeTypes];

export const CHANGELAB_MIME_TYPES: readonly ChangelabMimeType[] =
  Object.values(MimeTypes);

/**
 * Rank of the changelab renderers. Lower ranks win; JupyterLab's HTML renderer has 50 and
 * Markdown 60, so a bundle carrying ours and `text/html` is rendered by us.
 */
export const CHANGELAB_RENDERER_RANK = 40;
