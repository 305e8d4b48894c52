// Benchmark: dataset push and pull to / from MinIO, `changelab dataset push|pull` against `dvc push|pull` (DVC 3.67.1) on the same data, cache format and MinIO, in the same run.
// Scenarios: (a) many small files (default 10,000 x ~50 KB) and (b) few big ones (default 20 x 200 MB).
// Each command runs as its own process, wall time from spawn to exit, peak RSS of that process.
// Pulls start from a fresh git clone with an empty cache (fetch + checkout, as a new machine would).
//   npm run bench -- dataset-transfer [small=10000] [bigMB=200] [bigCount=20]
//   DATASET_BENCH_ONLY=small|big picks one scenario; a count or size of 0 skips it;
//   DATASET_BENCH_REPEAT=N runs N rounds (each: every tool pushes, then pulls into a fresh clone);
//   DATASET_BENCH_JOBS=N sets ours' concurrent transfers (--jobs);
//   DATASET_BENCH_BEFORE=/path/to/kernel-lib/lib/cli.js also runs another build of ours (e.g. the
//   previous commit's) in the same run, for before/after numbers on the same load;
//   DATASET_BENCH_PROBE=1 first measures MinIO's own small-object PUT/GET rate with a minimal
//   client (node http keep-alive, SigV4) at concurrency 8/16/32/64: the ceiling for case (a).
// Besides wall time and peak RSS, every command reports its CPU seconds (user + system, the command
// and its children) and MinIO's CPU seconds while it ran: on a shared 2-core machine, where MinIO
// and the client compete for the same cores, CPU per object is what decides the small-file rate.
// Disk: about 1 x data in the source repo (its workspace files are hard links to the cache), 2 x data
// per clone (one at a time), 1 x data in MinIO (one tool's copy at a time).
import { execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as Minio from 'minio';
import { S3Http } from '../kernel-lib/src/dataset/s3-http';
import { ROOT, benchServices, machine, table, uniqueName } from './support/services';

const smallCount = Number(process.argv[2] ?? 10_000);
const bigMB = Number(process.argv[3] ?? 200);
const bigCount = Number(process.argv[4] ?? 20);
const only = process.env.DATASET_BENCH_ONLY;
/** Concurrent transfers for ours (default: the library's). */
const jobs = process.env.DATASET_BENCH_JOBS ? ['--jobs', process.env.DATASET_BENCH_JOBS] : [];
/** Another build of ours to run in the same rounds (before/after). */
const BEFORE = process.env.DATASET_BENCH_BEFORE;
/** Rounds per scenario (push and pull by every tool each round; the table shows medians). */
const repeats = Math.max(1, Number(process.env.DATASET_BENCH_REPEAT ?? 1));
const DVC = path.join(ROOT, '.venv-oracles-dvc', 'bin', 'dvc');
const CLI = path.join(ROOT, 'kernel-lib', 'lib', 'cli.js');
const ENV = {
  ...process.env,
  DVC_NO_ANALYTICS: '1',
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com'
};

interface IMeasure {
  seconds: number;
  rssMiB: number;
  /** user + system CPU seconds of the command and its children. */
  cpu: number;
  /** CPU seconds MinIO used while the command ran. */
  minioCpu: number;
}

/** Wall time, peak RSS of the largest process, and CPU (user + system) of a command's process tree. */
const WRAPPER = `
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:]).returncode
seconds = time.perf_counter() - start
r = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write("\\nMEASURE " + json.dumps({"seconds": seconds, "rss_kib": r.ru_maxrss, "cpu": r.ru_utime + r.ru_stime, "code": code}) + "\\n")
sys.exit(code)
`;

/** The pid of the MinIO server listening on `endpoint` (its command line names the address), if it runs here. */
function minioPid(endpoint: string): number | undefined {
  const host = new URL(endpoint).host;
  for (const p of fs.readdirSync('/proc').filter(d => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (cmd.some(a => /(^|\/)minio$/.test(a)) && cmd.includes('server') && cmd.some(a => a.endsWith(host))) {
        return Number(p);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

let MINIO_PID: number | undefined;
const TICK = 100; // USER_HZ on Linux
/** CPU seconds (user + system) MinIO has used so far; NaN when it is not a local process. */
function minioCpu(): number {
  if (MINIO_PID === undefined) {
    return NaN;
  }
  const fields = fs.readFileSync(`/proc/${MINIO_PID}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK;
}

const loadAverage = () => os.loadavg().map(l => l.toFixed(1)).join(' ');

/** Runs a command under the measuring wrapper; throws with its output when it fails. */
function measured(cwd: string, command: string[]): Promise<IMeasure> {
  return new Promise((resolve, reject) => {
    const m0 = minioCpu();
    const child = spawn('python3', ['-c', WRAPPER, ...command], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', d => (out += d));
    child.stderr.on('data', d => (out += d));
    child.on('exit', code => {
      const m = /MEASURE (\{.*\})/.exec(out);
      if (code !== 0 || !m) {
        reject(new Error(`${command.join(' ')} failed (${code}):\n${out.slice(-3000)}`));
        return;
      }
      const r = JSON.parse(m[1]) as { seconds: number; rss_kib: number; cpu: number };
      resolve({ seconds: r.seconds, rssMiB: r.rss_kib / 1024, cpu: r.cpu, minioCpu: minioCpu() - m0 });
    });
  });
}

const run = (cwd: string, cmd: string, ...args: string[]) => execFileSync(cmd, args, { cwd, env: ENV, stdio: 'pipe', maxBuffer: 64 << 20 }).toString();

function writeData(folder: string, count: number, size: (i: number) => number): number {
  fs.mkdirSync(folder, { recursive: true });
  let bytes = 0;
  const chunk = crypto.randomBytes(8 << 20);
  for (let i = 0; i < count; i++) {
    const dir = path.join(folder, `part-${String(Math.floor(i / 1000)).padStart(2, '0')}`);
    fs.mkdirSync(dir, { recursive: true });
    const n = size(i);
    const fd = fs.openSync(path.join(dir, `file-${String(i).padStart(5, '0')}.bin`), 'w');
    // Unique content per file (a counter at the start of every 8 MiB block), random bytes elsewhere.
    for (let off = 0; off < n; off += chunk.length) {
      const piece = Buffer.from(chunk.subarray(0, Math.min(chunk.length, n - off)));
      piece.writeUInt32LE(i, 0);
      piece.writeUInt32LE(off / chunk.length, 4);
      fs.writeSync(fd, piece);
    }
    fs.closeSync(fd);
    bytes += n;
  }
  return bytes;
}

/** Sizes and a sample of file hashes: the pulled folder must equal the source. */
function sameFolder(a: string, b: string): boolean {
  const list = (d: string): string[] => fs.readdirSync(d, { recursive: true }).map(String).filter(f => fs.statSync(path.join(d, f)).isFile()).sort();
  const la = list(a);
  const lb = list(b);
  if (la.join('\n') !== lb.join('\n')) {
    return false;
  }
  const sample = la.filter((_, i) => i % Math.max(1, Math.floor(la.length / 25)) === 0);
  const h = (f: string) => crypto.createHash('md5').update(fs.readFileSync(f)).digest('hex');
  return la.every(f => fs.statSync(path.join(a, f)).size === fs.statSync(path.join(b, f)).size) && sample.every(f => h(path.join(a, f)) === h(path.join(b, f)));
}

async function emptyBucket(client: Minio.Client, bucket: string): Promise<void> {
  const keys: string[] = [];
  for await (const item of client.listObjectsV2(bucket, '', true) as AsyncIterable<Minio.BucketItem>) {
    if (item.name) {
      keys.push(item.name);
    }
  }
  for (let i = 0; i < keys.length; i += 1000) {
    await client.removeObjects(bucket, keys.slice(i, i + 1000));
  }
  await client.removeBucket(bucket);
}

interface ITool {
  label: string;
  push(source: string, remote: string): string[];
  pull(clone: string, remote: string): string[];
  /** Prepares a fresh clone to pull from `remote` (credentials, which are never committed). */
  setup(clone: string, remote: string, bucket: string, prefix: string): void;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function scenario(label: string, count: number, size: (i: number) => number, repeats: number): Promise<string[][]> {
  const services = benchServices();
  const u = new URL(services.s3.endpoint);
  const client = new Minio.Client({ endPoint: u.hostname, port: Number(u.port), useSSL: false, accessKey: services.s3.accessKey, secretKey: services.s3.secretKey, region: 'us-east-1', pathStyle: true });
  const bucket = uniqueName('dsbench');
  await client.makeBucket(bucket);
  const work = fs.mkdtempSync(path.join(ROOT, '.changelab-bench', 'dataset-'));
  const s3 = services.s3;
  const oursTool = (toolLabel: string, cli: string): ITool => ({
    label: toolLabel,
    push: (source, remote) => ['node', cli, 'dataset', 'push', '--remote', remote, '--root', source, ...jobs],
    pull: (clone, remote) => ['node', cli, 'dataset', 'pull', '--remote', remote, '--root', clone, ...jobs],
    setup: (clone, remote, b, prefix) =>
      void run(clone, 'node', cli, 'dataset', 'remote', 'add', remote, `s3://${b}/${prefix}`, '--endpoint', s3.endpoint, '--access-key-id', s3.accessKey, '--secret-access-key', s3.secretKey, '--root', clone, '--no-default')
  });
  const tools: ITool[] = [
    oursTool('ours', CLI),
    ...(BEFORE ? [oursTool('before', BEFORE)] : []),
    {
      label: 'dvc',
      push: (_source, remote) => [DVC, 'push', '-q', '-r', remote],
      pull: (_clone, remote) => [DVC, 'pull', '-q', '-r', remote],
      setup: (clone, remote, b, prefix) => {
        run(clone, DVC, 'remote', 'add', '-f', remote, `s3://${b}/${prefix}`);
        run(clone, DVC, 'remote', 'modify', remote, 'endpointurl', s3.endpoint);
        run(clone, DVC, 'remote', 'modify', '--local', remote, 'access_key_id', s3.accessKey);
        run(clone, DVC, 'remote', 'modify', '--local', remote, 'secret_access_key', s3.secretKey);
      }
    }
  ];
  const results = new Map<string, IMeasure[]>();
  let mib = 0;
  const record = (key: string, m: IMeasure) => results.set(key, [...(results.get(key) ?? []), m]);
  try {
    const source = path.join(work, 'source');
    fs.mkdirSync(source, { recursive: true });
    run(source, 'git', 'init', '-q');
    const t0 = performance.now();
    const bytes = writeData(path.join(source, 'datasets', 'bench'), count, size);
    console.log(`\n${label}: ${count} files, ${(bytes / 2 ** 20).toFixed(0)} MiB written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // One commit (ours) fills the DVC cache both tools push from: the formats are the same.
    run(source, 'node', CLI, 'dataset', 'commit', 'bench', '-m', 'bench data', '--root', source);
    run(source, 'git', 'add', '-A');
    run(source, 'git', 'commit', '-q', '--allow-empty', '-m', 'data');
    const reference = path.join(source, 'datasets', 'bench');
    mib = bytes / 2 ** 20;
    // The source's workspace files become hard links to their cache objects: the same bytes, half
    // the disk (the pushes read only the cache; the pulled clones are compared with these files).
    const dirMd5 = /md5: ([0-9a-f]{32})\.dir/.exec(fs.readFileSync(path.join(source, 'datasets', 'bench.dvc'), 'utf8'))![1];
    const cacheFile = (md5: string) => path.join(source, '.dvc', 'cache', 'files', 'md5', md5.slice(0, 2), md5.slice(2));
    for (const e of JSON.parse(fs.readFileSync(cacheFile(dirMd5) + '.dir', 'utf8')) as Array<{ md5: string; relpath: string }>) {
      const file = path.join(reference, ...e.relpath.split('/'));
      fs.rmSync(file);
      fs.linkSync(cacheFile(e.md5), file);
    }

    for (let r = 1; r <= repeats; r++) {
      // Alternate who goes first, so neither always meets a warm (or a cold) page cache.
      const order = r % 2 ? tools : [...tools].reverse();
      // Each tool pushes, then pulls into a fresh clone, then its objects are removed (MinIO's disk
      // holds one tool's copy at a time).
      for (const tool of order) {
        const remote = `${tool.label}${r}`;
        const prefix = `${tool.label}-${r}`;
        tool.setup(source, remote, bucket, prefix);
        const push = await measured(source, tool.push(source, remote));
        record(`push ${tool.label}`, push);
        console.log(`  #${r} push ${tool.label}: ${push.seconds.toFixed(2)} s, cpu ${push.cpu.toFixed(1)} s, minio cpu ${push.minioCpu.toFixed(1)} s, rss ${push.rssMiB.toFixed(0)} MiB (load ${loadAverage()})`);
        const clone = path.join(work, `clone-${tool.label}`);
        run(work, 'git', 'clone', '-q', source, clone);
        tool.setup(clone, remote, bucket, prefix);
        const pull = await measured(clone, tool.pull(clone, remote));
        const ok = sameFolder(reference, path.join(clone, 'datasets', 'bench'));
        fs.rmSync(clone, { recursive: true, force: true });
        record(`pull ${tool.label}`, pull);
        console.log(`  #${r} pull ${tool.label}: ${pull.seconds.toFixed(2)} s, cpu ${pull.cpu.toFixed(1)} s, minio cpu ${pull.minioCpu.toFixed(1)} s, rss ${pull.rssMiB.toFixed(0)} MiB, bytes ${ok ? 'identical' : 'DIFFER'} (load ${loadAverage()})`);
        if (!ok) {
          throw new Error(`the folder ${tool.label} pulled differs from the source`);
        }
        await emptyPrefix(client, bucket, `${prefix}/`);
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await emptyBucket(client, bucket).catch(e => console.error(`could not remove bucket ${bucket}: ${(e as Error).message}`));
  }
  const rows: string[][] = [];
  for (const op of ['push', 'pull']) {
    const dvc = results.get(`${op} dvc`)!;
    for (const tool of tools.filter(t => t.label !== 'dvc')) {
      const ours = results.get(`${op} ${tool.label}`)!;
      const ratios = ours.map((o, i) => dvc[i].seconds / o.seconds);
      rows.push([
        `${label} ${op}, ${tool.label}`,
        median(ours.map(o => o.seconds)).toFixed(2),
        median(dvc.map(o => o.seconds)).toFixed(2),
        `${median(ratios).toFixed(2)}x (${ratios.map(x => x.toFixed(2)).join(', ')})`,
        `${(mib / median(ours.map(o => o.seconds))).toFixed(0)} / ${(mib / median(dvc.map(o => o.seconds))).toFixed(0)}`,
        `${Math.max(...ours.map(o => o.rssMiB)).toFixed(0)} / ${Math.max(...dvc.map(o => o.rssMiB)).toFixed(0)}`,
        `${median(ours.map(o => o.cpu)).toFixed(1)} / ${median(dvc.map(o => o.cpu)).toFixed(1)}`,
        `${median(ours.map(o => o.minioCpu)).toFixed(1)} / ${median(dvc.map(o => o.minioCpu)).toFixed(1)}`
      ]);
    }
  }
  return rows;
}

async function emptyPrefix(client: Minio.Client, bucket: string, prefix: string): Promise<void> {
  const keys: string[] = [];
  for await (const item of client.listObjectsV2(bucket, prefix, true) as AsyncIterable<Minio.BucketItem>) {
    if (item.name) {
      keys.push(item.name);
    }
  }
  for (let i = 0; i < keys.length; i += 1000) {
    await client.removeObjects(bucket, keys.slice(i, i + 1000));
  }
}

// ---- the ceiling: MinIO's own small-object rate with a minimal client ----------------------------

/** PUTs then GETs `n` objects of 40..60 KB at each concurrency, from this process, with SigV4 and keep-alive. */
async function probe(n: number, concurrencies: number[]): Promise<string[][]> {
  const s3 = benchServices().s3;
  const endpoint = new URL(s3.endpoint);
  const bucket = uniqueName('dsprobe');
  const rows: string[][] = [];
  const data = Array.from({ length: 64 }, (_, i) => crypto.randomBytes(40_000 + i * 312));
  const main = new http.Agent({ keepAlive: true });
  const signer = new S3Http(endpoint, { accessKey: s3.accessKey, secretKey: s3.secretKey }, s3.region, main);
  await signer.request('PUT', bucket, '');
  try {
    for (const c of concurrencies) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: c });
      const h = new S3Http(endpoint, { accessKey: s3.accessKey, secretKey: s3.secretKey }, s3.region, agent);
      const key = (i: number) => `c${c}/${(i % 256).toString(16).padStart(2, '0')}/${i}`;
      const rate = async (work: (i: number) => Promise<unknown>) => {
        let next = 0;
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const m0 = minioCpu();
        await Promise.all(Array.from({ length: c }, async () => {
          while (next < n) {
            await work(next++);
          }
        }));
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(c0);
        return { perSecond: n / seconds, clientMs: (cpu.user + cpu.system) / 1000 / n, minioMs: ((minioCpu() - m0) * 1000) / n };
      };
      const put = await rate(i => {
        const body = data[i % 64];
        return h.request('PUT', bucket, key(i), { body, headers: { 'content-md5': crypto.createHash('md5').update(body).digest('base64') } });
      });
      const get = await rate(i => h.request('GET', bucket, key(i)));
      agent.destroy();
      rows.push([`${c}`, put.perSecond.toFixed(0), get.perSecond.toFixed(0), `${put.clientMs.toFixed(2)} / ${get.clientMs.toFixed(2)}`, `${put.minioMs.toFixed(2)} / ${get.minioMs.toFixed(2)}`, loadAverage()]);
      console.log(`  probe concurrency ${c}: ${rows[rows.length - 1].slice(1).join(' | ')}`);
    }
  } finally {
    const u = new URL(s3.endpoint);
    const client = new Minio.Client({ endPoint: u.hostname, port: Number(u.port), useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, region: s3.region, pathStyle: true });
    await emptyBucket(client, bucket).catch(e => console.error(`could not remove bucket ${bucket}: ${(e as Error).message}`));
    main.destroy();
  }
  return rows;
}

async function main() {
  if (!fs.existsSync(DVC)) {
    throw new Error(`${DVC} is missing: bash scripts/oracles.sh`);
  }
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: npx tsc -b`);
  }
  if (BEFORE && !fs.existsSync(BEFORE)) {
    throw new Error(`DATASET_BENCH_BEFORE=${BEFORE} does not exist`);
  }
  MINIO_PID = minioPid(benchServices().s3.endpoint);
  fs.mkdirSync(path.join(ROOT, '.changelab-bench'), { recursive: true });
  console.log(`dataset push/pull, changelab vs dvc ${run(ROOT, DVC, '--version').trim()} on MinIO (loopback${MINIO_PID ? `, pid ${MINIO_PID}` : ', not a local process: no MinIO CPU'})`);
  console.log(machine());
  console.log(`ours: ${jobs.length ? jobs[1] : 'default'} concurrent transfers; dvc: its default jobs (4 x cores); ${repeats} round(s) per scenario`);
  if (MINIO_PID) {
    // Other clients of the same MinIO (other test runs) show up in its CPU: say how much, idle.
    const m0 = minioCpu();
    await new Promise(resolve => setTimeout(resolve, 10_000));
    console.log(`MinIO's CPU with no benchmark traffic, over 10 s: ${((minioCpu() - m0) / 10).toFixed(2)} cores (counted in every MinIO CPU figure below)`);
  }
  if (process.env.DATASET_BENCH_PROBE) {
    console.log('\nMinIO ceiling, 40-60 KB objects (PUT/s | GET/s | client CPU ms per PUT / GET | MinIO CPU ms per PUT / GET | load):');
    const rows = await probe(Number(process.env.DATASET_BENCH_PROBE_N ?? 3000), [8, 16, 32, 64]);
    console.log('\n' + table([['concurrency', 'PUT/s', 'GET/s', 'client CPU ms/op PUT / GET', 'MinIO CPU ms/op PUT / GET', 'load average'], ...rows]));
  }
  const rows: string[][] = [
    ['scenario', 'ours s', 'dvc s', 'dvc/ours median (each round)', 'MiB/s ours / dvc', 'peak RSS MiB ours / dvc', 'CPU s ours / dvc', 'MinIO CPU s ours / dvc']
  ];
  if (smallCount > 0 && only !== 'big') {
    // ~50 KB: 40..60 KB, so sizes differ as chips do.
    rows.push(...(await scenario(`(a) ${smallCount} x ~50 KB`, smallCount, i => 40_000 + ((i * 7919) % 20_000), repeats)));
  }
  if (bigMB > 0 && bigCount > 0 && only !== 'small') {
    rows.push(...(await scenario(`(b) ${bigCount} x ${bigMB} MB`, bigCount, () => bigMB * 1_000_000, repeats)));
  }
  console.log('\n' + table(rows));
  console.log(`\n(${os.hostname()}; wall time of each command from spawn to exit, start-up included; load average now ${loadAverage()})`);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
