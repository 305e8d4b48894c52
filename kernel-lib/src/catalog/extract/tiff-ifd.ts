// Our reader of TIFF's container: the header, the chain of image file directories (IFDs) and tag
// values, for classic TIFF and BigTIFF in either byte order. The same reader parses the TIFF
// structure inside a JPEG's APP1 and a PNG's eXIf chunk, where offsets count from a base.
// Values are read lazily: an IFD costs its own bytes; a 10-MB tile table is read only if asked.
import { Bytes, type HeaderReader } from './header-reader';
import { invalidRaster } from './invalid-raster';
import { FIELD_TYPE_SIZE, FieldType } from '../../tiff/codes';

export interface ITiffLimits {
  /** IFDs followed along the chain (images, overviews, masks, pages). Default 1024. */
  maxIfds: number;
  /** Entries one IFD may declare. Default 4096 (real files have tens). */
  maxEntriesPerIfd: number;
  /** Bytes one ordinary tag value may take (GeoKeys, GDAL metadata, EXIF). Default 1 MiB. */
  maxTagBytes: number;
}

export const DEFAULT_TIFF_LIMITS: ITiffLimits = {
  maxIfds: 1024,
  maxEntriesPerIfd: 4096,
  maxTagBytes: 1024 * 1024
};

export interface ITiffHeader {
  littleEndian: boolean;
  bigTiff: boolean;
  /** Offset of the first IFD, relative to `base`. */
  firstIfd: number;
}

export interface ITiffEntry {
  tag: number;
  type: number;
  count: number;
  /** The value's bytes when they sit inside the entry. */
  inline: Uint8Array | null;
  /** Absolute file position of the value when it does not. */
  offset: number;
}

export interface IIfd {
  /** Position in the chain (0 = first image). */
  index: number;
  /** Absolute file position. */
  offset: number;
  entries: Map<number, ITiffEntry>;
  /** Relative offset of the next IFD, 0 at the end of the chain. */
  next: number;
  /** Entries skipped because their field type is unknown. */
  skipped: number;
}

/** TIFF signatures: "II*\0", "MM\0*" (classic) and "II+\0", "MM\0+" (BigTIFF). */
export function tiffSignature(
  bytes: Uint8Array
): { littleEndian: boolean; bigTiff: boolean } | null {
  if (bytes.length < 4) {
    return null;
  }
  const [a, b, c, d] = bytes;
  if (a === 0x49 && b === 0x49 && d === 0) {
    return c === 42
      ? { littleEndian: true, bigTiff: false }
      : c === 43
        ? { littleEndian: true, bigTiff: true }
        : null;
  }
  if (a === 0x4d && b === 0x4d && c === 0) {
    return d === 42
      ? { littleEndian: false, bigTiff: false }
      : d === 43
        ? { littleEndian: false, bigTiff: true }
        : null;
  }
  return null;
}

export class TiffReader {
  private constructor(
    readonly reader: HeaderReader,
    readonly header: ITiffHeader,
    /** Absolute position offsets count from (0 in a TIFF file, the TIFF header in a JPEG). */
    readonly base: number,
    /** Absolute end of the TIFF structure (the file size, or the end of an APP1 segment). */
    readonly end: number,
    readonly limits: ITiffLimits
  ) {}

  get key(): string {
    return this.reader.key;
  }

  /** Reads the header at `base`; `end` bounds every offset found inside. */
  static async open(
    reader: HeaderReader,
    limits: ITiffLimits,
    base = 0,
    end = reader.size
  ): Promise<TiffReader> {
    const head = await reader.bytes(
      base,
      Math.min(16, end - base),
      'the TIFF header'
    );
    const signature = tiffSignature(head);
    if (!signature) {
      throw invalidRaster(
        reader.key,
        'corrupt',
        `no TIFF header at byte ${base}`
      );
    }
    const bytes = new Bytes(head, signature.littleEndian);
    let firstIfd: number;
    if (signature.bigTiff) {
      if (head.length < 16) {
        throw invalidRaster(
          reader.key,
          'truncated',
          'file is truncated inside the 16-byte BigTIFF header'
        );
      }
      if (bytes.u16(4) !== 8 || bytes.u16(6) !== 0) {
        throw invalidRaster(
          reader.key,
          'corrupt',
          `BigTIFF header declares ${bytes.u16(4)}-byte offsets; only 8 is defined`
        );
      }
      firstIfd = bytes.u64(8);
    } else {
      if (head.length < 8) {
        throw invalidRaster(
          reader.key,
          'truncated',
          'file is truncated inside the 8-byte TIFF header'
        );
      }
      firstIfd = bytes.u32(4);
    }
    const tiff = new TiffReader(
      reader,
      { ...signature, firstIfd },
      base,
      end,
      limits
    );
    if (firstIfd === 0) {
      throw invalidRaster(
        reader.key,
        'corrupt',
        'the TIFF header points to no image directory (first IFD offset 0)'
      );
    }
    tiff.checkOffset(firstIfd, 'the first IFD');
    return tiff;
  }

