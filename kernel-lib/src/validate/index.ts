// Data validation with Great Expectations 1.x suites: `validate(target, suite)` on a catalog
// table (SQL pushdown), on in-memory rows or on a freshly extracted batch, GE-shaped results, the
// imagery expectations, and the runs recorded in the catalog database.
import type { IIngestOptions, IngestSummary } from '../catalog/ingest';
import type { IQueryable } from '../db/database';
import { show } from '../display';
import { ChangelabError } from '../errors';
import { validateRows, validateTable, type IRowsTarget } from './engine';
import { IngestGate } from './gate';
import './imagery';
import { saveRun, type RunTargetKind } from './runs';
import type { ValidationResult } from './result';
import { tableColumns, type ISqlTarget } from './sql';
import { ExpectationSuite, type ISuiteLoadOptions } from './suite';
import type { ISuiteJSON, ResultFormat, Row } from './types';

export { ExpectationSuite, SuiteError, type ISuiteLoadOptions } from './suite';
export { ValidationResult, failureLine } from './result';
export { validateRows, validateTable, type IRowsTarget, type IRunOptions } from './engine';
export { expectationTypes, expectationDefinition, type IExpectationDefinition, type ExpectationKind } from './expectations';
export { imageRow, unreadableRow, isValidFootprint } from './imagery';
export { saveRun, listRuns, getRun, RunList, type IRunSummary, type IRunDetail, type IRunOutcome, type IRunQuery, type RunTargetKind } from './runs';
export type { ISqlTarget } from './sql';
export type {
  IExpectationConfig,
  ISuiteJSON,
  IExpectationResult,
  IExpectationResultDetail,
  IValidationResultJSON,
  IValidationStatistics,
  ResultFormat,
  Row
} from './types';

/** What `validate` can check: a table name, a table with a filter, rows, or rows with a name. */
export type ValidationTarget = string | ISqlTarget | Row[] | IRowsTarget;

/** Anything `validate` accepts as a suite: a suite, its GE JSON, or the path of a suite file. */
export type SuiteInput = ExpectationSuite | ISuiteJSON | string;

/** The parts of a workspace validation needs (a `Workspace` fits). */
export interface IValidationContext {
  db: IQueryable;
  project: string;
}

export interface IValidateOptions extends ISuiteLoadOptions {
  /** Where tables live and runs are recorded: a workspace, or a database and project. */
  workspace?: IValidationContext;
  /** GE's result_format. Default 'SUMMARY'. */
  resultFormat?: ResultFormat;
  /**
   * For tables with a `project` column (image_metadata, quarantine): validate only the
   * workspace's project, and for image_metadata only live rows. Default true.
   */
  scoped?: boolean;
  /** Record the run in validation_runs. Default: true when there is a workspace. */
  save?: boolean;
  /** Recorded with the run. Default 'notebook' inside a kernel, else 'api'. */
  origin?: string;
  /** Show the report card in the notebook. Default: true inside a notebook kernel. */
  display?: boolean;
}

function inKernel(): boolean {
  return Object.keys(require.cache).some(file => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file));
}

/** Loads a suite from any accepted form. */
export function loadSuite(suite: SuiteInput, options: ISuiteLoadOptions = {}): ExpectationSuite {
  if (suite instanceof ExpectationSuite) {
    return suite;
  }
  if (typeof suite === 'string') {
    return ExpectationSuite.load(suite, options);
  }
  return ExpectationSuite.fromJSON(suite, options);
}

const isRowsTarget = (t: ValidationTarget): t is IRowsTarget | Row[] => Array.isArray(t) || (typeof t === 'object' && 'rows' in t);

/**
 * Validates `target` against `suite` and returns GE's result. Tables are validated where they
 * live (one aggregate query, never pulled); rows in memory. With a workspace the run is recorded
 * (`validation_runs`), and in a notebook the report card is shown.
 */
