// `infer(model, pair, options)`: a trained change model over a whole before/after scene. Both
// images are read window by window with ranged reads (object store or local file), the after
// image (and a ground truth) is put on the before image's grid, the engine writes a change-
// probability COG and a binary mask COG next to the before image, the mask becomes polygons
// (GeoJSON + GeoPackage exports, and rows of `change_polygons` in PostGIS when a workspace is
// given), and a ground truth gives scene IoU / F1 / precision / recall and a confusion-map COG.
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ConfigError } from '../errors';
import { card, progress as progressBar, type IDisplayable, type IDisplayBundle, type IProgress } from '../display';
import type { IChangeMetricValues, IConfusion } from '../train/metrics';
import type { Workspace } from '../workspace';
import { alignTo, type IAlignment, type Resampling } from './align';
import { runEngine, type INormalize, type ProbabilityEncoding } from './engine';
import { prepareModel, type InferenceModel } from './model';
import { Polygonizer } from './polygonize';
import { openRaster, type IGrid, type IRasterSource, type RasterLocation } from './raster-source';
import { changePolygonsGeoJson, changePolygonsGeoPackage, toChangePolygons, type IChangePolygon, type IPolygonOptions } from './vector';

/** An image: a key in the workspace's object store, a local path (/abs, ./rel, file://), or explicit. */
export type RasterRef = string | RasterLocation;

export interface IPairInput {
  before: RasterRef | { key: string; id?: number };
  after: RasterRef | { key: string; id?: number };
}

export interface IInferOptions {
  /** Opened workspace: its object store resolves keys, its database stores the run and polygons. */
  workspace?: Workspace;
  /** Window side in pixels (a multiple of the model's downsampling: 16, or 32 for siam-resnet18-diff). Default 256. */
  tile?: number;
  /** Pixels shared by neighbouring windows (tile - overlap a multiple of the model's downsampling). Default 64. */
  overlap?: number;
  /** Pixels ignored along inner window edges. Default overlap / 4. */
  margin?: number;
  /** Windows per ONNX Runtime call. Default 4. */
  batch?: number;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
  /** A pixel is change when its probability is above this. Default 0.5. */
  threshold?: number;
  /** 'uint8' (default: probability x 255, GDAL scale 1/255 in the metadata) or 'float32'. */
  probability?: ProbabilityEncoding;
  /** How the after image (when its grid differs) is resampled. Default 'bilinear'. */
  resampling?: Resampling;
  /** Input scaling. Default: uint8 / 255, uint16 / 65535, float32 as is. */
  normalize?: INormalize;
  /** A 0/1 change mask of the pair: scene metrics and a confusion-map COG. */
  groundTruth?: RasterRef;
  /** Where outputs go: a key prefix (store) or path prefix (files). Default: beside the before image. */
  outputPrefix?: string;
  /** Polygonize the mask (default true), with simplification (pixels) and minimum area (m²). */
  polygons?: boolean | IPolygonOptions;
  /** Record the run and its polygons in PostGIS (default true with a workspace). */
  store?: boolean;
  /** Run id; default a new UUID (a resumed run gets a new id, its windows are not recomputed). */
  runId?: string;
  /** Project the run belongs to. Default the workspace's. */
  project?: string;
  /** Cancels between batches; the checkpoint is kept for a resume. */
  signal?: AbortSignal;
  /** A progress bar (default 'auto': in a notebook, or on a terminal), 'none', or your own. */
  progress?: 'auto' | 'none' | IProgress;
  /** Called with (windows done, windows total). */
  onProgress?: (done: number, total: number) => void;
  /** Folder for checkpoints; default beside the outputs (files) or under the workspace home. */
  scratchDir?: string;
  /** Model name and version recorded with the run (default from the model). */
  name?: string;
}

export interface IInferenceOutputs {
  probability: string;
  mask: string;
  confusion?: string;
  geojson?: string;
  gpkg?: string;
}

