// The in-memory backend: evaluates a suite over an array of rows (a freshly extracted batch
// before it is inserted, or any JS data). One pass per expectation; values are never copied.
import { expectationDefinition, ignoreRowIf, valueKey } from './expectations';
import type { Observation } from './result';
import type { IExpectationConfig, ResultFormat, Row } from './types';

const isMissing = (v: unknown) => v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v));

/** pandas-style dtype name of a column of JS values (what of_type compares with for rows). */
export function inferType(values: unknown[]): string {
  let kind: string | null = null;
  for (const v of values) {
    if (isMissing(v)) {
      continue;
    }
    const k =
      typeof v === 'number' ? (Number.isInteger(v) ? 'int64' : 'float64') : typeof v === 'boolean' ? 'bool' : typeof v === 'string' ? 'str' : v instanceof Date ? 'datetime64[ns]' : 'object';
    if (kind === null) {
      kind = k;
    } else if (kind !== k) {
      kind = (kind === 'int64' && k === 'float64') || (kind === 'float64' && k === 'int64') ? 'float64' : 'object';
    }
  }
  return kind ?? 'object';
}

function median(sorted: number[]): number {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

function aggregate(metric: string, values: unknown[]): unknown {
  const present = values.filter(v => !isMissing(v));
  if (metric === 'type') {
    return inferType(values);
  }
  if (metric === 'unique_count') {
    return new Set(present.map(valueKey)).size;
  }
  if (metric === 'sum' && present.length === 0) {
    return 0; // pandas' sum of nothing (GE's SQL source reports null, as SQL's sum does)
  }
  if (present.length === 0) {
    return null;
  }
  if (metric === 'min' || metric === 'max') {
    let best = present[0];
    for (const v of present) {
      if (metric === 'min' ? (v as number) < (best as number) : (v as number) > (best as number)) {
        best = v;
      }
    }
    return best;
  }
  const nums = present.map(v => (v instanceof Date ? v.getTime() : Number(v)));
  if (nums.some(n => Number.isNaN(n))) {
    throw new TypeError(`the ${metric} needs numeric values`);
  }
  const sum = nums.reduce((a, b) => a + b, 0);
  switch (metric) {
    case 'sum':
      return sum;
    case 'mean':
      return sum / nums.length;
    case 'median':
      return median([...nums].sort((a, b) => a - b));
    case 'stdev': {
      if (nums.length < 2) {
        return null;
      }
      const mean = sum / nums.length;
      return Math.sqrt(nums.reduce((a, b) => a + (b - mean) ** 2, 0) / (nums.length - 1));
    }
  }
  throw new TypeError(`unknown metric ${metric}`);
}

/** Evaluates one expectation over rows; never throws (problems become error observations). */
export function observeRows(config: IExpectationConfig, rows: Row[], columns: string[], format: ResultFormat): Observation {
  const definition = expectationDefinition(config.type)!;
  const kw = config.kwargs;
  try {
    const cols = definition.columns ? definition.columns(kw) : typeof kw.column === 'string' ? [kw.column] : [];
    const missingColumn = cols.find(c => !columns.includes(c));
    if (definition.metric === 'column_exists') {
      const index = columns.indexOf(kw.column as string);
      return { kind: 'aggregate', observed: index >= 0 && (typeof kw.column_index !== 'number' || kw.column_index === index) };
    }
    if (missingColumn !== undefined) {
      return { kind: 'error', message: `The column "${missingColumn}" in BatchData does not exist.` };
    }
    if (definition.metric === 'row_count') {
      return { kind: 'aggregate', observed: rows.length };
    }
    if (definition.kind === 'column-aggregate') {
      return { kind: 'aggregate', observed: aggregate(definition.metric!, rows.map(r => r[cols[0]])) };
    }
    const keep = format === 'COMPLETE' ? Infinity : format === 'BOOLEAN_ONLY' ? 0 : 20;
    const values: unknown[] = [];
    const indexes: number[] = [];
    let missing = 0;
    let unexpected = 0;
    const multi = cols.length > 1 || definition.multiColumn;
    const ignore = ignoreRowIf(definition, kw);
    const rowMissing = (vals: unknown[]) =>
      multi ? (ignore === 'never' ? false : ignore === 'any_value_is_missing' ? vals.some(isMissing) : vals.every(isMissing)) : isMissing(vals[0]);
    const shown = (vals: unknown[]) => (multi ? Object.fromEntries(cols.map((c, j) => [c, vals[j] ?? null])) : vals[0] ?? null);
    const note = (vals: unknown[], i: number) => {
      unexpected++;
      if (values.length < keep) {
        values.push(shown(vals));
        indexes.push(i);
      }
    };
    if (definition.kind === 'unique') {
      // One key per row, computed once. A primitive value is its own Map key (Map's SameValueZero
      // tells 1 from '1' and true from 'true', as valueKey does); Dates, objects and compound
      // rows use valueKey's text, in a map of their own so the two kinds never meet.
      const primitive = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint';
      const joined = (vals: unknown[]) => vals.map(v => (isMissing(v) ? 'null' : valueKey(v))).join('\u0000');
      const keys: unknown[] = new Array(rows.length);
      const isText: boolean[] = new Array(rows.length);
      const counts = new Map<unknown, number>();
      const textCounts = new Map<string, number>();
      const one = [undefined as unknown];
      const rowVals = (row: Row) => {
        if (multi) {
          return cols.map(c => row[c]);
        }
        one[0] = row[cols[0]];
        return one;
      };
      for (let i = 0; i < rows.length; i++) {
        const vals = rowVals(rows[i]);
        if (rowMissing(vals)) {
          keys[i] = undefined;
          continue;
        }
        if (!multi && primitive(vals[0])) {
          keys[i] = vals[0];
          isText[i] = false;
          counts.set(vals[0], (counts.get(vals[0]) ?? 0) + 1);
        } else {
          const k = joined(vals);
          keys[i] = k;
          isText[i] = true;
          textCounts.set(k, (textCounts.get(k) ?? 0) + 1);
        }
      }
      for (let i = 0; i < rows.length; i++) {
        const vals = rowVals(rows[i]);
        if (rowMissing(vals)) {
          missing++;
        } else if ((isText[i] ? textCounts.get(keys[i] as string)! : counts.get(keys[i])!) > 1) {
          note(vals, i);
        }
      }
    } else {
      const test = definition.test!(kw);
      const nulls = definition.nulls ?? 'missing';
      const one = [undefined as unknown];
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        let vals: unknown[];
        if (multi) {
          vals = cols.map(c => row[c]);
        } else {
          one[0] = row[cols[0]];
          vals = one; // reused: tests and note() never keep the array
        }
        if (rowMissing(vals)) {
          missing++;
          if (nulls === 'unexpected') {
            note(vals, i);
          }
          continue;
        }
        if (nulls === 'expected' || !test(vals)) {
          note(vals, i);
        }
      }
    }
    // partial_unexpected_counts are GE's counts of the kept values (result.ts): the first 20 in
    // SUMMARY, all of them in COMPLETE, as GE counts its unexpected_list.
    return { kind: 'map', element: rows.length, missing, unexpected, values, indexes };
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  }
}

/** The column names of rows: every key seen, in first-seen order. */
export function columnsOf(rows: Row[], declared?: string[]): string[] {
  if (declared) {
    return declared;
  }
  const seen = new Set<string>();
  for (const row of rows) {
    for (const k of Object.keys(row)) {
      seen.add(k);
    }
  }
  return [...seen];
}
