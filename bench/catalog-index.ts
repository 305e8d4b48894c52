// Benchmark: catalog indexing throughput for N small COGs from local disk and from MinIO, ours
// (header extraction alone, and catalog.ingest into PostGIS and into PGlite) against GDAL in one
// long-lived Python process and `gdalinfo -json` per file, measured in the same run. Usage:
//   npm run bench -- catalog-index [files=2000] [repeats=3] [gdalinfoSample=100]
import { execFileSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import type { IObjectInfo, Workspace } from '../kernel-lib/src/index';
import { extractMetadata, fileByteSource, objectByteSource } from '../kernel-lib/src/catalog/extract';
import {
  benchServices,
  benchWorkspace,
  cachedCogs,
  cleanup,
  freshBucket,
  machine,
  median,
  pool,
  spread,
  table
} from './support/services';

const count = Number(process.argv[2] ?? 2000);
const repeats = Number(process.argv[3] ?? 3);
const gdalinfoSample = Number(process.argv[4] ?? 100);
const CONCURRENCY = 8;
// Debian's GDAL bindings belong to the system Python, whatever venv is active.
const PYTHON = '/usr/bin/python3';

const seconds = async (work: () => Promise<unknown>) => {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
};

/** files/s of each repeat. */
async function measure(label: string, files: number, work: (repeat: number) => Promise<unknown>): Promise<number[]> {
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    rates.push(files / (await seconds(() => work(r))));
  }
  console.log(`  ${label}: ${spread(rates)} files/s`);
  return rates;
}

// GDAL in long-lived Python processes: every worker imports GDAL and opens one file before the
// clock starts; then gdal.Info(format='json') on every path, split across `workers` processes.
const GDAL_SCRIPT = String.raw`
import json, sys, time
from multiprocessing import Pool
from osgeo import gdal
gdal.UseExceptions()
def info(path):
    gdal.Info(path, format='json')
    return 1
def warm(path):
    gdal.Info(path, format='json')
    return 1
if __name__ == '__main__':
    args = json.load(sys.stdin)
    files, workers, repeats = args['files'], args['workers'], args['repeats']
    rates = []
    if workers == 1:
        info(files[0])
        for _ in range(repeats):
            start = time.perf_counter()
            for f in files:
                info(f)
            rates.append(len(files) / (time.perf_counter() - start))
    else:
        with Pool(workers) as pool:
            pool.map(warm, files[:workers], chunksize=1)
            for _ in range(repeats):
                start = time.perf_counter()
                sum(pool.imap_unordered(info, files, chunksize=16))
                rates.append(len(files) / (time.perf_counter() - start))
    print(json.dumps(rates))
`;

function gdalLongLived(files: string[], workers: number, env: NodeJS.ProcessEnv): number[] {
  const out = execFileSync(PYTHON, ['-c', GDAL_SCRIPT], {
    input: JSON.stringify({ files, workers, repeats }),
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 20
  });
  return JSON.parse(out.trim().split('\n').pop()!) as number[];
}

function gdalinfoPerFile(files: string[], env: NodeJS.ProcessEnv): number[] {
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (const file of files) {
      execFileSync('gdalinfo', ['-json', file], { env, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 24 });
    }
    rates.push(files.length / ((performance.now() - start) / 1000));
  }
  return rates;
}

