// Decodes the chip files a built dataset holds (see dataset/manifest.ts): 8-bit GeoTIFFs (strips
// or tiles, uncompressed or DEFLATE, with or without the horizontal predictor, chunky or planar)
// and 8-bit PNGs. Chips are small, so a whole file is read and decoded at once; anything else
// (16-bit, JPEG, LZW, interlaced PNG) is refused with an error that names what was found.

import { inflateSync } from 'node:zlib';

import { InvalidRasterError } from '../../errors';

/** Pixels as read: `data[(y * width + x) * bands + b]`. */
export interface IChipPixels {
  width: number;
  height: number;
  bands: number;
  data: Uint8Array;
}

export function decodeChip(bytes: Uint8Array, file = 'chip'): IChipPixels {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return decodePng(bytes, file);
  }
  if (bytes.length >= 8 && ((bytes[0] === 0x49 && bytes[1] === 0x49) || (bytes[0] === 0x4d && bytes[1] === 0x4d))) {
    return decodeTiff(bytes, file);
  }
  throw new InvalidRasterError(`${file} is neither a TIFF nor a PNG`, { file });
}

// ---- TIFF -------------------------------------------------------------------------------------

const TAG = {
  width: 256,
  height: 257,
  bitsPerSample: 258,
  compression: 259,
  stripOffsets: 273,
  samplesPerPixel: 277,
  rowsPerStrip: 278,
  stripByteCounts: 279,
  planar: 284,
  predictor: 317,
  tileWidth: 322,
  tileHeight: 323,
  tileOffsets: 324,
  tileByteCounts: 325,
  sampleFormat: 339
} as const;

/** Byte sizes of TIFF field types 1..18. */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8 };

