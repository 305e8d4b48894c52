// Pins the raster module's public surface: changing it should be a conscious decision.

import { expect, it } from 'vitest';

import * as raster from '../../../kernel-lib/src/raster';

it('exports exactly the raster API', () => {
  expect(Object.keys(raster).sort()).toEqual(
    [
      'crsKind',
      'encodeGeoTiff',
      'halveRaster',
      'overviewLevelCount',
      'writeGeoTiff',
      'writeGeoTiffFile'
    ].sort()
  );
});
