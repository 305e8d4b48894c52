// What the catalog benchmarks share: the test services from scripts/services.sh (a throw-away
// database and bucket per run, removed afterwards), the cached synthetic COGs, and the statistics
// every summary table prints (median and spread over repeats, percentiles over samples).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import { connect, S3ObjectStore, stopEmbeddedDatabase, synth, type Workspace } from '../../kernel-lib/src/index';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface IBenchServices {
  databaseUrl: string;
  s3: { endpoint: string; accessKey: string; secretKey: string; region: string };
  /** The Redis list MinIO's notification target writes bucket events to, when it has one. */
  s3Events?: { redis: string; list: string; arn: string };
}

/** The services from `.changelab-test/services/services.env` (or CHANGELAB_TEST_* already set). */
export function benchServices(): IBenchServices {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  const file = path.join(ROOT, '.changelab-test', 'services', 'services.env');
  if (!env.CHANGELAB_TEST_DATABASE_URL && fs.existsSync(file)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = /^export (CHANGELAB_TEST_\w+)=(.*)$/.exec(line.trim());
      if (m) {
        env[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
      }
    }
  }
  if (!env.CHANGELAB_TEST_DATABASE_URL || !env.CHANGELAB_TEST_S3_ENDPOINT) {
    throw new Error('the test services are not running: bash scripts/services.sh start');
  }
  return {
    databaseUrl: env.CHANGELAB_TEST_DATABASE_URL,
    s3: {
      endpoint: env.CHANGELAB_TEST_S3_ENDPOINT,
      accessKey: env.CHANGELAB_TEST_S3_ACCESS_KEY,
      secretKey: env.CHANGELAB_TEST_S3_SECRET_KEY,
      region: env.CHANGELAB_TEST_S3_REGION ?? 'us-east-1'
    },
    s3Events: env.CHANGELAB_TEST_S3_EVENTS_ARN
      ? { redis: env.CHANGELAB_TEST_S3_EVENTS_REDIS, list: env.CHANGELAB_TEST_S3_EVENTS_LIST, arn: env.CHANGELAB_TEST_S3_EVENTS_ARN }
      : undefined
  };
}

export const uniqueName = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

/** Undo steps run at exit, newest first (also on Ctrl-C). */
const cleanups: (() => Promise<unknown>)[] = [];
export const onCleanup = (step: () => Promise<unknown>) => cleanups.push(step);
export async function cleanup(): Promise<void> {
  while (cleanups.length) {
    await cleanups.pop()!().catch(error => console.error(`cleanup: ${(error as Error).message}`));
  }
}
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

