// Shared test set-up: temporary workspaces and the real services started by scripts/services.sh.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import { stopEmbeddedDatabase } from '../kernel-lib/src/db/embedded';
import { connect, type Workspace } from '../kernel-lib/src/workspace';

export function tempDir(prefix = 'changelab-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface ITestServices {
  databaseUrl: string;
  s3: { endpoint: string; accessKey: string; secretKey: string };
  redisUrl: string;
  /** The Redis list MinIO's notification target writes bucket events to (see scripts/services.sh). */
  s3Events?: { redis: string; list: string; arn: string };
}

/**
 * The server backends from scripts/services.sh (`npm test` starts them and exports
 * CHANGELAB_TEST_*). Returns undefined when they are not configured — unless
 * CHANGELAB_TEST_REQUIRE_SERVICES=1 (set by `npm test` and CI), where that is an error, so the
 * server half of a suite can never be skipped silently there.
 */
export function testServices(): ITestServices | undefined {
  const e = process.env;
  if (!e.CHANGELAB_TEST_DATABASE_URL || !e.CHANGELAB_TEST_S3_ENDPOINT || !e.CHANGELAB_TEST_REDIS_URL) {
    if (e.CHANGELAB_TEST_REQUIRE_SERVICES === '1') {
      throw new Error('CHANGELAB_TEST_* service variables are missing; run through `npm test` (scripts/services.sh start)');
    }
    return undefined;
  }
  return {
    databaseUrl: e.CHANGELAB_TEST_DATABASE_URL,
    s3: { endpoint: e.CHANGELAB_TEST_S3_ENDPOINT, accessKey: e.CHANGELAB_TEST_S3_ACCESS_KEY!, secretKey: e.CHANGELAB_TEST_S3_SECRET_KEY! },
    redisUrl: e.CHANGELAB_TEST_REDIS_URL,
    s3Events:
      e.CHANGELAB_TEST_S3_EVENTS_REDIS && e.CHANGELAB_TEST_S3_EVENTS_LIST && e.CHANGELAB_TEST_S3_EVENTS_ARN
        ? { redis: e.CHANGELAB_TEST_S3_EVENTS_REDIS, list: e.CHANGELAB_TEST_S3_EVENTS_LIST, arn: e.CHANGELAB_TEST_S3_EVENTS_ARN }
        : undefined
  };
}

/** A short unique name for buckets, schemas and queue prefixes, so test runs never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A fresh, empty database on the PostGIS server at `url`, so a run never sees another run's
 * tables; returns its URL. The step that drops it is pushed onto `cleanups` for the caller's
 * afterAll.
 */
export async function freshServerDatabase(url: string, cleanups: (() => Promise<unknown>)[]): Promise<string> {
  const name = uniqueName('cltest').replace(/-/g, '_');
  const admin = new Client(url);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  cleanups.push(async () => {
    const c = new Client(url);
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * The two backends a suite runs against: the embedded default (PGlite + a local folder) and, when
 * the test services run, server PostgreSQL + MinIO (a fresh database and bucket each). `open`
 * takes the workspace folder, or makes one from `prefix`. Stopping the embedded database and
 * dropping the server database go onto `cleanups`.
 */
export function workspaceBackends(
  cleanups: (() => Promise<unknown>)[],
  prefix = 'changelab-test-'
): [string, (home?: string) => Promise<Workspace>][] {
  const services = testServices();
  const backends: [string, (home?: string) => Promise<Workspace>][] = [
    [
      'embedded PGlite + local folder',
      async (home = tempDir(prefix)) => {
        cleanups.push(() => stopEmbeddedDatabase(path.join(home, '.changelab')));
        return connect({ cwd: home, env: {} });
      }
    ]
  ];
  if (services) {
    backends.push(['server PostgreSQL + MinIO', (home = tempDir(prefix)) => serverWorkspace(cleanups, home)]);
  }
  return backends;
}

/**
 * A workspace on the test services' PostgreSQL + MinIO, in a fresh database and bucket (dropped
 * through `cleanups`), with `env` added (e.g. CHANGELAB_MLFLOW_URL).
 */
export async function serverWorkspace(
  cleanups: (() => Promise<unknown>)[],
  home = tempDir('changelab-test-'),
  env: Record<string, string> = {}
): Promise<Workspace> {
  const services = testServices();
  if (!services) {
    throw new Error('the test services are not configured (scripts/services.sh start)');
  }
  return connect({
    cwd: home,
    env: {
      CHANGELAB_DATABASE_URL: await freshServerDatabase(services.databaseUrl, cleanups),
      CHANGELAB_S3_ENDPOINT: services.s3.endpoint,
      CHANGELAB_S3_ACCESS_KEY: services.s3.accessKey,
      CHANGELAB_S3_SECRET_KEY: services.s3.secretKey,
      CHANGELAB_S3_BUCKET: uniqueName('cltest'),
      ...env
    }
  });
}
