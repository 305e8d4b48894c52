// Change maps in a workspace: a pair in the object store (local folder, or MinIO) read with
// ranged requests only, COGs and exports written beside it, the run and its polygons in PostGIS
// (PGlite, or PostgreSQL) with ellipsoidal areas that agree with GDAL's polygons of the same
// mask, the same through the job queue and the `changelab infer` command line.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { infer, registerInferJob, INFER_JOB, type InferJobResult } from '../../kernel-lib/src/infer';
import type { IObjectStore } from '../../kernel-lib/src/objects/store';
import { exportInference } from '../../kernel-lib/src/train/models/fc';
import { connect, type Workspace } from '../../kernel-lib/src/workspace';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { freshServerDatabase, tempDir, testServices, uniqueName } from '../helpers';
import { MODEL_OPTIONS, gdalOracle, testModelValues, writePairFiles, type IPairFiles } from '../kernel-lib/infer/fixtures';

const services = testServices();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

interface IBackend {
  name: string;
  open: () => Promise<{ workspace: Workspace; home: string; env: Record<string, string> }>;
}

const backends: IBackend[] = [
  {
    name: 'embedded PGlite + local folder',
    open: async () => {
      const home = tempDir('changelab-infer-ws-');
      cleanups.push(() => stopEmbeddedDatabase(path.join(home, '.changelab')));
      return { workspace: await connect({ cwd: home, env: {} }), home, env: {} };
    }
  }
];
if (services) {
  backends.push({
    name: 'server PostgreSQL + MinIO',
    open: async () => {
      const home = tempDir('changelab-infer-ws-');
      const env = {
        CHANGELAB_DATABASE_URL: await freshServerDatabase(services.databaseUrl, cleanups),
        CHANGELAB_S3_ENDPOINT: services.s3.endpoint,
        CHANGELAB_S3_ACCESS_KEY: services.s3.accessKey,
        CHANGELAB_S3_SECRET_KEY: services.s3.secretKey,
        CHANGELAB_S3_BUCKET: uniqueName('clinfer')
      };
      return { workspace: await connect({ cwd: home, env }), home, env };
    }
  });
}

const fixtures = tempDir('changelab-infer-fixtures-');
let files: IPairFiles;
let modelPath: string;
beforeAll(() => {
  files = writePairFiles(fixtures, 320, 'integration');
  modelPath = path.join(fixtures, 'model.onnx');
  fs.writeFileSync(modelPath, exportInference(MODEL_OPTIONS, testModelValues(), { batch: 2, height: 128, width: 128 }));
});
afterAll(() => fs.rmSync(fixtures, { recursive: true, force: true }));

/** A view of a store that records every read, to show inference only sends ranged GETs. */
function recording(store: IObjectStore) {
  const reads: Array<{ key: string; offset?: number; length?: number }> = [];
  const spy: IObjectStore = Object.create(store);
  spy.get = async (key, range) => {
    reads.push({ key, offset: range?.offset, length: range?.length });
    return store.get(key, range);
  };
  return { spy, reads };
}