export interface IInferenceResult extends IDisplayable {
  runId: string;
  model: { name: string; version: string; sha256: string };
  before: string;
  after: string;
  /** Keys in the workspace store (store inputs) or local paths (file inputs). */
  outputs: IInferenceOutputs;
  where: 'store' | 'files';
  grid: { width: number; height: number; epsg: number | null; transform: number[] };
  alignment: { after: IAlignment; truth?: IAlignment };
  windows: number;
  windowsRun: number;
  resumedFromWindowRow: number;
  /** Windows a checkpoint had finished before this call (0 for a fresh run). */
  resumedFromWindow: number;
  changedPixels: number;
  polygons: number;
  polygonAreaM2: number;
  confusion: IConfusion | null;
  metrics: IChangeMetricValues | null;
  seconds: number;
  /** Square kilometres of the before image per minute of wall time. */
  km2PerMinute: number;
}

interface IResolved {
  location: RasterLocation;
  /** Key or path, as recorded. */
  name: string;
  imageId: number | null;
}

function resolveRef(ref: RasterRef | { key: string; id?: number }, workspace: Workspace | undefined, what: string): IResolved {
  if (typeof ref === 'string') {
    if (ref.startsWith('file://')) {
      const p = decodeURIComponent(new URL(ref).pathname);
      return { location: { path: p }, name: p, imageId: null };
    }
    if (ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../')) {
      const p = path.resolve(ref);
      return { location: { path: p }, name: p, imageId: null };
    }
    if (!workspace) {
      throw new ConfigError(`${what} ${JSON.stringify(ref)} is an object key, but no workspace was given to read it from; pass { workspace } or a path`, { key: ref });
    }
    return { location: { store: workspace.objects, key: ref }, name: ref, imageId: null };
  }
  if ('path' in ref) {
    return { location: ref, name: ref.path, imageId: null };
  }
  if ('store' in ref) {
    return { location: ref, name: ref.key, imageId: null };
  }
  const resolved = resolveRef(ref.key, workspace, what);
  return { ...resolved, imageId: ref.id ?? null };
}

