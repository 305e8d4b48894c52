// DOM for the generic changelab card: title, status badge, summary, items and table. Every
// piece of payload text goes in through `textContent`, never markup, so outputs from shared or
// untrusted notebooks cannot inject HTML.
import type { IDisplayPayload, IPayloadTable, Scalar } from './payload';

/** Tables longer than this show their first rows and say how many were left out. */
export const MAX_TABLE_ROWS = 500;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A cell or item value: text, with a class that says its type (numbers align right). */
function renderValue(tag: 'dd' | 'td', value: Scalar): HTMLElement {
  if (value === null) {
    const node = element(
      tag,
      'jp-changelab-value jp-changelab-value-null',
      '—'
    );
    node.title = 'no value';
    return node;
  }
  return element(
    tag,
    `jp-changelab-value jp-changelab-value-${typeof value}`,
    String(value)
  );
}

function renderTable(table: IPayloadTable): HTMLElement {
  const wrapper = element('div', 'jp-changelab-card-table-wrapper');
  const node = element('table', 'jp-changelab-card-table');

  const headRow = element('tr');
  for (const column of table.columns) {
    const th = element('th', undefined, column);
    th.scope = 'col';
    headRow.append(th);
  }
  const head = element('thead');
  head.append(headRow);

  const body = element('tbody');
  for (const row of table.rows.slice(0, MAX_TABLE_ROWS)) {
    const tr = element('tr');
    for (const cell of row) {
      tr.append(renderValue('td', cell));
    }
    body.append(tr);
  }
  node.append(head, body);
  wrapper.append(node);

  if (table.rows.length > MAX_TABLE_ROWS) {
    wrapper.append(
      element(
        'div',
        'jp-changelab-card-note',
        `Showing the first ${MAX_TABLE_ROWS} of ${table.rows.length} rows.`
      )
    );
  }
  return wrapper;
}

/** The card for a valid payload. */
export function renderCard(payload: IDisplayPayload): HTMLElement {
  const card = element('div', 'jp-changelab-card');
  card.dataset.changelabKind = payload.kind;
  if (payload.status) {
    card.classList.add(`jp-changelab-mod-${payload.status}`);
  }

  const header = element('div', 'jp-changelab-card-header');
  header.append(element('div', 'jp-changelab-card-title', payload.title));
  if (payload.status) {
    const badge = element(
      'span',
      `jp-changelab-badge jp-changelab-badge-${payload.status}`,
      payload.status
    );
    badge.setAttribute('role', 'status');
    header.append(badge);
  }
  card.append(header);

  if (payload.summary) {
    card.append(element('p', 'jp-changelab-card-summary', payload.summary));
  }

  if (payload.items && payload.items.length > 0) {
    const list = element('dl', 'jp-changelab-card-items');
    for (const item of payload.items) {
      list.append(element('dt', 'jp-changelab-card-label', item.label));
      list.append(renderValue('dd', item.value));
    }
    card.append(list);
  }

  if (payload.table) {
    card.append(renderTable(payload.table));
  }
  return card;
}

/**
 * The card shown instead of a payload that cannot be read: what is wrong and, when the bundle
 * has one, its plain-text fallback, so the user still sees the output.
 */
export function renderInvalidCard(
  mimeType: string,
  reason: string,
  kind?: string,
  fallbackText?: string
): HTMLElement {
  const card = element('div', 'jp-changelab-card jp-changelab-card-invalid');
  if (kind) {
    card.dataset.changelabKind = kind;
  }
  const message = element('div', 'jp-changelab-card-error');
  message.setAttribute('role', 'alert');
  message.textContent = `Cannot display this changelab output (${mimeType}): ${reason}.`;
  card.append(message);
  if (fallbackText) {
    card.append(element('pre', 'jp-changelab-card-fallback', fallbackText));
  }
  return card;
}
