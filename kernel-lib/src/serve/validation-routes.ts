// Validation routes of the service, for the Validation results panel: the recorded runs of
// expectation suites (newest first), and one run with its failed expectations, the offending values
// GE reported (partial_unexpected_list / counts / row indexes) and, for ingest gate runs, the
// quarantined files each expectation failed with their quarantine entries.
import type { IQueryable } from '../db/database';
import { NotFoundError } from '../errors';
import { expectationDefinition, quoteIdent } from '../validate/expectations';
import { getRun, listRuns, type IRunOutcome } from '../validate/runs';
import { tableColumns } from '../validate/sql';
import type { IExpectationResult } from '../validate/types';
import { BadRequestError, type Router } from './router';

const RUN_SUMMARY_SCHEMA = {
  type: 'object',
  required: ['id', 'suiteName', 'suiteVersion', 'target', 'success', 'evaluated', 'successful', 'createdAt'],
  properties: {
    id: { type: 'integer' },
    project: { type: 'string' },
    suiteName: { type: 'string' },
    suiteVersion: { type: 'string' },
    target: { type: 'string' },
    targetKind: { enum: ['table', 'rows', 'ingest-batch'] },
    rowCount: { type: 'integer' },
    snapshotAt: { type: 'string', format: 'date-time' },
    success: { type: 'boolean' },
    evaluated: { type: 'integer' },
    successful: { type: 'integer' },
    successPercent: { type: ['number', 'null'] },
    origin: { type: 'string' },
    seconds: { type: ['number', 'null'] },
    createdAt: { type: 'string', format: 'date-time' }
  }
};

const QUARANTINE_ENTRY_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    key: { type: 'string' },
    reason: { type: 'string' },
    lastSeen: { type: 'string', format: 'date-time' },
    resolved: { type: 'boolean' }
  }
};

/** The quarantine entries (newest per key) of these object keys in a project. */
async function quarantineOf(
  db: IQueryable,
  project: string,
  keys: string[]
): Promise<Map<string, { id: number; key: string; reason: string; lastSeen: Date; resolved: boolean }>> {
  const out = new Map<string, { id: number; key: string; reason: string; lastSeen: Date; resolved: boolean }>();
  if (keys.length === 0) {
    return out;
  }
  const rows = await db.query<{ id: string; object_key: string; reason: string; last_seen: Date; resolved: boolean }>(
    `SELECT DISTINCT ON (object_key) id::text, object_key, reason, last_seen, resolved FROM quarantine
      WHERE project = $1 AND object_key = ANY($2::text[]) ORDER BY object_key, last_seen DESC, id DESC`,
    [project, keys]
  );
  for (const r of rows) {
    out.set(r.object_key, { id: Number(r.id), key: r.object_key, reason: r.reason, lastSeen: r.last_seen, resolved: r.resolved });
  }
  return out;
}

/** What the panel shows of one expectation: its outcome and the evidence of a failure. */
function expectationView(outcome: IRunOutcome, result: IExpectationResult | undefined) {
  const r = result?.result ?? {};
  return {
    position: outcome.position,
    type: outcome.expectationType,
    columns: outcome.columns,
    kwargs: result?.expectation_config.kwargs ?? {},
    success: outcome.success,
    elementCount: outcome.elementCount,
    unexpectedCount: outcome.unexpectedCount,
    unexpectedPercent: r.unexpected_percent ?? null,
    missingCount: outcome.missingCount,
    observedValue: outcome.observedValue,
    partialUnexpectedList: r.partial_unexpected_list ?? r.unexpected_list?.slice(0, 20) ?? [],
    partialUnexpectedCounts: r.partial_unexpected_counts ?? [],
    partialUnexpectedIndexList: r.partial_unexpected_index_list ?? r.unexpected_index_list?.slice(0, 20) ?? [],
    exception: result?.exception_info.raised_exception ? result.exception_info.exception_message : null,
    quarantinedKeys: outcome.quarantinedKeys
  };
}