async function main() {
  const services = benchServices();
  console.log(`catalog indexing throughput: ${machine()}`);
  const started = performance.now();
  const set = cachedCogs(count);
  console.log(
    `${count} COGs of 256 x 256 RGB uint8 (DEFLATE, 256 tiles, overviews; 24 scenes in EPSG:5186/32652/4326 copied under distinct names), ` +
      `${(set.bytes / 1e6).toFixed(0)} MB in ${set.folder} (ready in ${((performance.now() - started) / 1000).toFixed(1)} s)`
  );
  console.log(`${repeats} repeats per row; ours runs ${CONCURRENCY} reads in flight; gdalinfo -json per file on the first ${gdalinfoSample} files, rate extrapolated to all\n`);

  const bucket = await freshBucket(services, 'clbench-index');
  const uploadS = await seconds(() =>
    pool(set.files, 16, f => bucket.putFile(`images/${path.basename(f)}`, f))
  );
  console.log(`uploaded to ${bucket.location} in ${uploadS.toFixed(1)} s\n`);

  const rows: { source: string; what: string; rates: number[] }[] = [];
  const add = (source: string, what: string, rates: number[]) => rows.push({ source, what, rates });

  // --- ours: header extraction alone --------------------------------------------------------
  console.log('measuring ours: extractMetadata');
  const fromDisk = (sha256: boolean) => () =>
    pool(set.files, CONCURRENCY, async file => {
      const source = await fileByteSource(file);
      try {
        await extractMetadata(source, { key: file, size: source.size, etag: '' }, { sha256 });
      } finally {
        await source.close();
      }
    });
  await fromDisk(false)(); // warm-up: JIT, EPSG tables, page cache
  add('local disk', 'ours: extractMetadata, no sha256', await measure('local, no sha256', count, fromDisk(false)));
  add('local disk', 'ours: extractMetadata + sha256', await measure('local, sha256', count, fromDisk(true)));

  // Listing is part of indexing a prefix, so it is inside the clock.
  const fromMinio = (sha256: boolean) => async () => {
    const infos: IObjectInfo[] = [];
    for await (const info of bucket.list('images/')) {
      infos.push(info);
    }
    await pool(infos, CONCURRENCY, info => extractMetadata(objectByteSource(bucket, info), info, { sha256 }));
  };
  await fromMinio(false)();
  add('MinIO', 'ours: list + extractMetadata, no sha256', await measure('MinIO, no sha256', count, fromMinio(false)));
  add('MinIO', 'ours: list + extractMetadata + sha256', await measure('MinIO, sha256', count, fromMinio(true)));

  // --- ours: catalog.ingest, end to end ------------------------------------------------------
  // A fresh project per repeat, so every file is extracted and inserted (nothing "unchanged").
  const deployments: [string, () => Promise<Workspace>][] = [
    ['PostGIS server', () => benchWorkspace(services, { database: 'server', bucket: bucket.bucket })],
    ['PGlite embedded', () => benchWorkspace(services, { database: 'embedded', bucket: bucket.bucket })]
  ];
  for (const [name, open] of deployments) {
    console.log(`measuring ours: catalog.ingest into ${name}`);
    const w = await open();
    let n = 0;
    const ingest = (target: string, sha256: boolean) => async () => {
      const summary = await w.catalog.ingest(target, {
        project: `bench-${n++}`,
        concurrency: CONCURRENCY,
        progress: false,
        extract: { sha256 }
      });
      if (summary.indexed !== count) {
        throw new Error(`ingest ${target} indexed ${summary.indexed} of ${count}: ${summary}`);
      }
    };
    await ingest(set.folder, false)(); // warm-up (and the embedded database's first queries)
    add('local disk', `ours: catalog.ingest → ${name}, no sha256`, await measure(`local → ${name}, no sha256`, count, ingest(set.folder, false)));
    add('local disk', `ours: catalog.ingest → ${name}, sha256`, await measure(`local → ${name}, sha256`, count, ingest(set.folder, true)));
    add('MinIO', `ours: catalog.ingest → ${name}, no sha256`, await measure(`MinIO → ${name}, no sha256`, count, ingest('images/', false)));
    add('MinIO', `ours: catalog.ingest → ${name}, sha256`, await measure(`MinIO → ${name}, sha256`, count, ingest('images/', true)));
  }

  // --- GDAL ------------------------------------------------------------------------------------
  console.log('measuring GDAL');
  const endpoint = new URL(services.s3.endpoint);
  const s3Env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_S3_ENDPOINT: endpoint.host,
    AWS_HTTPS: endpoint.protocol === 'https:' ? 'YES' : 'NO',
    AWS_VIRTUAL_HOSTING: 'FALSE',
    AWS_ACCESS_KEY_ID: services.s3.accessKey,
    AWS_SECRET_ACCESS_KEY: services.s3.secretKey,
    AWS_REGION: services.s3.region,
    // What a tuned deployment sets: no directory listing on open, only .tif probed.
    GDAL_DISABLE_READDIR_ON_OPEN: 'EMPTY_DIR',
    CPL_VSIL_CURL_ALLOWED_EXTENSIONS: '.tif'
  };
  const vsis3 = set.files.map(f => `/vsis3/${bucket.bucket}/images/${path.basename(f)}`);
  const gdalVersion = execFileSync(PYTHON, ['-c', 'from osgeo import gdal; print(gdal.__version__)'], { encoding: 'utf8' }).trim();
  for (const workers of [1, os.cpus().length]) {
    const label = workers === 1 ? 'GDAL gdal.Info(json), 1 long-lived Python process' : `GDAL gdal.Info(json), ${workers} long-lived Python processes`;
    const local = gdalLongLived(set.files, workers, process.env);
    console.log(`  ${label}, local: ${spread(local)} files/s`);
    add('local disk', label, local);
    const s3 = gdalLongLived(vsis3, workers, s3Env);
    console.log(`  ${label}, MinIO /vsis3/: ${spread(s3)} files/s`);
    add('MinIO', label + ' (/vsis3/)', s3);
  }
  const sample = Math.min(gdalinfoSample, count);
  const perFileLocal = gdalinfoPerFile(set.files.slice(0, sample), process.env);
  console.log(`  gdalinfo -json per file, local (${sample} files): ${spread(perFileLocal)} files/s`);
  add('local disk', `gdalinfo -json per file (${sample} files, extrapolated)`, perFileLocal);
  const perFileS3 = gdalinfoPerFile(vsis3.slice(0, sample), s3Env);
  console.log(`  gdalinfo -json per file, MinIO (${sample} files): ${spread(perFileS3)} files/s`);
  add('MinIO', `gdalinfo -json per file (/vsis3/, ${sample} files, extrapolated)`, perFileS3);

  // --- summary -----------------------------------------------------------------------------------
  for (const source of ['local disk', 'MinIO']) {
    const here = rows.filter(r => r.source === source);
    const gdal1 = median(here.find(r => r.what.startsWith('GDAL gdal.Info(json), 1 '))!.rates);
    const gdalinfo = median(here.find(r => r.what.startsWith('gdalinfo'))!.rates);
    console.log(`\n${source}: ${count} files, files/s as median (min–max) of ${repeats} repeats; ratios of medians`);
    console.log(
      table([
        ['', 'files/s', `s for ${count}`, '÷ GDAL long-lived (1 proc)', '÷ gdalinfo per file'],
        ...here.map(r => [
          r.what,
          spread(r.rates),
          (count / median(r.rates)).toFixed(1),
          `${(median(r.rates) / gdal1).toFixed(2)}x`,
          `${(median(r.rates) / gdalinfo).toFixed(1)}x`
        ])
      ])
    );
  }
  console.log(`\nGDAL ${gdalVersion} (Debian python3-gdal); ${machine()}`);
  console.log('goal (issue 3): >= 1,000 files/s from local disk, >= 300 files/s from MinIO, faster than long-lived GDAL');
}

main()
  .catch(error => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
