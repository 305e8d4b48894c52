// Writes Cloud-Optimized GeoTIFFs: tiled, DEFLATE-compressed, with internal overviews, laid out
// as GDAL's COG driver does (header, GDAL's structural metadata "ghost area", every IFD, then tile
// data from the smallest overview to full resolution, each tile framed by a size leader and a
// repeated-bytes trailer). With that layout GDAL reports LAYOUT=COG and a reader needs one range
// request for all headers.

import { open } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';

import { InvalidRasterError } from '../errors';
import {
  CompressionCode,
  FieldType,
  PhotometricCode,
  PredictorCode,
  TiffTag
} from '../tiff/codes';
import { exifIfdEntries, formatExifDateTime, gpsIfdEntries } from './exif';
import { georeferenceEntries } from './geokeys';
import {
  alignToWord,
  encodeHeader,
  encodeIfd,
  headerByteLength,
  ifdByteLength,
  ifdPointerType,
  offsetType,
  type IIfdEntry,
  type ITiffFormat
} from './ifd';
import { halveRaster, overviewLevelCount } from './overviews';
import {
  BYTES_PER_SAMPLE,
  pixelArrayMatches,
  representable,
  SAMPLE_FORMAT
} from './pixel-types';
import { encodeTiles, tileGrid, type ITileEncoding } from './tiles';
import type { IGeoTiffWriteOptions, IRaster } from './types';

/** A GeoTIFF as the byte chunks that make it, in file order, plus what was decided. */
export interface IEncodedGeoTiff {
  chunks: Buffer[];
  byteLength: number;
  bigTiff: boolean;
  /** Full resolution first, then each overview. */
  levels: Array<{ width: number; height: number }>;
}

/** Encodes a raster as a COG held in one Buffer. */
export function writeGeoTiff(
  raster: IRaster,
  options: IGeoTiffWriteOptions
): Buffer {
  const encoded = encodeGeoTiff(raster, options);
  if (encoded.byteLength > bufferConstants.MAX_LENGTH) {
    throw new InvalidRasterError(
      `the GeoTIFF would be ${encoded.byteLength} bytes, more than one Buffer holds; use writeGeoTiffFile`,
      { byteLength: encoded.byteLength }
    );
  }
  return Buffer.concat(encoded.chunks, encoded.byteLength);
}

/** Writes a COG to a file chunk by chunk, without first joining the chunks into one Buffer. */
export async function writeGeoTiffFile(
  path: string,
  raster: IRaster,
  options: IGeoTiffWriteOptions
): Promise<IEncodedGeoTiff> {
  const encoded = encodeGeoTiff(raster, options);
  const file = await open(path, 'w');
  try {
    // writev takes at most IOV_MAX (1024 on Linux) buffers per call.
    for (let i = 0; i < encoded.chunks.length; i += 512) {
      await file.writev(encoded.chunks.slice(i, i + 512));
    }
  } finally {
    await file.close();
  }
  return encoded;
}

const CLASSIC_TIFF_LIMIT = 2 ** 32 - 1;

/** GDAL's hidden header that tells readers the file keeps the COG layout and tile framing. */
const GHOST_AREA = (() => {
  const body =
    'LAYOUT=IFDS_BEFORE_DATA\n' +
    'BLOCK_ORDER=ROW_MAJOR\n' +
    'BLOCK_LEADER=SIZE_AS_UINT4\n' +
    'BLOCK_TRAILER=LAST_4_BYTES_REPEATED\n' +
    'KNOWN_INCOMPATIBLE_EDITION=NO\n' +
    ' '; // GDAL leaves room to rewrite NO as YES in place
  const head = `GDAL_STRUCTURAL_METADATA_SIZE=${String(body.length).padStart(6, '0')} bytes\n`;
  return Buffer.from(head + body, 'latin1');
})();

/** Bytes around each tile: a uint32 size before it and its last four bytes repeated after it. */
const TILE_LEADER = 4;
const TILE_TRAILER = 4;

interface IResolvedOptions extends ITileEncoding {
  options: IGeoTiffWriteOptions;
  overviews: boolean;
}

