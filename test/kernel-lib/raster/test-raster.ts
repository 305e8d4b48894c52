// Deterministic test pixels for the writer and the extractor tests: generated from a fixed seed,
// so every run writes the same files.
import type { IRaster } from '../../../kernel-lib/src/raster';

/** Deterministic test pixels with both smooth gradients and noise, so predictors matter. */
export function testRaster(
  width: number,
  height: number,
  bands: number,
  dataType: IRaster['dataType']
): IRaster {
  const length = width * height * bands;
  const data =
    dataType === 'uint8'
      ? new Uint8Array(length)
      : dataType === 'uint16'
        ? new Uint16Array(length)
        : new Float32Array(length);
  let state = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let b = 0; b < bands; b++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        const noise = (state >>> 16) % 16;
        const i = (y * width + x) * bands + b;
        if (dataType === 'uint8') {
          data[i] = (x + 2 * y + 40 * b + noise) & 0xff;
        } else if (dataType === 'uint16') {
          data[i] = (x * 37 + y * 11 + 1000 * b + noise * 50) & 0xffff;
        } else {
          data[i] = Math.sin(x / 17) * 1000 + y * 0.25 - b * 3.5 + noise / 7;
        }
      }
    }
  }
  return { width, height, bands, dataType, data };
}
