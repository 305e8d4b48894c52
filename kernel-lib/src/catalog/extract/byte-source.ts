// Byte sources for metadata extraction: ranged GETs on an object store, positioned reads on a
// local file. Header parsing asks for many small, nearby ranges (an IFD, then its tag values),
// so sources fetch whole aligned blocks and keep them: a COG's headers cost one request.
// Every source counts its requests and bytes, so tests and benchmarks can show what a read cost.
import { promises as fs } from 'node:fs';

import { StorageError } from '../../errors';
import type { IObjectInfo, IObjectStore } from '../../objects/store';
import type { IByteSource } from '../types';

export interface IByteSourceStats {
  /** Requests sent to the store or reads issued on the file. */
  requests: number;
  /** Bytes those requests returned. */
  bytes: number;
}

/** A byte source that counts what it fetched. */
export interface ICountingByteSource extends IByteSource {
  readonly stats: IByteSourceStats;
}

/** A local file's byte source; holds a file descriptor until `close()`. */
export interface IFileByteSource extends ICountingByteSource {
  /** The file's modification time when it was opened. */
  readonly modified: Date;
  close(): Promise<void>;
}

export interface IBlockCacheOptions {
  /**
   * Bytes fetched per block, aligned to multiples of itself. The first read of a COG fetches
   * block 0, which holds every IFD of files up to tens of megabytes. Default 64 KiB.
   */
  blockSize?: number;
  /** Most bytes kept per source; older blocks are dropped first. Default 16 MiB. */
  maxCachedBytes?: number;
}

const DEFAULT_BLOCK_SIZE = 64 * 1024;
const DEFAULT_MAX_CACHED = 16 * 1024 * 1024;

/** Reads `length` bytes at `offset`; may return fewer only at the end of the object. */
type RangeFetch = (offset: number, length: number) => Promise<Uint8Array>;

/**
 * Wraps a range fetch with an aligned block cache. Reads larger than four blocks (a checksum
 * pass, a tile) bypass the cache, so streaming a file never fills memory with it.
 */
class BlockCachedSource implements ICountingByteSource {
  readonly stats: IByteSourceStats = { requests: 0, bytes: 0 };
  private readonly blocks = new Map<number, Promise<Uint8Array>>();
  private readonly blockSize: number;
  private readonly maxBlocks: number;

  constructor(
    readonly key: string,
    readonly size: number,
    private readonly fetchRange: RangeFetch,
    options: IBlockCacheOptions = {}
  ) {
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isInteger(this.blockSize) || this.blockSize < 512) {
      throw new RangeError(
        `blockSize must be an integer >= 512, got ${this.blockSize}`
      );
    }
    this.maxBlocks = Math.max(
      1,
      Math.floor(
        (options.maxCachedBytes ?? DEFAULT_MAX_CACHED) / this.blockSize
      )
    );
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.size, offset + length);
    if (
      !(offset >= 0) ||
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      length < 0
    ) {
      throw new RangeError(
        `invalid byte range ${offset}+${length} of ${this.key}`
      );
    }
    if (end <= offset) {
      return new Uint8Array(0);
    }
    if (end - offset > 4 * this.blockSize) {
      return this.fetchCounted(offset, end - offset);
    }
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((end - 1) / this.blockSize);
    this.fetchMissing(first, last);
    if (first === last) {
      const block = await this.blocks.get(first)!;
      const start = offset - first * this.blockSize;
      return block.subarray(start, start + (end - offset));
    }
    const out = new Uint8Array(end - offset);
    for (let index = first; index <= last; index++) {
      const block = await this.blocks.get(index)!;
      const blockStart = index * this.blockSize;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(end, blockStart + block.length) - blockStart;
      out.set(block.subarray(from, to), blockStart + from - offset);
    }
    return out;
  }

  /** Starts one request per run of missing blocks, so adjacent blocks arrive together. */
  private fetchMissing(first: number, last: number): void {
    let index = first;
    while (index <= last) {
      if (this.blocks.has(index)) {
        // Refresh its place in the eviction order.
        const cached = this.blocks.get(index)!;
        this.blocks.delete(index);
        this.blocks.set(index, cached);
        index++;
        continue;
      }
      let runEnd = index;
      while (runEnd + 1 <= last && !this.blocks.has(runEnd + 1)) {
        runEnd++;
      }
      const start = index * this.blockSize;
      const length = Math.min(this.size, (runEnd + 1) * this.blockSize) - start;
      const run = this.fetchCounted(start, length);
      for (let block = index; block <= runEnd; block++) {
        const from = (block - index) * this.blockSize;
        const promise = run.then(bytes =>
          bytes.subarray(from, from + this.blockSize)
        );
        promise.catch(() => this.blocks.delete(block)); // a failed fetch is retried by the next read
        this.blocks.set(block, promise);
      }
      index = runEnd + 1;
    }
    while (this.blocks.size > this.maxBlocks) {
      const oldest = this.blocks.keys().next().value as number;
      if (oldest >= first && oldest <= last) {
        break; // never drop what this read is about to use
      }
      this.blocks.delete(oldest);
    }
  }

  private async fetchCounted(
    offset: number,
    length: number
  ): Promise<Uint8Array> {
    this.stats.requests++;
    const bytes = await this.fetchRange(offset, length);
    this.stats.bytes += bytes.length;
    return bytes;
  }
}

