// Building a dataset: before / after / label chips cut from change-detection pairs (catalog pairs
// read by windows from the object store, or seeded synthetic pairs) into `datasets/<name>/` as
// uint8 GeoTIFFs, plus manifest.json (the contract in manifest.ts). Splits are seeded and
// spatially blocked (splits.ts). The folder is written aside and swapped in whole.
import * as fs from 'fs';
import * as path from 'path';
import type { IPair } from '../catalog/pairs';
import { ChangelabError, InvalidRasterError } from '../errors';
import { openRaster, type IRasterSource } from '../infer/raster-source';
import type { IObjectStore } from '../objects/store';
import { writeGeoTiff } from '../raster';
import type { GeoTransform, ICrs } from '../raster/types';
import { DEFAULT_ORIGIN, generatePair } from '../synth/pair';
import { metresPerDegreeLongitude } from '../synth/georef';
import { MANIFEST_FILE, type IChipWindow, type IDatasetChip, type IDatasetImage, type IDatasetManifest } from './manifest';
import { DatasetRepository, checkName } from './repository';
import { checkFractions, chipSplit, chipWindows, type SplitFractions } from './splits';

export interface ISyntheticSource {
  /** Number of seeded synthetic pairs, laid side by side (east of each other). */
  count: number;
  /** Pixels per side of each pair. Default 512. */
  size?: number;
  /** Metres per pixel. Default 0.5. */
  gsd?: number;
}

export interface IBuildOptions {
  /** Workspace folder (see dataset.open). */
  root?: string;
  /** Catalog pairs (`catalog.pairs.discover().pairs`), read from `objects`. */
  pairs?: IPair[];
  /** The object store holding the catalog's images (`workspace.objects`). */
  objects?: IObjectStore;
  /** Seeded synthetic pairs (with change masks) instead of catalog pairs. */
  synthetic?: ISyntheticSource;
  /** Chip side in pixels, a multiple of 16. Default 256. */
  chip?: number;
  /** Pixels shared by neighbouring chips. Default 0. */
  overlap?: number;
  /** Fractions of blocks per split. Default 0.7 / 0.15 / 0.15. */
  splits?: Partial<SplitFractions>;
  /** Side of a split block in pixels of the pairs' grid. Default 4 chips. */
  block?: number;
  seed?: string;
  /** Replace a folder whose files are in no DVC cache (uncommitted work). Default false. */
  force?: boolean;
}

interface IChipSource {
  pair: string;
  crs: ICrs;
  transform: GeoTransform;
  width: number;
  height: number;
  images: IDatasetImage[];
  /** Pixels of a window, uint8 band-interleaved, or null when it cannot be read fully. */
  read(role: 'before' | 'after' | 'label', w: IChipWindow): Promise<{ data: Uint8Array; bands: number } | null>;
  hasLabel: boolean;
  close(): Promise<void>;
}

function cutWindow(data: Uint8Array, width: number, bands: number, w: IChipWindow): Uint8Array {
  const out = new Uint8Array(w.width * w.height * bands);
  for (let row = 0; row < w.height; row++) {
    const start = ((w.y + row) * width + w.x) * bands;
    out.set(data.subarray(start, start + w.width * bands), row * w.width * bands);
  }
  return out;
}

function syntheticSources(options: ISyntheticSource, seed: string): IChipSource[] {
  if (!Number.isInteger(options.count) || options.count < 1 || options.count > 1000) {
    throw new ChangelabError(`synthetic.count must be an integer from 1 to 1000, not ${options.count}`, { count: options.count });
  }
  const size = options.size ?? 512;
  const gsd = options.gsd ?? 0.5;
  return Array.from({ length: options.count }, (_, i) => {
    const name = `synthetic-${String(i).padStart(3, '0')}`;
    // Pairs sit side by side, one scene width apart, so blocks can span neighbouring pairs.
    const origin = { lat: DEFAULT_ORIGIN.lat, lon: DEFAULT_ORIGIN.lon + (i * size * gsd) / metresPerDegreeLongitude(DEFAULT_ORIGIN.lat) };
    let pair: ReturnType<typeof generatePair> | undefined;
    const get = () => (pair ??= generatePair({ seed: `${seed}/${name}`, width: size, gsd, crs: 5186, origin }));
    const meta = get().meta;
    return {
      pair: name,
      crs: meta.crs,
      transform: meta.transform,
      width: meta.width,
      height: meta.height,
      hasLabel: true,
      images: (['before', 'after', 'label'] as const).map(role => ({ key: `synthetic:${seed}/${name}/${role}`, role, pair: name })),
      async read(role, w) {
        const r = get().rasters[role === 'label' ? 'mask' : role];
        return { data: cutWindow(r.data, r.width, r.bands, w), bands: r.bands };
      },
      async close() {
        pair = undefined;
      }
    };
  });
}

