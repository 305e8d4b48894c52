// Internal overviews: a pyramid of 2x2 averages, each level half the previous (rounded up, as
// GDAL sizes overview factor 2^k), until a level fits in a single tile, so a viewer can show the
// whole image from one tile read.

import { allocatePixels } from './pixel-types';
import type { IRaster } from './types';

/** Halves until both sides fit in one tile; this is where GDAL's COG driver stops as well. */
export function overviewLevelCount(
  width: number,
  height: number,
  tileSize: number
): number {
  let levels = 0;
  while (width > tileSize || height > tileSize) {
    width = Math.ceil(width / 2);
    height = Math.ceil(height / 2);
    levels++;
  }
  return levels;
}

/**
 * One pyramid step. Each output pixel averages the (up to four) source pixels it covers, leaving
 * out nodata so that edges of valid data do not darken; it is nodata only when all of them are.
 */
export function halveRaster(raster: IRaster, nodata?: number): IRaster {
  const { width, height, bands, dataType, data } = raster;
  const outWidth = Math.ceil(width / 2);
  const outHeight = Math.ceil(height / 2);
  const out = allocatePixels(dataType, outWidth * outHeight * bands);
  const isInteger = dataType !== 'float32';
  const skipNaN = nodata !== undefined && Number.isNaN(nodata);
  const skip = nodata ?? NaN;
  const checkNodata = nodata !== undefined;
  const fill = nodata ?? 0;

  // Offsets of the source pixels under one output pixel: four inside, fewer on odd edges.
  const sources = new Int32Array(4);
  for (let y = 0; y < outHeight; y++) {
    const row0 = 2 * y;
    const tall = row0 + 1 < height;
    for (let x = 0; x < outWidth; x++) {
      const col0 = 2 * x;
      const wide = col0 + 1 < width;
      let n = 0;
      sources[n++] = (row0 * width + col0) * bands;
      if (wide) {
        sources[n++] = (row0 * width + col0 + 1) * bands;
      }
      if (tall) {
        sources[n++] = ((row0 + 1) * width + col0) * bands;
        if (wide) {
          sources[n++] = ((row0 + 1) * width + col0 + 1) * bands;
        }
      }
      const target = (y * outWidth + x) * bands;
      for (let band = 0; band < bands; band++) {
        let sum = 0;
        let count = 0;
        for (let k = 0; k < n; k++) {
          const v = data[sources[k] + band];
          if (checkNodata && (skipNaN ? Number.isNaN(v) : v === skip)) {
            continue;
          }
          sum += v;
          count++;
        }
        const mean = count === 0 ? fill : sum / count;
        out[target + band] = isInteger ? Math.round(mean) : mean;
      }
    }
  }
  return { width: outWidth, height: outHeight, bands, dataType, data: out };
}
