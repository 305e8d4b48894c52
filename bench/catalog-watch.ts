// Benchmark: the catalog watcher's upload-to-searchable latency (p50/p95) for a burst of uploads to
// MinIO + PostGIS and to the embedded folder store + PGlite, missed and duplicated rows, the same
// with the watcher process killed (SIGKILL) mid-burst and restarted, and a probe of when MinIO
// delivers one upload's notification. The reference is the database itself: every uploaded key
// must end with exactly one live row. Usage:
//   npm run bench -- catalog-watch [uploads=1000] [waitSeconds=60] [only=listen|redis|folder] [probe=yes|no]
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { pathToFileURL } from 'url';
import type { IRedisEvents } from '../kernel-lib/src/catalog/watch';
import { connect, type S3ObjectStore, type Workspace } from '../kernel-lib/src/index';
import {
  benchEnv,
  benchServices,
  cachedCogs,
  cleanup,
  freshBucket,
  machine,
  onCleanup,
  percentile,
  pool,
  ROOT,
  sleep,
  table,
  type IBenchServices
} from './support/services';

const uploads = Number(process.argv[2] ?? 1000);
const waitSeconds = Number(process.argv[3] ?? 60);
/** Only the targets whose name holds this word (listen, redis, folder); all by default. */
const only = (process.argv[4] ?? '').toLowerCase();
const probeFirst = process.argv[5] !== 'no';
const UPLOAD_CONCURRENCY = 16;
const DEFAULT_INTERVAL = 300_000; // the watcher's default reconcile interval
const SHORT_INTERVAL = 500;

/** Does MinIO deliver a single upload's notification at once, or only once more have piled up? */
async function flushProbe(services: IBenchServices, file: string): Promise<string[]> {
  const store = await freshBucket(services, 'clbench-probe');
  const arrivals = new Map<string, number>();
  const listener = store.client.listenBucketNotification(store.bucket, '', '', ['s3:ObjectCreated:*']);
  const order: string[] = [];
  listener.on('notification', (record: unknown) => {
    const key = (record as { s3?: { object?: { key?: string } } }).s3?.object?.key;
    if (key) {
      arrivals.set(key, Date.now());
      order.push(key);
    }
  });
  await sleep(1000); // the listen request must be registered before the first upload
  const lines: string[] = [];
  const puts: { key: string; t: number }[] = [];
  for (let i = 0; i < 6; i++) {
    const key = `probe/one-${i}.tif`;
    await store.putFile(key, file);
    const t = Date.now();
    puts.push({ key, t });
    // Up to 3 s for its notification, then the next upload.
    for (let waited = 0; waited < 3000 && !arrivals.has(key); waited += 10) {
      await sleep(10);
    }
  }
  await sleep(3000);
  listener.stop();
  for (const { key, t } of puts) {
    const at = arrivals.get(key);
    lines.push(at === undefined ? `${key}: no notification within 3 s after the last upload` : `${key}: notification after ${at - t} ms`);
  }
  return lines;
}

interface IBurstResult {
  label: string;
  latencies: number[];
  late: number;
  missed: number;
  duplicateRows: number;
  reindexed: number;
  note: string;
}

/** Uploads `files` under `prefix`, `onHalf` runs once half of them are in; returns each key's put time. */
async function burst(w: Workspace, files: string[], prefix: string, onHalf?: () => void): Promise<Map<string, number>> {
  const putAt = new Map<string, number>();
  let done = 0;
  await pool(files, UPLOAD_CONCURRENCY, async (file, i) => {
    const key = `${prefix}${String(i).padStart(5, '0')}-${path.basename(file)}`;
    await w.objects.putFile(key, file);
    putAt.set(key, Date.now());
    if (++done === Math.floor(files.length / 2)) {
      onHalf?.();
    }
  });
  return putAt;
}

async function verify(w: Workspace, project: string, keys: string[]): Promise<{ missed: number; duplicateRows: number }> {
  const rows = await w.db.query<{ object_key: string; n: number }>(
    `SELECT object_key, count(*)::int AS n FROM image_metadata WHERE project = $1 AND deleted_at IS NULL GROUP BY object_key`,
    [project]
  );
  const count = new Map(rows.map(r => [r.object_key, r.n]));
  return {
    missed: keys.filter(k => !count.has(k)).length,
    duplicateRows: rows.reduce((sum, r) => sum + r.n - 1, 0)
  };
}