export async function validate(target: ValidationTarget, suite: SuiteInput, options: IValidateOptions = {}): Promise<ValidationResult> {
  const loaded = loadSuite(suite, options);
  const started = performance.now();
  const ws = options.workspace;
  let result: ValidationResult;
  let targetName: string;
  let kind: RunTargetKind;
  if (isRowsTarget(target)) {
    result = validateRows(loaded, target, { resultFormat: options.resultFormat });
    targetName = Array.isArray(target) ? 'rows' : target.name ?? 'rows';
    kind = 'rows';
  } else {
    if (!ws) {
      throw new ChangelabError(
        `validating the table ${JSON.stringify(typeof target === 'string' ? target : target.table)} needs a workspace: validate(table, suite, { workspace })`
      );
    }
    let sqlTarget: ISqlTarget = typeof target === 'string' ? { table: target } : target;
    if (options.scoped !== false && !sqlTarget.where) {
      const names = new Set((await tableColumns(ws.db, sqlTarget.table)).map(c => c.name));
      if (names.has('project')) {
        const live = names.has('deleted_at') ? ' AND deleted_at IS NULL' : '';
        sqlTarget = { ...sqlTarget, where: `project = $1${live}`, params: [ws.project] };
      }
    }
    result = await validateTable(ws.db, loaded, sqlTarget, { resultFormat: options.resultFormat });
    targetName = sqlTarget.table;
    kind = 'table';
  }
  const seconds = (performance.now() - started) / 1000;
  result.json.meta.seconds = seconds;
  const kernel = inKernel();
  if (ws && options.save !== false) {
    result.json.meta.run_id = await saveRun(ws.db, loaded, result, {
      project: ws.project,
      target: targetName,
      targetKind: kind,
      origin: options.origin ?? (kernel ? 'notebook' : 'api'),
      seconds
    });
  }
  if (options.display ?? kernel) {
    show(result);
  }
  return result;
}

export { IngestGate, type IGateFailure, type GateVerdict } from './gate';

/** The catalog of a workspace, as the validated ingest needs it (a `Workspace` fits). */
export interface IIngestWorkspace extends IValidationContext {
  catalog: { ingest(uriOrPrefix?: string, options?: IIngestOptions): Promise<IngestSummary> };
}

export interface IValidatedIngestOptions extends IIngestOptions, ISuiteLoadOptions {
  /** GE's result_format of the table suite's result. Default 'SUMMARY'. */
  resultFormat?: ResultFormat;
  /** The suite every extracted image must meet before insert (a suite, its JSON or a file path). */
  ingestSuite?: SuiteInput;
  /** The suite run on image_metadata after indexing. */
  tableSuite?: SuiteInput;
}

/** What a validated ingest did: the ingest, the gate's run and the table suite's result. */
export interface IValidatedIngest {
  summary: IngestSummary;
  /** The gate's run over every image it judged (null without an ingest suite or new images). */
  gate: ValidationResult | null;
  gateRunId: number | null;
  /** The table suite's result (null without a table suite). */
  table: ValidationResult | null;
}

/**
 * Ingests with the quality gate: the ingest suite judges each extracted image before insert
 * (failing files are quarantined with the expectations they failed), the gate's run is recorded,
 * then the table suite runs on image_metadata. Both runs land in validation_runs.
 */
export async function ingest(workspace: IIngestWorkspace, uriOrPrefix = '', options: IValidatedIngestOptions = {}): Promise<IValidatedIngest> {
  const { ingestSuite, tableSuite, resultFormat, unknownExpectations: _, ...ingestOptions } = options;
  const gate = ingestSuite ? new IngestGate(loadSuite(ingestSuite, options)) : undefined;
  const tableLoaded = tableSuite ? loadSuite(tableSuite, options) : undefined;
  const started = performance.now();
  const summary = await workspace.catalog.ingest(uriOrPrefix, { ...ingestOptions, gate });
  const label = uriOrPrefix || '(all objects)';
  let gateRunId: number | null = null;
  let gateResult: ValidationResult | null = null;
  if (gate) {
    gateRunId = await gate.save(workspace.db, workspace.project, label, (performance.now() - started) / 1000);
    if (gateRunId !== null) {
      gateResult = gate.result(label);
      gateResult.json.meta.run_id = gateRunId;
    }
  }
  const table = tableLoaded
    ? await validate('image_metadata', tableLoaded, { workspace, origin: 'ingest', display: false, resultFormat })
    : null;
  return { summary, gate: gateResult, gateRunId, table };
}
