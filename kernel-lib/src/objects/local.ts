// Objects as files under one folder (the embedded default, `.changelab/objects`). Writes go to a
// temporary file and are renamed into place, so a reader or a killed writer never sees half an
// object. ETags are weak (size + modification time), as file servers do, since hashing every file
// on each listing would read whole folders.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { NotFoundError, StorageError } from '../errors';
import { checkKey, objectExists, type IByteRange, type IObjectInfo, type IObjectStore } from './store';

const TEMP_DIR = '.tmp';

/** A file as an object: the weak ETag is what LocalObjectStore and the catalog's folder sources both give. */
export function fileInfo(key: string, stat: fs.Stats): IObjectInfo {
  return {
    key,
    size: stat.size,
    etag: `W/"${stat.size.toString(16)}-${Math.round(stat.mtimeMs).toString(16)}"`,
    lastModified: stat.mtime,
    versionId: null
  };
}

/** A whole file, or one range of it (reads past the end return fewer bytes); `openFailed` says why it cannot be opened. */
export async function readFileBytes(
  file: string,
  range: IByteRange | undefined,
  openFailed: (cause: unknown) => Error
): Promise<Buffer> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (cause) {
    throw openFailed(cause);
  }
  try {
    if (!range) {
      return await handle.readFile();
    }
    const buffer = Buffer.alloc(range.length);
    const { bytesRead } = await handle.read(buffer, 0, range.length, range.offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The files under `root` whose '/'-separated keys start with `prefix`, walked in sorted order so
 * listings are stable, as S3's are; only folders that can hold such keys are entered. An
 * unreadable folder lists as empty; `skip` is a top-level entry left out.
 */
export async function* walkFiles(root: string, prefix: string, skip?: string): AsyncIterable<{ key: string; file: string }> {
  async function* walk(dir: string): AsyncIterable<{ key: string; file: string }> {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const file = path.join(dir, entry.name);
      const key = path.relative(root, file).split(path.sep).join('/');
      if (key === skip) {
        continue;
      }
      if (entry.isDirectory()) {
        if (prefix === '' || prefix.startsWith(key + '/') || (key + '/').startsWith(prefix)) {
          yield* walk(file);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        yield { key, file };
      }
    }
  }
  yield* walk(root);
}

export class LocalObjectStore implements IObjectStore {
  readonly kind = 'local' as const;

  constructor(readonly location: string) {
    fs.mkdirSync(path.join(location, TEMP_DIR), { recursive: true });
  }

  private file(key: string): string {
    return path.join(this.location, checkKey(key));
  }

  async put(key: string, body: Buffer | Uint8Array | string): Promise<IObjectInfo> {
    const target = this.file(key);
    const temp = path.join(this.location, TEMP_DIR, crypto.randomUUID());
    try {
      await fs.promises.writeFile(temp, body);
      await fs.promises.mkdir(path.dirname(target), { recursive: true });
      await fs.promises.rename(temp, target);
      return fileInfo(key, await fs.promises.stat(target));
    } catch (cause) {
      await fs.promises.rm(temp, { force: true });
      throw new StorageError(`cannot write ${key}: ${(cause as Error).message}`, { key }, { cause });
    }
  }

  async putFile(key: string, source: string): Promise<IObjectInfo> {
    const target = this.file(key);
    const temp = path.join(this.location, TEMP_DIR, crypto.randomUUID());
    try {
      await fs.promises.copyFile(source, temp);
      await fs.promises.mkdir(path.dirname(target), { recursive: true });
      await fs.promises.rename(temp, target);
      return fileInfo(key, await fs.promises.stat(target));
    } catch (cause) {
      await fs.promises.rm(temp, { force: true });
      throw new StorageError(`cannot copy ${source} to ${key}: ${(cause as Error).message}`, { key }, { cause });
    }
  }

  async get(key: string, range?: IByteRange): Promise<Buffer> {
    return readFileBytes(this.file(key), range, cause => this.missingOr(cause, key));
  }

  async head(key: string): Promise<IObjectInfo> {
    try {
      const stat = await fs.promises.stat(this.file(key));
      if (!stat.isFile()) {
        throw new NotFoundError(`no object ${key} in ${this.location}`, { key });
      }
      return fileInfo(key, stat);
    } catch (cause) {
      throw this.missingOr(cause, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    return objectExists(this, key);
  }

  async *list(prefix = ''): AsyncIterable<IObjectInfo> {
    for await (const { key, file } of walkFiles(this.location, prefix, TEMP_DIR)) {
      yield fileInfo(key, await fs.promises.stat(file));
    }
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.file(key), { force: true });
  }

  private missingOr(cause: unknown, key: string): Error {
    if (cause instanceof NotFoundError) {
      return cause;
    }
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      return new NotFoundError(`no object ${key} in ${this.location}`, { key });
    }
    return new StorageError(`cannot read ${key}: ${(cause as Error).message}`, { key }, { cause });
  }
}
