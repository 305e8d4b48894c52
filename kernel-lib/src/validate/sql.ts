// The SQL pushdown backend: evaluates a suite where the table lives (PostgreSQL + PostGIS or
// PGlite), as one aggregate statement over the table — counts of missing and unexpected rows per
// expectation, min / max / mean / median / stdev, duplicate counts — plus, only for expectations
// that failed, small queries for a sample of the offending values. The table is never pulled.
import type { QueryResultRow } from 'pg';
import type { IQueryable } from '../db/database';
import { NotFoundError } from '../errors';
import { expectationDefinition, ignoreRowIf, sqlalchemyTypeName, quoteIdent, type IExpectationDefinition } from './expectations';
import { PARTIAL_COUNT, type Observation } from './result';
import type { IExpectationConfig, ResultFormat } from './types';

export interface ISqlTarget {
  /** A table or view, optionally schema-qualified (`public.image_metadata`). */
  table: string;
  /** An SQL condition selecting the rows to validate (e.g. `project = $1 AND deleted_at IS NULL`). */
  where?: string;
  /** Parameters of `where`. */
  params?: unknown[];
}

export interface ITableColumn {
  name: string;
  /** PostgreSQL's name of the type, e.g. `integer`, `timestamp with time zone`. */
  type: string;
}

const NUMERIC_TYPES = /^(smallint|integer|bigint|numeric|real|double precision)/;

/** The columns of a table, in order; NotFoundError when there is no such table. */
export async function tableColumns(db: IQueryable, table: string): Promise<ITableColumn[]> {
  const [found] = await db.query<{ oid: number | null }>(`SELECT to_regclass($1)::oid AS oid`, [table]);
  if (!found?.oid) {
    throw new NotFoundError(`no table ${JSON.stringify(table)} to validate`, { table });
  }
  const rows = await db.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
     WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [found.oid]
  );
  return rows;
}

/** A table name as SQL: each dotted part quoted. */
const relation = (table: string) => table.split('.').map(quoteIdent).join('.');

interface IPlan {
  index: number;
  config: IExpectationConfig;
  definition: IExpectationDefinition;
  columns: string[];
  /** SQL true for rows that count as missing. */
  missing: string;
  /** SQL true for rows that are unexpected. */
  unexpected: string;
  /** Select-list expressions keyed by their alias. */
  selects: [string, string][];
}

function missingSql(cols: string[], multi: boolean, ignore: string): string {
  if (!multi) {
    return `${cols[0]} IS NULL`;
  }
  if (ignore === 'never') {
    return 'FALSE';
  }
  return `(${cols.map(c => `${c} IS NULL`).join(ignore === 'any_value_is_missing' ? ' OR ' : ' AND ')})`;
}

function plan(index: number, config: IExpectationConfig, known: Map<string, ITableColumn>): IPlan | Observation {
  const definition = expectationDefinition(config.type)!;
  const kw = config.kwargs;
  const names = definition.columns ? definition.columns(kw) : typeof kw.column === 'string' ? [kw.column] : [];
  if (definition.metric === 'column_exists') {
    const order = [...known.keys()];
    const at = order.indexOf(kw.column as string);
    return { kind: 'aggregate', observed: at >= 0 && (typeof kw.column_index !== 'number' || kw.column_index === at) };
  }
  const absent = names.find(n => !known.has(n));
  if (absent !== undefined) {
    return { kind: 'error', message: `The column "${absent}" in BatchData does not exist.` };
  }
  const cols = names.map(quoteIdent);
  const multi = names.length > 1 || definition.multiColumn === true;
  const missing = missingSql(cols, multi, ignoreRowIf(definition, kw));
  const p: IPlan = { index, config, definition, columns: cols, missing, unexpected: 'FALSE', selects: [] };
  const a = (suffix: string) => `e${index}_${suffix}`;
  if (definition.metric === 'row_count') {
    return p; // the statement's count(*) answers it
  }
  if (definition.kind === 'column-aggregate') {
    const c = cols[0];
    const numeric = NUMERIC_TYPES.test(known.get(names[0])!.type);
    const expr: Record<string, string> = {
      min: numeric ? `min(${c})::float8` : `min(${c})`,
      max: numeric ? `max(${c})::float8` : `max(${c})`,
      mean: `avg(${c})::float8`,
      median: `percentile_cont(0.5) WITHIN GROUP (ORDER BY ${c})`,
      stdev: `stddev_samp(${c})::float8`,
      sum: `sum(${c})::float8`,
      unique_count: `count(DISTINCT ${c})::float8`
    };
    if (definition.metric !== 'type') {
      p.selects.push([a('v'), expr[definition.metric!]]);
    }
    return p;
  }
  if (definition.kind === 'unique') {
    p.unexpected = `FALSE`; // counted by the duplicate subquery below
    p.selects.push([a('m'), `count(*) FILTER (WHERE ${missing})`]);
    return p;
  }
  const rule = definition.nulls ?? 'missing';
  const test = definition.sql!(cols, kw);
  p.unexpected =
    rule === 'missing'
      ? `NOT (${missing}) AND NOT coalesce((${test}), false)`
      : rule === 'unexpected'
        ? `(${missing}) OR NOT coalesce((${test}), false)`
        : `NOT (${missing})`;
  p.selects.push([a('m'), `count(*) FILTER (WHERE ${missing})`], [a('u'), `count(*) FILTER (WHERE ${p.unexpected})`]);
  return p;
}

