// The metadata database: a `pg` pool to either server PostgreSQL + PostGIS or the embedded PGlite
// owner. Driver errors become changelab errors here, with the SQL state kept in the context.
import { Pool, type PoolClient, type QueryResultRow } from 'pg';
import { DatabaseError, ServiceUnavailableError } from '../errors';

export type DatabaseKind = 'embedded' | 'server';

export interface IQueryable {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH']);

function translate(error: unknown, sql?: string): Error {
  const e = error as { code?: string; message?: string; detail?: string; hint?: string };
  if (e.code && CONNECTION_CODES.has(e.code)) {
    return new ServiceUnavailableError(`cannot reach the database: ${e.message}`, { code: e.code }, { cause: error });
  }
  const details = [e.detail, e.hint].filter(Boolean).join(' ');
  return new DatabaseError(
    `${e.message ?? String(error)}${details ? ` (${details})` : ''}`,
    { sqlState: e.code, sql: sql?.slice(0, 500) },
    { cause: error }
  );
}

export class Database implements IQueryable {
  readonly kind: DatabaseKind;
  private readonly pool: Pool;

  constructor(url: string, kind: DatabaseKind, options: { max?: number } = {}) {
    this.kind = kind;
    this.pool = new Pool({ connectionString: url, max: options.max ?? (kind === 'embedded' ? 4 : 10) });
    // An idle client losing its server must not crash the process; the next query reports it.
    this.pool.on('error', () => undefined);
  }

  async query<R extends QueryResultRow = QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (error) {
      throw translate(error, sql);
    }
  }

  /** Runs `work` in one transaction on one connection; rolls back if it throws. Keep it short. */
  async transaction<T>(work: (tx: IQueryable) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw translate(error);
    }
    const tx: IQueryable = {
      query: async <R extends QueryResultRow>(sql: string, params: unknown[] = []) => {
        try {
          return (await client.query<R>(sql, params)).rows;
        } catch (error) {
          throw translate(error, sql);
        }
      }
    };
    try {
      await tx.query('BEGIN');
      const result = await work(tx);
      await tx.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
