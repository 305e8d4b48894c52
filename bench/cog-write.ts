// Benchmark: writing a Cloud-Optimized GeoTIFF with our writer against GDAL (`gdal_translate -of
// COG`, Debian's GDAL) on the same pixels, same tiling, compression, predictor and overviews,
// measured in the same run. Prints seconds, MB/s and the ratio. Usage:
//   npm run bench -- cog-write [size=2048] [repeats=3]
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeGeoTiff } from '../kernel-lib/src/raster';
import { generatePair } from '../kernel-lib/src/synth';

const size = Number(process.argv[2] ?? 2048);
const repeats = Number(process.argv[3] ?? 3);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'changelab-bench-'));

const { rasters, meta } = generatePair({ seed: 'bench', width: size, height: size, gsd: 0.5, crs: 5186 });
const raster = rasters.before;
const transform = meta.transform;

// GDAL reads the same pixels from a raw ENVI file with the same georeference.
const raw = path.join(work, 'scene.bil');
fs.writeFileSync(raw, Buffer.from(raster.data.buffer, raster.data.byteOffset, raster.data.byteLength));
fs.writeFileSync(
  path.join(work, 'scene.hdr'),
  [
    'ENVI',
    `samples = ${raster.width}`,
    `lines = ${raster.height}`,
    `bands = ${raster.bands}`,
    'header offset = 0',
    'file type = ENVI Standard',
    'data type = 1',
    'interleave = bip',
    'byte order = 0'
  ].join('\n') + '\n'
);
const vrtArgs = ['-a_srs', 'EPSG:5186', '-a_ullr', String(transform[0]), String(transform[3]),
  String(transform[0] + transform[1] * raster.width), String(transform[3] + transform[5] * raster.height)];

function time(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}
const best = (xs: number[]) => Math.min(...xs);

const ours: number[] = [];
const gdal: number[] = [];
let oursBytes = 0;
let gdalBytes = 0;
for (let i = 0; i < repeats; i++) {
  ours.push(time(() => {
    const bytes = writeGeoTiff(raster, { crs: { epsg: 5186 }, transform, tileSize: 256, compression: 'deflate', predictor: true, deflateLevel: 6 });
    fs.writeFileSync(path.join(work, 'ours.tif'), bytes);
    oursBytes = bytes.length;
  }));
  gdal.push(time(() => {
    execFileSync('gdal_translate', ['-q', '-of', 'COG', '-co', 'COMPRESS=DEFLATE', '-co', 'PREDICTOR=YES', '-co', 'LEVEL=6',
      '-co', 'BLOCKSIZE=256', '-co', 'OVERVIEW_RESAMPLING=AVERAGE', '-co', 'NUM_THREADS=1', ...vrtArgs, raw, path.join(work, 'gdal.tif')]);
    gdalBytes = fs.statSync(path.join(work, 'gdal.tif')).size;
  }));
}
const mb = raster.data.byteLength / 1e6;
console.log(`COG write, ${size}x${size} RGB uint8 (${mb.toFixed(1)} MB), DEFLATE level 6 + predictor, 256 tiles, overviews; best of ${repeats}`);
console.log(`  changelab writer : ${best(ours).toFixed(3)} s  ${(mb / best(ours)).toFixed(1)} MB/s  ${(oursBytes / 1e6).toFixed(2)} MB file`);
console.log(`  gdal_translate   : ${best(gdal).toFixed(3)} s  ${(mb / best(gdal)).toFixed(1)} MB/s  ${(gdalBytes / 1e6).toFixed(2)} MB file (process start included)`);
console.log(`  ratio (gdal time / ours): ${(best(gdal) / best(ours)).toFixed(2)}x`);
fs.rmSync(work, { recursive: true, force: true });
