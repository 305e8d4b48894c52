// Runs the Great Expectations 1.x oracle (ge_oracle.py in .venv-oracles-ge) and compares its
// results with ours. Where the venv is missing the oracle tests skip, except under
// CHANGELAB_TEST_REQUIRE_SERVICES=1 (npm test, CI), where that is a failure.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { IExpectationResult } from '../../../kernel-lib/src/validate/types';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const GE_PYTHON = path.join(ROOT, '.venv-oracles-ge', 'bin', 'python');
const SCRIPT = path.join(__dirname, 'ge_oracle.py');

/** True when the GE venv exists; throws when it must exist (CHANGELAB_TEST_REQUIRE_SERVICES=1). */
export function geAvailable(): boolean {
  if (fs.existsSync(GE_PYTHON)) {
    return true;
  }
  if (process.env.CHANGELAB_TEST_REQUIRE_SERVICES === '1') {
    throw new Error(`${GE_PYTHON} is missing: run bash scripts/oracles.sh (scripts/requirements-oracles-ge.txt)`);
  }
  return false;
}

export type GeColumnKind = 'int' | 'float' | 'str' | 'bool' | 'datetime';

export interface IGeRequest {
  suite?: unknown;
  rows?: Record<string, unknown>[] | null;
  columns?: Record<string, GeColumnKind>;
  /** A postgres:// URL; converted to the postgresql:// scheme SQLAlchemy wants. */
  databaseUrl?: string | null;
  table?: string;
  schema?: string;
  resultFormat?: string;
  roundTrip?: unknown;
  /** GE's pandas data source on rows read from PostgreSQL by this query (postgres:// URL). */
  pandasSql?: { url: string; query: string };
}

export interface IGeValidation {
  success: boolean;
  results: { success: boolean; expectation_config: { type: string; kwargs: Record<string, unknown>; meta: Record<string, unknown> }; result: Record<string, unknown>; exception_info: Record<string, unknown> }[];
  statistics: Record<string, number>;
}

export interface IGeResponse {
  pandas: IGeValidation | null;
  sql: IGeValidation | null;
  suiteFromGe?: Record<string, unknown>;
  roundTrip?: Record<string, unknown>;
  timings: { pandas?: number; pandas_read?: number; sql?: number };
  maxRssKiB: number;
}

export function runGe(request: IGeRequest): Promise<IGeResponse> {
  const sqlalchemyUrl = (url: string) => url.replace(/^postgres(ql)?:\/\//, 'postgresql+psycopg2://');
  const req = {
    ...request,
    databaseUrl: request.databaseUrl ? sqlalchemyUrl(request.databaseUrl) : null,
    pandasSql: request.pandasSql ? { ...request.pandasSql, url: sqlalchemyUrl(request.pandasSql.url) } : null
  };
  return new Promise((resolve, reject) => {
    const child = spawn(GE_PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', d => (out += d));
    child.stderr.on('data', d => (err += d));
    child.on('error', reject);
    child.on('close', code => {
      if (code !== 0) {
        reject(new Error(`ge_oracle.py exited with ${code}: ${err.slice(-3000)}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as IGeResponse);
      } catch (error) {
        reject(new Error(`ge_oracle.py wrote no JSON (${(error as Error).message}): ${out.slice(0, 500)} ${err.slice(-2000)}`));
      }
    });
    child.stdin.end(JSON.stringify(req));
  });
}

/** GE's results keyed by the `meta.i` every test expectation carries (GE reorders results). */
export function byIndex(v: IGeValidation): Map<number, IGeValidation['results'][number]> {
  return new Map(v.results.map(r => [Number(r.expectation_config.meta.i), r]));
}

/**
 * Whether GE raised: its exception_info is either {raised_exception, ...} or, when a metric
 * failed (a missing column), a map from metric ids to such objects.
 */
function raised(info: Record<string, unknown> | undefined): boolean {
  if (!info) {
    return false;
  }
  if ('raised_exception' in info) {
    return info.raised_exception === true;
  }
  return Object.values(info).some(v => typeof v === 'object' && v !== null && (v as { raised_exception?: unknown }).raised_exception === true);
}

const COUNTS = ['element_count', 'unexpected_count', 'missing_count'] as const;

/**
 * Differences between our result and GE's for one expectation, as readable lines. success and
 * the counts must be equal; observed numbers may differ by 1e-9 relative (summation order of
 * mean / stdev differs between pandas, PostgreSQL and us); percentages likewise.
 */
export function differences(label: string, ours: IExpectationResult, ge: IGeValidation['results'][number], options: { observed?: boolean } = {}): string[] {
  const out: string[] = [];
  const tag = `${label} ${ours.expectation_config.type} ${JSON.stringify(ours.expectation_config.kwargs)}`;
  if (ours.success !== ge.success) {
    out.push(`${tag}: success ours ${ours.success} GE ${ge.success} (GE result ${JSON.stringify(ge.result)} ${JSON.stringify(ge.exception_info?.exception_message ?? '')})`);
  }
  const geRaised = raised(ge.exception_info);
  if (ours.exception_info.raised_exception !== geRaised) {
    out.push(`${tag}: raised ours ${ours.exception_info.raised_exception} (${ours.exception_info.exception_message}) GE ${geRaised} (${String(ge.exception_info?.exception_message)})`);
  }
  const r = ours.result as Record<string, unknown>;
  for (const k of COUNTS) {
    if (r[k] !== ge.result[k]) {
      out.push(`${tag}: ${k} ours ${String(r[k])} GE ${String(ge.result[k])}`);
    }
  }
  const close = (a: unknown, b: unknown) =>
    typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)) : a === b;
  for (const k of ['unexpected_percent', 'missing_percent', 'unexpected_percent_total', 'unexpected_percent_nonmissing']) {
    if (!close(r[k] ?? undefined, ge.result[k] ?? undefined)) {
      out.push(`${tag}: ${k} ours ${String(r[k])} GE ${String(ge.result[k])}`);
    }
  }
  if (options.observed !== false && 'observed_value' in ge.result && ours.expectation_config.type !== 'expect_column_values_to_be_of_type') {
    if (!close(r.observed_value ?? null, ge.result.observed_value ?? null)) {
      out.push(`${tag}: observed_value ours ${JSON.stringify(r.observed_value)} GE ${JSON.stringify(ge.result.observed_value)}`);
    }
  }
  return out;
}
