// Reads windows of a tiled or stripped GeoTIFF through ranged reads only: the header and tile table
// once, then just the tiles a window touches (decompressed, predictor undone). Inference reads
// whole scenes this way without downloading them, and nothing holds more than a window.
import { inflateSync } from 'node:zlib';

import { cachedByteSource, fileByteSource, objectByteSource } from '../catalog/extract/byte-source';
import { resolveCrs } from '../catalog/extract/crs';
import { HeaderReader } from '../catalog/extract/header-reader';
import { readTiff } from '../catalog/extract/tiff';
import { TiffReader } from '../catalog/extract/tiff-ifd';
import { DEFAULT_IMAGE_LIMITS, readImage, type ITiffImage } from '../catalog/extract/tiff-image';
import { DEFAULT_TIFF_LIMITS } from '../catalog/extract/tiff-ifd';
import type { IByteSource } from '../catalog/types';
import { InvalidRasterError } from '../errors';
import type { IObjectStore } from '../objects/store';
import type { GeoTransform } from '../raster/types';

export type SampleType = 'uint8' | 'uint16' | 'float32';

/** Where a scene's pixels sit in the world: its CRS (EPSG code and PROJ string) and transform. */
export interface IGrid {
  width: number;
  height: number;
  transform: GeoTransform;
  epsg: number | null;
  /** PROJ definition for reprojection; null when the CRS is unknown to us. */
  proj4: string | null;
  crsName: string | null;
  geographic: boolean;
}

