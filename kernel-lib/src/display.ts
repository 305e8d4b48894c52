// Rich output for notebooks. tslab has no Jupyter comms, and a library's own require('tslab') may
// load a second copy whose display is not wired to the kernel, so we find the kernel's own tslab
// module among the loaded ones and send display_data through it. Every bundle carries our MIME type
// (rendered by the changelab extension) plus HTML and plain text, so shared notebooks stay readable
// where the extension is absent. Outside a kernel (CLI, tests) `show` prints the plain text.

export const MIME_PREFIX = 'application/vnd.changelab.';

export type DisplayKind = 'status' | 'table' | 'validation' | 'map' | 'profile' | 'progress';
export type Scalar = string | number | boolean | null;

/** The JSON every changelab MIME type carries (version 1); the extension renders it. */
export interface ICardPayload {
  version: 1;
  kind: DisplayKind;
  title: string;
  summary?: string;
  status?: 'ok' | 'warning' | 'error';
  items?: { label: string; value: Scalar }[];
  table?: { columns: string[]; rows: Scalar[][] };
  data?: unknown;
}

/** A Jupyter MIME bundle: `data` maps MIME types to content. */
export interface IDisplayBundle {
  data: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/** Anything that knows how to show itself in a notebook. */
export interface IDisplayable {
  toDisplay(): IDisplayBundle;
}

export const mimeType = (kind: DisplayKind) => `${MIME_PREFIX}${kind}+json`;

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const cell = (v: Scalar) => (v === null ? '—' : String(v));

/** Builds the bundle for a card: our MIME type, an HTML fallback and plain text. */
export function card(payload: Omit<ICardPayload, 'version'>): IDisplayBundle {
  const full: ICardPayload = { version: 1, ...payload };
  const html: string[] = [`<div class="changelab-fallback"><strong>${escapeHtml(full.title)}</strong>`];
  const text: string[] = [full.title];
  if (full.status) {
    html.push(` <em>[${full.status}]</em>`);
    text[0] += ` [${full.status}]`;
  }
  if (full.summary) {
    html.push(`<p>${escapeHtml(full.summary)}</p>`);
    text.push(full.summary);
  }
  if (full.items?.length) {
    html.push('<table>');
    for (const { label, value } of full.items) {
      html.push(`<tr><th style="text-align:left">${escapeHtml(label)}</th><td style="text-align:left">${escapeHtml(cell(value))}</td></tr>`);
      text.push(`  ${label}: ${cell(value)}`);
    }
    html.push('</table>');
  }
  if (full.table) {
    html.push('<table><tr>', ...full.table.columns.map(c => `<th>${escapeHtml(c)}</th>`), '</tr>');
    text.push('  ' + full.table.columns.join(' | '));
    for (const row of full.table.rows) {
      html.push('<tr>', ...row.map(v => `<td>${escapeHtml(cell(v))}</td>`), '</tr>');
      text.push('  ' + row.map(cell).join(' | '));
    }
    html.push('</table>');
  }
  html.push('</div>');
  return {
    data: { [mimeType(full.kind)]: full, 'text/html': html.join(''), 'text/plain': text.join('\n') }
  };
}

type WriteDisplayData = (content: { data: Record<string, unknown>; metadata: object; transient: object }, update: boolean) => void;

/** The running tslab kernel's display writer, if this process is a tslab kernel executing a cell. */
function kernelWriter(): WriteDisplayData | undefined {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file)) {
      const writer = (mod?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData;
      if (typeof writer === 'function') {
        return writer as WriteDisplayData;
      }
    }
  }
  return undefined;
}

const isDisplayable = (x: unknown): x is IDisplayable =>
  typeof x === 'object' && x !== null && typeof (x as IDisplayable).toDisplay === 'function';

/**
 * Shows a bundle (or anything with `toDisplay()`) as rich output in the current notebook cell;
 * outside a kernel, prints its plain text. Returns nothing, since tslab prints a cell's last value.
 */
export function show(what: IDisplayBundle | IDisplayable): void {
  const bundle = isDisplayable(what) ? what.toDisplay() : what;
  const writer = kernelWriter();
  if (writer) {
    writer({ data: bundle.data, metadata: bundle.metadata ?? {}, transient: {} }, false);
    return;
  }
  const text = bundle.data['text/plain'];
  console.log(typeof text === 'string' ? text : JSON.stringify(bundle.data, null, 2));
}
