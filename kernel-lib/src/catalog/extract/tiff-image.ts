// What one IFD says about its image: size, samples, data type, compression and how the pixels
// are cut into tiles or strips. Declared sizes are checked before anything is sized by them, so
// a header claiming 10^14 pixels is refused with the numbers instead of exhausting memory.
import type { RasterDataType } from '../types';
import { invalidRaster } from './invalid-raster';
import type { IIfd, ITiffEntry, TiffReader } from './tiff-ifd';
import {
  COMPRESSION_NAMES,
  PHOTOMETRIC_NAMES,
  SubfileType,
  TiffTag
} from '../../tiff/codes';

export interface IImageLimits {
  /** Largest width or height accepted. Default 2^31 - 1 (GDAL's own limit). */
  maxSide: number;
  /** Largest width x height accepted. Default 2^40 (a 1,000,000 x 1,000,000 mosaic). */
  maxPixels: number;
  /** Most tiles or strips one image may declare. Default 2^24. */
  maxBlocks: number;
  /** Tile tables with more entries are sampled (first and last entries) instead of read whole. Default 65,536. */
  fullTableEntries: number;
}

export const DEFAULT_IMAGE_LIMITS: IImageLimits = {
  maxSide: 2 ** 31 - 1,
  maxPixels: 2 ** 40,
  maxBlocks: 2 ** 24,
  fullTableEntries: 65_536
};

export interface ITiffImage {
  ifd: IIfd;
  subfileType: number;
  width: number;
  height: number;
  samplesPerPixel: number;
  bitsPerSample: number;
  /** 1 uint, 2 int, 3 float, 5/6 complex. */
  sampleFormat: number;
  compressionCode: number;
  compression: string;
  photometric: string | null;
  /** 1 = pixel-interleaved, 2 = band-separate. */
  planar: number;
  tiled: boolean;
  blockWidth: number;
  blockHeight: number;
  /** Tiles or strips the image needs (times samples when band-separate). */
  blockCount: number;
  offsets: ITiffEntry;
  byteCounts: ITiffEntry;
}

