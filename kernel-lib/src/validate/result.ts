// Turns what a backend observed into GE-shaped results: success with `mostly`, the counts and
// percentages of GE's map expectations (missing values excluded the way GE excludes them), and
// the detail each result_format asks for. Both backends share this, so they cannot drift apart.
import { compareCodePoints } from '../dataset/dvc-tree';
import { card, type IDisplayBundle, type IDisplayable, type Scalar } from '../display';
import { expectationColumns, expectationDefinition, valueKey } from './expectations';
import type {
  IExpectationConfig,
  IExpectationResult,
  IExpectationResultDetail,
  IValidationResultJSON,
  IValidationStatistics,
  ResultFormat
} from './types';

/** GE's default number of values in partial lists. */
export const PARTIAL_COUNT = 20;

/** What a backend saw for a row-level expectation. */
export interface IMapObservation {
  kind: 'map';
  element: number;
  /** Rows whose value is missing (for nulls: 'missing' expectations); ignored otherwise. */
  missing: number;
  unexpected: number;
  /** Unexpected values, in row order where the backend knows it (all of them for COMPLETE). */
  values: unknown[];
  /** Their row indexes (in-memory rows only). */
  indexes?: number[];
}

export interface IAggregateObservation {
  kind: 'aggregate';
  observed: unknown;
  details?: Record<string, unknown>;
}

export interface IErrorObservation {
  kind: 'error';
  message: string;
}

export type Observation = IMapObservation | IAggregateObservation | IErrorObservation;

const percent = (n: number, d: number) => (d > 0 ? (n / d) * 100 : null);

/** GE's success ratio test. */
export function mostlySuccess(considered: number, unexpected: number, mostly: number): boolean {
  return (considered - unexpected) / considered >= mostly;
}

/** Orders two values as Python's sort does for GE's (-count, value) key: numbers by value, text by code point. */
function pythonOrder(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !(a instanceof Date) && !(b instanceof Date)) {
    // Multi-column values: GE counts them as tuples, compared item by item.
    const x = Object.values(a);
    const y = Object.values(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const c = pythonOrder(x[i], y[i]);
      if (c !== 0) {
        return c;
      }
    }
    return x.length - y.length;
  }
  return compareCodePoints(String(a instanceof Date ? a.getTime() : a), String(b instanceof Date ? b.getTime() : b));
}

/**
 * GE's partial_unexpected_counts of a list of unexpected values: Counter(values).most_common(limit)
 * (ties kept in first-seen order), then sorted by count, most first, and by value.
 */
export function countValues(values: unknown[], limit = PARTIAL_COUNT): { value: unknown; count: number }[] {
  const counts = new Map<string, { value: unknown; count: number }>();
  for (const v of values) {
    const k = valueKey(v);
    const c = counts.get(k);
    if (c) {
      c.count++;
    } else {
      counts.set(k, { value: v, count: 1 });
    }
  }
  return [...counts.values()]
    .sort((a, b) => b.count - a.count) // stable: ties stay in first-seen order, as most_common
    .slice(0, limit)
    .sort((a, b) => b.count - a.count || pythonOrder(a.value, b.value));
}

/** JSON-safe values: Dates as ISO strings, bigint as numbers. */
export function jsonSafe(v: unknown): unknown {
  if (v instanceof Date) {
    return v.toISOString();
  }
  if (typeof v === 'bigint') {
    return Number(v);
  }
  if (typeof v === 'number' && !Number.isFinite(v)) {
    return String(v);
  }
  return v;
}

/** Builds one GE ExpectationValidationResult. */
export function buildResult(config: IExpectationConfig, observation: Observation, format: ResultFormat): IExpectationResult {
  const definition = expectationDefinition(config.type)!;
  const base = {
    expectation_config: { type: config.type, kwargs: config.kwargs, meta: config.meta ?? {}, ...(config.id ? { id: config.id } : {}) },
    meta: {}
  };
  if (observation.kind === 'error') {
    return {
      ...base,
      success: false,
      result: {},
      exception_info: { raised_exception: true, exception_message: observation.message, exception_traceback: null }
    };
  }
  const noException = { raised_exception: false, exception_message: null, exception_traceback: null };
  if (observation.kind === 'aggregate') {
    const observed = jsonSafe(observation.observed);
    const success = definition.judge!(observation.observed, config.kwargs);
    const result: IExpectationResultDetail = format === 'BOOLEAN_ONLY' ? {} : { observed_value: observed };
    if (observation.details && format !== 'BOOLEAN_ONLY') {
      result.details = observation.details;
    }
    return { ...base, success, result, exception_info: noException };
  }
  const mostly = typeof config.kwargs.mostly === 'number' ? config.kwargs.mostly : 1;
  const nulls = definition.nulls ?? 'missing';
  const o = observation;
  const skipMissing = nulls !== 'missing';
  const considered = skipMissing ? o.element : o.element - o.missing;
  const success = o.element === 0 || considered === 0 ? true : mostlySuccess(considered, o.unexpected, mostly);
  if (format === 'BOOLEAN_ONLY') {
    return { ...base, success, result: {}, exception_info: noException };
  }
  const values = o.values.map(jsonSafe);
  const total = percent(o.unexpected, o.element);
  const nonmissing = skipMissing ? total : o.element > 0 ? percent(o.unexpected, considered) : null;
  const result: IExpectationResultDetail = {
    element_count: o.element,
    unexpected_count: o.unexpected,
    unexpected_percent: nonmissing,
    partial_unexpected_list: values.slice(0, PARTIAL_COUNT)
  };
  if (!skipMissing) {
    result.missing_count = o.missing;
    result.missing_percent = percent(o.missing, o.element);
    result.unexpected_percent_total = total;
    result.unexpected_percent_nonmissing = nonmissing;
  }
  if (format === 'SUMMARY' || format === 'COMPLETE') {
    result.partial_unexpected_counts = countValues(values).map(c => ({ value: jsonSafe(c.value), count: c.count }));
    if (o.indexes) {
      result.partial_unexpected_index_list = o.indexes.slice(0, PARTIAL_COUNT);
    }
  }
  if (format === 'COMPLETE') {
    result.unexpected_list = values;
    if (o.indexes) {
      result.unexpected_index_list = o.indexes;
    }
  }
  return { ...base, success, result, exception_info: noException };
}

