// The three sample types the writer supports and what each means in TIFF terms, kept together
// so that adding a type is one edit.

import { SampleFormatCode } from '../tiff/codes';
import type { PixelArray, RasterDataType } from './types';

export const BYTES_PER_SAMPLE: Record<RasterDataType, number> = {
  uint8: 1,
  uint16: 2,
  float32: 4
};

export const SAMPLE_FORMAT: Record<RasterDataType, number> = {
  uint8: SampleFormatCode.uint,
  uint16: SampleFormatCode.uint,
  float32: SampleFormatCode.float
};

export function allocatePixels(
  dataType: RasterDataType,
  length: number
): PixelArray {
  switch (dataType) {
    case 'uint8':
      return new Uint8Array(length);
    case 'uint16':
      return new Uint16Array(length);
    case 'float32':
      return new Float32Array(length);
  }
}

export function pixelArrayMatches(
  dataType: RasterDataType,
  data: PixelArray
): boolean {
  switch (dataType) {
    case 'uint8':
      return data instanceof Uint8Array;
    case 'uint16':
      return data instanceof Uint16Array;
    case 'float32':
      return data instanceof Float32Array;
  }
}

/** Whether `value` can be stored in a sample of this type (used for nodata). */
export function representable(
  dataType: RasterDataType,
  value: number
): boolean {
  switch (dataType) {
    case 'uint8':
      return Number.isInteger(value) && value >= 0 && value <= 0xff;
    case 'uint16':
      return Number.isInteger(value) && value >= 0 && value <= 0xffff;
    case 'float32':
      return (
        Number.isNaN(value) ||
        Math.fround(value) === value ||
        !Number.isFinite(value)
      );
  }
}