/** A cached, counting byte source over any range fetch (used by the two below, and by tests). */
export function cachedByteSource(
  key: string,
  size: number,
  fetchRange: RangeFetch,
  options?: IBlockCacheOptions
): ICountingByteSource {
  return new BlockCachedSource(key, size, fetchRange, options);
}

/** An object in a store (local folder or S3/MinIO), read with ranged GETs only. */
export function objectByteSource(
  store: IObjectStore,
  info: Pick<IObjectInfo, 'key' | 'size'>,
  options?: IBlockCacheOptions
): ICountingByteSource {
  return cachedByteSource(
    info.key,
    info.size,
    async (offset, length) => {
      const bytes = await store.get(info.key, { offset, length });
      if (bytes.length < length && offset + bytes.length < info.size) {
        // The object changed (or shrank) since it was listed: its metadata would be a mix.
        throw new StorageError(
          `${info.key}: asked for ${length} bytes at ${offset} of a ${info.size}-byte object, got ${bytes.length}; was it replaced while being read?`,
          { key: info.key, offset, length, received: bytes.length }
        );
      }
      return bytes;
    },
    options
  );
}

/** A local file, read with positioned reads on one descriptor opened on first use. */
export async function fileByteSource(
  path: string,
  options?: IBlockCacheOptions
): Promise<IFileByteSource> {
  let handle: fs.FileHandle | null = null;
  let opening: Promise<fs.FileHandle> | null = null;
  let size: number;
  let modified: Date;
  try {
    ({ size, mtime: modified } = await fs.stat(path));
  } catch (cause) {
    throw new StorageError(
      `cannot read ${path}: ${(cause as Error).message}`,
      { key: path },
      { cause }
    );
  }
  const open = () => (opening ??= fs.open(path, 'r').then(h => (handle = h)));
  const source = cachedByteSource(
    path,
    size,
    async (offset, length) => {
      try {
        const file = handle ?? (await open());
        const buffer = Buffer.allocUnsafe(length);
        let filled = 0;
        while (filled < length) {
          const { bytesRead } = await file.read(
            buffer,
            filled,
            length - filled,
            offset + filled
          );
          if (bytesRead === 0) {
            break; // end of file: the file shrank, the caller sees the short read
          }
          filled += bytesRead;
        }
        return buffer.subarray(0, filled);
      } catch (cause) {
        throw new StorageError(
          `cannot read ${path}: ${(cause as Error).message}`,
          { key: path, offset, length },
          { cause }
        );
      }
    },
    options
  );
  return Object.assign(source, {
    modified,
    async close() {
      const file = handle ?? (opening ? await opening.catch(() => null) : null);
      handle = null;
      opening = null;
      await file?.close();
    }
  });
}

/** The source itself when it already caches blocks, else a cached, counting view of it. */
export function withBlockCache(
  source: IByteSource,
  options?: IBlockCacheOptions
): ICountingByteSource {
  return source instanceof BlockCachedSource
    ? source
    : cachedByteSource(
        source.key,
        source.size,
        (offset, length) => source.read(offset, length),
        options
      );
}
