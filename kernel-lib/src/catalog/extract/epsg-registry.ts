// EPSG names and PROJ definitions from the `epsg-index` package (one small JSON file per code,
// read on first use and kept). Nothing is fetched at run time; codes the index lacks are unknown.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface IEpsgEntry {
  code: number;
  name: string;
  /** 'CRS-PROJCRS', 'CRS-GEOGCRS', ... */
  kind: string;
  proj4: string | null;
  /** Linear or angular unit name, e.g. "metre", "US survey foot". */
  unit: string | null;
}

let folder: string | null | undefined;
const cache = new Map<number, IEpsgEntry | null>();

function indexFolder(): string | null {
  if (folder === undefined) {
    try {
      folder = join(dirname(require.resolve('epsg-index/package.json')), 's');
    } catch {
      folder = null;
    }
  }
  return folder;
}

export function lookupEpsg(code: number): IEpsgEntry | null {
  if (!Number.isInteger(code) || code <= 0 || code >= 1_000_000) {
    return null;
  }
  if (cache.has(code)) {
    return cache.get(code)!;
  }
  let entry: IEpsgEntry | null = null;
  const dir = indexFolder();
  if (dir) {
    try {
      const raw = JSON.parse(
        readFileSync(join(dir, `${code}.json`), 'utf8')
      ) as Record<string, unknown>;
      entry = {
        code,
        name: String(raw.name ?? ''),
        kind: String(raw.kind ?? ''),
        proj4:
          typeof raw.proj4 === 'string' && raw.proj4.trim() ? raw.proj4 : null,
        unit: typeof raw.unit === 'string' ? raw.unit : null
      };
    } catch {
      entry = null; // not in the index
    }
  }
  cache.set(code, entry);
  return entry;
}

export function isGeographicKind(kind: string): boolean {
  return kind === 'CRS-GEOGCRS' || kind === 'CRS-GEOG3DCRS';
}
