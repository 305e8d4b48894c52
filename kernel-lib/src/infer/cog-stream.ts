// A Cloud-Optimized GeoTIFF written as a stream of tile rows, for rasters larger than memory:
// each tile row is compressed and appended to a per-level scratch file, the overview pyramid is
// built on the fly (a finished tile row halves into half a tile row of the next level), and
// `finish()` lays out header, GDAL's ghost area, every IFD and then the tiles smallest overview
// first, exactly as the in-memory writer (raster/geotiff-writer.ts) and GDAL's COG driver do.
// Memory is about two tile rows per level. The scratch state can be checkpointed and resumed.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { InvalidRasterError } from '../errors';
import { georeferenceEntries } from '../raster/geokeys';
import { alignToWord, encodeHeader, encodeIfd, headerByteLength, ifdByteLength, offsetType, type IIfdEntry, type ITiffFormat } from '../raster/ifd';
import { halveRaster, overviewLevelCount } from '../raster/overviews';
import { allocatePixels, BYTES_PER_SAMPLE, SAMPLE_FORMAT } from '../raster/pixel-types';
import { encodeTiles } from '../raster/tiles';
import type { GeoTransform, ICrs, IRaster, PixelArray, RasterDataType } from '../raster/types';
import { CompressionCode, FieldType, PhotometricCode, PredictorCode, TiffTag } from '../tiff/codes';

export interface ICogStreamOptions {
  width: number;
  height: number;
  bands: number;
  dataType: RasterDataType;
  crs: ICrs;
  transform: GeoTransform;
  nodata?: number;
  /** Default 256. */
  tileSize?: number;
  /** Default 6. */
  deflateLevel?: number;
  /** Dataset metadata written as GDAL_METADATA items (gdalinfo lists them under Metadata). */
  metadata?: Record<string, string>;
  /** Band descriptions (GDAL_METADATA role="description"). */
  bandNames?: string[];
  /** Per-band scale and offset (GDAL applies value * scale + offset), e.g. a probability as bytes. */
  bandScale?: { scale: number; offset: number };
  /** A palette for a one-band uint8 image (Photometric=Palette), colours as [r, g, b] 0..255. */
  colorMap?: Array<[number, number, number]>;
  /** How overviews are made: 2x2 averages (default) or the top-left pixel (classes, palettes). */
  overviewResampling?: 'average' | 'nearest';
  software?: string;
}

/** What a checkpoint records so that a crashed writer picks up where it was. */
export interface ICogStreamState {
  rowsWritten: number;
  levels: Array<{ fileBytes: number; tileSizes: number[]; pendingRows: number; pendingFile: string | null }>;
}

interface ILevel {
  width: number;
  height: number;
  file: string;
  handle: fs.FileHandle | null;
  fileBytes: number;
  tileSizes: number[];
  /** Rows of this level not yet cut into a tile row (pixel-interleaved, `width` wide). */
  pending: PixelArray;
  pendingRows: number;
  /** First row of `pending` in this level's coordinates. */
  pendingStart: number;
}

const GHOST_AREA = (() => {
  const body =
    'LAYOUT=IFDS_BEFORE_DATA\n' +
    'BLOCK_ORDER=ROW_MAJOR\n' +
    'BLOCK_LEADER=SIZE_AS_UINT4\n' +
    'BLOCK_TRAILER=LAST_4_BYTES_REPEATED\n' +
    'KNOWN_INCOMPATIBLE_EDITION=NO\n' +
    ' ';
  const head = `GDAL_STRUCTURAL_METADATA_SIZE=${String(body.length).padStart(6, '0')} bytes\n`;
  return Buffer.from(head + body, 'latin1');
})();

export class CogStreamWriter {
  private readonly levels: ILevel[] = [];
  private rowsWritten = 0;
  readonly tileSize: number;
  private readonly deflateLevel: number;