/** Reads and checks the structure of an image IFD; throws for anything a reader cannot use. */
export async function readImage(
  tiff: TiffReader,
  ifd: IIfd,
  limits: IImageLimits
): Promise<ITiffImage> {
  const name = `IFD ${ifd.index}`;
  const get = (tag: number, tagName: string, fallback?: number) =>
    tiff.first(ifd, tag, `${tagName}`, fallback);
  const width = await get(TiffTag.ImageWidth, 'ImageWidth');
  const height = await get(TiffTag.ImageLength, 'ImageLength');
  if (width === undefined || height === undefined) {
    throw invalidRaster(
      tiff.key,
      'corrupt',
      `${name} has no ${width === undefined ? 'ImageWidth' : 'ImageLength'} tag: it does not describe an image`
    );
  }
  const samplesPerPixel = (await get(
    TiffTag.SamplesPerPixel,
    'SamplesPerPixel',
    1
  ))!;
  const bitsPerSample = (await get(TiffTag.BitsPerSample, 'BitsPerSample', 1))!;
  const sampleFormat = (await get(TiffTag.SampleFormat, 'SampleFormat', 1))!;
  const compressionCode = (await get(TiffTag.Compression, 'Compression', 1))!;
  const photometricCode = await get(
    TiffTag.PhotometricInterpretation,
    'PhotometricInterpretation'
  );
  const planar = (await get(
    TiffTag.PlanarConfiguration,
    'PlanarConfiguration',
    1
  ))!;
  const subfileType = (await get(TiffTag.NewSubfileType, 'NewSubfileType', 0))!;
  const tileWidth = await get(TiffTag.TileWidth, 'TileWidth');
  const tileLength = await get(TiffTag.TileLength, 'TileLength');

  const where = ifd.index === 0 ? 'the image' : `${name}`;
  if (
    width < 1 ||
    height < 1 ||
    !Number.isInteger(width) ||
    !Number.isInteger(height)
  ) {
    throw invalidRaster(
      tiff.key,
      'corrupt',
      `${where} declares ${width} x ${height} pixels`
    );
  }
  if (samplesPerPixel < 1) {
    throw invalidRaster(
      tiff.key,
      'corrupt',
      `${where} declares ${samplesPerPixel} samples per pixel`
    );
  }
  if (bitsPerSample < 1 || bitsPerSample > 128) {
    throw invalidRaster(
      tiff.key,
      'corrupt',
      `${where} declares ${bitsPerSample} bits per sample`
    );
  }
  const declared = `${width} x ${height} pixels x ${samplesPerPixel} band${samplesPerPixel === 1 ? '' : 's'} of ${bitsPerSample} bits`;
  const uncompressed = (width * height * samplesPerPixel * bitsPerSample) / 8;
  if (
    width > limits.maxSide ||
    height > limits.maxSide ||
    width * height > limits.maxPixels
  ) {
    throw invalidRaster(
      tiff.key,
      'absurd-dimensions',
      `header declares ${declared} (${formatBytes(uncompressed)} uncompressed), beyond the limit of ${limits.maxPixels.toExponential(2)} pixels, in a file of ${tiff.reader.size} bytes`,
      {
        width,
        height,
        bands: samplesPerPixel,
        bitsPerSample,
        size: tiff.reader.size
      }
    );
  }

  const tiled = tileWidth !== undefined || tileLength !== undefined;
  let blockWidth: number;
  let blockHeight: number;
  if (tiled) {
    if (!tileWidth || !tileLength) {
      throw invalidRaster(
        tiff.key,
        'corrupt',
        `${where} is tiled but declares a ${tileWidth ?? 'missing'} x ${tileLength ?? 'missing'} tile`
      );
    }
    blockWidth = tileWidth;
    blockHeight = tileLength;
  } else {
    const rowsPerStrip = (await get(
      TiffTag.RowsPerStrip,
      'RowsPerStrip',
      height
    ))!;
    if (rowsPerStrip < 1) {
      throw invalidRaster(
        tiff.key,
        'corrupt',
        `${where} declares ${rowsPerStrip} rows per strip`
      );
    }
    blockWidth = width;
    blockHeight = Math.min(rowsPerStrip, height);
  }
  const separate = planar === 2 ? samplesPerPixel : 1;
  const blockCount =
    Math.ceil(width / blockWidth) * Math.ceil(height / blockHeight) * separate;
  const kind = tiled ? 'tiles' : 'strips';
  if (blockCount > limits.maxBlocks) {
    throw invalidRaster(
      tiff.key,
      'absurd-dimensions',
      `header declares ${declared} in ${blockCount} ${kind} of ${blockWidth} x ${blockHeight}, more than the ${limits.maxBlocks} a tile table may hold`,
      { width, height, blockCount }
    );
  }
  const offsets = ifd.entries.get(
    tiled ? TiffTag.TileOffsets : TiffTag.StripOffsets
  );
  const byteCounts = ifd.entries.get(
    tiled ? TiffTag.TileByteCounts : TiffTag.StripByteCounts
  );
  const tableName = tiled ? 'TileOffsets' : 'StripOffsets';
  if (!offsets || !byteCounts) {
    throw invalidRaster(
      tiff.key,
      'corrupt',
      `${where} has no ${offsets ? tableName.replace('Offsets', 'ByteCounts') : tableName} tag: its pixels cannot be found`
    );
  }
  if (offsets.count < blockCount || byteCounts.count < blockCount) {
    throw invalidRaster(
      tiff.key,
      'corrupt',
      `${where} needs ${blockCount} ${kind} for ${width} x ${height} pixels, but its ${tableName} lists ${Math.min(offsets.count, byteCounts.count)}`,
      { blockCount, listed: Math.min(offsets.count, byteCounts.count) }
    );
  }
  return {
    ifd,
    subfileType,
    width,
    height,
    samplesPerPixel,
    bitsPerSample,
    sampleFormat,
    compressionCode,
    compression:
      COMPRESSION_NAMES[compressionCode] ?? `unknown (${compressionCode})`,
    photometric:
      photometricCode === undefined
        ? null
        : (PHOTOMETRIC_NAMES[photometricCode] ?? String(photometricCode)),
    planar,
    tiled,
    blockWidth,
    blockHeight,
    blockCount,
    offsets,
    byteCounts
  };
}

/** The data type GDAL would give the bands, or an 'unsupported' rejection. */
export function dataTypeOf(key: string, image: ITiffImage): RasterDataType {
  const { bitsPerSample: bits, sampleFormat } = image;
  if (sampleFormat === 5 || sampleFormat === 6) {
    return 'complex';
  }
  if (sampleFormat === 3) {
    if (bits <= 32) {
      return 'float32'; // GDAL widens 16- and 24-bit floats to Float32
    }
    if (bits === 64) {
      return 'float64';
    }
  } else if (bits <= 32) {
    const signed = sampleFormat === 2;
    if (bits <= 8) {
      return signed ? 'int8' : 'uint8';
    }
    if (bits <= 16) {
      return signed ? 'int16' : 'uint16';
    }
    return signed ? 'int32' : 'uint32';
  }
  throw invalidRaster(
    key,
    'unsupported',
    `samples are ${bits}-bit ${sampleFormat === 3 ? 'floating point' : sampleFormat === 2 ? 'signed integers' : 'unsigned integers'}, a data type the catalog does not support`,
    { bitsPerSample: bits, sampleFormat }
  );
}

