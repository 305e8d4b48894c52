// The local DVC cache, DVC 3 layout: `.dvc/cache/files/md5/<first 2 hex>/<other 30>[.dir]`, files
// read-only (0444) as DVC protects them. Everything enters through a temporary file in the cache's
// own folder and a rename after its md5 was checked, so a crash never leaves a wrong object under
// a hash name; a cache file that no longer matches its name is found by hashing and removed.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import { Transform } from 'stream';
import { StorageError } from '../errors';

/** md5 of a file's bytes and its size, streamed. */
export async function hashFile(file: string): Promise<{ md5: string; size: number }> {
  if (fs.statSync(file).size <= SMALL_FILE) {
    const bytes = await fs.promises.readFile(file);
    return { md5: crypto.createHash('md5').update(bytes).digest('hex'), size: bytes.length };
  }
  const hash = crypto.createHash('md5');
  let size = 0;
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { md5: hash.digest('hex'), size };
}

/** A transform that hashes what flows through it. */
export function hashingStream(): Transform & { md5(): string; size(): number } {
  const hash = crypto.createHash('md5');
  let size = 0;
  let digest: string | undefined;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    }
  }) as Transform & { md5(): string; size(): number };
  t.md5 = () => (digest ??= hash.digest('hex'));
  t.size = () => size;
  return t;
}

/** `files/md5/ab/cdef...` for an oid (an md5, or an md5 + ".dir"). */
export const oidKey = (oid: string) => `files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`;

const TMP_DIR = '.changelab-tmp';
/** Files up to this size are read and hashed as one buffer rather than streamed. */
const SMALL_FILE = 4 * 1024 * 1024;
const READ_ONLY = 0o444;

export class DvcCache {
  readonly tmpDir: string;

  constructor(readonly dir: string) {
    this.tmpDir = path.join(dir, TMP_DIR);
  }

  path(oid: string): string {
    return path.join(this.dir, ...oidKey(oid).split('/'));
  }

  has(oid: string): boolean {
    return fs.existsSync(this.path(oid));
  }

  /** Folders known to exist (created or seen by this instance): one mkdir each, not one per file. */
  private readonly made = new Set<string>();
  private tempCount = 0;
  private readonly tempTag = crypto.randomBytes(6).toString('hex');

  /** Creates `dir` (and its parents) unless this instance already made or saw it. */
  ensureDir(dir: string): void {
    if (!this.made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      this.made.add(dir);
    }
  }

  /** Forgets which folders exist (at the start of an operation: they may have been removed since). */
  forgetDirs(): void {
    this.made.clear();
  }

  /** A fresh temporary path on the cache's filesystem, for a write that ends in `commitTemp`. */
  tempPath(): string {
    this.ensureDir(this.tmpDir);
    // The pid first: sweepTemps removes the files of processes that died.
    return path.join(this.tmpDir, `${process.pid}-${this.tempTag}-${++this.tempCount}`);
  }

  /** Removes temporary files left by processes that died (their pid is the name's prefix). */
  sweepTemps(): void {
    if (!fs.existsSync(this.tmpDir)) {
      return;
    }
    for (const name of fs.readdirSync(this.tmpDir)) {
      const pid = Number(name.split('-')[0]);
      if (!Number.isInteger(pid) || (pid !== process.pid && !alive(pid))) {
        fs.rmSync(path.join(this.tmpDir, name), { force: true });
      }
    }
  }

  /** Moves a verified temporary file under its hash name, read-only. */
  commitTemp(tmp: string, oid: string): void {
    const dest = this.path(oid);
    this.ensureDir(path.dirname(dest));
    fs.chmodSync(tmp, READ_ONLY);
    fs.renameSync(tmp, dest);
  }

  /** Copies a workspace file into the cache unless it is there already (its md5 is known). */
  async addFile(file: string, md5: string): Promise<boolean> {
    if (this.has(md5)) {
      return false;
    }
    const tmp = this.tempPath();
    try {
      let actual: string;
      if (fs.statSync(file).size <= SMALL_FILE) {
        const bytes = await fs.promises.readFile(file);
        actual = crypto.createHash('md5').update(bytes).digest('hex');
        await fs.promises.writeFile(tmp, bytes);
      } else {
        const hash = hashingStream();
        await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), hash, fs.createWriteStream(tmp));
        actual = hash.md5();
      }
      if (actual !== md5) {
        throw new StorageError(`${file} changed while it was being committed; commit again`, { file });
      }
      this.commitTemp(tmp, md5);
      return true;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  addBytes(oid: string, bytes: Buffer): void {
    if (this.has(oid)) {
      return;
    }
    const tmp = this.tempPath();
    try {
      fs.writeFileSync(tmp, bytes);
      this.commitTemp(tmp, oid);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  read(oid: string): Buffer {
    return fs.readFileSync(this.path(oid));
  }

  /**
   * Whether the cache holds `oid` with the right bytes. A file whose md5 differs from its name is
   * corrupt: it is removed (so it is fetched again) and false is returned.
   */
  async verify(oid: string): Promise<boolean> {
    const file = this.path(oid);
    if (!fs.existsSync(file)) {
      return false;
    }
    const { md5 } = await hashFile(file);
    if (md5 === oid.replace(/\.dir$/, '')) {
      return true;
    }
    this.remove(oid);
    return false;
  }

  remove(oid: string): void {
    const file = this.path(oid);
    try {
      fs.chmodSync(file, 0o644);
    } catch {
      // already gone
    }
    fs.rmSync(file, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
