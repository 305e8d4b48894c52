// Runs a suite on a target: in-memory rows or a database table (SQL pushdown), and assembles
// GE's ExpectationSuiteValidationResult. Expectations of unknown types that the suite was loaded
// to skip are listed as warnings, never counted as passes.
import type { IQueryable } from '../db/database';
import { observeRows, columnsOf } from './memory';
import { buildResult, statistics, ValidationResult, type Observation } from './result';
import { observeTable, type ISqlTarget } from './sql';
import type { ExpectationSuite } from './suite';
import type { IValidationResultJSON, ResultFormat, Row } from './types';

export const ENGINE_NAME = 'changelab';

export interface IRowsTarget {
  rows: Row[];
  /** Column names (default: every key seen in the rows). */
  columns?: string[];
  /** A name for reports and runs. Default 'rows'. */
  name?: string;
}

export interface IRunOptions {
  /** GE's result_format. Default 'SUMMARY' (as GE's default). */
  resultFormat?: ResultFormat;
  /**
   * Tables on a PostgreSQL server: work_mem for the run's transaction (default '256MB', so
   * unique expectations hash in memory; null keeps the server's setting).
   */
  workMem?: string | null;
}

function assemble(suite: ExpectationSuite, observations: Observation[], format: ResultFormat, meta: Record<string, unknown>): ValidationResult {
  const results = suite.expectations.map((config, i) => buildResult(config, observations[i], format));
  const warnings = suite.skipped.map(s => `expectations[${s.index}] ${s.type} was skipped: unknown expectation type`);
  const json: IValidationResultJSON = {
    success: results.every(r => r.success),
    results,
    suite_name: suite.name,
    suite_parameters: {},
    statistics: statistics(results),
    meta: {
      engine: ENGINE_NAME,
      suite_version: suite.version,
      validation_time: new Date().toISOString(),
      ...(warnings.length ? { warnings, skipped_expectations: suite.skipped } : {}),
      ...meta
    },
    id: null
  };
  return new ValidationResult(json);
}

/** Validates in-memory rows. */
export function validateRows(suite: ExpectationSuite, target: IRowsTarget | Row[], options: IRunOptions = {}): ValidationResult {
  const t = Array.isArray(target) ? { rows: target } : target;
  const format = options.resultFormat ?? 'SUMMARY';
  const columns = columnsOf(t.rows, t.columns);
  const observations = suite.expectations.map(config => observeRows(config, t.rows, columns, format));
  return assemble(suite, observations, format, { target: t.name ?? 'rows', target_kind: 'rows', row_count: t.rows.length });
}

/** Validates a database table by SQL pushdown. */
export async function validateTable(db: IQueryable, suite: ExpectationSuite, target: ISqlTarget, options: IRunOptions = {}): Promise<ValidationResult> {
  const format = options.resultFormat ?? 'SUMMARY';
  const snapshot = new Date();
  const { observations, rowCount } = await observeTable(db, target, suite.expectations, format, { workMem: options.workMem });
  return assemble(suite, observations, format, {
    target: target.table,
    target_kind: 'table',
    row_count: rowCount,
    snapshot_at: snapshot.toISOString(),
    ...(target.where ? { where: target.where } : {})
  });
}