function outputNames(before: IResolved, prefix: string | undefined) {
  const name = before.name;
  const base = prefix ?? name.replace(/\.(tif|tiff)$/i, '');
  return {
    probability: `${base}.change-probability.tif`,
    mask: `${base}.change-mask.tif`,
    confusion: `${base}.confusion.tif`,
    geojson: `${base}.change-polygons.geojson`,
    gpkg: `${base}.change-polygons.gpkg`
  };
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** Runs `model` over a before/after pair and writes change maps and polygons. */
export async function infer(model: InferenceModel, pair: IPairInput, options: IInferOptions = {}): Promise<IInferenceResult> {
  const started = Date.now();
  const startedAt = new Date(started);
  const workspace = options.workspace;
  const before = resolveRef(pair.before, workspace, 'before');
  const after = resolveRef(pair.after, workspace, 'after');
  const truthRef = options.groundTruth !== undefined ? resolveRef(options.groundTruth, workspace, 'groundTruth') : null;
  const inStore = 'store' in before.location;
  if (inStore !== 'store' in after.location) {
    throw new ConfigError('before and after must both be object keys or both be files', { before: before.name, after: after.name });
  }
  const tile = options.tile ?? 256;
  const overlap = options.overlap ?? 64;
  const batch = options.batch ?? 4;
  const threshold = options.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold < 1)) {
    throw new ConfigError(`threshold must be in [0, 1), got ${threshold}`, { threshold });
  }
  const probability = options.probability ?? 'uint8';
  const runId = options.runId ?? randomUUID();
  const sources: IRasterSource[] = [];
  const open = async (r: IResolved) => {
    const source = await openRaster(r.location);
    sources.push(source);
    return source;
  };
  const prepared = await prepareModel(model, { tile, batch, threads: options.threads });
  const bar: IProgress | null =
    options.progress === 'none' ? null : typeof options.progress === 'object' ? options.progress : progressBar(`infer ${prepared.name}`, { mode: 'auto' });
  try {
    const beforeSource = await open(before);
    const afterSource = await open(after);
    const truthSource = truthRef ? await open(truthRef) : null;
    const grid = beforeSource.grid;
    if (grid.epsg === null) {
      throw new ConfigError(`${before.name}: the CRS has no EPSG code; change maps are written with EPSG-coded CRSs`, { key: before.name });
    }
    const normalize =
      options.normalize ?? { scale: beforeSource.sampleType === 'uint8' ? 1 / 255 : beforeSource.sampleType === 'uint16' ? 1 / 65535 : 1 };
    const resampling = options.resampling ?? 'bilinear';
    const afterReader = alignTo(afterSource, grid, resampling);
    const truthReader = truthSource ? alignTo(truthSource, grid, 'nearest') : undefined;
    const names = outputNames(before, options.outputPrefix);
    const identity = (s: IRasterSource, r: IResolved) => ({ name: r.name, size: s.grid.width + 'x' + s.grid.height, transform: s.grid.transform });
    const signature = sha(
      JSON.stringify({
        before: identity(beforeSource, before),
        after: identity(afterSource, after),
        truth: truthSource && truthRef ? identity(truthSource, truthRef) : null,
        model: prepared.sha256,
        tile,
        overlap,
        margin: options.margin ?? null,
        batch: prepared.batch,
        threshold,
        probability,
        normalize,
        resampling
      })
    );
    const scratchDir =
      options.scratchDir ??
      (inStore
        ? path.join(workspace?.config.homeDir ?? os.tmpdir(), 'infer-scratch', signature.slice(0, 24))
        : `${names.mask}.partial-${signature.slice(0, 12)}`);
    // Outputs are written as local files first: beside the inputs, or in a staging folder to upload.
    const staging = inStore ? await fs.mkdtemp(path.join(os.tmpdir(), 'changelab-infer-')) : null;
    const local = (name: string) => (staging ? path.join(staging, path.basename(name)) : name);
    if (!staging) {
      await fs.mkdir(path.dirname(names.mask), { recursive: true });
    }
    const metadata: Record<string, string> = {
      CHANGELAB_RUN_ID: runId,
      CHANGELAB_MODEL: prepared.name,
      CHANGELAB_MODEL_VERSION: prepared.version,
      CHANGELAB_MODEL_SHA256: prepared.sha256,
      CHANGELAB_BEFORE: before.name,
      CHANGELAB_AFTER: after.name,
      CHANGELAB_ALIGNMENT: JSON.stringify(afterReader.alignment),
      CHANGELAB_WINDOWS: JSON.stringify({ tile, overlap, margin: options.margin ?? Math.floor(overlap / 4), batch: prepared.batch, blend: 'cosine' }),
      CHANGELAB_THRESHOLD: String(threshold),
      CHANGELAB_PROBABILITY_ENCODING: probability === 'uint8' ? 'uint8: probability = value / 255' : 'float32: probability'
    };
    const engine = await runEngine(
      prepared,
      { grid, crs: { epsg: grid.epsg, kind: grid.geographic ? 'geographic' : 'projected' }, before: alignTo(beforeSource, grid), after: afterReader, truth: truthReader },
      { probability: local(names.probability), mask: local(names.mask), ...(truthReader ? { confusion: local(names.confusion) } : {}) },
      {
        tile,
        overlap,
        margin: options.margin,
        threshold,
        probability,
        normalize,
        signal: options.signal,
        scratchDir,
        signature,
        metadata,
        onProgress: (done, total) => {
          bar?.update(done, total, 'windows');
          options.onProgress?.(done, total);
        }
      }
    );

    // Polygons from the mask just written, read back a tile row at a time.
    let polygons: IChangePolygon[] = [];
    const outputs: IInferenceOutputs = {
      probability: names.probability,
      mask: names.mask,
      ...(truthReader ? { confusion: names.confusion } : {})
    };
    if (options.polygons !== false) {
      const polygonOptions = typeof options.polygons === 'object' ? options.polygons : {};
      polygons = toChangePolygons(await polygonizeOutputs(local(names.mask), local(names.probability), grid, options.signal), grid, polygonOptions);
      const properties = { runId, model: prepared.name, modelVersion: prepared.version };
      await fs.writeFile(local(names.geojson), changePolygonsGeoJson(polygons, properties));
      await fs.writeFile(local(names.gpkg), await changePolygonsGeoPackage(polygons, grid, properties));
      outputs.geojson = names.geojson;
      outputs.gpkg = names.gpkg;
    }
    if (staging && workspace) {
      for (const name of Object.values(outputs) as string[]) {
        await workspace.objects.putFile(name, local(name), { contentType: name.endsWith('.tif') ? 'image/tiff' : name.endsWith('.gpkg') ? 'application/geopackage+sqlite3' : 'application/geo+json' });
      }
      await fs.rm(staging, { recursive: true, force: true });
    }
    const seconds = (Date.now() - started) / 1000;
    const pixelArea = Math.abs(grid.transform[1] * grid.transform[5] - grid.transform[2] * grid.transform[4]);
    const areaKm2 = grid.geographic ? NaN : (grid.width * grid.height * pixelArea) / 1e6;
    const result: IInferenceResult = {
      runId,
      model: { name: prepared.name, version: prepared.version, sha256: prepared.sha256 },
      before: before.name,
      after: after.name,
      outputs,
      where: inStore ? 'store' : 'files',
      grid: { width: grid.width, height: grid.height, epsg: grid.epsg, transform: [...grid.transform] },
      alignment: engine.alignment,
      windows: engine.windows,
      windowsRun: engine.windowsRun,
      resumedFromWindowRow: engine.resumedFromWindowRow,
      resumedFromWindow: engine.resumedFromWindow,
      changedPixels: engine.changedPixels,
      polygons: polygons.length,
      polygonAreaM2: polygons.reduce((s, p) => s + p.areaM2, 0),
      confusion: engine.confusion,
      metrics: engine.metrics,
      seconds,
      km2PerMinute: areaKm2 / (seconds / 60),
      toDisplay: () => resultCard(result)
    };
    if (workspace && options.store !== false) {
      await storeRun(workspace, result, polygons, grid, {
        project: options.project ?? workspace.project,
        beforeId: before.imageId ?? (await imageId(workspace, before.name)),
        afterId: after.imageId ?? (await imageId(workspace, after.name)),
        startedAt,
        options: { tile, overlap, margin: options.margin ?? null, batch: prepared.batch, threshold, probability, resampling, normalize }
      });
    }
    bar?.finish(`${engine.windows} windows, ${polygons.length} polygons in ${seconds.toFixed(1)} s`);
    return result;
  } catch (error) {
    bar?.finish((error as Error).message, 'error');
    throw error;
  } finally {
    for (const source of sources) {
      await source.close();
    }
    await prepared.release();
  }
}

