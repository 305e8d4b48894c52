// Versioned schema migrations: `kernel-lib/migrations/NNNN_name.sql`, applied in order, each in
// its own transaction, recorded with a checksum so an edited, already-applied migration is caught.
// The same files run unchanged on PGlite + PostGIS and on server PostgreSQL + PostGIS.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { DatabaseError } from '../errors';
import type { Database } from './database';

export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');

export interface IMigration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): IMigration[] {
  return fs
    .readdirSync(dir)
    .filter(f => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map(file => {
      const sql = fs.readFileSync(path.join(dir, file), 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        sql,
        checksum: crypto.createHash('sha256').update(sql).digest('hex')
      };
    });
}

// A fixed key for pg_advisory_xact_lock so two processes never migrate at once.
const MIGRATION_LOCK = 7246_1001;

/** Applies pending migrations; returns the versions applied now. */
export async function migrate(db: Database, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = listMigrations(dir);
  await db.query(`CREATE TABLE IF NOT EXISTS changelab_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const applied: number[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async tx => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const rows = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM changelab_migrations WHERE version = $1',
        [m.version]
      );
      if (rows.length > 0) {
        if (rows[0].checksum !== m.checksum) {
          throw new DatabaseError(
            `migration ${m.version}_${m.name} was changed after it was applied; add a new migration instead`,
            { version: m.version }
          );
        }
        return false;
      }
      await tx.query(m.sql);
      await tx.query('INSERT INTO changelab_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        m.checksum
      ]);
      return true;
    });
    if (done) {
      applied.push(m.version);
    }
  }
  return applied;
}