describe.each(backends)('change maps in a workspace ($name)', backend => {
  let workspace: Workspace;
  let home: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    ({ workspace, home, env } = await backend.open());
    for (const f of ['before', 'after', 'mask'] as const) {
      await workspace.objects.putFile(`scenes/seoul/${f}.tif`, files[f]);
    }
    await workspace.objects.putFile('models/fc-siam-diff.onnx', modelPath);
  }, 120_000);
  afterAll(async () => {
    await workspace?.close();
  });

  it('reads the pair with ranged requests, writes COGs and exports beside it, stores run and polygons', async () => {
    const { spy, reads } = recording(workspace.objects);
    const result = await infer({ onnx: modelPath, name: 'fc-siam-diff', version: '7' }, {
      before: { store: spy, key: 'scenes/seoul/before.tif' },
      after: { store: spy, key: 'scenes/seoul/after.tif' }
    }, { workspace, tile: 128, overlap: 64, batch: 2, threshold: 0.45, groundTruth: 'scenes/seoul/mask.tif', progress: 'none' });
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every(r => r.offset !== undefined && r.length !== undefined)).toBe(true);
    expect(result.where).toBe('store');
    expect(result.outputs).toEqual({
      probability: 'scenes/seoul/before.change-probability.tif',
      mask: 'scenes/seoul/before.change-mask.tif',
      confusion: 'scenes/seoul/before.confusion.tif',
      geojson: 'scenes/seoul/before.change-polygons.geojson',
      gpkg: 'scenes/seoul/before.change-polygons.gpkg'
    });
    for (const key of Object.values(result.outputs)) {
      expect(await workspace.objects.exists(key)).toBe(true);
    }
    expect(result.polygons).toBeGreaterThan(0);

    const [run] = await workspace.db.query<{ polygon_count: number; model_version: string; metrics: Record<string, number>; outputs: Record<string, string> }>(
      'SELECT polygon_count, model_version, metrics, outputs FROM inference_runs WHERE id = $1',
      [result.runId]
    );
    expect(run.polygon_count).toBe(result.polygons);
    expect(run.model_version).toBe('7');
    expect(run.metrics.iou).toBeCloseTo(result.metrics!.iou, 12);
    expect(run.outputs.mask).toBe(result.outputs.mask);

    // PostGIS areas (ellipsoid) against GDAL's polygons of the same mask (planar, TM metres).
    const mask = path.join(home, 'mask-out.tif');
    fs.writeFileSync(mask, await workspace.objects.get(result.outputs.mask));
    const gdal = gdalOracle(['polygonize', mask]) as Array<{ area: number }>;
    const [stored] = await workspace.db.query<{ n: number; area: number; srid: number; native: number; valid: boolean }>(
      `SELECT count(*)::int AS n, sum(area_m2) AS area, min(ST_SRID(geom_native)) AS srid, sum(ST_Area(geom_native)) AS native,
              bool_and(ST_IsValid(geom)) AS valid
       FROM change_polygons WHERE run_id = $1`,
      [result.runId]
    );
    expect(stored.n).toBe(gdal.length);
    expect(stored.srid).toBe(5186);
    expect(stored.valid).toBe(true);
    const gdalArea = gdal.reduce((s, p) => s + p.area, 0);
    expect(Number(stored.native)).toBeCloseTo(gdalArea, 4);
    // Korea 2000 / Central Belt 2010 has scale factor 1 on 127°E; Seoul's scale error is < 0.1%.
    expect(Math.abs(Number(stored.area) - gdalArea) / gdalArea).toBeLessThan(0.002);
  }, 120_000);

  it('runs as a job from a model in the store', async () => {
    registerInferJob(workspace);
    const id = await workspace.jobs.enqueue(INFER_JOB, {
      model: 'models/fc-siam-diff.onnx',
      before: 'scenes/seoul/before.tif',
      after: 'scenes/seoul/after.tif',
      options: { tile: 128, overlap: 64, batch: 2, outputPrefix: 'jobs/seoul/run', polygons: { minArea: 1 } }
    });
    const result = await workspace.jobs.wait<InferJobResult>(id, 120_000);
    expect(result.outputs.mask).toBe('jobs/seoul/run.change-mask.tif');
    expect(await workspace.objects.exists('jobs/seoul/run.change-polygons.gpkg')).toBe(true);
    const [row] = await workspace.db.query<{ n: number }>('SELECT count(*)::int AS n FROM change_polygons WHERE run_id = $1', [result.runId]);
    expect(row.n).toBe(result.polygons);
  }, 120_000);

  it('runs from the command line', () => {
    const cli = path.join(__dirname, '../../kernel-lib/src/cli.ts');
    const tsx = path.join(__dirname, '../../node_modules/.bin/tsx');
    const out = execFileSync(
      tsx,
      [cli, 'infer', modelPath, 'scenes/seoul/before.tif', 'scenes/seoul/after.tif', '--tile', '128', '--overlap', '64', '--output', 'cli/seoul', '--json'],
      { cwd: home, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 }
    );
    const result = JSON.parse(out) as { outputs: Record<string, string>; polygons: number; windows: number };
    expect(result.windows).toBe(16);
    expect(result.outputs.probability).toBe('cli/seoul.change-probability.tif');
    const bad = (() => {
      try {
        execFileSync(tsx, [cli, 'infer', modelPath], { cwd: home, env: { ...process.env, ...env }, encoding: 'utf8', stdio: 'pipe' });
        return '';
      } catch (error) {
        return String((error as { stderr: string }).stderr);
      }
    })();
    expect(bad).toContain('infer needs <model.onnx> <before> <after>');
  }, 180_000);
});