async function until(done: () => boolean, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (!done() && Date.now() < deadline) {
    await sleep(50);
  }
  return done();
}

/** The watcher in this process; latency = first 'indexed' event − the upload's return. */
async function inProcess(w: Workspace, label: string, files: string[], run: string, intervalMs: number, events?: IRedisEvents): Promise<IBurstResult> {
  const indexedAt = new Map<string, number>();
  let reindexed = 0;
  const watcher = w.catalog.watch({
    prefix: `${run}/`,
    project: run,
    reconcileIntervalMs: intervalMs,
    events,
    onEvent: e => {
      if (e.outcome === 'indexed') {
        if (indexedAt.has(e.key)) {
          reindexed++;
        } else {
          indexedAt.set(e.key, Date.now());
        }
      }
    },
    onError: e => console.error(`  watch error: ${e.message}`)
  });
  await watcher.ready;
  const putAt = await burst(w, files, `${run}/`);
  const keys = [...putAt.keys()];
  const all = await until(() => keys.every(k => indexedAt.has(k)), waitSeconds);
  const late = keys.filter(k => !indexedAt.has(k)).length;
  let note = all ? '' : `${late} not searchable ${waitSeconds} s after the burst`;
  if (!all) {
    // What the next periodic scan would do (the default interval is minutes away): run it now.
    await watcher.reconcileNow();
    note += `; a reconcile scan then indexed them (${keys.filter(k => indexedAt.has(k)).length}/${keys.length})`;
  }
  const s = { ...watcher.stats };
  await watcher.stop();
  const { missed, duplicateRows } = await verify(w, run, keys);
  const latencies = keys.filter(k => indexedAt.has(k)).map(k => indexedAt.get(k)! - putAt.get(k)!);
  note += `${note ? '; ' : ''}${s.events} events, ${s.reconciles} scans`;
  return { label, latencies, late, missed, duplicateRows, reindexed, note };
}

/** The watcher as a child process, killed with SIGKILL when half the burst is in and restarted after it. */
async function killed(
  w: Workspace,
  env: Record<string, string>,
  home: string,
  label: string,
  files: string[],
  run: string,
  events?: IRedisEvents
): Promise<IBurstResult> {
  const indexedAt = new Map<string, number>();
  let reindexed = 0;
  const start = (): { child: ChildProcess; ready: Promise<number> } => {
    // tsx's loader by absolute path: the child runs in the workspace's home, outside this checkout.
    const tsx = path.join(ROOT, 'node_modules', 'tsx', 'dist');
    const args = ['--require', path.join(tsx, 'preflight.cjs'), '--import', pathToFileURL(path.join(tsx, 'loader.mjs')).href];
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.CHANGELAB_CONFIG;
    const child = spawn(process.execPath, [...args, path.join(ROOT, 'bench', 'support', 'watch-child.ts'), `${run}/`, run, String(DEFAULT_INTERVAL), ...(events ? [JSON.stringify(events)] : [])], {
      cwd: home,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'inherit']
    });
    onCleanup(async () => child.kill('SIGKILL'));
    const ready = new Promise<number>((resolve, reject) => {
      child.once('exit', code => reject(new Error(`watcher exited with ${code} before it was ready`)));
      readline.createInterface({ input: child.stdout! }).on('line', line => {
        let e: { ready?: boolean; key?: string; outcome?: string; t: number };
        try {
          e = JSON.parse(line);
        } catch {
          return;
        }
        if (e.ready) {
          resolve(e.t);
        } else if (e.outcome === 'indexed' && e.key) {
          if (indexedAt.has(e.key)) {
            reindexed++;
          } else {
            indexedAt.set(e.key, e.t);
          }
        }
      });
    });
    ready.catch(() => undefined);
    return { child, ready };
  };
  const first = start();
  await first.ready;
  let killedAt = 0;
  const putAt = await burst(w, files, `${run}/`, () => {
    killedAt = Date.now();
    first.child.kill('SIGKILL');
  });
  const indexedBeforeKill = [...indexedAt.values()].filter(t => t <= killedAt).length;
  const restartedAt = Date.now();
  const second = start();
  const readyAt = await second.ready;
  const keys = [...putAt.keys()];
  await until(() => keys.every(k => indexedAt.has(k)), waitSeconds);
  const late = keys.filter(k => !indexedAt.has(k)).length;
  second.child.kill('SIGTERM');
  await new Promise(r => second.child.once('exit', r));
  const { missed, duplicateRows } = await verify(w, run, keys);
  const latencies = keys.filter(k => indexedAt.has(k)).map(k => indexedAt.get(k)! - putAt.get(k)!);
  return {
    label,
    latencies,
    late,
    missed,
    duplicateRows,
    reindexed,
    note: `killed after ${Math.floor(files.length / 2)} uploads (${indexedBeforeKill} indexed by then); restarted once the burst was in, its start scan done ${((readyAt - restartedAt) / 1000).toFixed(1)} s later`
  };
}