/** A new database on the PostgreSQL server, dropped at cleanup. */
export async function freshDatabase(services: IBenchServices, prefix = 'clbench'): Promise<string> {
  const name = uniqueName(prefix).replace(/-/g, '_');
  const admin = new Client(services.databaseUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  onCleanup(async () => {
    const c = new Client(services.databaseUrl);
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  const u = new URL(services.databaseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface IBenchWorkspaceOptions {
  database: 'server' | 'embedded';
  /** An S3 bucket on MinIO as the workspace store; else the embedded folder store. */
  bucket?: string;
  /** Embedded home (a temporary folder by default). */
  home?: string;
}

/** The workspace environment (CHANGELAB_*) for a benchmark deployment. */
export async function benchEnv(services: IBenchServices, options: IBenchWorkspaceOptions): Promise<{ env: Record<string, string>; home: string }> {
  const home = options.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'changelab-bench-home-'));
  // Registered first, so it runs after the embedded database owner below has been stopped.
  onCleanup(async () => fs.rmSync(home, { recursive: true, force: true }));
  const env: Record<string, string> = {};
  if (options.database === 'server') {
    env.CHANGELAB_DATABASE_URL = await freshDatabase(services);
  } else {
    onCleanup(() => stopEmbeddedDatabase(path.join(home, '.changelab')));
  }
  if (options.bucket) {
    env.CHANGELAB_S3_ENDPOINT = services.s3.endpoint;
    env.CHANGELAB_S3_ACCESS_KEY = services.s3.accessKey;
    env.CHANGELAB_S3_SECRET_KEY = services.s3.secretKey;
    env.CHANGELAB_S3_REGION = services.s3.region;
    env.CHANGELAB_S3_BUCKET = options.bucket;
  }
  return { env, home };
}

export async function benchWorkspace(services: IBenchServices, options: IBenchWorkspaceOptions): Promise<Workspace> {
  const { env, home } = await benchEnv(services, options);
  const w = await connect({ cwd: home, env });
  onCleanup(() => w.close());
  return w;
}

/** A bucket on MinIO, emptied and removed at cleanup. */
export async function freshBucket(services: IBenchServices, prefix = 'clbench'): Promise<S3ObjectStore> {
  const bucket = uniqueName(prefix);
  const store = new S3ObjectStore({ ...services.s3, bucket });
  await store.ensureBucket();
  onCleanup(async () => {
    const keys: string[] = [];
    for await (const info of store.list('')) {
      keys.push(info.key);
    }
    for (let i = 0; i < keys.length; i += 1000) {
      await store.client.removeObjects(bucket, keys.slice(i, i + 1000));
    }
    await store.client.removeBucket(bucket);
  });
  return store;
}

/**
 * `count` small COGs (RGB uint8, 256-pixel tiles with overviews) in a cache folder under the
 * system temporary folder, generated once and reused by later runs. Header cost does not depend
 * on pixels, so 24 distinct scenes (three CRSs, three Korean sites, dates over five years) are
 * copied under distinct names.
 */
export function cachedCogs(count: number, size = 256): { folder: string; files: string[]; bytes: number } {
  const folder = path.join(os.tmpdir(), `changelab-bench-cogs-${size}`);
  fs.mkdirSync(folder, { recursive: true });
  const scenes: string[] = [];
  for (let i = 0; i < 24; i++) {
    const file = path.join(folder, `scene-${i}.tif.src`);
    if (!fs.existsSync(file)) {
      const crs = ([5186, 32652, 4326] as const)[i % 3];
      const site = synth.KOREAN_SITES[i % synth.KOREAN_SITES.length];
      const pair = synth.generatePair({
        seed: `bench-${i}`,
        width: size,
        crs,
        gsd: [0.25, 0.5, 1, 2][i % 4],
        origin: { lat: site.centre.lat + (i % 5) * 0.01, lon: site.centre.lon + (i % 7) * 0.01 },
        beforeDate: new Date(Date.UTC(2020 + (i % 5), i % 12, 1 + i))
      });
      fs.writeFileSync(file + '.tmp', pair.before);
      fs.renameSync(file + '.tmp', file);
    }
    scenes.push(file);
  }
  const files: string[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const file = path.join(folder, 'images', `img_${String(i).padStart(6, '0')}.tif`);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.copyFileSync(scenes[i % scenes.length], file);
    }
    bytes += fs.statSync(file).size;
    files.push(file);
  }
  // Files beyond `count` from an earlier, larger run stay out of this run's folder listing.
  const runFolder = path.join(folder, `set-${count}`);
  if (!fs.existsSync(runFolder)) {
    fs.mkdirSync(runFolder + '.tmp', { recursive: true });
    for (const f of files) {
      fs.linkSync(f, path.join(runFolder + '.tmp', path.basename(f)));
    }
    fs.renameSync(runFolder + '.tmp', runFolder);
  }
  return { folder: runFolder, files: files.map(f => path.join(runFolder, path.basename(f))), bytes };
}

/** Runs `work` on every item with at most `concurrency` in flight. */
export async function pool<T>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i], i);
      }
    })
  );
}

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) {
    return NaN;
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const median = (xs: number[]) => percentile(xs, 50);

/** "median (min–max)" of repeated measurements. */
export function spread(xs: number[], digits = 0): string {
  if (xs.length === 0) {
    return 'n/a';
  }
  const f = (x: number) => x.toFixed(digits);
  return xs.length === 1 ? f(xs[0]) : `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
}

/** A fixed-width table: the first row is the header. */
export function table(rows: (string | number)[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => String(r[c] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((v, c) => (c === 0 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map(w => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Machine conditions printed with every result: cores, load, memory. */
export function machine(): string {
  const load = os.loadavg().map(l => l.toFixed(2)).join(' ');
  return `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${load}, ${(os.freemem() / 2 ** 30).toFixed(1)} of ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB free, node ${process.version}`;
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
