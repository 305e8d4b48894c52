// The changelab display payload (version 1) and its checking. Outputs come from notebooks that
// may be old, shared or hand-edited, so a payload is checked field by field and a problem is
// reported with the path of the offending field instead of being thrown at the output area.

export type Scalar = string | number | boolean | null;

export type PayloadStatus = 'ok' | 'warning' | 'error';

export interface IPayloadItem {
  label: string;
  value: Scalar;
}

export interface IPayloadTable {
  columns: string[];
  rows: Scalar[][];
}

/** A changelab display payload, version 1. */
export interface IDisplayPayload {
  version: 1;
  kind: string;
  title: string;
  summary?: string;
  status?: PayloadStatus;
  items?: IPayloadItem[];
  table?: IPayloadTable;
  /** Kind-specific data for the specialised renderers; the generic card ignores it. */
  data?: unknown;
}

export const PAYLOAD_VERSION = 1;

export type ParseResult =
  | { ok: true; payload: IDisplayPayload }
  | {
      ok: false;
      error: string;
      /** The kind, when the payload got far enough to name one. */
      kind?: string;
    };

const STATUSES: readonly string[] = ['ok', 'warning', 'error'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function describe(value: unknown): string {
  if (value === undefined) {
    return 'nothing (the field is missing)';
  }
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'an array';
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return String(value);
  }
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

class PayloadError extends Error {}

function fail(message: string): never {
  throw new PayloadError(message);
}

function checkItems(value: unknown): IPayloadItem[] {
  if (!Array.isArray(value)) {
    fail(`"items" must be an array, got ${describe(value)}`);
  }
  return value.map((item, i) => {
    if (!isRecord(item)) {
      fail(`"items[${i}]" must be an object, got ${describe(item)}`);
    }
    if (typeof item.label !== 'string') {
      fail(`"items[${i}].label" must be a string, got ${describe(item.label)}`);
    }
    if (!isScalar(item.value)) {
      fail(
        `"items[${i}].value" must be a string, a finite number, a boolean or null, got ${describe(item.value)}`
      );
    }
    return { label: item.label, value: item.value };
  });
}

function checkTable(value: unknown): IPayloadTable {
  if (!isRecord(value)) {
    fail(`"table" must be an object, got ${describe(value)}`);
  }
  const { columns, rows } = value;
  if (!Array.isArray(columns)) {
    fail(`"table.columns" must be an array, got ${describe(columns)}`);
  }
  columns.forEach((column, j) => {
    if (typeof column !== 'string') {
      fail(`"table.columns[${j}]" must be a string, got ${describe(column)}`);
    }
  });
  if (!Array.isArray(rows)) {
    fail(`"table.rows" must be an array, got ${describe(rows)}`);
  }
  rows.forEach((row, i) => {
    if (!Array.isArray(row)) {
      fail(`"table.rows[${i}]" must be an array, got ${describe(row)}`);
    }
    if (row.length !== columns.length) {
      fail(
        `"table.rows[${i}]" has ${row.length} cells but the table has ${columns.length} columns`
      );
    }
    row.forEach((cell, j) => {
      if (!isScalar(cell)) {
        fail(
          `"table.rows[${i}][${j}]" must be a string, a finite number, a boolean or null, got ${describe(cell)}`
        );
      }
    });
  });
  return { columns: columns as string[], rows: rows as Scalar[][] };
}

/**
 * Check `raw` (the MIME data of a changelab output) and return the payload or the reason it
 * cannot be shown. Never throws. Unknown top-level fields are ignored, so a newer kernel library
 * can add fields without breaking an older extension.
 */
export function parsePayload(raw: unknown): ParseResult {
  let value = raw;
  // Some front ends and hand-edited notebooks store JSON MIME data as a string.
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return {
        ok: false,
        error: 'the output data is a string that is not valid JSON'
      };
    }
  }
  if (!isRecord(value)) {
    return {
      ok: false,
      error: `the output data must be an object, got ${describe(value)}`
    };
  }
  const kind = typeof value.kind === 'string' ? value.kind : undefined;
  try {
    if (value.version !== PAYLOAD_VERSION) {
      fail(
        typeof value.version === 'number'
          ? `payload version ${value.version} is not supported (this extension reads version ${PAYLOAD_VERSION}); update the changelab extension`
          : `"version" must be ${PAYLOAD_VERSION}, got ${describe(value.version)}`
      );
    }
    if (typeof value.kind !== 'string' || value.kind === '') {
      fail(`"kind" must be a non-empty string, got ${describe(value.kind)}`);
    }
    if (typeof value.title !== 'string') {
      fail(`"title" must be a string, got ${describe(value.title)}`);
    }
    const payload: IDisplayPayload = {
      version: PAYLOAD_VERSION,
      kind: value.kind,
      title: value.title
    };
    if (value.summary !== undefined) {
      if (typeof value.summary !== 'string') {
        fail(`"summary" must be a string, got ${describe(value.summary)}`);
      }
      payload.summary = value.summary;
    }
    if (value.status !== undefined) {
      if (
        typeof value.status !== 'string' ||
        !STATUSES.includes(value.status)
      ) {
        fail(
          `"status" must be one of ${STATUSES.map(s => `"${s}"`).join(', ')}, got ${
            typeof value.status === 'string'
              ? `"${value.status}"`
              : describe(value.status)
          }`
        );
      }
      payload.status = value.status as PayloadStatus;
    }
    if (value.items !== undefined) {
      payload.items = checkItems(value.items);
    }
    if (value.table !== undefined) {
      payload.table = checkTable(value.table);
    }
    if (value.data !== undefined) {
      payload.data = value.data;
    }
    return { ok: true, payload };
  } catch (error) {
    const message =
      error instanceof PayloadError
        ? error.message
        : `unexpected problem: ${String(error)}`;
    return { ok: false, error: message, kind };
  }
}