async function main() {
  const services = benchServices();
  console.log(`catalog watcher latency: ${machine()}\n`);
  const { files } = cachedCogs(uploads);

  console.log('MinIO notification flush probe: six single uploads, 3 s apart, raw ListenBucketNotification');
  const probe = probeFirst ? await flushProbe(services, files[0]) : ['(skipped)'];
  for (const line of probe) {
    console.log(`  ${line}`);
  }

  const results: IBurstResult[] = [];
  const bucket: S3ObjectStore = await freshBucket(services, 'clbench-watch');
  type Target = [string, Awaited<ReturnType<typeof benchEnv>>, IRedisEvents | undefined];
  const all: Target[] = [
    ['MinIO (listen API) + PostGIS', await benchEnv(services, { database: 'server', bucket: bucket.bucket }), undefined],
    ...(services.s3Events
      ? [['MinIO (Redis event list) + PostGIS', await benchEnv(services, { database: 'server', bucket: bucket.bucket }), services.s3Events] as Target]
      : []),
    ['folder + PGlite', await benchEnv(services, { database: 'embedded' }), undefined]
  ];
  const targets = all.filter(([name]) => name.toLowerCase().includes(only));
  if (!services.s3Events) {
    console.log('\n(MinIO runs without the Redis notification target: restart it with scripts/services.sh to measure that mode)');
  }
  let n = 0;
  for (const [target, { env, home }, events] of targets) {
    const w = await connect({ cwd: home, env });
    onCleanup(() => w.close());
    for (const interval of [DEFAULT_INTERVAL, SHORT_INTERVAL]) {
      const label = `${target}, reconcile every ${interval >= 60_000 ? `${interval / 60_000} min (default)` : `${interval} ms`}`;
      console.log(`\n${label}: burst of ${uploads} uploads, ${UPLOAD_CONCURRENCY} at a time`);
      const r = await inProcess(w, label, files, `run${n++}`, interval, events);
      console.log(`  p50 ${percentile(r.latencies, 50)} ms, p95 ${percentile(r.latencies, 95)} ms; ${r.note}`);
      results.push(r);
    }
    const label = `${target}, watcher killed -9 mid-burst`;
    console.log(`\n${label}`);
    const r = await killed(w, env, home, label, files, `run${n++}`, events);
    console.log(`  p50 ${percentile(r.latencies, 50)} ms, p95 ${percentile(r.latencies, 95)} ms; ${r.note}`);
    results.push(r);
  }

  console.log(`\nupload-to-searchable latency (ms after the upload returned) for ${uploads} uploads, ${UPLOAD_CONCURRENCY} in flight`);
  console.log(
    table([
      ['', 'p50', 'p95', 'max', `late (> ${waitSeconds} s)`, 'missed rows', 'duplicate rows', 'indexed twice'],
      ...results.map(r => [
        r.label,
        percentile(r.latencies, 50),
        percentile(r.latencies, 95),
        Math.max(...r.latencies),
        r.late,
        r.missed,
        r.duplicateRows,
        r.reindexed
      ])
    ])
  );
  for (const r of results) {
    console.log(`  ${r.label}: ${r.note}`);
  }
  console.log(`\nmissed = uploaded key without a live row at the end; late keys count into latency only once indexed. ${machine()}`);
  console.log('goal (issue 3): p95 < 1 s, none missed, none duplicated, also across kill -9 and restart');
}

main()
  .catch(error => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