/** The chunks of a COG in file order, for writers that stream; `writeGeoTiff` joins them. */
export function encodeGeoTiff(
  raster: IRaster,
  options: IGeoTiffWriteOptions
): IEncodedGeoTiff {
  const resolved = resolveOptions(raster, options);
  const levels = [raster];
  if (resolved.overviews) {
    const count = overviewLevelCount(
      raster.width,
      raster.height,
      resolved.tileSize
    );
    for (let i = 0; i < count; i++) {
      levels.push(halveRaster(levels[levels.length - 1], options.nodata));
    }
  }
  const tiles = levels.map(level => encodeTiles(level, resolved));

  const meta = {
    exif: options.dateTime ? exifIfdEntries(options.dateTime) : null,
    gps: options.gps ? gpsIfdEntries(options.gps) : null
  };

  // Classic TIFF unless asked otherwise or unless its 32-bit offsets cannot reach the end.
  let format: ITiffFormat = { bigTiff: options.bigTiff === true };
  let layout = planLayout(levels, tiles, resolved, meta, format);
  if (!format.bigTiff && layout.byteLength > CLASSIC_TIFF_LIMIT) {
    if (options.bigTiff === false) {
      throw new InvalidRasterError(
        `the image needs ${layout.byteLength} bytes, beyond classic TIFF's 4 GiB; allow BigTIFF`,
        { byteLength: layout.byteLength }
      );
    }
    format = { bigTiff: true };
    layout = planLayout(levels, tiles, resolved, meta, format);
  }

  const chunks: Buffer[] = [
    encodeHeader(format, layout.ifdOffsets[0]),
    GHOST_AREA
  ];
  if ((headerByteLength(format) + GHOST_AREA.length) % 2 !== 0) {
    chunks.push(Buffer.alloc(1)); // IFDs start on a word boundary
  }
  for (let level = 0; level < levels.length; level++) {
    const entries = imageEntries(
      levels[level],
      level,
      layout.tileOffsets[level],
      tiles[level],
      resolved,
      format,
      layout
    );
    const next = level + 1 < levels.length ? layout.ifdOffsets[level + 1] : 0;
    chunks.push(encodeIfd(entries, format, layout.ifdOffsets[level], next));
  }
  if (meta.exif) {
    chunks.push(encodeIfd(meta.exif, format, layout.exifOffset, 0));
  }
  if (meta.gps) {
    chunks.push(encodeIfd(meta.gps, format, layout.gpsOffset, 0));
  }
  for (let level = levels.length - 1; level >= 0; level--) {
    for (const tile of tiles[level]) {
      const leader = Buffer.alloc(TILE_LEADER);
      leader.writeUInt32LE(tile.length, 0);
      chunks.push(leader, tile, tile.subarray(tile.length - TILE_TRAILER));
    }
  }
  return {
    chunks,
    byteLength: layout.byteLength,
    bigTiff: format.bigTiff,
    levels: levels.map(({ width, height }) => ({ width, height }))
  };
}

interface IMetadataIfds {
  exif: IIfdEntry[] | null;
  gps: IIfdEntry[] | null;
}

interface ILayout {
  ifdOffsets: number[];
  exifOffset: number;
  gpsOffset: number;
  /** Per level, where each tile's bytes start (after its leader). */
  tileOffsets: number[][];
  byteLength: number;
}

