// The changelab MIME extension (package.json `jupyterlab.mimeExtension`): one generic card
// renderer for every changelab MIME type until specialised renderers take over some of them.
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { CHANGELAB_RENDERER_RANK } from './render/mimetypes';
import { cardRendererFactory } from './render/renderer';
import { MAP_RENDERER_RANK, mapRendererFactory } from './map/renderer';

const cardRenderer: IRenderMime.IExtension = {
  id: '@changelab/jupyterlab:card-renderer',
  description:
    'Renders changelab display bundles (application/vnd.changelab.*+json) as cards.',
  rendererFactory: cardRendererFactory,
  rank: CHANGELAB_RENDERER_RANK,
  dataType: 'json'
};

/** Maps (`map(...)` outputs) get the changelab map widget instead of the card. */
const mapRenderer: IRenderMime.IExtension = {
  id: '@changelab/jupyterlab:map-renderer',
  description: 'Renders changelab map outputs (application/vnd.changelab.map+json) as interactive maps.',
  rendererFactory: mapRendererFactory,
  rank: MAP_RENDERER_RANK,
  dataType: 'json'
};

export {
  MimeTypes,
  CHANGELAB_MIME_TYPES,
  CHANGELAB_RENDERER_RANK
} from './render/mimetypes';
export type { IDisplayPayload } from './render/payload';

export default [cardRenderer, mapRenderer];
