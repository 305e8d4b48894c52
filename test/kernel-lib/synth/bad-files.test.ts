// The bad files must really be bad, each in the way its reason says, as GDAL sees them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  generateBadFiles,
  type BadFileKind
} from '../../../kernel-lib/src/synth';
import {
  exifDegrees,
  gdalinfo,
  gdalRun,
  requireGdal,
  scratch
} from '../raster/gdal-oracle';

describe('generateBadFiles', () => {
  const space = scratch();
  beforeAll(requireGdal);
  afterAll(() => space.dispose());
  const files = generateBadFiles();
  const pathOf = (kind: BadFileKind) => {
    const file = files.find(f => f.kind === kind);
    if (!file) {
      throw new Error(`no ${kind} file`);
    }
    return space.file(file.name, file.bytes);
  };

  it('gives one file per kind, each with a reason, reproducibly', () => {
    expect(files.map(f => f.kind).sort()).toEqual(
      [
        'absurd-dimensions',
        'bad-magic',
        'gps-out-of-range',
        'gsd-too-coarse',
        'no-georeference',
        'truncated'
      ].sort()
    );
    expect(new Set(files.map(f => f.name)).size).toBe(files.length);
    for (const file of files) {
      expect(file.reason.length).toBeGreaterThan(10);
    }
    const again = generateBadFiles();
    expect(again.map(f => f.bytes.toString('base64'))).toEqual(
      files.map(f => f.bytes.toString('base64'))
    );
  });

  it('truncated: GDAL opens the header but cannot read the pixels', () => {
    const result = gdalRun('gdalinfo', ['-checksum', pathOf('truncated')]);
    expect(result.stderr).toMatch(/ERROR.*(Read error|IReadBlock failed)/);
  });

  it('bad magic: GDAL does not recognise the file', () => {
    const result = gdalRun('gdalinfo', [pathOf('bad-magic')]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      'not recognized as a supported file format'
    );
  });

  it('no georeference: GDAL finds neither CRS nor geotransform', () => {
    const info = gdalinfo(pathOf('no-georeference'));
    expect(info.geoTransform).toBeUndefined();
    expect(info.coordinateSystem?.wkt ?? '').toBe('');
  });

  it('absurd dimensions: 10^7 x 10^7 declared in a file of a few hundred bytes, unreadable', () => {
    const path = pathOf('absurd-dimensions');
    const info = gdalinfo(path);
    expect(info.size).toEqual([10_000_000, 10_000_000]);
    expect(
      files.find(f => f.kind === 'absurd-dimensions')!.bytes.length
    ).toBeLessThan(1000);
    expect(gdalRun('gdalinfo', ['-checksum', path]).stderr).toMatch(/ERROR/);
  });

  it('GSD 5 m: a valid GeoTIFF with 5 m pixels', () => {
    const info = gdalinfo(pathOf('gsd-too-coarse'));
    expect(info.geoTransform?.[1]).toBe(5);
    expect(info.geoTransform?.[5]).toBe(-5);
  });

  it('GPS out of range: EXIF latitude 123 degrees', () => {
    const exif = gdalinfo(pathOf('gps-out-of-range')).metadata.EXIF;
    expect(exifDegrees(exif.EXIF_GPSLatitude)).toBe(123);
  });
});