/** Where everything goes. An IFD's size does not depend on the offsets it will hold. */
function planLayout(
  levels: IRaster[],
  tiles: Buffer[][],
  resolved: IResolvedOptions,
  meta: IMetadataIfds,
  format: ITiffFormat
): ILayout {
  const unplaced = { exifOffset: 0, gpsOffset: 0 };
  let cursor = alignToWord(headerByteLength(format) + GHOST_AREA.length);
  const ifdOffsets: number[] = [];
  for (let level = 0; level < levels.length; level++) {
    ifdOffsets.push(cursor);
    const zeros = tiles[level].map(() => 0);
    cursor += ifdByteLength(
      imageEntries(
        levels[level],
        level,
        zeros,
        tiles[level],
        resolved,
        format,
        unplaced
      ),
      format
    );
  }
  const exifOffset = meta.exif ? cursor : 0;
  cursor += meta.exif ? ifdByteLength(meta.exif, format) : 0;
  const gpsOffset = meta.gps ? cursor : 0;
  cursor += meta.gps ? ifdByteLength(meta.gps, format) : 0;

  // Tile data: smallest overview first, full resolution last, so a reader zooming in reads on.
  const tileOffsets = levels.map(() => [] as number[]);
  for (let level = levels.length - 1; level >= 0; level--) {
    for (const tile of tiles[level]) {
      tileOffsets[level].push(cursor + TILE_LEADER);
      cursor += TILE_LEADER + tile.length + TILE_TRAILER;
    }
  }
  return { ifdOffsets, exifOffset, gpsOffset, tileOffsets, byteLength: cursor };
}

/** The tags of one image (full resolution when `level` is 0, else an overview). */
function imageEntries(
  image: IRaster,
  level: number,
  tileOffsets: number[],
  tiles: Buffer[],
  resolved: IResolvedOptions,
  format: ITiffFormat,
  subIfds: Pick<ILayout, 'exifOffset' | 'gpsOffset'>
): IIfdEntry[] {
  const { options } = resolved;
  const { bands, dataType } = image;
  const rgb = bands === 3 && dataType === 'uint8';
  const extraSamples = bands - (rgb ? 3 : 1);
  const short = (tag: number, value: number[]): IIfdEntry => ({
    tag,
    type: FieldType.SHORT,
    value
  });
  const entries: IIfdEntry[] = [
    { tag: TiffTag.ImageWidth, type: FieldType.LONG, value: [image.width] },
    { tag: TiffTag.ImageLength, type: FieldType.LONG, value: [image.height] },
    short(
      TiffTag.BitsPerSample,
      new Array(bands).fill(BYTES_PER_SAMPLE[dataType] * 8)
    ),
    short(TiffTag.Compression, [CompressionCode[resolved.compression]]),
    short(TiffTag.PhotometricInterpretation, [
      rgb ? PhotometricCode.rgb : PhotometricCode.minIsBlack
    ]),
    short(TiffTag.SamplesPerPixel, [bands]),
    short(TiffTag.PlanarConfiguration, [1]),
    short(TiffTag.TileWidth, [resolved.tileSize]),
    short(TiffTag.TileLength, [resolved.tileSize]),
    { tag: TiffTag.TileOffsets, type: offsetType(format), value: tileOffsets },
    {
      tag: TiffTag.TileByteCounts,
      type: offsetType(format),
      value: tiles.map(t => t.length)
    },
    short(TiffTag.SampleFormat, new Array(bands).fill(SAMPLE_FORMAT[dataType]))
  ];
  if (level > 0) {
    entries.push({ tag: TiffTag.NewSubfileType, type: FieldType.LONG, value: [1] }); // reduced resolution
  }
  if (resolved.predictor) {
    const code =
      dataType === 'float32'
        ? PredictorCode.floatingPoint
        : PredictorCode.horizontal;
    entries.push(short(TiffTag.Predictor, [code]));
  }
  if (extraSamples > 0) {
    entries.push(short(TiffTag.ExtraSamples, new Array(extraSamples).fill(0))); // unspecified data
  }
  if (options.nodata !== undefined) {
    entries.push({
      tag: TiffTag.GdalNodata,
      type: FieldType.ASCII,
      value: formatNodata(options.nodata)
    });
  }
  if (level === 0) {
    entries.push({
      tag: TiffTag.Software,
      type: FieldType.ASCII,
      value: options.software ?? 'changelab'
    });
    if (options.dateTime) {
      entries.push({
        tag: TiffTag.DateTime,
        type: FieldType.ASCII,
        value: formatExifDateTime(options.dateTime)
      });
      entries.push({
        tag: TiffTag.ExifIFD,
        type: ifdPointerType(format),
        value: [subIfds.exifOffset]
      });
    }
    if (options.gps) {
      entries.push({
        tag: TiffTag.GpsIFD,
        type: ifdPointerType(format),
        value: [subIfds.gpsOffset]
      });
    }
    entries.push(...georeferenceEntries(options.crs, options.transform));
  }
  return entries;
}