  /** Absolute position of a relative offset, or a clear error when it lies outside the file. */
  private checkOffset(relative: number, what: string): number {
    const absolute = this.base + relative;
    if (!Number.isSafeInteger(relative) || relative < 0) {
      throw invalidRaster(
        this.key,
        'corrupt',
        `${what} has an impossible offset`
      );
    }
    if (absolute >= this.end) {
      throw invalidRaster(
        this.key,
        'truncated',
        `file is truncated: ${what} should be at byte ${absolute}, but the ${this.base === 0 ? 'file' : 'embedded TIFF'} ends at byte ${this.end}`,
        { offset: absolute, size: this.end }
      );
    }
    return absolute;
  }

  /** One IFD at a relative offset; `what` names it in errors. */
  async readIfd(
    relative: number,
    index: number,
    what = `IFD ${index}`
  ): Promise<IIfd> {
    const { bigTiff, littleEndian } = this.header;
    const at = this.checkOffset(relative, what);
    const countSize = bigTiff ? 8 : 2;
    const entrySize = bigTiff ? 20 : 12;
    const nextSize = bigTiff ? 8 : 4;
    const countBytes = new Bytes(
      await this.reader.bytes(at, countSize, `the entry count of ${what}`),
      littleEndian
    );
    const count = bigTiff ? countBytes.u64(0) : countBytes.u16(0);
    if (!(count <= this.limits.maxEntriesPerIfd)) {
      throw invalidRaster(
        this.key,
        'limit-exceeded',
        `${what} at byte ${at} declares ${count} tags, more than the ${this.limits.maxEntriesPerIfd} a real image has: the file is corrupt`,
        { entries: count }
      );
    }
    const bodyLength = count * entrySize + nextSize;
    if (at + countSize + bodyLength > this.end) {
      throw invalidRaster(
        this.key,
        'truncated',
        `file is truncated: ${what} at byte ${at} has ${count} tags that run past the end (byte ${this.end})`
      );
    }
    const body = new Bytes(
      await this.reader.bytes(at + countSize, bodyLength, what),
      littleEndian
    );
    const entries = new Map<number, ITiffEntry>();
    let skipped = 0;
    const inlineSize = bigTiff ? 8 : 4;
    for (let i = 0; i < count; i++) {
      const pos = i * entrySize;
      const tag = body.u16(pos);
      const type = body.u16(pos + 2);
      const valueCount = bigTiff ? body.u64(pos + 4) : body.u32(pos + 4);
      const size = FIELD_TYPE_SIZE[type];
      if (size === undefined || !Number.isSafeInteger(valueCount)) {
        skipped++; // libtiff ignores entries of unknown types too
        continue;
      }
      const valuePos = pos + (bigTiff ? 12 : 8);
      const byteLength = valueCount * size;
      const inline = byteLength <= inlineSize;
      const entry: ITiffEntry = {
        tag,
        type,
        count: valueCount,
        inline: inline
          ? body.bytes.subarray(valuePos, valuePos + byteLength)
          : null,
        offset: inline
          ? -1
          : this.base + (bigTiff ? body.u64(valuePos) : body.u32(valuePos))
      };
      if (!entries.has(tag)) {
        entries.set(tag, entry); // the first of duplicated tags wins, as in libtiff
      }
    }
    const next = bigTiff
      ? body.u64(count * entrySize)
      : body.u32(count * entrySize);
    return {
      index,
      offset: at,
      entries,
      next: Number.isNaN(next) ? -1 : next,
      skipped
    };
  }

  /** The main IFD chain, refusing loops and chains longer than the limit. */
  async readChain(): Promise<IIfd[]> {
    const ifds: IIfd[] = [];
    const seen = new Map<number, number>();
    let next = this.header.firstIfd;
    while (next !== 0) {
      const at = this.base + next;
      const earlier = seen.get(at);
      if (earlier !== undefined) {
        throw invalidRaster(
          this.key,
          'ifd-loop',
          `the image directory chain loops: IFD ${ifds.length - 1} points back to byte ${at}, where IFD ${earlier} is`,
          { offset: at }
        );
      }
      if (ifds.length >= this.limits.maxIfds) {
        throw invalidRaster(
          this.key,
          'limit-exceeded',
          `the file has more than ${this.limits.maxIfds} image directories (IFDs)`,
          { maxIfds: this.limits.maxIfds }
        );
      }
      if (next < 0) {
        throw invalidRaster(
          this.key,
          'corrupt',
          `IFD ${ifds.length - 1} points to an impossible next offset`
        );
      }
      seen.set(at, ifds.length);
      const ifd = await this.readIfd(next, ifds.length);
      ifds.push(ifd);
      next = ifd.next;
    }
    return ifds;
  }