  private constructor(
    readonly options: ICogStreamOptions,
    private readonly scratch: string
  ) {
    this.tileSize = options.tileSize ?? 256;
    this.deflateLevel = options.deflateLevel ?? 6;
    const { width, height, bands, dataType } = options;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new InvalidRasterError(`a COG needs a positive integer size, got ${width} x ${height}`, { width, height });
    }
    if (this.tileSize % 16 !== 0 || this.tileSize < 16) {
      throw new InvalidRasterError(`tileSize must be a multiple of 16, got ${this.tileSize}`, { tileSize: this.tileSize });
    }
    let w = width;
    let h = height;
    const count = overviewLevelCount(width, height, this.tileSize);
    for (let level = 0; level <= count; level++) {
      this.levels.push({
        width: w,
        height: h,
        file: path.join(scratch, `level${level}.tiles`),
        handle: null,
        fileBytes: 0,
        tileSizes: [],
        pending: allocatePixels(dataType, w * this.tileSize * bands),
        pendingRows: 0,
        pendingStart: 0
      });
      w = Math.ceil(w / 2);
      h = Math.ceil(h / 2);
    }
  }

  /** A new writer keeping its scratch files in `scratch` (created; emptied of old tiles). */
  static async create(options: ICogStreamOptions, scratch: string): Promise<CogStreamWriter> {
    await fs.mkdir(scratch, { recursive: true });
    const writer = new CogStreamWriter(options, scratch);
    for (const level of writer.levels) {
      level.handle = await fs.open(level.file, 'w');
    }
    return writer;
  }

  /** Reopens a writer from a checkpoint: scratch files are cut back to what the checkpoint saw. */
  static async resume(options: ICogStreamOptions, scratch: string, state: ICogStreamState): Promise<CogStreamWriter> {
    const writer = new CogStreamWriter(options, scratch);
    if (state.levels.length !== writer.levels.length) {
      throw new InvalidRasterError('the checkpoint does not match this raster (overview levels differ)', { scratch });
    }
    writer.rowsWritten = state.rowsWritten;
    for (const [i, level] of writer.levels.entries()) {
      const saved = state.levels[i];
      level.handle = await fs.open(level.file, 'r+');
      await level.handle.truncate(saved.fileBytes);
      level.fileBytes = saved.fileBytes;
      level.tileSizes = [...saved.tileSizes];
      level.pendingRows = saved.pendingRows;
      const rowsDone = Math.floor(level.tileSizes.length / Math.ceil(level.width / writer.tileSize)) * writer.tileSize;
      level.pendingStart = rowsDone;
      if (saved.pendingFile && saved.pendingRows > 0) {
        const bytes = await fs.readFile(path.join(scratch, saved.pendingFile));
        new Uint8Array(level.pending.buffer, level.pending.byteOffset, level.pending.byteLength).set(bytes);
      }
    }
    return writer;
  }

  get rowsDone(): number {
    return this.rowsWritten;
  }

  /**
   * Appends the next `rows` full-resolution rows (pixel-interleaved, `width * rows * bands`
   * samples). Rows must come in order; any count works.
   */
  async writeRows(data: PixelArray, rows: number): Promise<void> {
    const { width, bands } = this.options;
    if (data.length < width * rows * bands) {
      throw new InvalidRasterError(`writeRows got ${data.length} samples for ${rows} rows of ${width} x ${bands}`);
    }
    if (this.rowsWritten + rows > this.options.height) {
      throw new InvalidRasterError(`writing ${rows} rows past row ${this.rowsWritten} overruns the ${this.options.height}-row raster`);
    }
    this.rowsWritten += rows;
    await this.push(0, data, rows);
  }

  private async push(index: number, data: PixelArray, rows: number): Promise<void> {
    const level = this.levels[index];
    const { bands } = this.options;
    const rowSamples = level.width * bands;
    let offset = 0;
    while (rows > 0) {
      const take = Math.min(rows, this.tileSize - level.pendingRows);
      level.pending.set(data.subarray(offset * rowSamples, (offset + take) * rowSamples), level.pendingRows * rowSamples);
      level.pendingRows += take;
      offset += take;
      rows -= take;
      const levelEnd = level.pendingStart + level.pendingRows >= level.height;
      if (level.pendingRows === this.tileSize || levelEnd) {
        await this.flushTileRow(index);
      }
    }
  }

  /** Compresses the pending tile row, appends it, and halves it into the next level. */
  private async flushTileRow(index: number): Promise<void> {
    const level = this.levels[index];
    const { bands, dataType, nodata } = this.options;
    const band: IRaster = {
      width: level.width,
      height: level.pendingRows,
      bands,
      dataType,
      data: level.pending.subarray(0, level.width * level.pendingRows * bands)
    };
    const tiles = encodeTiles(
      band,
      { tileSize: this.tileSize, compression: 'deflate', predictor: true, deflateLevel: this.deflateLevel }
    );
    const framed: Buffer[] = [];
    for (const tile of tiles) {
      const leader = Buffer.alloc(4);
      leader.writeUInt32LE(tile.length, 0);
      framed.push(leader, tile, tile.subarray(tile.length - 4));
      level.tileSizes.push(tile.length);
    }
    const bytes = framed.reduce((n, b) => n + b.length, 0);
    await level.handle!.writev(framed, level.fileBytes);
    level.fileBytes += bytes;
    const half =
      index + 1 >= this.levels.length ? null : this.options.overviewResampling === 'nearest' ? decimate(band) : halveRaster(band, nodata);
    level.pendingStart += level.pendingRows;
    level.pendingRows = 0;
    if (half) {
      await this.push(index + 1, half.data, half.height);
    }
  }

  /** Saves pending rows beside the tiles and returns the state to resume from. */
  async checkpoint(tag: string): Promise<ICogStreamState> {
    const levels: ICogStreamState['levels'] = [];
    for (const [i, level] of this.levels.entries()) {
      await level.handle!.sync();
      let pendingFile: string | null = null;
      if (level.pendingRows > 0) {
        pendingFile = `pending-${tag}-${i}.bin`;
        const samples = level.width * level.pendingRows * this.options.bands;
        const view = level.pending.subarray(0, samples);
        await fs.writeFile(path.join(this.scratch, pendingFile), new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      }
      levels.push({ fileBytes: level.fileBytes, tileSizes: [...level.tileSizes], pendingRows: level.pendingRows, pendingFile });
    }
    return { rowsWritten: this.rowsWritten, levels };
  }

  /** Writes the COG to `target` (a local path) and closes the scratch files. */
  async finish(target: string): Promise<{ byteLength: number; bigTiff: boolean; levels: Array<{ width: number; height: number }> }> {
    if (this.rowsWritten !== this.options.height) {
      throw new InvalidRasterError(`the COG has ${this.rowsWritten} of ${this.options.height} rows`, { rows: this.rowsWritten });
    }
    for (const level of this.levels) {
      await level.handle!.close();
      level.handle = null;
    }
    const tileBytes = this.levels.reduce((n, l) => n + l.fileBytes, 0);
    let format: ITiffFormat = { bigTiff: false };
    let layout = this.plan(format);
    if (layout.dataStart + tileBytes > 2 ** 32 - 1) {
      format = { bigTiff: true };
      layout = this.plan(format);
    }
    // Tile offsets, level by level; data runs from the smallest overview to full resolution.
    const tileOffsets: number[][] = this.levels.map(() => []);
    let cursor = layout.dataStart;
    for (let i = this.levels.length - 1; i >= 0; i--) {
      for (const size of this.levels[i].tileSizes) {
        tileOffsets[i].push(cursor + 4);
        cursor += size + 8;
      }
    }
    const out = await fs.open(target, 'w');
    try {
      const head: Buffer[] = [encodeHeader(format, layout.ifdOffsets[0]), GHOST_AREA];
      if ((headerByteLength(format) + GHOST_AREA.length) % 2 !== 0) {
        head.push(Buffer.alloc(1));
      }
      for (let i = 0; i < this.levels.length; i++) {
        const next = i + 1 < this.levels.length ? layout.ifdOffsets[i + 1] : 0;
        head.push(encodeIfd(this.entries(i, tileOffsets[i], format), format, layout.ifdOffsets[i], next));
      }
      await out.writev(head, 0);
      let position = layout.dataStart;
      const chunk = Buffer.allocUnsafe(8 * 1024 * 1024);
      for (let i = this.levels.length - 1; i >= 0; i--) {
        const source = await fs.open(this.levels[i].file, 'r');
        try {
          let read = 0;
          while (read < this.levels[i].fileBytes) {
            const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, this.levels[i].fileBytes - read), read);
            if (bytesRead === 0) {
              throw new InvalidRasterError(`scratch tiles of level ${i} are shorter than recorded`);
            }
            await out.write(chunk, 0, bytesRead, position);
            read += bytesRead;
            position += bytesRead;
          }
        } finally {
          await source.close();
        }
      }
    } finally {
      await out.close();
    }
    return { byteLength: cursor, bigTiff: format.bigTiff, levels: this.levels.map(({ width, height }) => ({ width, height })) };
  }

  /** Closes scratch files without producing a COG (cancel, error). */
  async abandon(): Promise<void> {
    for (const level of this.levels) {
      await level.handle?.close().catch(() => undefined);
      level.handle = null;
    }
  }

  private plan(format: ITiffFormat): { ifdOffsets: number[]; dataStart: number } {
    let cursor = alignToWord(headerByteLength(format) + GHOST_AREA.length);
    const ifdOffsets: number[] = [];
    for (let i = 0; i < this.levels.length; i++) {
      ifdOffsets.push(cursor);
      cursor += ifdByteLength(this.entries(i, this.levels[i].tileSizes.map(() => 0), format), format);
      cursor = alignToWord(cursor);
    }
    return { ifdOffsets, dataStart: cursor };
  }

  private entries(index: number, tileOffsets: number[], format: ITiffFormat): IIfdEntry[] {
    const level = this.levels[index];
    const { bands, dataType, nodata, crs, transform, metadata, bandNames } = this.options;
    const rgb = bands === 3 && dataType === 'uint8';
    const short = (tag: number, value: number[]): IIfdEntry => ({ tag, type: FieldType.SHORT, value });
    const entries: IIfdEntry[] = [
      { tag: TiffTag.ImageWidth, type: FieldType.LONG, value: [level.width] },
      { tag: TiffTag.ImageLength, type: FieldType.LONG, value: [level.height] },
      short(TiffTag.BitsPerSample, new Array(bands).fill(BYTES_PER_SAMPLE[dataType] * 8)),
      short(TiffTag.Compression, [CompressionCode.deflate]),
      short(TiffTag.PhotometricInterpretation, [this.options.colorMap ? 3 : rgb ? PhotometricCode.rgb : PhotometricCode.minIsBlack]),
      short(TiffTag.SamplesPerPixel, [bands]),
      short(TiffTag.PlanarConfiguration, [1]),
      short(TiffTag.TileWidth, [this.tileSize]),
      short(TiffTag.TileLength, [this.tileSize]),
      { tag: TiffTag.TileOffsets, type: offsetType(format), value: tileOffsets },
      { tag: TiffTag.TileByteCounts, type: offsetType(format), value: level.tileSizes },
      short(TiffTag.SampleFormat, new Array(bands).fill(SAMPLE_FORMAT[dataType])),
      short(TiffTag.Predictor, [dataType === 'float32' ? PredictorCode.floatingPoint : PredictorCode.horizontal])
    ];
    if (this.options.colorMap) {
      // TIFF ColorMap: all reds, then greens, then blues, 16 bits each, 2^BitsPerSample entries.
      const map = new Array<number>(3 * 256).fill(0);
      this.options.colorMap.forEach(([r, g, b], i) => {
        map[i] = r * 257;
        map[256 + i] = g * 257;
        map[512 + i] = b * 257;
      });
      entries.push(short(320, map));
    }
    if (index > 0) {
      entries.push({ tag: TiffTag.NewSubfileType, type: FieldType.LONG, value: [1] });
    }
    const extra = bands - (rgb ? 3 : 1);
    if (extra > 0) {
      entries.push(short(TiffTag.ExtraSamples, new Array(extra).fill(0)));
    }
    if (nodata !== undefined) {
      entries.push({ tag: TiffTag.GdalNodata, type: FieldType.ASCII, value: Number.isNaN(nodata) ? 'nan' : String(nodata) });
    }
    if (index === 0) {
      entries.push({ tag: TiffTag.Software, type: FieldType.ASCII, value: this.options.software ?? 'changelab' });
      const xml = gdalMetadataXml(metadata ?? {}, bandNames ?? [], this.options.bandScale);
      if (xml) {
        entries.push({ tag: TiffTag.GdalMetadata, type: FieldType.ASCII, value: xml });
      }
      entries.push(...georeferenceEntries(crs, transform));
    }
    return entries;
  }
}

