// writeSyntheticSet: a folder with a pair per CRS, the bad files and a manifest that matches.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeSyntheticSet } from '../../../kernel-lib/src/synth';
import { epsgOf, gdalinfo, requireGdal, scratch } from '../raster/gdal-oracle';

describe('writeSyntheticSet', () => {
  const space = scratch();
  beforeAll(requireGdal);
  afterAll(() => space.dispose());

  it('writes a pair per CRS, the bad files and a manifest describing them', async () => {
    const dir = join(space.dir, 'set');
    const manifest = await writeSyntheticSet(dir, {
      seed: 'set-test',
      size: 128
    });
    expect(
      JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
    ).toEqual(manifest);
    expect(manifest.pairs.map(p => p.meta.crs.epsg)).toEqual([
      5186, 32652, 4326
    ]);
    expect(manifest.files.filter(f => f.role === 'bad')).toHaveLength(6);
    for (const file of manifest.files) {
      expect(statSync(join(dir, file.path)).size).toBe(file.bytes);
    }
    for (const file of manifest.files.filter(f => f.role !== 'bad')) {
      const info = gdalinfo(join(dir, file.path));
      expect(epsgOf(info)).toBe(file.epsg);
      expect(info.size).toEqual([128, 128]);
      expect(info.bands).toHaveLength(file.role === 'mask' ? 1 : 3);
    }
    expect(existsSync(join(dir, 'bad', 'truncated.tif'))).toBe(true);
  });
});