export function isOverview(image: ITiffImage, main: ITiffImage): boolean {
  return (
    (image.subfileType & SubfileType.reducedImage) !== 0 &&
    (image.subfileType & SubfileType.mask) === 0 &&
    image.samplesPerPixel === main.samplesPerPixel &&
    image.width <= main.width &&
    image.height <= main.height
  );
}

export function isMask(image: ITiffImage): boolean {
  return (image.subfileType & SubfileType.mask) !== 0;
}

/** What the tile (or strip) table says about where an image's data lies. */
export interface IBlockTableSummary {
  /** Offset of the first non-empty block in table (row-major) order; 0 when all are empty. */
  firstOffset: number;
  /** Lowest offset of a non-empty block. */
  minOffset: number;
  /** Highest offset + byte count. */
  maxEnd: number;
  /** Non-empty blocks appear at increasing offsets in table order. */
  rowMajor: boolean;
  /** Whether every entry was read (large tables are sampled at both ends). */
  complete: boolean;
  /** Byte count of the first block. */
  firstByteCount: number;
}

/**
 * Reads the tile table whole when it is small, else its first and last entries: in a COG and in
 * most writers' output, blocks are stored in table order, so the ends bound the data.
 */
export async function summarizeBlocks(
  tiff: TiffReader,
  image: ITiffImage,
  limits: IImageLimits
): Promise<IBlockTableSummary> {
  const n = image.blockCount;
  const name = `the ${image.tiled ? 'tile' : 'strip'} table of IFD ${image.ifd.index}`;
  const ranges: Array<[number, number]> =
    n <= limits.fullTableEntries
      ? [[0, n]]
      : [
          [0, Math.floor(limits.fullTableEntries / 2)],
          [
            n - Math.floor(limits.fullTableEntries / 2),
            Math.floor(limits.fullTableEntries / 2)
          ]
        ];
  const maxBytes = limits.fullTableEntries * 8;
  const summary: IBlockTableSummary = {
    firstOffset: 0,
    minOffset: Number.POSITIVE_INFINITY,
    maxEnd: 0,
    rowMajor: true,
    complete: ranges.length === 1,
    firstByteCount: 0
  };
  let last = 0;
  for (const [first, count] of ranges) {
    const offsets = await tiff.numbers(
      image.offsets,
      name,
      first,
      count,
      maxBytes
    );
    const counts = await tiff.numbers(
      image.byteCounts,
      `${name}'s byte counts`,
      first,
      count,
      maxBytes
    );
    if (first === 0) {
      summary.firstByteCount = counts[0];
    }
    for (let i = 0; i < count; i++) {
      const offset = offsets[i];
      const length = counts[i];
      if (!Number.isFinite(offset) || !Number.isFinite(length)) {
        throw invalidRaster(
          tiff.key,
          'corrupt',
          `${name} holds an offset beyond 2^53`
        );
      }
      if (offset === 0 || length === 0) {
        continue; // a sparse (never written) block
      }
      if (summary.firstOffset === 0) {
        summary.firstOffset = offset;
      }
      if (offset < last) {
        summary.rowMajor = false;
      }
      last = offset;
      summary.minOffset = Math.min(summary.minOffset, offset);
      summary.maxEnd = Math.max(summary.maxEnd, offset + length);
    }
  }
  if (summary.minOffset === Number.POSITIVE_INFINITY) {
    summary.minOffset = 0;
  }
  return summary;
}

/** Bytes one full block holds uncompressed. */
export function blockBytes(image: ITiffImage): number {
  const samples = image.planar === 2 ? 1 : image.samplesPerPixel;
  return (
    Math.ceil((image.blockWidth * samples * image.bitsPerSample) / 8) *
    image.blockHeight
  );
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e12) {
    return `${(bytes / 1e12).toPrecision(3)} TB`;
  }
  if (bytes >= 1e9) {
    return `${(bytes / 1e9).toPrecision(3)} GB`;
  }
  if (bytes >= 1e6) {
    return `${(bytes / 1e6).toPrecision(3)} MB`;
  }
  return `${bytes} bytes`;
}
