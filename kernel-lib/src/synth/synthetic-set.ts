// A small named folder of synthetic imagery for demos, notebooks and integration tests: one pair
// per CRS at places in Korea, the bad files, and a manifest.json that says what each file is.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { generateBadFiles, type BadFileKind } from './bad-files';
import { SYNTHETIC_CRSS, type ILatLon, type SyntheticCrs } from './georef';
import { generatePair, type ISyntheticPairMeta } from './pair';
import type { Seed } from './random';

export interface ISyntheticSetOptions {
  /** Default 'changelab'. */
  seed?: Seed;
  /** Pixels per side of each image. Default 512. */
  size?: number;
  /** Metres. Default 0.5. */
  gsd?: number;
  /** One pair per CRS. Default all of 5186, 32652 and 4326. */
  crss?: readonly SyntheticCrs[];
  /** Also write the bad files under bad/. Default true. */
  includeBad?: boolean;
}

export type SyntheticFileRole = 'before' | 'after' | 'mask' | 'bad';

export interface ISyntheticSetFile {
  /** Path relative to the set's folder. */
  path: string;
  role: SyntheticFileRole;
  bytes: number;
  /** The pair it belongs to (not for bad files). */
  pair?: string;
  epsg?: number;
  /** Capture time, ISO 8601 (before and after images). */
  captured?: string;
  kind?: BadFileKind;
  reason?: string;
}

export interface ISyntheticSetManifest {
  seed: string;
  files: ISyntheticSetFile[];
  pairs: Array<{ name: string; meta: ISyntheticPairMeta }>;
}

/** Places the pairs are set in; all lie in the Central Belt of Korea 2000 and in UTM zone 52. */
export const KOREAN_SITES: ReadonlyArray<{ name: string; centre: ILatLon }> = [
  { name: 'seoul', centre: { lat: 37.5665, lon: 126.978 } },
  { name: 'daejeon', centre: { lat: 36.3504, lon: 127.3845 } },
  { name: 'cheongju', centre: { lat: 36.6424, lon: 127.489 } }
];

export async function writeSyntheticSet(
  dir: string,
  options: ISyntheticSetOptions = {}
): Promise<ISyntheticSetManifest> {
  const seed = String(options.seed ?? 'changelab');
  const files: ISyntheticSetFile[] = [];
  const pairs: ISyntheticSetManifest['pairs'] = [];
  await mkdir(dir, { recursive: true });

  const crss = options.crss ?? SYNTHETIC_CRSS;
  for (const [index, epsg] of crss.entries()) {
    const site = KOREAN_SITES[index % KOREAN_SITES.length];
    const name = `${site.name}-${epsg}`;
    const pair = generatePair({
      seed: `${seed}/${name}`,
      width: options.size ?? 512,
      gsd: options.gsd ?? 0.5,
      crs: epsg,
      origin: site.centre
    });
    const written: Array<[SyntheticFileRole, Buffer, string | undefined]> = [
      ['before', pair.before, pair.meta.beforeDate],
      ['after', pair.after, pair.meta.afterDate],
      ['mask', pair.mask, undefined]
    ];
    for (const [role, bytes, captured] of written) {
      const path = `${name}_${role}.tif`;
      await writeFile(join(dir, path), bytes);
      files.push({
        path,
        role,
        bytes: bytes.length,
        pair: name,
        epsg,
        ...(captured ? { captured } : {})
      });
    }
    pairs.push({ name, meta: pair.meta });
  }

  if (options.includeBad ?? true) {
    await mkdir(join(dir, 'bad'), { recursive: true });
    for (const bad of generateBadFiles({ seed: `${seed}/bad` })) {
      const path = `bad/${bad.name}`;
      await writeFile(join(dir, path), bad.bytes);
      files.push({
        path,
        role: 'bad',
        bytes: bad.bytes.length,
        kind: bad.kind,
        reason: bad.reason
      });
    }
  }

  const manifest: ISyntheticSetManifest = { seed, files, pairs };
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify(manifest, null, 2) + '\n'
  );
  return manifest;
}