/** Reads the mask and probability COGs back by tile rows and traces the change polygons. */
async function polygonizeOutputs(maskPath: string, probabilityPath: string, grid: IGrid, signal?: AbortSignal) {
  const mask = await openRaster({ path: maskPath });
  const probability = await openRaster({ path: probabilityPath });
  try {
    const polygonizer = new Polygonizer(grid.width);
    const rows = mask.blockHeight;
    const scale = probability.sampleType === 'uint8' ? 1 / 255 : 1;
    for (let row = 0; row < grid.height; row += rows) {
      signal?.throwIfAborted();
      const n = Math.min(rows, grid.height - row);
      const m = await mask.readWindow(0, row, grid.width, n);
      const p = await probability.readWindow(0, row, grid.width, n);
      for (let r = 0; r < n; r++) {
        const pr = p.subarray(r * grid.width, (r + 1) * grid.width);
        if (scale !== 1) {
          for (let i = 0; i < pr.length; i++) {
            pr[i] *= scale;
          }
        }
        polygonizer.pushRow(m.subarray(r * grid.width, (r + 1) * grid.width), pr);
      }
    }
    return polygonizer.finish();
  } finally {
    await mask.close();
    await probability.close();
  }
}

async function imageId(workspace: Workspace, key: string): Promise<number | null> {
  const rows = await workspace.db.query<{ id: string }>(
    'SELECT id FROM image_metadata WHERE object_key = $1 AND deleted_at IS NULL ORDER BY indexed_at DESC LIMIT 1',
    [key]
  );
  return rows.length ? Number(rows[0].id) : null;
}

interface IStoreContext {
  project: string;
  beforeId: number | null;
  afterId: number | null;
  startedAt: Date;
  options: Record<string, unknown>;
}

