// GDAL as the oracle for the rasters we write: gdalinfo's JSON for structure and georeference,
// gdal_translate to raw bytes for pixels, GDAL's own COG validator for the layout. The Debian
// `gdal-bin` (and `python3-gdal` for the validator) must be installed; scripts/ sets them up.

import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IGdalInfo {
  size: [number, number];
  geoTransform?: number[];
  coordinateSystem?: { wkt: string };
  cornerCoordinates: Record<string, [number, number]>;
  metadata: Record<string, Record<string, string>>;
  bands: Array<{
    band: number;
    block: [number, number];
    type: string;
    colorInterpretation: string;
    noDataValue?: number | string;
    overviews?: Array<{ size: [number, number] }>;
  }>;
  stac?: { 'proj:epsg'?: number | null };
}

const COG_VALIDATOR =
  '/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py';

export function requireGdal(): void {
  const probe = spawnSync('gdalinfo', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      'gdalinfo (GDAL) is the oracle for these tests: install gdal-bin'
    );
  }
}

/** A scratch folder removed by `dispose`. */
export function scratch(): {
  dir: string;
  file(name: string, bytes?: Buffer): string;
  dispose(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'changelab-raster-'));
  return {
    dir,
    file(name, bytes) {
      const path = join(dir, name);
      if (bytes) {
        writeFileSync(path, bytes);
      }
      return path;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true })
  };
}

export function gdalinfo(path: string): IGdalInfo {
  const out = execFileSync('gdalinfo', ['-json', '-mdd', 'all', path], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024
  });
  return JSON.parse(out) as IGdalInfo;
}

/** Runs a GDAL command and returns its exit status and output, never throwing. */
export function gdalRun(command: string, args: string[]) {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024
  });
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr
  };
}

/** The EPSG code GDAL resolved, from the WKT2's outermost ID (independent of our GeoKeys). */
export function epsgOf(info: IGdalInfo): number | null {
  const match = info.coordinateSystem?.wkt?.match(/ID\["EPSG",(\d+)\]\]\s*$/);
  return match ? Number(match[1]) : null;
}

/**
 * Pixels as GDAL decodes them, pixel-interleaved, native little-endian; `overview` 0 is the
 * first overview.
 */
export function gdalPixels(path: string, overview?: number): Buffer {
  const work = mkdtempSync(join(tmpdir(), 'changelab-gdal-'));
  try {
    const raw = join(work, 'pixels.raw');
    const args = ['-q', '-of', 'ENVI', '-co', 'INTERLEAVE=BIP'];
    if (overview !== undefined) {
      args.push('-oo', `OVERVIEW_LEVEL=${overview}`);
    }
    execFileSync('gdal_translate', [...args, path, raw], {
      stdio: ['ignore', 'ignore', 'pipe']
    });
    return readFileSync(raw);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** GDAL's validate_cloud_optimized_geotiff.py with the leader/trailer check. */
export function validateCog(path: string): { valid: boolean; output: string } {
  if (!existsSync(COG_VALIDATOR) || !existsSync('/usr/bin/python3')) {
    throw new Error(
      `GDAL's COG validator (${COG_VALIDATOR}) is missing: install python3-gdal (scripts/install-system.sh does)`
    );
  }
  const result = spawnSync(
    '/usr/bin/python3',
    [COG_VALIDATOR, '--full-check=yes', path],
    { encoding: 'utf8' }
  );
  return {
    valid: result.status === 0,
    output: `${result.stdout}${result.stderr}`
  };
}

/** EXIF "(37) (30) (1.5)" degree/minute/second triples as decimal degrees. */
export function exifDegrees(text: string): number {
  const parts = [...text.matchAll(/\(([-\d.]+)\)/g)].map(m => Number(m[1]));
  if (parts.length !== 3) {
    throw new Error(`not an EXIF degree triple: ${text}`);
  }
  return parts[0] + parts[1] / 60 + parts[2] / 3600;
}

export function bytesOf(data: ArrayBufferView): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Where two sample sequences differ (NaN equals NaN). Large arrays are compared through this
 * rather than toEqual, whose diff of a million samples takes minutes when a test fails.
 */
export function sampleDifferences(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>
) {
  let count =
    actual.length === expected.length
      ? 0
      : Math.abs(actual.length - expected.length);
  let first = -1;
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    const a = actual[i];
    const e = expected[i];
    if (a !== e && !(Number.isNaN(a) && Number.isNaN(e))) {
      count++;
      if (first < 0) {
        first = i;
      }
    }
  }
  return { count, first, lengths: [actual.length, expected.length] };
}
