// DVC's `.dir` manifest: the list of {md5, relpath} of every file under a tracked folder, sorted by
// relpath, serialized exactly as dvc-data's Tree.as_bytes() does (`json.dumps(list, sort_keys=True)`
// with Python's default separators and ensure_ascii), so its md5 (+ ".dir") is the hash DVC computes.
import * as crypto from 'crypto';
import { ChangelabError } from '../errors';

export interface ITreeEntry {
  /** '/'-separated path inside the tracked folder. */
  relpath: string;
  md5: string;
}

const MD5 = /^[0-9a-f]{32}$/;
export const isMd5 = (s: string) => MD5.test(s);
export const isDirMd5 = (s: string) => /^[0-9a-f]{32}\.dir$/.test(s);

/** Python's `str` ordering: by code point (JS compares UTF-16 units, which differs above U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) {
      return x.done && y.done ? 0 : x.done ? -1 : 1;
    }
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) {
      return cx - cy;
    }
  }
}

/** A string as Python's json.dumps(ensure_ascii=True) writes it. */
export function pythonJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i];
    if (ch === '"') {
      out += '\\"';
    } else if (ch === '\\') {
      out += '\\\\';
    } else if (ch === '\n') {
      out += '\\n';
    } else if (ch === '\r') {
      out += '\\r';
    } else if (ch === '\t') {
      out += '\\t';
    } else if (ch === '\b') {
      out += '\\b';
    } else if (ch === '\f') {
      out += '\\f';
    } else if (c >= 0x20 && c <= 0x7e) {
      out += ch;
    } else {
      // UTF-16 units, as Python writes astral characters as a surrogate pair.
      out += '\\u' + c.toString(16).padStart(4, '0');
    }
  }
  return out + '"';
}

export function sortTree(entries: ITreeEntry[]): ITreeEntry[] {
  return [...entries].sort((a, b) => compareCodePoints(a.relpath, b.relpath));
}

/** The `.dir` file's bytes for these entries (sorted here). */
export function treeBytes(entries: ITreeEntry[]): Buffer {
  const items = sortTree(entries).map(e => `{"md5": ${pythonJsonString(e.md5)}, "relpath": ${pythonJsonString(e.relpath)}}`);
  return Buffer.from(`[${items.join(', ')}]`, 'utf8');
}

/** The DVC hash of a folder with these files: md5 of the `.dir` bytes plus ".dir". */
export function treeMd5(entries: ITreeEntry[]): { md5: string; bytes: Buffer } {
  const bytes = treeBytes(entries);
  return { md5: crypto.createHash('md5').update(bytes).digest('hex') + '.dir', bytes };
}

/** Parses a `.dir` file (ours or DVC's); throws naming the problem when it is not one. */
export function parseTree(bytes: Buffer, what = '.dir manifest'): ITreeEntry[] {
  let list: unknown;
  try {
    list = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new ChangelabError(`${what} is not valid JSON: ${(cause as Error).message}`, { what }, { cause });
  }
  if (!Array.isArray(list)) {
    throw new ChangelabError(`${what} is not a JSON list`, { what });
  }
  return list.map((item, i) => {
    const { md5, relpath } = (item ?? {}) as { md5?: unknown; relpath?: unknown };
    if (typeof md5 !== 'string' || !isMd5(md5) || typeof relpath !== 'string' || !safeRelpath(relpath)) {
      throw new ChangelabError(`${what}: entry ${i} is not {md5, relpath} with a safe relative path`, { what, entry: item });
    }
    return { md5, relpath };
  });
}

/** A relative '/'-path that cannot escape its folder. */
export function safeRelpath(p: string): boolean {
  return p.length > 0 && !p.startsWith('/') && !p.includes('\0') &&
    p.split('/').every(part => part !== '' && part !== '.' && part !== '..');
}
