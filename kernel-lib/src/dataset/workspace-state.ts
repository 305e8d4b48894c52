// Hashes of workspace files remembered by (size, mtime, inode), like DVC's state database, so
// status and commit do not re-read unchanged gigabytes. A file whose size, mtime or inode moved is
// hashed again; the state is only an optimisation and is rebuilt when missing or unreadable.
import * as fs from 'fs';
import * as path from 'path';
import { hashFile } from './cache';
import { writeFileAtomic } from './dvc-config';

type Entry = [size: number, mtimeMs: number, ino: number, md5: string];

export class HashState {
  private entries: Record<string, Entry> = {};
  private dirty = false;

  constructor(readonly file: string) {
    try {
      const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: number; entries?: Record<string, Entry> };
      if (raw.version === 1 && raw.entries) {
        this.entries = raw.entries;
      }
    } catch {
      // no state yet, or unreadable: start empty
    }
  }

  /** The md5 of `file`, from the state when its size, mtime and inode are unchanged. */
  async md5(file: string, stat?: fs.Stats): Promise<{ md5: string; size: number }> {
    const st = stat ?? fs.statSync(file);
    const known = this.entries[file];
    if (known && known[0] === st.size && known[1] === st.mtimeMs && known[2] === st.ino) {
      return { md5: known[3], size: st.size };
    }
    const { md5, size } = await hashFile(file);
    const after = fs.statSync(file);
    if (after.mtimeMs === st.mtimeMs && after.size === size) {
      this.entries[file] = [size, st.mtimeMs, st.ino, md5];
      this.dirty = true;
    }
    return { md5, size };
  }

  /** Records the hash of a file we just wrote with known bytes. */
  remember(file: string, md5: string): void {
    const st = fs.statSync(file);
    this.entries[file] = [st.size, st.mtimeMs, st.ino, md5];
    this.dirty = true;
  }

  save(): void {
    if (!this.dirty) {
      return;
    }
    for (const file of Object.keys(this.entries)) {
      if (!fs.existsSync(file)) {
        delete this.entries[file];
      }
    }
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    writeFileAtomic(this.file, JSON.stringify({ version: 1, entries: this.entries }));
    this.dirty = false;
  }
}