export function registerValidationRoutes(router: Router): Router {
  router.add({
    method: 'GET',
    path: '/api/validation/runs',
    operationId: 'validationRuns',
    summary: 'Validation runs (suite, version, target, time, success, statistics), newest first',
    tags: ['validation'],
    query: {
      suite: { type: 'string', description: 'Only runs of this suite' },
      failed: { type: 'boolean', description: 'Only runs that failed' },
      limit: { type: 'integer', description: 'At most this many (default 50)', minimum: 1, maximum: 1000 },
      before: { type: 'integer', description: 'Runs with ids below this (the next page, newest first)', minimum: 1 }
    },
    responses: {
      '200': { description: 'Runs, newest first', schema: { type: 'object', properties: { runs: { type: 'array', items: RUN_SUMMARY_SCHEMA } } } }
    },
    handler: async context => {
      const q = context.query;
      const list = await listRuns(context.workspace.db, {
        project: context.project,
        suite: q.suite as string | undefined,
        failedOnly: q.failed as boolean | undefined,
        limit: q.limit as number | undefined,
        before: q.before as number | undefined
      });
      return { json: { runs: list.runs } };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/validation/runs/{id}',
    operationId: 'validationRun',
    summary: "One validation run: its statistics, every expectation's outcome, the offending values of failures and the quarantined files",
    tags: ['validation'],
    responses: {
      '200': {
        description: 'The run',
        schema: {
          type: 'object',
          properties: {
            run: RUN_SUMMARY_SCHEMA,
            statistics: { type: 'object' },
            expectations: { type: 'array', items: { type: 'object' } },
            quarantine: { type: 'array', items: QUARANTINE_ENTRY_SCHEMA }
          }
        }
      },
      '404': { description: 'No such run in the project' }
    },
    handler: async context => {
      const id = context.params.id;
      if (!/^[1-9]\d{0,17}$/.test(id)) {
        throw new BadRequestError(`run id must be a positive integer, not ${JSON.stringify(id)}`, { parameter: 'id', value: id });
      }
      const detail = await getRun(context.workspace.db, id, context.project);
      const { suite: _suite, result, outcomes, ...run } = detail;
      const results = result.json.results;
      const keys = [...new Set(outcomes.flatMap(o => o.quarantinedKeys))];
      const entries = await quarantineOf(context.workspace.db, context.project, keys);
      return {
        json: {
          run,
          statistics: result.json.statistics,
          meta: result.json.meta,
          expectations: outcomes.map(o => expectationView(o, results[o.position])),
          quarantine: [...entries.values()]
        }
      };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/validation/runs/{id}/expectations/{position}/rows',
    operationId: 'validationOffendingRows',
    summary:
      "Rows of a table run's target that hold the offending values a failed single-column expectation reported (as the table is now), with their ids",
    tags: ['validation'],
    query: { limit: { type: 'integer', description: 'At most this many rows (default 50)', minimum: 1, maximum: 1000 } },
    responses: {
      '200': {
        description: 'The rows (every value as text), the column and the values looked up',
        schema: {
          type: 'object',
          properties: {
            table: { type: 'string' },
            column: { type: 'string' },
            columns: { type: 'array', items: { type: 'string' } },
            values: { type: 'array' },
            rows: { type: 'array', items: { type: 'object' } },
            truncated: { type: 'boolean' }
          }
        }
      },
      '404': { description: 'No such run, expectation, table or column' }
    },
    handler: async context => {
      const { id, position } = context.params;
      if (!/^[1-9]\d{0,17}$/.test(id)) {
        throw new BadRequestError(`run id must be a positive integer, not ${JSON.stringify(id)}`, { parameter: 'id', value: id });
      }
      if (!/^\d{1,6}$/.test(position)) {
        throw new BadRequestError(`expectation position must be an integer from 0, not ${JSON.stringify(position)}`, { parameter: 'position', value: position });
      }
      const run = await getRun(context.workspace.db, id, context.project);
      const result = run.result.json.results[Number(position)];
      if (!result) {
        throw new NotFoundError(`run ${id} has no expectation at position ${position} (it has ${run.result.json.results.length})`, { id, position });
      }
      if (run.targetKind !== 'table') {
        throw new BadRequestError(
          `run ${id} checked ${run.targetKind === 'rows' ? 'rows in memory' : 'an ingest batch'}, not a table: its offending values and row indexes are in the run itself`,
          { id }
        );
      }
      const type = result.expectation_config.type;
      const column = result.expectation_config.kwargs.column;
      if (expectationDefinition(type)?.kind !== 'column-map' || typeof column !== 'string') {
        throw new BadRequestError(`offending rows are looked up for single-column, row-by-row expectations; ${type} is not one`, { type });
      }
      const columns = await tableColumns(context.workspace.db, run.target);
      const target = columns.find(c => c.name === column);
      if (!target) {
        throw new NotFoundError(`table ${run.target} has no column ${JSON.stringify(column)} any more`, { table: run.target, column });
      }
      if (/^(geometry|geography|json|jsonb|bytea)\b/.test(target.type) || target.type.endsWith('[]')) {
        throw new BadRequestError(`rows are looked up by value; ${column} is ${target.type}, which is not compared by value`, { column, type: target.type });
      }
      const reported = result.result.partial_unexpected_list ?? result.result.unexpected_list ?? [];
      const values = reported.filter(v => v !== null && v !== undefined).map(v => (typeof v === 'object' ? JSON.stringify(v) : String(v)));
      const nulls = reported.some(v => v === null || v === undefined);
      const names = new Set(columns.map(c => c.name));
      // Identify each row, then show the column: the rows' own ids and keys where the table has them.
      const shown = [...['id', 'object_key', 'key', 'name'].filter(n => names.has(n) && n !== column), column];
      const where: string[] = [];
      const params: unknown[] = [values, nulls];
      const col = quoteIdent(column);
      where.push(`(${col} = ANY($1::${target.type}[]) OR ($2::boolean AND ${col} IS NULL))`);
      // The scope validate() uses by default for tables with a project.
      if (names.has('project')) {
        params.push(context.project);
        where.push(`project = $${params.length}`);
        if (names.has('deleted_at')) {
          where.push('deleted_at IS NULL');
        }
      }
      const limit = (context.query.limit as number | undefined) ?? 50;
      const relation = run.target.split('.').map(quoteIdent).join('.');
      const rows = await context.workspace.db.query<Record<string, string | null>>(
        `SELECT ${shown.map(n => `${quoteIdent(n)}::text AS ${quoteIdent(n)}`).join(', ')} FROM ${relation}
          WHERE ${where.join(' AND ')} ORDER BY 1 LIMIT ${limit + 1}`,
        params
      );
      return {
        json: {
          table: run.target,
          column,
          columns: shown,
          values: reported,
          rows: rows.slice(0, limit),
          truncated: rows.length > limit
        }
      };
    }
  });
  return router;
}
