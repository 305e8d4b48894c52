// Where the catalog reads objects from: the workspace's own store (keys indexed as they are), another
// S3 bucket (`s3://bucket/prefix`) or a folder on disk (`/data/flights`, `./x`, `file:///...`).
// Objects outside the workspace store are indexed under a full URI so that every row names one object.
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';
import type { Config } from '../config';
import { ChangelabError, ConfigError, NotFoundError, StorageError } from '../errors';
import { fileInfo, LocalObjectStore, readFileBytes, walkFiles } from '../objects/local';
import { S3ObjectStore } from '../objects/s3';
import { objectExists, type IByteRange, type IObjectInfo, type IObjectStore } from '../objects/store';

/** A place objects are listed and read from, and how their keys are written in the catalog. */
export interface ICatalogSource {
  readonly store: IObjectStore;
  /** Prepended to a store key to make the catalog's object key: '' for the workspace store. */
  readonly keyPrefix: string;
  /** The store prefix an ingest or watch covers. */
  readonly listPrefix: string;
  /** A folder on disk when the store is one (for filesystem events). */
  readonly folder: string | null;
  /** The S3 bucket when the store is one (for bucket notifications). */
  readonly bucket: string | null;
}

/**
 * A folder on disk read in place, never written: indexing `/data/flights` must not leave files
 * there (LocalObjectStore keeps a temporary folder inside its root). It reads, lists and tags
 * files as LocalObjectStore does, with the same weak ETags.
 */
export class FolderSource implements IObjectStore {
  readonly kind = 'local' as const;
  constructor(readonly location: string) {}

  private file(key: string): string {
    const file = path.resolve(this.location, key);
    if (!file.startsWith(this.location + path.sep)) {
      throw new StorageError(`invalid key ${JSON.stringify(key)} outside ${this.location}`, { key });
    }
    return file;
  }

  private refuse(): never {
    throw new StorageError(`${this.location} is indexed in place and read only`, { location: this.location });
  }
  async put(): Promise<IObjectInfo> {
    this.refuse();
  }
  async putFile(): Promise<IObjectInfo> {
    this.refuse();
  }
  async delete(): Promise<void> {
    this.refuse();
  }

  async get(key: string, range?: IByteRange): Promise<Buffer> {
    return readFileBytes(this.file(key), range, cause => missingOr(cause, key, this.location));
  }

  async head(key: string): Promise<IObjectInfo> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(this.file(key));
    } catch (cause) {
      throw missingOr(cause, key, this.location);
    }
    if (!stat.isFile()) {
      throw new NotFoundError(`no file ${key} in ${this.location}`, { key });
    }
    return fileInfo(key, stat);
  }

  async exists(key: string): Promise<boolean> {
    return objectExists(this, key);
  }

  async *list(prefix = ''): AsyncIterable<IObjectInfo> {
    for await (const { key, file } of walkFiles(this.location, prefix)) {
      // A file removed while the folder is listed is left out, not an error.
      const stat = await fs.promises.stat(file).catch(() => null);
      if (stat) {
        yield fileInfo(key, stat);
      }
    }
  }
}

function missingOr(cause: unknown, key: string, location: string): Error {
  if (cause instanceof ChangelabError) {
    return cause;
  }
  if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
    return new NotFoundError(`no file ${key} in ${location}`, { key });
  }
  return new StorageError(`cannot read ${key}: ${(cause as Error).message}`, { key }, { cause });
}

/** True when the argument names a place on disk rather than a key prefix in the object store. */
export function isLocalPath(uri: string): boolean {
  return (
    uri.startsWith('file://') ||
    path.isAbsolute(uri) ||
    uri === '.' ||
    uri === '..' ||
    uri.startsWith('./') ||
    uri.startsWith('../')
  );
}

/**
 * Resolves what `ingest` / `watch` were given: a key prefix in the workspace store ('' for all of
 * it), `s3://bucket/prefix`, or a local file or folder.
 */
export function resolveSource(uri: string, objects: IObjectStore, config: Config, cwd = process.cwd()): ICatalogSource {
  if (uri.startsWith('s3://')) {
    const rest = uri.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1);
    return bucketSource(bucket, prefix, objects, config);
  }
  if (isLocalPath(uri)) {
    const target = uri.startsWith('file://') ? fileURLToPathLenient(uri) : path.resolve(cwd, uri);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(target);
    } catch {
      throw new NotFoundError(`no file or folder ${target}`, { path: target });
    }
    const folder = stat.isDirectory() ? target : path.dirname(target);
    const listPrefix = stat.isDirectory() ? '' : path.basename(target);
    // Inside the workspace's own folder store: index under the store's keys, not as file:// URIs.
    if (objects instanceof LocalObjectStore) {
      const root = path.resolve(objects.location);
      if (target === root || target.startsWith(root + path.sep)) {
        const key = path.relative(root, target).split(path.sep).join('/');
        return {
          store: objects,
          keyPrefix: '',
          listPrefix: stat.isDirectory() && key ? key + '/' : key,
          folder: root,
          bucket: null
        };
      }
    }
    return {
      store: new FolderSource(folder),
      keyPrefix: `file://${folder}/`,
      listPrefix,
      folder,
      bucket: null
    };
  }
  return {
    store: objects,
    keyPrefix: '',
    listPrefix: uri,
    folder: objects instanceof LocalObjectStore ? path.resolve(objects.location) : null,
    bucket: objects instanceof S3ObjectStore ? objects.bucket : null
  };
}

/** The workspace bucket (keys as they are) or another bucket on the same S3 endpoint (s3:// keys). */
export function bucketSource(bucket: string, prefix: string, objects: IObjectStore, config: Config): ICatalogSource {
  if (!(objects instanceof S3ObjectStore) || !config.s3) {
    throw new ConfigError(`s3://${bucket} needs an S3 object store: set s3.endpoint (CHANGELAB_S3_ENDPOINT)`, { bucket });
  }
  if (bucket === objects.bucket) {
    return { store: objects, keyPrefix: '', listPrefix: prefix, folder: null, bucket };
  }
  return {
    store: new S3ObjectStore({ ...config.s3, bucket }),
    keyPrefix: `s3://${bucket}/`,
    listPrefix: prefix,
    folder: null,
    bucket
  };
}

function fileURLToPathLenient(uri: string): string {
  try {
    return fileURLToPath(uri);
  } catch {
    return path.resolve(decodeURI(uri.slice('file://'.length)));
  }
}
