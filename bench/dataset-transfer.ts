// Benchmark: dataset push and pull to / from MinIO, `changelab dataset push|pull` against `dvc push|pull` (DVC 3.67.1) on the same data, cache format and MinIO, in the same run.
// Scenarios: (a) many small files (default 10,000 x ~50 KB) and (b) few big ones (default 20 x 200 MB).
// Each command runs as its own process, wall time from spawn to exit, peak RSS of that process.
// Pulls start from a fresh git clone with an empty cache (fetch + checkout, as a new machine would).
//   npm run bench -- dataset-transfer [small=10000] [bigMB=200] [bigCount=20]
//   DATASET_BENCH_ONLY=small|big picks one scenario; a count or size of 0 skips it;
//   DATASET_BENCH_JOBS=N sets ours' concurrent transfers (--jobs).
// Disk: about 2 x data in the source repo, 2 x data per clone (one at a time), 2 x data in MinIO.
import { execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as Minio from 'minio';
import { ROOT, benchServices, machine, table, uniqueName } from './support/services';

const smallCount = Number(process.argv[2] ?? 10_000);
const bigMB = Number(process.argv[3] ?? 200);
const bigCount = Number(process.argv[4] ?? 20);
const only = process.env.DATASET_BENCH_ONLY;
/** Concurrent transfers for ours (default: the library's). */
const jobs = process.env.DATASET_BENCH_JOBS ? ['--jobs', process.env.DATASET_BENCH_JOBS] : [];
const DVC = path.join(ROOT, '.venv-oracles-dvc', 'bin', 'dvc');
const CLI = path.join(ROOT, 'kernel-lib', 'lib', 'cli.js');
const RSS = path.join(ROOT, 'bench', 'support', 'dataset-rss.py');
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
}