/** GDAL_NODATA is text; GDAL spells the special values "nan", "inf" and "-inf". */
function formatNodata(nodata: number): string {
  if (Number.isNaN(nodata)) {
    return 'nan';
  }
  if (!Number.isFinite(nodata)) {
    return nodata > 0 ? 'inf' : '-inf';
  }
  return String(nodata);
}

function resolveOptions(
  raster: IRaster,
  options: IGeoTiffWriteOptions
): IResolvedOptions {
  const fail = (message: string, context: Record<string, unknown>) => {
    throw new InvalidRasterError(message, context);
  };
  const { width, height, bands, dataType, data } = raster;
  for (const [name, value] of Object.entries({ width, height, bands })) {
    if (!Number.isInteger(value) || value < 1) {
      fail(`raster ${name} must be a positive integer, got ${value}`, {
        [name]: value
      });
    }
  }
  if (!(dataType in BYTES_PER_SAMPLE)) {
    fail(
      `unsupported data type ${String(dataType)}; use uint8, uint16 or float32`,
      { dataType }
    );
  }
  if (!pixelArrayMatches(dataType, data)) {
    fail(
      `raster data is a ${data?.constructor?.name}, not the array for ${dataType}`,
      { dataType }
    );
  }
  if (data.length !== width * height * bands) {
    fail(
      `raster data has ${data.length} samples; ${width}x${height}x${bands} needs ${width * height * bands}`,
      {
        width,
        height,
        bands,
        length: data.length
      }
    );
  }
  if (bands > 0xffff) {
    fail(`at most 65535 bands fit in a TIFF, got ${bands}`, { bands });
  }
  const tileSize = options.tileSize ?? 256;
  if (
    !Number.isInteger(tileSize) ||
    tileSize < 16 ||
    tileSize > 4096 ||
    tileSize % 16 !== 0
  ) {
    fail(
      `tileSize must be a multiple of 16 between 16 and 4096, got ${tileSize}`,
      { tileSize }
    );
  }
  const compression = options.compression ?? 'deflate';
  if (!(compression in CompressionCode)) {
    fail(
      `unsupported compression ${String(compression)}; use 'deflate' or 'none'`,
      { compression }
    );
  }
  const deflateLevel = options.deflateLevel ?? 6;
  if (!Number.isInteger(deflateLevel) || deflateLevel < 0 || deflateLevel > 9) {
    fail(`deflateLevel must be an integer 0..9, got ${deflateLevel}`, {
      deflateLevel
    });
  }
  if (
    options.nodata !== undefined &&
    !representable(dataType, options.nodata)
  ) {
    fail(`nodata ${options.nodata} cannot be stored as ${dataType}`, {
      nodata: options.nodata,
      dataType
    });
  }
  const { crs, transform } = options;
  if (crs && !transform) {
    fail('a CRS needs a transform to place the pixels', { epsg: crs.epsg });
  }
  if (
    crs &&
    (!Number.isInteger(crs.epsg) || crs.epsg < 1 || crs.epsg > 0xffff)
  ) {
    fail(
      `EPSG code must be an integer 1..65535 (a GeoKey is 16-bit), got ${crs.epsg}`,
      { epsg: crs.epsg }
    );
  }
  if (transform) {
    const [, a, b, , d, e] = transform;
    if (
      transform.length !== 6 ||
      !transform.every(Number.isFinite) ||
      a * e - b * d === 0
    ) {
      fail(
        `transform must be 6 finite numbers with non-zero pixel size, got [${transform.join(', ')}]`,
        {
          transform
        }
      );
    }
  }
  const tiles = tileGrid(width, height, tileSize);
  if (tiles.across * tiles.down > 2 ** 32 - 1) {
    fail(`${width}x${height} needs more tiles than a TIFF can index`, {
      width,
      height,
      tileSize
    });
  }
  return {
    options,
    tileSize,
    compression,
    deflateLevel,
    predictor: compression !== 'none' && (options.predictor ?? true),
    overviews: options.overviews ?? true
  };
}