const toBytes = (planes: Float32Array, bands: number, n: number): Uint8Array => {
  const out = new Uint8Array(n * bands);
  for (let b = 0; b < bands; b++) {
    for (let i = 0; i < n; i++) {
      const v = planes[b * n + i];
      out[i * bands + b] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return out;
};

async function catalogSources(pairs: IPair[], objects: IObjectStore | undefined): Promise<IChipSource[]> {
  if (!objects) {
    throw new ChangelabError('building from catalog pairs needs the object store holding them: pass objects: workspace.objects');
  }
  const open = (key: string) => {
    if (key.startsWith('file://')) {
      return openRaster({ path: new URL(key).pathname });
    }
    if (/^[a-z0-9]+:\/\//.test(key)) {
      throw new ChangelabError(`image ${key} is outside the workspace's object store; ingest it into the store to build from it`, { key });
    }
    return openRaster({ store: objects, key });
  };
  const sources: IChipSource[] = [];
  for (const p of pairs) {
    const name = `pair-${p.before.id}-${p.after.id}`;
    const { before, after } = p;
    if (!before.transform || !after.transform || before.crs.epsg === null) {
      throw new InvalidRasterError(`pair ${name}: both images need a georeference (transform and EPSG CRS)`, { pair: name });
    }
    if (before.crs.epsg !== after.crs.epsg) {
      throw new InvalidRasterError(`pair ${name}: the images are in different CRSs (EPSG:${before.crs.epsg} and EPSG:${after.crs.epsg}); reproject one first`, { pair: name });
    }
    const [bx0, bpx, , by0, , bpy] = before.transform;
    const [ax0, apx, , ay0, , apy] = after.transform;
    const same = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.abs(b);
    if (!same(apx, bpx) || !same(apy, bpy)) {
      throw new InvalidRasterError(`pair ${name}: the images have different pixel sizes (${bpx} and ${apx}); resample one first`, { pair: name });
    }
    const dx = (bx0 - ax0) / bpx;
    const dy = (by0 - ay0) / bpy;
    if (Math.abs(dx - Math.round(dx)) > 0.01 || Math.abs(dy - Math.round(dy)) > 0.01) {
      throw new InvalidRasterError(`pair ${name}: the after image's pixel grid is shifted by a fraction of a pixel (${dx.toFixed(3)}, ${dy.toFixed(3)}); resample it onto the before grid first`, { pair: name });
    }
    const labelKey = /_before\.tiff?$/i.test(before.key) ? before.key.replace(/_before(\.tiff?)$/i, '_mask$1') : undefined;
    const hasLabel = !!labelKey && !/^[a-z0-9]+:\/\//.test(labelKey) && (await objects.exists(labelKey));
    const images: IDatasetImage[] = [
      { id: before.id, key: before.key, etag: before.etag, role: 'before', pair: name },
      { id: after.id, key: after.key, etag: after.etag, role: 'after', pair: name }
    ];
    if (hasLabel) {
      const info = await objects.head(labelKey!);
      images.push({ key: labelKey!, etag: info.etag, role: 'label', pair: name });
    }
    const rasters = new Map<string, Promise<IRasterSource>>();
    const raster = (role: 'before' | 'after' | 'label') => {
      const key = role === 'before' ? before.key : role === 'after' ? after.key : labelKey!;
      if (!rasters.has(role)) {
        rasters.set(role, open(key));
      }
      return rasters.get(role)!;
    };
    sources.push({
      pair: name,
      crs: { epsg: before.crs.epsg },
      transform: before.transform as unknown as GeoTransform,
      width: before.width,
      height: before.height,
      hasLabel,
      images,
      async read(role, w) {
        const src = await raster(role);
        const ox = role === 'after' ? Math.round(dx) : 0;
        const oy = role === 'after' ? Math.round(dy) : 0;
        if (w.x + ox < 0 || w.y + oy < 0 || w.x + ox + w.width > src.grid.width || w.y + oy + w.height > src.grid.height) {
          return null;
        }
        if (src.sampleType !== 'uint8') {
          throw new InvalidRasterError(`${src.key} holds ${src.sampleType} pixels; chips are 8-bit`, { key: src.key });
        }
        const planes = await src.readWindow(w.x + ox, w.y + oy, w.width, w.height, 0);
        return { data: toBytes(planes, src.bands, w.width * w.height), bands: src.bands };
      },
      async close() {
        for (const r of rasters.values()) {
          await (await r).close();
        }
      }
    });
  }
  return sources;
}

/**
 * Builds `datasets/<name>/` from pairs: chips of `chip` px (GeoTIFF, uint8) for before, after and
 * (when the pair has one) the change label, and manifest.json. Same inputs and seed, same bytes.
 */
export async function build(name: string, options: IBuildOptions): Promise<IDatasetManifest> {
  checkName(name);
  const chip = options.chip ?? 256;
  const overlap = options.overlap ?? 0;
  if (!Number.isInteger(chip) || chip % 16 !== 0 || chip < 16) {
    throw new ChangelabError(`chip must be a multiple of 16 pixels (GeoTIFF tiles), not ${chip}`, { chip });
  }
  const fractions = checkFractions(options.splits);
  const seed = options.seed ?? 'changelab';
  const blockPx = options.block ?? chip * 4;
  if (!(blockPx >= chip)) {
    throw new ChangelabError(`block must be at least one chip (${chip} px), not ${blockPx}`, { block: blockPx });
  }
  if (!!options.pairs === !!options.synthetic) {
    throw new ChangelabError('build needs exactly one source: pairs (catalog.pairs.discover) or synthetic: {count}');
  }
  const repo = await DatasetRepository.open({ root: options.root });
  const folder = repo.folder(name);
  await refuseUnsaved(repo, name, folder, !!options.force);
  const sources = options.synthetic ? syntheticSources(options.synthetic, seed) : await catalogSources(options.pairs!, options.objects);
  if (sources.length === 0) {
    throw new ChangelabError('no pairs to build from', { name });
  }
  const staging = path.join(repo.datasetsDir, `.${name}.building-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const chips: IDatasetChip[] = [];
  const images: IDatasetImage[] = [];
  let bands = 0;
  let dropped = 0;
  const anchors: Record<string, [number, number]> = {};
  try {
    for (const [index, source] of sources.entries()) {
      images.push(...source.images);
      const blockSize = blockPx * Math.abs(source.transform[1]);
      const crsKey = `EPSG:${source.crs.epsg}`;
      if (!anchors[crsKey]) {
        anchors[crsKey] = [source.transform[0], source.transform[3]];
      }
      const stride = chip - overlap;
      for (const w of chipWindows(source.width, source.height, chip, overlap)) {
        const split = chipSplit(w, source.transform, crsKey, blockSize, seed, fractions, anchors[crsKey]);
        if (split === null) {
          dropped++;
          continue;
        }
        const id = `p${index}-r${w.y / stride}-c${w.x / stride}`;
        const rel = (role: string) => `chips/p${index}/${id}-${role}.tif`;
        const [x0, px, rx, y0, ry, py] = source.transform;
        const transform: GeoTransform = [x0 + w.x * px + w.y * rx, px, rx, y0 + w.x * ry + w.y * py, ry, py];
        const roles = source.hasLabel ? (['before', 'after', 'label'] as const) : (['before', 'after'] as const);
        const pixels: Array<{ data: Uint8Array; bands: number } | null> = [];
        for (const role of roles) {
          pixels.push(await source.read(role, w));
        }
        if (pixels.some(p => p === null)) {
          dropped++;
          continue; // the after (or label) image does not cover this window
        }
        fs.mkdirSync(path.join(staging, 'chips', `p${index}`), { recursive: true });
        roles.forEach((role, i) => {
          const { data, bands: b } = pixels[i]!;
          if (role === 'before') {
            bands = b;
          }
          const bytes = writeGeoTiff(
            { width: w.width, height: w.height, bands: b, dataType: 'uint8', data },
            { crs: source.crs, transform, tileSize: chip, overviews: false, compression: 'deflate', deflateLevel: 6 }
          );
          fs.writeFileSync(path.join(staging, ...rel(role).split('/')), bytes);
        });
        chips.push({
          id,
          split,
          pair: source.pair,
          window: w,
          before: rel('before'),
          after: rel('after'),
          ...(source.hasLabel ? { label: rel('label') } : {})
        });
      }
      await source.close();
    }
    if (chips.length === 0) {
      throw new ChangelabError(`no chip of ${chip} px fits the pairs (or every chip was dropped at a split boundary); use a smaller chip or a larger block`, { name, dropped });
    }
    const manifest: IDatasetManifest = {
      version: 1,
      name,
      created: new Date().toISOString(),
      chip,
      overlap,
      bands,
      seed,
      splits: { block: blockPx, fractions, dropped, anchors },
      images,
      chips
    };
    fs.writeFileSync(path.join(staging, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    // Swap the new folder in whole.
    const old = `${folder}.old-${process.pid}`;
    if (fs.existsSync(folder)) {
      fs.renameSync(folder, old);
    }
    fs.renameSync(staging, folder);
    fs.rmSync(old, { recursive: true, force: true });
    return manifest;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** Refuses to replace files that are in no DVC cache (work that would be lost). */
async function refuseUnsaved(repo: DatasetRepository, name: string, folder: string, force: boolean): Promise<void> {
  if (force || !fs.existsSync(folder)) {
    return;
  }
  const [status] = (await repo.status({ name })).datasets;
  if (status.md5 === null) {
    const any = fs.readdirSync(folder).length > 0;
    if (any) {
      throw new ChangelabError(`datasets/${name} holds files that were never committed; commit them, move them, or pass force: true`, { name });
    }
    return;
  }
  const lost = [...status.added, ...status.modified];
  if (lost.length > 0 || status.workspace === 'not in cache' || status.missingInCache > 0) {
    throw new ChangelabError(
      `datasets/${name} has changes that are in no cache (${lost.slice(0, 3).join(', ') || status.workspace}); commit them first or pass force: true`,
      { name, files: lost.slice(0, 20) }
    );
  }
}