/** The rows of the target as an SQL FROM + WHERE. */
function source(target: ISqlTarget, alias = 't'): string {
  return `${relation(target.table)} AS ${alias}${target.where ? ` WHERE (${target.where})` : ''}`;
}

const andWhere = (target: ISqlTarget, condition: string) => (target.where ? `AND (${condition})` : `WHERE (${condition})`);

/**
 * Rows that can be duplicates in a unique expectation. GE's SQL data source compares compound
 * keys with SQL equality, so a row with any missing value never duplicates another (its pandas
 * source treats missing values as equal); we follow each GE source on its own kind of data.
 */
function duplicateCandidates(p: IPlan): string {
  return p.columns.length > 1 ? p.columns.map(c => `${c} IS NOT NULL`).join(' AND ') : `NOT (${p.missing})`;
}

/** SQL of the duplicate-row count of a unique expectation. */
function duplicatesSql(p: IPlan, target: ISqlTarget): string {
  return `(SELECT coalesce(sum(k), 0)::float8 FROM (SELECT count(*) AS k FROM ${source(target, 'd')} ${andWhere(target, duplicateCandidates(p))}
           GROUP BY ${p.columns.join(', ')} HAVING count(*) > 1) dup)`;
}

/**
 * The offending rows' values of one expectation, as SQL (the first `limit`, or all for COMPLETE).
 * GE's partial_unexpected_counts count these same values (the first 20 in SUMMARY, all in
 * COMPLETE), so no further query is needed for them.
 */
function valuesSql(p: IPlan, target: ISqlTarget, limit: number | null): string {
  const lim = limit === null ? '' : ` LIMIT ${limit}`;
  if (p.definition.kind === 'unique') {
    // As GE's SQL source: the duplicates in the order of a window partitioned by the values.
    const cols = p.columns.join(', ');
    return `SELECT ${cols} FROM (SELECT ${cols}, count(*) OVER (PARTITION BY ${cols}) AS changelab_n FROM ${source(target)} ${andWhere(target, duplicateCandidates(p))}) s WHERE changelab_n > 1${lim}`;
  }
  return `SELECT ${p.columns.join(', ')} FROM ${source(target)} ${andWhere(target, p.unexpected)}${lim}`;
}

const toNumber = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export interface IObserveOptions {
  /**
   * PostgreSQL's work_mem for the run (server databases only), so the duplicate count of a
   * unique expectation hashes in memory instead of sorting on disk. Default '256MB'; null keeps
   * the server's setting.
   */
  workMem?: string | null;
}

/** A database that can run a transaction on one connection (a `Database`). */
interface ITransactional extends IQueryable {
  kind?: 'embedded' | 'server';
  transaction<T>(work: (tx: IQueryable) => Promise<T>): Promise<T>;
}

const transactional = (db: IQueryable): db is ITransactional => typeof (db as Partial<ITransactional>).transaction === 'function';

const WORK_MEM = /^\d+\s*(kB|MB|GB)$/;

/**
 * Runs `work` in one read-only REPEATABLE READ transaction where the database offers one, so the
 * aggregate statement and the sample queries see the same snapshot of the table; with work_mem
 * raised for it on a server. Each statement runs under a savepoint, so one failed statement (a
 * text bound on a number column) does not abort the others. Where `db` cannot (it is already a
 * transaction's client), statements run as they are.
 */
async function inSnapshot<T>(db: IQueryable, options: IObserveOptions, work: (q: IQueryable) => Promise<T>): Promise<T> {
  if (!transactional(db)) {
    return work(db);
  }
  const workMem = options.workMem === undefined ? '256MB' : options.workMem;
  if (workMem !== null && !WORK_MEM.test(workMem)) {
    throw new TypeError(`workMem ${JSON.stringify(workMem)} is not a PostgreSQL memory size like '256MB'`);
  }
  return db.transaction(async tx => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    if (workMem !== null && db.kind !== 'embedded') {
      await tx.query(`SET LOCAL work_mem = '${workMem}'`);
    }
    let n = 0;
    const guarded: IQueryable = {
      query: async <R extends QueryResultRow>(sql: string, params?: unknown[]) => {
        const name = `v${++n}`;
        await tx.query(`SAVEPOINT ${name}`);
        try {
          const rows = await tx.query<R>(sql, params);
          await tx.query(`RELEASE SAVEPOINT ${name}`);
          return rows;
        } catch (error) {
          await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
          throw error;
        }
      }
    };
    return work(guarded);
  });
}

