// The object's sha256, streamed through range reads in fixed chunks so memory stays at two
// chunks whatever the file size; the next chunk is fetched while the current one is hashed.
import { createHash } from 'node:crypto';

import { StorageError } from '../../errors';
import type { IByteSource } from '../types';

export interface ISha256Options {
  /** Bytes per read. Default 4 MiB (large enough to bypass the header block cache). */
  chunkBytes?: number;
  signal?: AbortSignal;
}

/** Bytes read per request when hashing a whole object. */
export const SHA256_CHUNK_BYTES = 4 * 1024 * 1024;

export async function sha256Of(
  source: IByteSource,
  options: ISha256Options = {}
): Promise<string> {
  const chunk = options.chunkBytes ?? SHA256_CHUNK_BYTES;
  const hash = createHash('sha256');
  const readAt = (offset: number) => {
    if (offset >= source.size) {
      return null;
    }
    const read = source.read(offset, Math.min(chunk, source.size - offset));
    read.catch(() => undefined); // awaited below; this only keeps an abandoned prefetch quiet
    return read;
  };
  let offset = 0;
  let pending = readAt(0);
  while (pending) {
    options.signal?.throwIfAborted();
    const bytes = await pending;
    if (bytes.length === 0) {
      throw new StorageError(
        `${source.key}: the object ended at byte ${offset}, not ${source.size}; was it replaced while being read?`,
        {
          key: source.key,
          offset
        }
      );
    }
    offset += bytes.length;
    pending = readAt(offset);
    hash.update(bytes);
  }
  return hash.digest('hex');
}