async function storeRun(workspace: Workspace, result: IInferenceResult, polygons: IChangePolygon[], grid: IGrid, context: IStoreContext): Promise<void> {
  const t = grid.transform;
  const corner = (c: number, r: number) => [t[0] + c * t[1] + r * t[2], t[3] + c * t[4] + r * t[5]];
  const footprintNative = [corner(0, 0), corner(0, grid.height), corner(grid.width, grid.height), corner(grid.width, 0), corner(0, 0)];
  const proj = grid.proj4 ? (await import('proj4')).default(grid.proj4, 'EPSG:4326') : null;
  const footprint = proj ? { type: 'Polygon', coordinates: [footprintNative.map(p => proj.forward(p))] } : null;
  await workspace.db.transaction(async tx => {
    await tx.query(
      `INSERT INTO inference_runs (id, project, model_name, model_version, model_sha256, before_key, after_key, before_image_id,
         after_image_id, crs_epsg, outputs, options, alignment, metrics, polygon_count, changed_pixels, footprint, started_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
         CASE WHEN $17::text IS NULL THEN NULL ELSE ST_SetSRID(ST_GeomFromGeoJSON($17::text), 4326) END, $18)`,
      [
        result.runId,
        context.project,
        result.model.name,
        result.model.version,
        result.model.sha256,
        result.before,
        result.after,
        context.beforeId,
        context.afterId,
        grid.epsg,
        JSON.stringify(result.outputs),
        JSON.stringify(context.options),
        JSON.stringify(result.alignment),
        result.metrics ? JSON.stringify({ ...result.metrics, ...result.confusion }) : null,
        polygons.length,
        result.changedPixels,
        footprint ? JSON.stringify(footprint) : null,
        context.startedAt
      ]
    );
    for (let i = 0; i < polygons.length; i += 500) {
      const chunk = polygons.slice(i, i + 500).map(p => ({
        g: { type: 'Polygon', coordinates: p.wgs84 },
        n: { type: 'Polygon', coordinates: p.native },
        px: p.pixels,
        mp: Number.isNaN(p.meanProbability) ? null : p.meanProbability
      }));
      await tx.query(
        `INSERT INTO change_polygons (project, run_id, model_version, before_key, after_key, before_image_id, after_image_id,
           geom, geom_native, crs_epsg, area_m2, pixels, mean_probability)
         SELECT $1, $2, $3, $4, $5, $6, $7, v.geom, v.native, $8, ST_Area(v.geom::geography), (f->>'px')::int, (f->>'mp')::real
         FROM jsonb_array_elements($9::jsonb) AS f,
         LATERAL (SELECT
           ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(f->>'g'), 4326)), 3)) AS geom,
           ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(f->>'n'), $8::int)), 3)) AS native) AS v`,
        [context.project, result.runId, result.model.version, result.before, result.after, context.beforeId, context.afterId, grid.epsg, JSON.stringify(chunk)]
      );
    }
  });
}

function resultCard(r: IInferenceResult): IDisplayBundle {
  const items: { label: string; value: string | number }[] = [
    { label: 'run', value: r.runId },
    { label: 'model', value: `${r.model.name} ${r.model.version}` },
    { label: 'scene', value: `${r.grid.width} x ${r.grid.height} px, EPSG:${r.grid.epsg}` },
    { label: 'after image', value: r.alignment.after.mode === 'identical' ? 'same grid' : `${r.alignment.after.mode} (${r.alignment.after.resampling})` },
    { label: 'windows', value: `${r.windowsRun} run of ${r.windows}${r.resumedFromWindowRow ? ` (resumed at window row ${r.resumedFromWindowRow})` : ''}` },
    { label: 'changed pixels', value: r.changedPixels },
    { label: 'polygons', value: `${r.polygons} (${(r.polygonAreaM2 / 1e4).toFixed(2)} ha)` },
    { label: 'time', value: `${r.seconds.toFixed(1)} s${Number.isFinite(r.km2PerMinute) ? `, ${r.km2PerMinute.toFixed(3)} km²/min` : ''}` }
  ];
  if (r.metrics) {
    items.push(
      { label: 'IoU', value: Number(r.metrics.iou.toFixed(4)) },
      { label: 'F1', value: Number(r.metrics.f1.toFixed(4)) },
      { label: 'precision', value: Number(r.metrics.precision.toFixed(4)) },
      { label: 'recall', value: Number(r.metrics.recall.toFixed(4)) }
    );
  }
  for (const [name, value] of Object.entries(r.outputs)) {
    items.push({ label: name, value: value as string });
  }
  return card({ kind: 'table', title: `change map: ${r.before}`, status: 'ok', items, data: { runId: r.runId, outputs: r.outputs, where: r.where } });
}