/**
 * Evaluates the expectations on the target in the database. Returns one observation per
 * expectation (in order) and the number of rows looked at.
 */
export async function observeTable(
  db: IQueryable,
  target: ISqlTarget,
  expectations: IExpectationConfig[],
  format: ResultFormat,
  options: IObserveOptions = {}
): Promise<{ observations: Observation[]; rowCount: number; columns: ITableColumn[] }> {
  return inSnapshot(db, options, q => observe(q, target, expectations, format));
}

async function observe(
  db: IQueryable,
  target: ISqlTarget,
  expectations: IExpectationConfig[],
  format: ResultFormat
): Promise<{ observations: Observation[]; rowCount: number; columns: ITableColumn[] }> {
  const columns = await tableColumns(db, target.table);
  const known = new Map(columns.map(c => [c.name, c]));
  const observations: (Observation | undefined)[] = new Array(expectations.length);
  const plans: IPlan[] = [];
  expectations.forEach((config, i) => {
    try {
      const p = plan(i, config, known);
      if ('kind' in p) {
        observations[i] = p;
      } else {
        plans.push(p);
      }
    } catch (error) {
      observations[i] = { kind: 'error', message: (error as Error).message };
    }
  });

  const selectsOf = (p: IPlan): [string, string][] =>
    p.definition.kind === 'unique' ? [...p.selects, [`e${p.index}_u`, duplicatesSql(p, target)]] : p.selects;
  const params = target.params ?? [];
  const run = async (ps: IPlan[]) => {
    const list = ['count(*)::float8 AS n', ...ps.flatMap(selectsOf).map(([alias, expr]) => `${expr} AS ${alias}`)];
    const [row] = await db.query<Record<string, unknown>>(`SELECT ${list.join(',\n  ')} FROM ${source(target)}`, params);
    return row;
  };
  let row: Record<string, unknown>;
  try {
    row = await run(plans);
  } catch {
    // One expectation's SQL failed (say, a text bound on a number column): run them one by one
    // so that one becomes an error result and the others still count.
    row = {};
    for (const p of plans) {
      try {
        Object.assign(row, await run([p]));
      } catch (error) {
        observations[p.index] = { kind: 'error', message: (error as Error).message };
      }
    }
    if (row.n === undefined) {
      row = await run([]);
    }
  }
  const rowCount = Number(row.n);

  for (const p of plans) {
    if (observations[p.index]) {
      continue;
    }
    const a = (s: string) => row[`e${p.index}_${s}`];
    if (p.definition.metric === 'row_count') {
      observations[p.index] = { kind: 'aggregate', observed: rowCount };
      continue;
    }
    if (p.definition.kind === 'column-aggregate') {
      const observed = p.definition.metric === 'type' ? sqlalchemyTypeName(known.get(p.config.kwargs.column as string)!.type) : a('v');
      observations[p.index] = { kind: 'aggregate', observed: observed instanceof Date || typeof observed === 'string' ? observed : toNumber(observed) };
      continue;
    }
    const unexpected = Number(a('u'));
    const missing = Number(a('m'));
    const obs: Observation = { kind: 'map', element: rowCount, missing, unexpected, values: [] };
    observations[p.index] = obs;
    // Only failing expectations cost a second look at the table: their offending values (the
    // first 20, or all for COMPLETE), which also give GE's partial_unexpected_counts.
    if (unexpected > 0 && format !== 'BOOLEAN_ONLY') {
      const multi = p.columns.length > 1 || p.definition.multiColumn === true;
      const names = p.definition.columns ? p.definition.columns(p.config.kwargs) : [p.config.kwargs.column as string];
      // node-pg returns bigint and numeric as strings; values in results are numbers, as in GE.
      const numeric = new Set(names.filter(n => /^(bigint|numeric)/.test(known.get(n)!.type)));
      const value = (n: string, v: unknown) => (v === null || v === undefined ? null : numeric.has(n) ? Number(v) : v);
      const shape = (r: Record<string, unknown>) => (multi ? Object.fromEntries(names.map(n => [n, value(n, r[n])])) : value(names[0], r[names[0]]));
      const rows = await db.query<Record<string, unknown>>(valuesSql(p, target, format === 'COMPLETE' ? null : PARTIAL_COUNT), params);
      obs.values = rows.map(shape);
    }
  }
  return { observations: observations as Observation[], rowCount, columns };
}
