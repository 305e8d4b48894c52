// Cutting a raster into TIFF tiles and compressing them. Tiles are always full size (TIFF
// requires it); the part past the image edge is padding that readers ignore.

import { endianness } from 'node:os';
import { deflateSync } from 'node:zlib';

import { allocatePixels } from './pixel-types';
import type { Compression, PixelArray, IRaster } from './types';

// Typed arrays are handed to the file as their in-memory bytes, and the file says "II".
if (endianness() !== 'LE') {
  throw new Error('the GeoTIFF writer supports little-endian hosts only');
}

export interface ITileEncoding {
  tileSize: number;
  compression: Compression;
  predictor: boolean;
  deflateLevel: number;
}

export function tileGrid(width: number, height: number, tileSize: number) {
  return {
    across: Math.ceil(width / tileSize),
    down: Math.ceil(height / tileSize)
  };
}

/** Encoded tiles in row-major order, which is also the order GDAL's COG layout stores them. */
export function encodeTiles(
  raster: IRaster,
  encoding: ITileEncoding
): Buffer[] {
  const { across, down } = tileGrid(
    raster.width,
    raster.height,
    encoding.tileSize
  );
  const tiles: Buffer[] = [];
  for (let ty = 0; ty < down; ty++) {
    for (let tx = 0; tx < across; tx++) {
      tiles.push(
        encodeTile(cutTile(raster, tx, ty, encoding.tileSize), raster, encoding)
      );
    }
  }
  return tiles;
}

function cutTile(
  raster: IRaster,
  tx: number,
  ty: number,
  tileSize: number
): PixelArray {
  const { width, height, bands, data } = raster;
  const tile = allocatePixels(raster.dataType, tileSize * tileSize * bands);
  const col0 = tx * tileSize;
  const row0 = ty * tileSize;
  const cols = Math.min(tileSize, width - col0);
  const rows = Math.min(tileSize, height - row0);
  for (let r = 0; r < rows; r++) {
    const start = ((row0 + r) * width + col0) * bands;
    tile.set(data.subarray(start, start + cols * bands), r * tileSize * bands);
  }
  return tile;
}

function encodeTile(
  tile: PixelArray,
  raster: IRaster,
  encoding: ITileEncoding
): Buffer {
  if (encoding.compression === 'none') {
    return Buffer.from(tile.buffer, tile.byteOffset, tile.byteLength);
  }
  let bytes: Uint8Array;
  if (!encoding.predictor) {
    bytes = new Uint8Array(tile.buffer, tile.byteOffset, tile.byteLength);
  } else if (raster.dataType === 'float32') {
    bytes = floatingPointPredictor(
      tile as Float32Array,
      encoding.tileSize,
      raster.bands
    );
  } else {
    horizontalPredictor(tile, encoding.tileSize, raster.bands);
    bytes = new Uint8Array(tile.buffer, tile.byteOffset, tile.byteLength);
  }
  return deflateSync(bytes, { level: encoding.deflateLevel });
}

/**
 * TIFF predictor 2: each sample becomes its difference from the same band one pixel to the left,
 * within a row. Integer typed arrays wrap on assignment, which is the modular arithmetic the
 * spec asks for.
 */
function horizontalPredictor(
  tile: PixelArray,
  tileSize: number,
  bands: number
): void {
  const rowLength = tileSize * bands;
  for (let row = 0; row < tileSize; row++) {
    const base = row * rowLength;
    for (let i = rowLength - 1; i >= bands; i--) {
      tile[base + i] -= tile[base + i - bands];
    }
  }
}

/**
 * TIFF predictor 3 (Adobe's floating-point predictor): per row, the samples' bytes are regrouped
 * into planes, most significant byte first, and then byte-differenced with a stride of one pixel.
 * Regrouping puts the slowly varying sign/exponent bytes together, which DEFLATE rewards.
 */
function floatingPointPredictor(
  tile: Float32Array,
  tileSize: number,
  bands: number
): Uint8Array {
  const source = new Uint8Array(tile.buffer, tile.byteOffset, tile.byteLength);
  const out = new Uint8Array(source.length);
  const samplesPerRow = tileSize * bands;
  const rowBytes = samplesPerRow * 4;
  for (let row = 0; row < tileSize; row++) {
    const base = row * rowBytes;
    for (let s = 0; s < samplesPerRow; s++) {
      for (let byte = 0; byte < 4; byte++) {
        // Little-endian memory: byte 3 is the most significant and goes to the first plane.
        out[base + (3 - byte) * samplesPerRow + s] =
          source[base + s * 4 + byte];
      }
    }
    for (let i = rowBytes - 1; i >= bands; i--) {
      out[base + i] = (out[base + i] - out[base + i - bands]) & 0xff;
    }
  }
  return out;
}
