// Object storage behind one interface: a local folder (embedded default) or any S3 API (MinIO,
// SeaweedFS, AWS). Keys are '/'-separated and never start with '/'. Reads take byte ranges so that
// raster headers are read without fetching whole files.
import { NotFoundError, StorageError } from '../errors';

export interface IObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  versionId?: string | null;
}

export interface IByteRange {
  /** First byte, inclusive. */
  offset: number;
  /** Number of bytes; reads past the end return fewer. */
  length: number;
}

export interface IObjectStore {
  /** 'local' or 's3', and where: a folder or `endpoint/bucket`. */
  readonly kind: 'local' | 's3';
  readonly location: string;
  put(key: string, body: Buffer | Uint8Array | string, options?: { contentType?: string }): Promise<IObjectInfo>;
  putFile(key: string, file: string, options?: { contentType?: string }): Promise<IObjectInfo>;
  get(key: string, range?: IByteRange): Promise<Buffer>;
  head(key: string): Promise<IObjectInfo>;
  exists(key: string): Promise<boolean>;
  list(prefix?: string): AsyncIterable<IObjectInfo>;
  delete(key: string): Promise<void>;
}

export function checkKey(key: string): string {
  if (
    key.length === 0 ||
    key.length > 1024 ||
    key.startsWith('/') ||
    key.split('/').some(part => part === '..' || part === '.' || part === '') ||
    key.includes('\0')
  ) {
    throw new StorageError(`invalid object key ${JSON.stringify(key)}: use a relative '/'-separated path`, { key });
  }
  return key;
}

/** Whether `key` is there, by `head`: NotFoundError means no, any other error is thrown. */
export async function objectExists(store: Pick<IObjectStore, 'head'>, key: string): Promise<boolean> {
  try {
    await store.head(key);
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) {
      return false;
    }
    throw error;
  }
}