export function statistics(results: IExpectationResult[]): IValidationStatistics {
  const ok = results.filter(r => r.success).length;
  return {
    evaluated_expectations: results.length,
    successful_expectations: ok,
    unsuccessful_expectations: results.length - ok,
    success_percent: results.length ? (ok / results.length) * 100 : null
  };
}

const shortKwargs = (kwargs: Record<string, unknown>) =>
  Object.entries(kwargs)
    .filter(([k, v]) => k !== 'column' && k !== 'batch_id' && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');

/** What one failing expectation found, in a line: "3 of 120 unexpected (2.5%): 1.7, 2.1, ...". */
export function failureLine(r: IExpectationResult): string {
  if (r.exception_info.raised_exception) {
    return `error: ${r.exception_info.exception_message}`;
  }
  const res = r.result;
  if (res.observed_value !== undefined) {
    return `observed ${JSON.stringify(res.observed_value)}`;
  }
  if (res.unexpected_count !== undefined) {
    const pct = res.unexpected_percent === null || res.unexpected_percent === undefined ? '' : ` (${res.unexpected_percent.toFixed(2)}%)`;
    const sample = (res.partial_unexpected_list ?? []).slice(0, 5).map(v => (typeof v === 'string' ? v : JSON.stringify(v)));
    return `${res.unexpected_count} of ${res.element_count} unexpected${pct}${sample.length ? `: ${sample.join(', ')}` : ''}`;
  }
  return '';
}

/** The outcome of running a suite: GE's ExpectationSuiteValidationResult, displayable as a card. */
export class ValidationResult implements IDisplayable {
  constructor(readonly json: IValidationResultJSON) {}

  get success(): boolean {
    return this.json.success;
  }

  get statistics(): IValidationStatistics {
    return this.json.statistics;
  }

  get results(): IExpectationResult[] {
    return this.json.results;
  }

  /** The expectations that failed. */
  get failures(): IExpectationResult[] {
    return this.json.results.filter(r => !r.success);
  }

  toJSON(): IValidationResultJSON {
    return this.json;
  }

  toDisplay(): IDisplayBundle {
    const s = this.json.statistics;
    const meta = this.json.meta as { target?: string; row_count?: number; warnings?: string[]; run_id?: number };
    const warnings = meta.warnings ?? [];
    const rows: Scalar[][] = this.json.results.map(r => [
      r.success ? 'pass' : 'FAIL',
      r.expectation_config.type,
      expectationColumns(r.expectation_config.type, r.expectation_config.kwargs),
      shortKwargs(r.expectation_config.kwargs) || null,
      r.success ? (r.result.observed_value !== undefined ? JSON.stringify(r.result.observed_value) : r.result.unexpected_count !== undefined ? `${r.result.unexpected_count} unexpected` : null) : failureLine(r)
    ]);
    return card({
      kind: 'validation',
      title: `validation: ${this.json.suite_name}${meta.target ? ` on ${meta.target}` : ''}`,
      status: this.json.success ? (warnings.length ? 'warning' : 'ok') : 'error',
      summary:
        `${s.successful_expectations} of ${s.evaluated_expectations} expectations met` +
        (s.success_percent === null ? '' : ` (${s.success_percent.toFixed(1)}%)`) +
        (meta.row_count !== undefined ? ` on ${meta.row_count} rows` : '') +
        (warnings.length ? `; ${warnings.join('; ')}` : ''),
      items: [
        { label: 'success', value: this.json.success },
        { label: 'evaluated', value: s.evaluated_expectations },
        { label: 'successful', value: s.successful_expectations },
        { label: 'unsuccessful', value: s.unsuccessful_expectations },
        ...(meta.row_count !== undefined ? [{ label: 'rows', value: meta.row_count }] : []),
        ...(meta.run_id !== undefined ? [{ label: 'run', value: meta.run_id }] : [])
      ],
      table: { columns: ['outcome', 'expectation', 'column', 'arguments', 'observed'], rows },
      data: { result: this.json }
    });
  }

  toString(): string {
    const s = this.json.statistics;
    const lines = [
      `${this.json.success ? 'PASSED' : 'FAILED'} ${this.json.suite_name}: ${s.successful_expectations}/${s.evaluated_expectations} expectations met`
    ];
    for (const r of this.failures) {
      const c = r.expectation_config;
      const columns = expectationColumns(c.type, c.kwargs);
      lines.push(`  FAIL ${c.type}${columns ? ` (${columns})` : ''}: ${failureLine(r)}`);
    }
    return lines.join('\n');
  }
}