/** Runs a command under the RSS wrapper; throws with its output when it fails. */
function measured(cwd: string, command: string[]): Promise<IMeasure> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [RSS, ...command], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', d => (out += d));
    child.stderr.on('data', d => (out += d));
    child.on('exit', code => {
      const m = /MEASURE (\{.*\})/.exec(out);
      if (code !== 0 || !m) {
        reject(new Error(`${command.join(' ')} failed (${code}):\n${out.slice(-3000)}`));
        return;
      }
      const r = JSON.parse(m[1]) as { seconds: number; rss_kib: number };
      resolve({ seconds: r.seconds, rssMiB: r.rss_kib / 1024 });
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

async function scenario(label: string, count: number, size: (i: number) => number): Promise<string[][]> {
  const services = benchServices();
  const u = new URL(services.s3.endpoint);
  const client = new Minio.Client({ endPoint: u.hostname, port: Number(u.port), useSSL: false, accessKey: services.s3.accessKey, secretKey: services.s3.secretKey, region: 'us-east-1', pathStyle: true });
  const bucket = uniqueName('dsbench');
  await client.makeBucket(bucket);
  const work = fs.mkdtempSync(path.join(ROOT, '.changelab-bench', 'dataset-'));
  const rows: string[][] = [];
  try {
    const source = path.join(work, 'source');
    fs.mkdirSync(source, { recursive: true });
    run(source, 'git', 'init', '-q');
    const t0 = performance.now();
    const bytes = writeData(path.join(source, 'datasets', 'bench'), count, size);
    console.log(`\n${label}: ${count} files, ${(bytes / 2 ** 20).toFixed(0)} MiB written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // One commit (ours) fills the DVC cache both tools push from: the formats are the same.
    run(source, 'node', CLI, 'dataset', 'commit', 'bench', '-m', 'bench data', '--root', source);
    run(source, 'node', CLI, 'dataset', 'remote', 'add', 'ours', `s3://${bucket}/ours`, '--endpoint', services.s3.endpoint, '--access-key-id', services.s3.accessKey, '--secret-access-key', services.s3.secretKey, '--root', source);
    run(source, DVC, 'remote', 'add', 'theirs', `s3://${bucket}/theirs`);
    run(source, DVC, 'remote', 'modify', 'theirs', 'endpointurl', services.s3.endpoint);
    run(source, DVC, 'remote', 'modify', '--local', 'theirs', 'access_key_id', services.s3.accessKey);
    run(source, DVC, 'remote', 'modify', '--local', 'theirs', 'secret_access_key', services.s3.secretKey);
    run(source, 'git', 'add', '-A');
    run(source, 'git', 'commit', '-q', '-m', 'remotes');
    const mib = bytes / 2 ** 20;

    const pushOurs = await measured(source, ['node', CLI, 'dataset', 'push', '--remote', 'ours', '--root', source, ...jobs]);
    const pushDvc = await measured(source, [DVC, 'push', '-q', '-r', 'theirs']);
    const row = (what: string, ours: IMeasure, dvc: IMeasure) => [
      `${label} ${what}`,
      ours.seconds.toFixed(2),
      dvc.seconds.toFixed(2),
      `${(dvc.seconds / ours.seconds).toFixed(2)}x`,
      `${(mib / ours.seconds).toFixed(0)} / ${(mib / dvc.seconds).toFixed(0)}`,
      `${ours.rssMiB.toFixed(0)} / ${dvc.rssMiB.toFixed(0)}`
    ];
    rows.push(row('push', pushOurs, pushDvc));
    console.log(`  push: ours ${pushOurs.seconds.toFixed(2)} s, dvc ${pushDvc.seconds.toFixed(2)} s`);
    // The source's workspace copy is not needed any more; its cache is what the clones compare with.
    const reference = path.join(source, 'datasets', 'bench');

    const cloneOurs = path.join(work, 'clone-ours');
    run(work, 'git', 'clone', '-q', source, cloneOurs);
    run(cloneOurs, 'node', CLI, 'dataset', 'remote', 'add', 'ours', `s3://${bucket}/ours`, '--endpoint', services.s3.endpoint, '--access-key-id', services.s3.accessKey, '--secret-access-key', services.s3.secretKey, '--root', cloneOurs);
    const pullOurs = await measured(cloneOurs, ['node', CLI, 'dataset', 'pull', '--remote', 'ours', '--root', cloneOurs, ...jobs]);
    const oursOk = sameFolder(reference, path.join(cloneOurs, 'datasets', 'bench'));
    fs.rmSync(cloneOurs, { recursive: true, force: true });

    const cloneDvc = path.join(work, 'clone-dvc');
    run(work, 'git', 'clone', '-q', source, cloneDvc);
    run(cloneDvc, DVC, 'remote', 'modify', '--local', 'theirs', 'access_key_id', services.s3.accessKey);
    run(cloneDvc, DVC, 'remote', 'modify', '--local', 'theirs', 'secret_access_key', services.s3.secretKey);
    const pullDvc = await measured(cloneDvc, [DVC, 'pull', '-q', '-r', 'theirs']);
    const dvcOk = sameFolder(reference, path.join(cloneDvc, 'datasets', 'bench'));
    fs.rmSync(cloneDvc, { recursive: true, force: true });
    rows.push(row('pull', pullOurs, pullDvc));
    console.log(`  pull: ours ${pullOurs.seconds.toFixed(2)} s (bytes ${oursOk ? 'identical' : 'DIFFER'}), dvc ${pullDvc.seconds.toFixed(2)} s (bytes ${dvcOk ? 'identical' : 'DIFFER'})`);
    if (!oursOk || !dvcOk) {
      throw new Error('a pulled folder differs from the source');
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await emptyBucket(client, bucket).catch(e => console.error(`could not remove bucket ${bucket}: ${(e as Error).message}`));
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
  fs.mkdirSync(path.join(ROOT, '.changelab-bench'), { recursive: true });
  console.log(`dataset push/pull, changelab vs dvc ${run(ROOT, DVC, '--version').trim()} on MinIO (loopback)`);
  console.log(machine());
  console.log(`ours: ${jobs.length ? jobs[1] : 'default 32'} concurrent transfers; dvc: its default jobs (4 x cores)`);
  const rows: string[][] = [['scenario', 'ours s', 'dvc s', 'dvc/ours', 'MiB/s ours / dvc', 'peak RSS MiB ours / dvc']];
  if (smallCount > 0 && only !== 'big') {
    // ~50 KB: 40..60 KB, so sizes differ as chips do.
    rows.push(...(await scenario(`(a) ${smallCount} x ~50 KB`, smallCount, i => 40_000 + ((i * 7919) % 20_000))));
  }
  if (bigMB > 0 && bigCount > 0 && only !== 'small') {
    rows.push(...(await scenario(`(b) ${bigCount} x ${bigMB} MB`, bigCount, () => bigMB * 1_000_000)));
  }
  console.log('\n' + table(rows));
  console.log(`\n(${os.hostname()}; wall time of each command from spawn to exit, start-up included)`);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
