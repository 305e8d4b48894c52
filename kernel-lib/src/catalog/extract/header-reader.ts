// Header bytes read within a per-file budget. Every parser reads through this, so no declared
// length or offset in a file can make the extractor read (or hold) more than the budget, and a
// range past the end of the file is reported as truncation instead of a short read.
import type { IByteSource } from '../types';
import { invalidRaster } from './invalid-raster';

export class HeaderReader {
  /** Bytes the parsers asked for (cache hits included). */
  bytesRequested = 0;

  constructor(
    readonly source: IByteSource,
    private readonly budget: number,
    private readonly signal?: AbortSignal
  ) {}

  get key(): string {
    return this.source.key;
  }

  get size(): number {
    return this.source.size;
  }

  /** Exactly `length` bytes at `offset`; `what` names them for the error message. */
  async bytes(
    offset: number,
    length: number,
    what: string
  ): Promise<Uint8Array> {
    this.signal?.throwIfAborted();
    if (
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      !Number.isSafeInteger(length) ||
      length < 0
    ) {
      throw invalidRaster(
        this.key,
        'corrupt',
        `${what} has an invalid position (${offset}, ${length} bytes)`
      );
    }
    if (offset + length > this.size) {
      throw invalidRaster(
        this.key,
        'truncated',
        `file is truncated: ${what} at byte ${offset} needs ${length} bytes, but the file ends at byte ${this.size}`,
        { offset, length, size: this.size }
      );
    }
    this.bytesRequested += length;
    if (this.bytesRequested > this.budget) {
      throw invalidRaster(
        this.key,
        'limit-exceeded',
        `reading the header needs more than ${this.budget} bytes (while reading ${what}); raise headerByteBudget if the file is genuine`,
        { budget: this.budget }
      );
    }
    const bytes = await this.source.read(offset, length);
    if (bytes.length !== length) {
      throw invalidRaster(
        this.key,
        'truncated',
        `file is truncated: ${what} at byte ${offset} returned ${bytes.length} of ${length} bytes`
      );
    }
    return bytes;
  }
}

/** A DataView over bytes with the file's byte order fixed, and 64-bit reads that stay exact. */
export class Bytes {
  readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly littleEndian: boolean
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(at: number): number {
    return this.view.getUint8(at);
  }
  u16(at: number): number {
    return this.view.getUint16(at, this.littleEndian);
  }
  u32(at: number): number {
    return this.view.getUint32(at, this.littleEndian);
  }
  /** A uint64 as a number, or NaN when it exceeds 2^53 (no real offset or count does). */
  u64(at: number): number {
    const value = this.view.getBigUint64(at, this.littleEndian);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(value);
  }
}
