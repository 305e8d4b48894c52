// Small DOM builders shared by the live panels: elements with attributes, accessible tables
// (caption, column headers, selectable rows), buttons with screen-reader labels, and the
// formatting of bytes, dates and values the way the panels show them.

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | undefined | null>;

/** `el('td', {class: 'x', 'aria-label': 'y'}, child, ...)`; false / null / undefined children are skipped. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name === 'class') {
      node.className = String(value);
    } else if (name === 'text') {
      node.textContent = String(value);
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A button with a visible text and, when it differs, a fuller label for screen readers. */
export function button(text: string, onClick: (event: MouseEvent) => void, options: { label?: string; className?: string; kind?: 'accept' | 'warn' | 'default' } = {}): HTMLButtonElement {
  const b = el('button', {
    type: 'button',
    class: `jp-changelab-live-button jp-mod-${options.kind ?? 'default'}${options.className ? ` ${options.className}` : ''}`,
    'aria-label': options.label && options.label !== text ? options.label : undefined,
    title: options.label
  });
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

export interface IColumn<T> {
  title: string;
  cell: (row: T) => Child;
  className?: string;
}

/**
 * A table with a caption (visually hidden, read by screen readers) and column headers. With
 * `onSelect`, each row is focusable and is chosen by click, Enter or Space; `selected` marks one.
 */
export function table<T>(
  caption: string,
  columns: IColumn<T>[],
  rows: T[],
  options: { onSelect?: (row: T, tr: HTMLTableRowElement) => void; rowLabel?: (row: T) => string; className?: string; rowClass?: (row: T) => string | undefined } = {}
): HTMLTableElement {
  const t = el('table', { class: `jp-changelab-live-table${options.className ? ` ${options.className}` : ''}` });
  t.append(el('caption', { class: 'jp-changelab-sr-only' }, caption));
  const head = el('thead', {}, el('tr', {}, ...columns.map(c => el('th', { scope: 'col', class: c.className }, c.title))));
  const body = el('tbody');
  for (const row of rows) {
    const tr = el('tr', { class: options.rowClass?.(row) });
    for (const c of columns) {
      tr.append(el('td', { class: c.className }, c.cell(row)));
    }
    if (options.onSelect) {
      const select = () => {
        for (const other of body.querySelectorAll('tr[aria-selected="true"]')) {
          other.setAttribute('aria-selected', 'false');
        }
        tr.setAttribute('aria-selected', 'true');
        options.onSelect!(row, tr);
      };
      tr.tabIndex = 0;
      tr.setAttribute('aria-selected', 'false');
      if (options.rowLabel) {
        tr.setAttribute('aria-label', options.rowLabel(row));
      }
      tr.classList.add('jp-mod-selectable');
      tr.addEventListener('click', event => {
        if (!(event.target as HTMLElement).closest('button, a, input, select')) {
          select();
        }
      });
      tr.addEventListener('keydown', event => {
        if ((event.key === 'Enter' || event.key === ' ') && event.target === tr) {
          event.preventDefault();
          select();
        }
      });
    }
    body.append(tr);
  }
  if (options.onSelect) {
    t.setAttribute('role', 'grid');
  }
  t.append(head, body);
  return t;
}

/** A label and its value, for detail sections. */
export function facts(items: [string, Child][]): HTMLDListElement {
  const dl = el('dl', { class: 'jp-changelab-live-facts' });
  for (const [label, value] of items) {
    dl.append(el('dt', {}, label), el('dd', {}, value ?? '—'));
  }
  return dl;
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) {
    return '—';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** A date as `YYYY-MM-DD HH:MM` in the browser's time zone, with the full ISO time as tooltip. */
export function time(iso: string | null | undefined): HTMLElement | string {
  if (!iso) {
    return '—';
  }
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return iso;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return el('time', { datetime: d.toISOString(), title: d.toISOString() }, text);
}

/** A value from a result (number, string, null, object) as one short line. */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) {
    return 'null';
  }
  if (typeof v === 'number') {
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  }
  if (typeof v === 'string') {
    return v;
  }
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 199)}…` : s;
}

/** A pass / fail badge: the word is there for everyone, the colour only helps. */
export function badge(ok: boolean, yes = 'pass', no = 'fail'): HTMLElement {
  return el('span', { class: `jp-changelab-live-badge ${ok ? 'jp-mod-ok' : 'jp-mod-bad'}` }, ok ? yes : no);
}
