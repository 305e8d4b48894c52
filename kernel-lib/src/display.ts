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

/** A progress bar that updates in place: one notebook output, or one terminal line on stderr. */
export interface IProgress {
  /** `total` is null while it is not known yet (a listing still running). */
  update(done: number, total: number | null, detail?: string): void;
  /** Shows the final state (and the summary line) and stops updating. */
  finish(summary?: string, status?: 'ok' | 'warning' | 'error'): void;
}

export interface IProgressOptions {
  /** 'auto' (default): the notebook when in a kernel, else stderr when it is a terminal, else nothing. */
  mode?: 'auto' | 'notebook' | 'terminal' | 'none';
  /** Fewest milliseconds between two redraws. Default 200. */
  intervalMs?: number;
}

function progressBundle(title: string, done: number, total: number | null, detail: string, status?: 'ok' | 'warning' | 'error'): IDisplayBundle {
  const fraction = total ? Math.min(1, done / total) : null;
  const count = total === null ? `${done}` : `${done} / ${total}`;
  const html =
    `<div class="changelab-fallback"><strong>${escapeHtml(title)}</strong> ` +
    `<progress value="${done}" ${total === null ? '' : `max="${total}"`} style="width:16em;vertical-align:middle"></progress> ` +
    `${escapeHtml(count)}${detail ? ` — ${escapeHtml(detail)}` : ''}</div>`;
  return {
    data: {
      [mimeType('progress')]: { version: 1, kind: 'progress', title, status, summary: detail || undefined, data: { done, total, fraction } } satisfies ICardPayload,
      'text/html': html,
      'text/plain': `${title}: ${count}${detail ? ` — ${detail}` : ''}`
    }
  };
}

/** Starts a progress display titled `title`. */
export function progress(title: string, options: IProgressOptions = {}): IProgress {
  const mode = options.mode ?? 'auto';
  const writer = mode === 'auto' || mode === 'notebook' ? kernelWriter() : undefined;
  const terminal = !writer && (mode === 'terminal' || (mode === 'auto' && process.stderr.isTTY === true));
  const intervalMs = options.intervalMs ?? 200;
  const displayId = `changelab-progress-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  let shown = false;
  let last = 0;
  let finished = false;
  let state: { done: number; total: number | null; detail: string } = { done: 0, total: null, detail: '' };

  const draw = (status?: 'ok' | 'warning' | 'error') => {
    if (writer) {
      const bundle = progressBundle(title, state.done, state.total, state.detail, status);
      writer({ data: bundle.data, metadata: {}, transient: { display_id: displayId } }, shown);
    } else if (terminal) {
      const width = 24;
      const fraction = state.total ? Math.min(1, state.done / state.total) : 0;
      const bar = state.total ? '#'.repeat(Math.round(fraction * width)).padEnd(width, '.') : '?'.repeat(width);
      const count = state.total === null ? `${state.done}` : `${state.done}/${state.total}`;
      const line = `${title} [${bar}] ${count}${state.detail ? ` ${state.detail}` : ''}`;
      process.stderr.write(`\r${line.slice(0, (process.stderr.columns || 100) - 1)}\x1b[K`);
    }
    shown = true;
  };

  return {
    update(done, total, detail = '') {
      if (finished) {
        return;
      }
      state = { done, total, detail };
      const now = Date.now();
      if (now - last >= intervalMs || !shown) {
        last = now;
        draw();
      }
    },
    finish(summary, status = 'ok') {
      if (finished) {
        return;
      }
      finished = true;
      if (summary !== undefined) {
        state = { ...state, detail: summary };
      }
      draw(status);
      if (terminal) {
        process.stderr.write('\n');
      }
    }
  };
}