  /** The bytes of a tag's value (or of `count` values from index `first`), within `maxBytes`. */
  async valueBytes(
    entry: ITiffEntry,
    what: string,
    first = 0,
    count = entry.count,
    maxBytes = this.limits.maxTagBytes
  ) {
    const size = FIELD_TYPE_SIZE[entry.type];
    const length = count * size;
    if (length > maxBytes) {
      throw invalidRaster(
        this.key,
        'limit-exceeded',
        `${what} holds ${entry.count} values (${length} bytes), more than the ${maxBytes}-byte limit for one tag`,
        { tag: entry.tag, bytes: length }
      );
    }
    if (entry.inline) {
      return entry.inline.subarray(first * size, first * size + length);
    }
    const start = entry.offset + first * size;
    if (start + length > this.end) {
      throw invalidRaster(
        this.key,
        'truncated',
        `file is truncated: ${what} at byte ${start} needs ${length} bytes, but the ${this.base === 0 ? 'file' : 'embedded TIFF'} ends at byte ${this.end}`,
        { offset: start, length, size: this.end }
      );
    }
    return this.reader.bytes(start, length, what);
  }

  /** Numeric values of any numeric type; rationals become quotients (NaN when the denominator is 0). */
  async numbers(
    entry: ITiffEntry,
    what: string,
    first = 0,
    count = entry.count,
    maxBytes?: number
  ): Promise<number[]> {
    const raw = new Bytes(
      await this.valueBytes(entry, what, first, count, maxBytes),
      this.header.littleEndian
    );
    const { view } = raw;
    const le = raw.littleEndian;
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      switch (entry.type) {
        case FieldType.BYTE:
        case FieldType.UNDEFINED:
        case FieldType.ASCII:
          out[i] = view.getUint8(i);
          break;
        case FieldType.SBYTE:
          out[i] = view.getInt8(i);
          break;
        case FieldType.SHORT:
          out[i] = view.getUint16(i * 2, le);
          break;
        case FieldType.SSHORT:
          out[i] = view.getInt16(i * 2, le);
          break;
        case FieldType.LONG:
        case FieldType.IFD:
          out[i] = view.getUint32(i * 4, le);
          break;
        case FieldType.SLONG:
          out[i] = view.getInt32(i * 4, le);
          break;
        case FieldType.RATIONAL:
          out[i] = ratio(
            view.getUint32(i * 8, le),
            view.getUint32(i * 8 + 4, le)
          );
          break;
        case FieldType.SRATIONAL:
          out[i] = ratio(
            view.getInt32(i * 8, le),
            view.getInt32(i * 8 + 4, le)
          );
          break;
        case FieldType.FLOAT:
          out[i] = view.getFloat32(i * 4, le);
          break;
        case FieldType.DOUBLE:
          out[i] = view.getFloat64(i * 8, le);
          break;
        case FieldType.LONG8:
        case FieldType.IFD8:
          out[i] = raw.u64(i * 8);
          break;
        case FieldType.SLONG8: {
          const value = view.getBigInt64(i * 8, le);
          out[i] =
            value > BigInt(Number.MAX_SAFE_INTEGER) ||
            value < -BigInt(Number.MAX_SAFE_INTEGER)
              ? Number.NaN
              : Number(value);
          break;
        }
      }
    }
    return out;
  }

  /** An ASCII value up to its first NUL (TIFF strings are NUL-terminated). */
  async text(entry: ITiffEntry, what: string): Promise<string> {
    const bytes = await this.valueBytes(entry, what);
    const nul = bytes.indexOf(0);
    return TEXT.decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
  }

  /** The whole ASCII value, NULs kept (GeoAsciiParams packs several strings). */
  async rawText(entry: ITiffEntry, what: string): Promise<string> {
    return TEXT.decode(await this.valueBytes(entry, what));
  }

  /** The first value of a numeric tag, or `fallback` when the IFD lacks it. */
  async first(
    ifd: IIfd,
    tag: number,
    name: string,
    fallback?: number
  ): Promise<number | undefined> {
    const entry = ifd.entries.get(tag);
    if (!entry || entry.count === 0) {
      return fallback;
    }
    return (await this.numbers(entry, `${name} of IFD ${ifd.index}`, 0, 1))[0];
  }
}

const TEXT = new TextDecoder('utf-8');

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? Number.NaN : numerator / denominator;
}
