// Validation runs in the catalog database: every run of a suite with the suite and its version,
// the snapshot it saw (row count, time), the full GE result JSON, and one row per expectation
// outcome so the Validation results panel lists failures without parsing results.
import type { IQueryable } from '../db/database';
import { card, type IDisplayBundle, type IDisplayable } from '../display';
import { NotFoundError } from '../errors';
import { expectationColumns } from './expectations';
import { ValidationResult } from './result';
import type { ExpectationSuite } from './suite';
import type { ISuiteJSON, IValidationResultJSON } from './types';

export type RunTargetKind = 'table' | 'rows' | 'ingest-batch';

export interface ISaveRunOptions {
  project: string;
  target: string;
  targetKind: RunTargetKind;
  /** 'notebook', 'cli', 'ingest', ... Default 'api'. */
  origin?: string;
  seconds?: number;
  /** Per expectation position: object keys that failed it (ingest gate runs). */
  quarantinedKeys?: Map<number, string[]>;
}

/** One run as the panel lists it. */
export interface IRunSummary {
  id: number;
  project: string;
  suiteName: string;
  suiteVersion: string;
  target: string;
  targetKind: RunTargetKind;
  rowCount: number;
  snapshotAt: Date;
  success: boolean;
  evaluated: number;
  successful: number;
  successPercent: number | null;
  origin: string;
  seconds: number | null;
  createdAt: Date;
}

export interface IRunOutcome {
  position: number;
  expectationType: string;
  columns: string | null;
  success: boolean;
  elementCount: number | null;
  unexpectedCount: number | null;
  missingCount: number | null;
  observedValue: unknown;
  quarantinedKeys: string[];
}

export interface IRunDetail extends IRunSummary {
  suite: ISuiteJSON;
  result: ValidationResult;
  outcomes: IRunOutcome[];
}


/** JSON that PostgreSQL's jsonb accepts: no NUL characters, no NaN / Infinity. */
const jsonb = (value: unknown) =>
  JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)).replace(/\\u0000/g, '');

/** Records a run; returns its id. The project is created when missing, as ingest does. */
export async function saveRun(db: IQueryable, suite: ExpectationSuite, result: ValidationResult, options: ISaveRunOptions): Promise<number> {
  const json = result.toJSON();
  const meta = json.meta as { row_count?: number; snapshot_at?: string };
  const outcomes = json.results.map((r, position) => ({
    position,
    expectation_type: r.expectation_config.type,
    columns: expectationColumns(r.expectation_config.type, r.expectation_config.kwargs),
    success: r.success,
    element_count: r.result.element_count ?? null,
    unexpected_count: r.result.unexpected_count ?? null,
    missing_count: r.result.missing_count ?? null,
    observed_value: r.result.observed_value === undefined ? null : r.result.observed_value,
    quarantined_keys: options.quarantinedKeys?.get(position) ?? null
  }));
  const [row] = await db.query<{ id: string }>(
    `WITH p AS (INSERT INTO projects (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING),
     r AS (
       INSERT INTO validation_runs (project, suite_name, suite_version, suite, target, target_kind, row_count, snapshot_at,
         success, evaluated, successful, success_percent, origin, result, seconds)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, coalesce($8::timestamptz, now()), $9, $10, $11, $12, $13, $14::jsonb, $15)
       RETURNING id
     ),
     o AS (
       INSERT INTO validation_outcomes (run_id, position, expectation_type, columns, success, element_count, unexpected_count,
         missing_count, observed_value, quarantined_keys)
       SELECT r.id, x.position, x.expectation_type, x.columns, x.success, x.element_count, x.unexpected_count, x.missing_count,
         x.observed_value, x.quarantined_keys
       FROM r, jsonb_to_recordset($16::jsonb) AS x(position integer, expectation_type text, columns text, success boolean,
         element_count bigint, unexpected_count bigint, missing_count bigint, observed_value jsonb, quarantined_keys text[])
     )
     SELECT id::text AS id FROM r`,
    [
      options.project,
      suite.name,
      suite.version,
      jsonb(suite.toJSON()),
      options.target,
      options.targetKind,
      meta.row_count ?? 0,
      meta.snapshot_at ?? null,
      json.success,
      json.statistics.evaluated_expectations,
      json.statistics.successful_expectations,
      json.statistics.success_percent,
      options.origin ?? 'api',
      jsonb(json),
      options.seconds ?? null,
      jsonb(outcomes)
    ]
  );
  return Number(row.id);
}