export interface IRasterSource {
  readonly key: string;
  readonly grid: IGrid;
  readonly bands: number;
  readonly sampleType: SampleType;
  readonly nodata: number | null;
  readonly blockWidth: number;
  readonly blockHeight: number;
  /** Requests and bytes read so far (header included). */
  readonly stats: { requests: number; bytes: number };
  /**
   * Pixels of the window starting at (col, row), `width` x `height`, as float32 planes
   * `[band][y][x]`; pixels outside the image are `fill`.
   */
  readWindow(col: number, row: number, width: number, height: number, fill?: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** A GeoTIFF to open: an object in a store, or a local file path. */
export type RasterLocation = { store: IObjectStore; key: string } | { path: string };

const HEADER_BUDGET = 64 * 1024 * 1024;
const TABLE_LIMITS = { ...DEFAULT_TIFF_LIMITS, maxTagBytes: 256 * 1024 * 1024 };

export async function openRaster(location: RasterLocation): Promise<IRasterSource> {
  if ('path' in location) {
    const file = await fileByteSource(location.path, { maxCachedBytes: 4 * 1024 * 1024 });
    try {
      return await TiffWindowSource.open(file, () => file.close());
    } catch (error) {
      await file.close();
      throw error;
    }
  }
  const info = await location.store.head(location.key);
  return TiffWindowSource.open(objectByteSource(location.store, info, { maxCachedBytes: 4 * 1024 * 1024 }), async () => undefined);
}

/** Opens a GeoTIFF held in memory (tests, small rasters). */
export function openRasterBytes(key: string, bytes: Uint8Array): Promise<IRasterSource> {
  return TiffWindowSource.open(
    cachedByteSource(key, bytes.length, async (offset, length) => bytes.subarray(offset, offset + length)),
    async () => undefined
  );
}

class TiffWindowSource implements IRasterSource {
  private readonly tileCache = new Map<number, Promise<Float32Array>>();
  /** Decoded blocks kept for neighbouring windows: at most 32 MB, at least 4 blocks. */
  private readonly cacheBlocks: number;

  private constructor(
    private readonly source: IByteSource & { stats: { requests: number; bytes: number } },
    private readonly closer: () => Promise<void>,
    readonly grid: IGrid,
    readonly bands: number,
    readonly sampleType: SampleType,
    readonly nodata: number | null,
    private readonly image: ITiffImage,
    private readonly offsets: number[],
    private readonly byteCounts: number[],
    private readonly predictor: number,
    private readonly littleEndian: boolean
  ) {
    this.cacheBlocks = Math.max(4, Math.floor((32 * 1024 * 1024) / (image.blockWidth * image.blockHeight * bands * 4)));
  }

  get key(): string {
    return this.source.key;
  }
  get stats() {
    return this.source.stats;
  }
  get blockWidth(): number {
    return this.image.blockWidth;
  }
  get blockHeight(): number {
    return this.image.blockHeight;
  }

  static async open(
    source: IByteSource & { stats: { requests: number; bytes: number } },
    closer: () => Promise<void>
  ): Promise<TiffWindowSource> {
    const key = source.key;
    const fail = (message: string, context: Record<string, unknown> = {}) => {
      throw new InvalidRasterError(`${key}: ${message}`, { key, ...context });
    };
    const header = await readTiff(new HeaderReader(source, HEADER_BUDGET), { ...DEFAULT_TIFF_LIMITS, ...DEFAULT_IMAGE_LIMITS });
    const tiff = await TiffReader.open(new HeaderReader(source, HEADER_BUDGET), TABLE_LIMITS);
    const [ifd0] = await tiff.readChain();
    const image = await readImage(tiff, ifd0, DEFAULT_IMAGE_LIMITS);
    const transform = header.georeference?.transform;
    if (!transform) {
      fail(`the image has no geotransform${header.georeference?.problem ? ` (${header.georeference.problem})` : ''}, so its pixels cannot be placed on the other date's grid`);
    }
    const crs = resolveCrs(header.geoKeys);
    if (!crs) {
      fail('the image names no CRS');
    }
    const sampleType = header.dataType;
    if (sampleType !== 'uint8' && sampleType !== 'uint16' && sampleType !== 'float32') {
      fail(`samples are ${sampleType}; inference reads uint8, uint16 or float32 images`, { dataType: sampleType });
    }
    if (image.bitsPerSample !== { uint8: 8, uint16: 16, float32: 32 }[sampleType as SampleType]) {
      fail(`${image.bitsPerSample}-bit samples are not supported`, { bitsPerSample: image.bitsPerSample });
    }
    if (image.planar !== 1 && image.samplesPerPixel > 1) {
      fail('bands are stored separately (PlanarConfiguration=2); rewrite it pixel-interleaved (gdal_translate -co INTERLEAVE=PIXEL)');
    }
    if (![1, 5, 8, 32946].includes(image.compressionCode)) {
      fail(`compression ${image.compression} is not supported for reading pixels; use DEFLATE, LZW or none`, { compression: image.compression });
    }
    const predictor = (await tiff.first(ifd0, 317, 'Predictor', 1))!;
    if (![1, 2, 3].includes(predictor)) {
      fail(`predictor ${predictor} is not supported`, { predictor });
    }
    const offsets = await tiff.numbers(image.offsets, 'TileOffsets', 0, image.blockCount, 256 * 1024 * 1024);
    const byteCounts = await tiff.numbers(image.byteCounts, 'TileByteCounts', 0, image.blockCount, 256 * 1024 * 1024);
    const grid: IGrid = {
      width: image.width,
      height: image.height,
      transform: transform!,
      epsg: crs!.info.epsg,
      proj4: crs!.proj4,
      crsName: crs!.info.name,
      geographic: crs!.info.geographic
    };
    return new TiffWindowSource(
      source,
      closer,
      grid,
      image.samplesPerPixel,
      sampleType as SampleType,
      header.nodata,
      image,
      offsets,
      byteCounts,
      predictor,
      tiff.header.littleEndian
    );
  }

  async readWindow(col: number, row: number, width: number, height: number, fill = 0): Promise<Float32Array> {
    const { blockWidth: bw, blockHeight: bh, width: iw, height: ih } = this.image;
    const bands = this.bands;
    const out = new Float32Array(bands * width * height);
    if (fill !== 0) {
      out.fill(fill);
    }
    const c0 = Math.max(0, col);
    const r0 = Math.max(0, row);
    const c1 = Math.min(iw, col + width);
    const r1 = Math.min(ih, row + height);
    if (c1 <= c0 || r1 <= r0) {
      return out;
    }
    const across = Math.ceil(iw / bw);
    const plane = width * height;
    const jobs: Promise<void>[] = [];
    for (let ty = Math.floor(r0 / bh); ty <= Math.floor((r1 - 1) / bh); ty++) {
      for (let tx = Math.floor(c0 / bw); tx <= Math.floor((c1 - 1) / bw); tx++) {
        const index = ty * across + tx;
        jobs.push(
          this.tile(index).then(tile => {
            const tr0 = Math.max(r0, ty * bh);
            const tr1 = Math.min(r1, (ty + 1) * bh);
            const tc0 = Math.max(c0, tx * bw);
            const tc1 = Math.min(c1, (tx + 1) * bw);
            for (let r = tr0; r < tr1; r++) {
              const src = ((r - ty * bh) * bw + (tc0 - tx * bw)) * bands;
              const dst = (r - row) * width + (tc0 - col);
              const n = tc1 - tc0;
              if (bands === 1) {
                out.set(tile.subarray(src, src + n), dst);
              } else {
                for (let b = 0; b < bands; b++) {
                  const o = b * plane + dst;
                  for (let i = 0, s = src + b; i < n; i++, s += bands) {
                    out[o + i] = tile[s];
                  }
                }
              }
            }
          })
        );
      }
    }
    await Promise.all(jobs);
    return out;
  }

  /** A decoded block, pixel-interleaved, as float32; recently used blocks are kept. */
  private tile(index: number): Promise<Float32Array> {
    const cached = this.tileCache.get(index);
    if (cached) {
      this.tileCache.delete(index);
      this.tileCache.set(index, cached);
      return cached;
    }
    const promise = this.decode(index);
    promise.catch(() => this.tileCache.delete(index));
    this.tileCache.set(index, promise);
    while (this.tileCache.size > this.cacheBlocks) {
      this.tileCache.delete(this.tileCache.keys().next().value as number);
    }
    return promise;
  }

  private async decode(index: number): Promise<Float32Array> {
    const { blockWidth: bw, blockHeight: bh, compressionCode } = this.image;
    const bands = this.bands;
    const bytesPerSample = { uint8: 1, uint16: 2, float32: 4 }[this.sampleType];
    const rowsInBlock = this.image.tiled ? bh : Math.min(bh, this.image.height - Math.floor(index) * bh);
    const expected = bw * rowsInBlock * bands * bytesPerSample;
    const samples = bw * bh * bands;
    const out = new Float32Array(samples);
    const length = this.byteCounts[index];
    if (!length) {
      if (this.nodata !== null) {
        out.fill(this.nodata); // a sparse (empty) tile reads as nodata, as in GDAL
      }
      return out;
    }
    const raw = await this.source.read(this.offsets[index], length);
    if (raw.length !== length) {
      throw new InvalidRasterError(`${this.key}: block ${index} is truncated (${raw.length} of ${length} bytes)`, { key: this.key, index });
    }
    let bytes: Uint8Array;
    try {
      bytes = compressionCode === 1 ? raw : compressionCode === 5 ? lzwDecode(raw, expected) : inflateSync(raw);
    } catch (cause) {
      throw new InvalidRasterError(`${this.key}: block ${index} does not decompress: ${(cause as Error).message}`, { key: this.key, index }, { cause });
    }
    if (bytes.length < expected) {
      throw new InvalidRasterError(`${this.key}: block ${index} holds ${bytes.length} bytes, ${expected} expected`, { key: this.key, index });
    }
    bytes = new Uint8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + expected));
    const rowSamples = bw * bands;
    if (this.predictor === 3) {
      bytes = undoFloatPredictor(bytes, rowsInBlock, rowSamples, bands, this.littleEndian);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const le = this.littleEndian;
    const n = bw * rowsInBlock * bands;
    if (this.sampleType === 'uint8') {
      for (let i = 0; i < n; i++) {
        out[i] = bytes[i];
      }
    } else if (this.sampleType === 'uint16') {
      for (let i = 0; i < n; i++) {
        out[i] = view.getUint16(2 * i, le);
      }
    } else {
      for (let i = 0; i < n; i++) {
        out[i] = view.getFloat32(4 * i, le);
      }
    }
    if (this.predictor === 2) {
      const modulus = this.sampleType === 'uint8' ? 256 : 65536;
      for (let r = 0; r < rowsInBlock; r++) {
        const base = r * rowSamples;
        for (let i = bands; i < rowSamples; i++) {
          out[base + i] = (out[base + i] + out[base + i - bands]) % modulus;
        }
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.tileCache.clear();
    await this.closer();
  }
}

/** Undoes TIFF predictor 3: byte-wise running sums per row, then byte planes back into floats. */
function undoFloatPredictor(bytes: Uint8Array, rows: number, rowSamples: number, bands: number, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(bytes.length);
  const rowBytes = rowSamples * 4;
  for (let r = 0; r < rows; r++) {
    const base = r * rowBytes;
    for (let i = bands; i < rowBytes; i++) {
      bytes[base + i] = (bytes[base + i] + bytes[base + i - bands]) & 0xff;
    }
    for (let s = 0; s < rowSamples; s++) {
      for (let b = 0; b < 4; b++) {
        // Plane 0 holds the most significant bytes.
        const value = bytes[base + b * rowSamples + s];
        out[base + s * 4 + (littleEndian ? 3 - b : b)] = value;
      }
    }
  }
  return out;
}

/** TIFF's LZW (MSB-first codes, early change), as libtiff writes it. */
function lzwDecode(input: Uint8Array, expected: number): Uint8Array {
  const out = new Uint8Array(expected);
  let outPos = 0;
  const prefix = new Int32Array(4096);
  const suffix = new Uint8Array(4096);
  const lengths = new Int32Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    lengths[i] = 1;
  }
  let next = 258;
  let width = 9;
  let bitPos = 0;
  let previous = -1;
  const stack = new Uint8Array(4096);
  const totalBits = input.length * 8;
  const firstByteOf = (code: number) => {
    while (prefix[code] !== -1) {
      code = prefix[code];
    }
    return suffix[code];
  };
  while (bitPos + width <= totalBits && outPos < expected) {
    let code = 0;
    for (let i = 0; i < width; i++) {
      const bit = (input[(bitPos + i) >> 3] >> (7 - ((bitPos + i) & 7))) & 1;
      code = (code << 1) | bit;
    }
    bitPos += width;
    if (code === 257) {
      break;
    }
    if (code === 256) {
      next = 258;
      width = 9;
      previous = -1;
      continue;
    }
    let emit: number;
    if (code < next) {
      emit = code;
      if (previous !== -1 && next < 4096) {
        prefix[next] = previous;
        suffix[next] = firstByteOf(code);
        lengths[next] = lengths[previous] + 1;
        next++;
      }
    } else if (code === next && previous !== -1) {
      prefix[next] = previous;
      suffix[next] = firstByteOf(previous);
      lengths[next] = lengths[previous] + 1;
      next++;
      emit = code;
    } else {
      throw new Error(`LZW code ${code} is out of sequence`);
    }
    let depth = 0;
    for (let c = emit; c !== -1; c = prefix[c]) {
      stack[depth++] = suffix[c];
    }
    while (depth > 0 && outPos < expected) {
      out[outPos++] = stack[--depth];
    }
    previous = emit;
    if (next + 1 >= 1 << width && width < 12) {
      width++;
    }
  }
  return out.subarray(0, outPos);
}