/** Every second pixel of every second row, starting at the top-left (GDAL's NEAREST overviews). */
function decimate(raster: IRaster): IRaster {
  const { width, height, bands, dataType, data } = raster;
  const w = Math.ceil(width / 2);
  const h = Math.ceil(height / 2);
  const out = allocatePixels(dataType, w * h * bands);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let b = 0; b < bands; b++) {
        out[(y * w + x) * bands + b] = data[(2 * y * width + 2 * x) * bands + b];
      }
    }
  }
  return { width: w, height: h, bands, dataType, data: out };
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** GDAL's GDAL_METADATA tag: dataset items, and band descriptions (role="description"). */
export function gdalMetadataXml(
  metadata: Record<string, string>,
  bandNames: string[],
  bandScale?: { scale: number; offset: number }
): string | null {
  const items = Object.entries(metadata).map(([name, value]) => `  <Item name="${escapeXml(name)}">${escapeXml(value)}</Item>`);
  bandNames.forEach((name, band) => items.push(`  <Item name="DESCRIPTION" sample="${band}" role="description">${escapeXml(name)}</Item>`));
  if (bandScale) {
    items.push(`  <Item name="SCALE" sample="0" role="scale">${bandScale.scale}</Item>`);
    items.push(`  <Item name="OFFSET" sample="0" role="offset">${bandScale.offset}</Item>`);
  }
  return items.length ? `<GDALMetadata>\n${items.join('\n')}\n</GDALMetadata>` : null;
}