interface IRunRow {
  id: string;
  project: string;
  suite_name: string;
  suite_version: string;
  target: string;
  target_kind: RunTargetKind;
  row_count: string;
  snapshot_at: Date;
  success: boolean;
  evaluated: number;
  successful: number;
  success_percent: number | null;
  origin: string;
  seconds: number | null;
  created_at: Date;
}

const SUMMARY_COLUMNS = `id::text, project, suite_name, suite_version, target, target_kind, row_count::text, snapshot_at, success,
  evaluated, successful, success_percent, origin, seconds, created_at`;

const toSummary = (r: IRunRow): IRunSummary => ({
  id: Number(r.id),
  project: r.project,
  suiteName: r.suite_name,
  suiteVersion: r.suite_version,
  target: r.target,
  targetKind: r.target_kind,
  rowCount: Number(r.row_count),
  snapshotAt: r.snapshot_at,
  success: r.success,
  evaluated: r.evaluated,
  successful: r.successful,
  successPercent: r.success_percent,
  origin: r.origin,
  seconds: r.seconds,
  createdAt: r.created_at
});

export interface IRunQuery {
  project: string;
  suite?: string;
  /** Only runs that failed. */
  failedOnly?: boolean;
  /** Default 50. */
  limit?: number;
  /** Runs with ids below this (paging, newest first). */
  before?: number;
}

/** Runs, newest first. */
export class RunList implements IDisplayable {
  constructor(readonly runs: IRunSummary[]) {}

  toDisplay(): IDisplayBundle {
    const failed = this.runs.filter(r => !r.success).length;
    return card({
      kind: 'table',
      title: `validation runs: ${this.runs.length}${failed ? `, ${failed} failed` : ''}`,
      status: failed ? 'warning' : 'ok',
      table: {
        columns: ['run', 'suite', 'version', 'target', 'rows', 'outcome', 'met', 'when'],
        rows: this.runs.map(r => [
          r.id,
          r.suiteName,
          r.suiteVersion,
          r.target,
          r.rowCount,
          r.success ? 'pass' : 'FAIL',
          `${r.successful}/${r.evaluated}`,
          r.createdAt.toISOString()
        ])
      },
      data: { runs: this.runs }
    });
  }
}

export async function listRuns(db: IQueryable, query: IRunQuery): Promise<RunList> {
  const rows = await db.query<IRunRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM validation_runs
     WHERE project = $1 AND ($2::text IS NULL OR suite_name = $2) AND (NOT $3::boolean OR NOT success)
       AND ($4::bigint IS NULL OR id < $4::bigint)
     ORDER BY created_at DESC, id DESC LIMIT $5::int`,
    [query.project, query.suite ?? null, query.failedOnly === true, query.before ?? null, query.limit ?? 50]
  );
  return new RunList(rows.map(toSummary));
}

/** One run with its suite, full result and outcomes; NotFoundError when there is none. */
export async function getRun(db: IQueryable, id: number | string, project?: string): Promise<IRunDetail> {
  if (!/^\d{1,18}$/.test(String(id))) {
    throw new NotFoundError(`no validation run ${JSON.stringify(id)}: run ids are positive integers`, { id });
  }
  const [row] = await db.query<IRunRow & { suite: ISuiteJSON; result: IValidationResultJSON }>(
    `SELECT ${SUMMARY_COLUMNS}, suite, result FROM validation_runs WHERE id = $1::bigint AND ($2::text IS NULL OR project = $2)`,
    [String(id), project ?? null]
  );
  if (!row) {
    throw new NotFoundError(`no validation run ${id}${project ? ` in project ${project}` : ''}`, { id, project });
  }
  const outcomes = await db.query<{
    position: number;
    expectation_type: string;
    columns: string | null;
    success: boolean;
    element_count: string | null;
    unexpected_count: string | null;
    missing_count: string | null;
    observed_value: unknown;
    quarantined_keys: string[] | null;
  }>(
    `SELECT position, expectation_type, columns, success, element_count::text, unexpected_count::text, missing_count::text,
       observed_value, quarantined_keys FROM validation_outcomes WHERE run_id = $1::bigint ORDER BY position`,
    [String(id)]
  );
  const num = (v: string | null) => (v === null ? null : Number(v));
  return {
    ...toSummary(row),
    suite: row.suite,
    result: new ValidationResult({ ...row.result, meta: { ...row.result.meta, run_id: Number(row.id) } }),
    outcomes: outcomes.map(o => ({
      position: o.position,
      expectationType: o.expectation_type,
      columns: o.columns,
      success: o.success,
      elementCount: num(o.element_count),
      unexpectedCount: num(o.unexpected_count),
      missingCount: num(o.missing_count),
      observedValue: o.observed_value,
      quarantinedKeys: o.quarantined_keys ?? []
    }))
  };
}