function decodeTiff(bytes: Uint8Array, file: string): IChipPixels {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = bytes[0] === 0x49;
  const bad = (why: string, extra: Record<string, unknown> = {}) => new InvalidRasterError(`${file}: ${why}`, { file, ...extra });
  const u16 = (o: number) => view.getUint16(o, le);
  const u32 = (o: number) => view.getUint32(o, le);
  const u64 = (o: number) => Number(view.getBigUint64(o, le));
  const magic = u16(2);
  const big = magic === 43;
  if (magic !== 42 && !big) {
    throw bad(`not a TIFF (magic ${magic})`);
  }
  const ifd = big ? u64(8) : u32(4);
  if (ifd <= 0 || ifd >= bytes.length) {
    throw bad('the first IFD lies outside the file', { offset: ifd });
  }
  const count = big ? u64(ifd) : u16(ifd);
  const entrySize = big ? 20 : 12;
  const tags = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const e = ifd + (big ? 8 : 2) + i * entrySize;
    if (e + entrySize > bytes.length) {
      throw bad('truncated IFD');
    }
    const tag = u16(e);
    const type = u16(e + 2);
    const n = big ? u64(e + 4) : u32(e + 4);
    const size = TYPE_SIZE[type];
    if (!size || ![3, 4, 16, 1].includes(type)) {
      continue; // tags we do not read (strings, rationals, GeoTIFF doubles)
    }
    const inline = big ? 8 : 4;
    const at = n * size <= inline ? e + (big ? 12 : 8) : big ? u64(e + 12) : u32(e + 8);
    if (at + n * size > bytes.length) {
      throw bad(`tag ${tag} points outside the file`);
    }
    const values: number[] = [];
    for (let k = 0; k < n; k++) {
      const o = at + k * size;
      values.push(type === 1 ? bytes[o] : type === 3 ? u16(o) : type === 4 ? u32(o) : u64(o));
    }
    tags.set(tag, values);
  }
  const one = (tag: number, fallback?: number): number => {
    const v = tags.get(tag)?.[0] ?? fallback;
    if (v === undefined) {
      throw bad(`missing TIFF tag ${tag}`, { tag });
    }
    return v;
  };
  const width = one(TAG.width);
  const height = one(TAG.height);
  const bands = one(TAG.samplesPerPixel, 1);
  const bits = tags.get(TAG.bitsPerSample) ?? [8];
  if (bits.some(b => b !== 8) || one(TAG.sampleFormat, 1) !== 1) {
    throw bad(`only 8-bit unsigned chips are supported, found ${bits.join('/')} bits, sample format ${one(TAG.sampleFormat, 1)}`);
  }
  const compression = one(TAG.compression, 1);
  if (compression !== 1 && compression !== 8 && compression !== 32946) {
    throw bad(`compression ${compression} is not supported (uncompressed or DEFLATE chips only)`, { compression });
  }
  const predictor = one(TAG.predictor, 1);
  if (predictor !== 1 && predictor !== 2) {
    throw bad(`predictor ${predictor} is not supported`, { predictor });
  }
  const planar = one(TAG.planar, 1) === 2;
  const tiled = tags.has(TAG.tileOffsets);
  const blockWidth = tiled ? one(TAG.tileWidth) : width;
  const blockHeight = tiled ? one(TAG.tileHeight) : Math.min(one(TAG.rowsPerStrip, height), height);
  const offsets = tags.get(tiled ? TAG.tileOffsets : TAG.stripOffsets);
  const counts = tags.get(tiled ? TAG.tileByteCounts : TAG.stripByteCounts);
  if (!offsets || !counts || offsets.length !== counts.length) {
    throw bad('missing or inconsistent strip/tile offsets');
  }
  const across = Math.ceil(width / blockWidth);
  const down = Math.ceil(height / blockHeight);
  const perPlane = across * down;
  const planes = planar ? bands : 1;
  const samples = planar ? 1 : bands;
  if (offsets.length < perPlane * planes) {
    throw bad(`${offsets.length} blocks for a ${width}x${height} image in ${blockWidth}x${blockHeight} blocks`);
  }
  const out = new Uint8Array(width * height * bands);
  for (let plane = 0; plane < planes; plane++) {
    for (let by = 0; by < down; by++) {
      for (let bx = 0; bx < across; bx++) {
        const index = plane * perPlane + by * across + bx;
        const start = offsets[index];
        const end = start + counts[index];
        if (end > bytes.length) {
          throw bad('a block runs past the end of the file (truncated?)', { block: index });
        }
        let block: Uint8Array = bytes.subarray(start, end);
        if (compression !== 1) {
          try {
            block = inflateSync(block);
          } catch (cause) {
            throw new InvalidRasterError(`${file}: a DEFLATE block is corrupt`, { file, block: index }, { cause });
          }
        }
        const rowLength = blockWidth * samples;
        const rows = tiled ? blockHeight : Math.min(blockHeight, height - by * blockHeight);
        if (block.length < rows * rowLength) {
          throw bad(`block ${index} holds ${block.length} bytes, ${rows * rowLength} expected`, { block: index });
        }
        if (predictor === 2) {
          for (let r = 0; r < rows; r++) {
            const row = r * rowLength;
            for (let i = samples; i < rowLength; i++) {
              block[row + i] = (block[row + i] + block[row + i - samples]) & 0xff;
            }
          }
        }
        const x0 = bx * blockWidth;
        const y0 = by * blockHeight;
        const cols = Math.min(blockWidth, width - x0);
        for (let r = 0; r < rows && y0 + r < height; r++) {
          const src = r * rowLength;
          if (planar) {
            for (let c = 0; c < cols; c++) {
              out[((y0 + r) * width + x0 + c) * bands + plane] = block[src + c];
            }
          } else {
            out.set(block.subarray(src, src + cols * bands), ((y0 + r) * width + x0) * bands);
          }
        }
      }
    }
  }
  return { width, height, bands, data: out };
}

// ---- PNG --------------------------------------------------------------------------------------

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function decodePng(bytes: Uint8Array, file: string): IChipPixels {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new InvalidRasterError(`${file}: ${why}`, { file });
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (data.length !== length) {
      throw bad(`truncated ${type} chunk`);
    }
    if (type === 'IHDR') {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      const depth = data[8];
      const colour = data[9];
      if (depth !== 8 || !(colour in PNG_CHANNELS)) {
        throw bad(`only 8-bit grey, grey+alpha, RGB and RGBA PNGs are supported (bit depth ${depth}, colour type ${colour})`);
      }
      if (data[12] !== 0) {
        throw bad('interlaced PNGs are not supported');
      }
      channels = PNG_CHANNELS[colour];
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    offset += 12 + length;
  }
  if (!channels || idat.length === 0) {
    throw bad('no image header or no image data');
  }
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (cause) {
    throw new InvalidRasterError(`${file}: the PNG image data is corrupt`, { file }, { cause });
  }
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) {
    throw bad('the PNG image data is shorter than its header says');
  }
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[row + i - channels] : 0;
      const b = y > 0 ? out[row - stride + i] : 0;
      const c = y > 0 && i >= channels ? out[row - stride + i - channels] : 0;
      let predicted: number;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = a;
          break;
        case 2:
          predicted = b;
          break;
        case 3:
          predicted = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw bad(`unknown PNG filter ${filter} on row ${y}`);
      }
      out[row + i] = (src[i] + predicted) & 0xff;
    }
  }
  return { width, height, bands: channels, data: out };
}
