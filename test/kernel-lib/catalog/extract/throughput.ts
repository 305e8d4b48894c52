// Measures extraction throughput from local disk, single process (not a test: run it with
//   npx tsx test/kernel-lib/catalog/extract/throughput.ts [files=500] [size=512]
// and it prints files/s for sequential and concurrent extraction, with and without sha256,
// against `gdalinfo -json` per file (on a sample) and GDAL's gdal.Info in one long-lived Python
// process, measured in the same run on the same files).
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { extractFileMetadata } from '../../../../kernel-lib/src/catalog/extract';
import { generatePair } from '../../../../kernel-lib/src/synth';

const count = Number(process.argv[2] ?? 500);
const size = Number(process.argv[3] ?? 512);
const dir = mkdtempSync(join(tmpdir(), 'changelab-throughput-'));

async function main() {
  // Ten distinct scenes in three CRSs, copied under distinct names (header cost does not depend
  // on pixel content; sha256 cost depends only on size).
  const originals: string[] = [];
  for (let i = 0; i < 10; i++) {
    const crs = ([5186, 32652, 4326] as const)[i % 3];
    const pair = generatePair({ seed: `throughput-${i}`, width: size, crs });
    const path = join(dir, `scene-${i}.tif`);
    writeFileSync(path, pair.before);
    originals.push(path);
  }
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = join(dir, `img_${String(i).padStart(5, '0')}.tif`);
    copyFileSync(originals[i % originals.length], path);
    files.push(path);
  }
  const bytes = files.reduce((sum, f) => sum + statSync(f).size, 0);
  console.log(
    `${count} COGs of ${size} x ${size} RGB, ${(bytes / 1e6).toFixed(0)} MB in ${dir}`
  );

  async function run(label: string, concurrency: number, sha256: boolean) {
    // Warm up once (JIT, EPSG index, page cache), then time.
    await Promise.all(
      files.slice(0, 20).map(f => extractFileMetadata(f, { sha256 }))
    );
    const start = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < files.length) {
          const file = files[next++];
          await extractFileMetadata(file, { sha256 });
        }
      })
    );
    const seconds = (performance.now() - start) / 1000;
    console.log(
      `${label.padEnd(44)} ${(files.length / seconds).toFixed(0).padStart(6)} files/s  (${((seconds * 1000) / files.length).toFixed(2)} ms/file)`
    );
    return files.length / seconds;
  }
  await run('ours, sequential, no sha256', 1, false);
  const ours = await run('ours, 8 concurrent, no sha256', 8, false);
  await run('ours, sequential, with sha256', 1, true);
  await run('ours, 8 concurrent, with sha256', 8, true);

  const sample = files.slice(0, Math.min(100, files.length));
  const start = performance.now();
  for (const file of sample) {
    execFileSync('gdalinfo', ['-json', file], {
      stdio: ['ignore', 'pipe', 'ignore']
    });
  }
  const gdal = sample.length / ((performance.now() - start) / 1000);
  console.log(
    `${'gdalinfo -json per file (sequential)'.padEnd(44)} ${gdal.toFixed(0).padStart(6)} files/s`
  );
  // GDAL in one long-lived process (Python bindings): gdal.Info as JSON for every file.
  const script = [
    'import sys, time',
    'from osgeo import gdal',
    'gdal.UseExceptions()',
    'files = sys.stdin.read().split()',
    'start = time.perf_counter()',
    'for f in files: gdal.Info(f, format="json")',
    'print(len(files) / (time.perf_counter() - start))'
  ].join('\n');
  const longLived = Number(
    execFileSync('/usr/bin/python3', ['-c', script], {
      input: files.join('\n'),
      encoding: 'utf8'
    }).trim()
  );
  console.log(
    `${'GDAL gdal.Info(json), one Python process'.padEnd(44)} ${longLived.toFixed(0).padStart(6)} files/s`
  );
  console.log(
    `ratio ours (8 concurrent, no sha256) / gdalinfo per file: ${(ours / gdal).toFixed(1)}x`
  );
  console.log(
    `ratio ours (8 concurrent, no sha256) / long-lived GDAL: ${(ours / longLived).toFixed(2)}x`
  );
}

main()
  .catch(error => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
