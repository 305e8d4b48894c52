// `map(layers, options)` on an embedded workspace with a synthetic pair: the output carries the
// map payload the extension draws (image layers the service can serve, dates, swipe, bounds) and a
// static PNG fallback whose pixels show the imagery where the image lies, compared with the same
// image decoded by geotiff.js (the oracle) at that place. Bad layers get errors naming them.
import * as fs from 'fs';
import * as path from 'path';
import { fromArrayBuffer } from 'geotiff';
import proj4 from 'proj4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogImage } from '../../kernel-lib/src/catalog/images';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { map, MapLayerError } from '../../kernel-lib/src/map';
import { writeSyntheticSet, type ISyntheticSetManifest } from '../../kernel-lib/src/synth';
import { connect, type Workspace } from '../../kernel-lib/src/workspace';
import { infer, type IInferenceResult } from '../../kernel-lib/src/infer';
import { serve, type IService } from '../../kernel-lib/src/serve';
import { exportInference } from '../../kernel-lib/src/train/models/fc';
import { decodePng } from '../browser/png';
import { tempDir, workspaceBackends } from '../helpers';
import { MODEL_OPTIONS, testModelValues, writePairFiles } from '../kernel-lib/infer/fixtures';

describe('map() in notebooks', () => {
  const home = tempDir('changelab-map-');
  const fixtures = path.join(home, 'fixtures');
  let w: Workspace;
  let set: ISyntheticSetManifest;
  let before: CatalogImage;
  let after: CatalogImage;

  beforeAll(async () => {
    set = await writeSyntheticSet(fixtures, { seed: 'map', size: 256, crss: [5186], includeBad: false });
    w = await connect({ cwd: home, env: {} });
    for (const f of set.files) {
      await w.objects.putFile(`pair/${f.path}`, path.join(fixtures, f.path));
    }
    await w.catalog.ingest('pair/', { progress: false });
    before = await w.catalog.getByKey(`pair/${set.files.find(f => f.role === 'before')!.path}`);
    after = await w.catalog.getByKey(`pair/${set.files.find(f => f.role === 'after')!.path}`);
  });
  afterAll(async () => {
    await w?.close();
    await stopEmbeddedDatabase(path.join(home, '.changelab'));
  });

  it('emits the map payload for the extension: image layers by catalog id, dates, swipe and bounds', async () => {
    const changes = { type: 'FeatureCollection' as const, features: [{ type: 'Feature' as const, geometry: { type: 'Point', coordinates: before.centroid! }, properties: { kind: 'new building' } }] };
    const view = await map([before, after, { geojson: changes, name: 'changes', style: { color: '#ff0000' } }], { swipe: true, title: 'pair' });
    const bundle = view.toDisplay();
    const payload = bundle.data['application/vnd.changelab.map+json'] as { version: number; kind: string; title: string; data: any };
    expect(payload).toMatchObject({ version: 1, kind: 'map', title: 'pair' });
    const layers = payload.data.layers;
    expect(layers.map((l: { kind: string }) => l.kind)).toEqual(['cog', 'cog', 'geojson']);
    expect(layers[0]).toMatchObject({ imageId: before.id, crs: { epsg: 5186 }, date: before.captureTime!.toISOString() });
    expect(layers[0].transform).toEqual(before.transform);
    expect(layers[2].data.features[0].properties.kind).toBe('new building');
    expect(payload.data.swipe).toBe(true);
    const [[s, wst], [n, e]] = payload.data.bounds;
    expect(s).toBeLessThan(before.centroid![1]);
    expect(n).toBeGreaterThan(before.centroid![1]);
    expect(wst).toBeLessThan(before.centroid![0]);
    expect(e).toBeGreaterThan(before.centroid![0]);
    expect(bundle.data['text/plain']).toMatch(/^pair\n {2}cog/);
    // The payload is plain JSON (it is stored in the notebook).
    expect(JSON.parse(JSON.stringify(payload))).toEqual(payload);
  });

  it('carries a static PNG that shows the imagery where the image lies (no extension needed)', async () => {
    const view = await map([before], { objects: w.objects, previewWidth: 400 });
    const png = Buffer.from(view.toDisplay().data['image/png'] as string, 'base64');
    const picture = decodePng(png);
    expect(picture.width).toBe(400);
    // Oracle: geotiff.js decodes the full-resolution file; the preview's pixel at the image's centre
    // (mapped through the same Web Mercator extent) must match the file's pixel there within a few
    // levels (the preview samples a coarser overview, nearest neighbour).
    const tiff = await fromArrayBuffer(new Uint8Array(fs.readFileSync(path.join(fixtures, set.files.find(f => f.role === 'before')!.path))).buffer);
    const full = await tiff.getImage(0);
    const data = (await full.readRasters({ interleave: true })) as unknown as Uint8Array;
    const payload = view.toDisplay().data['application/vnd.changelab.map+json'] as { data: { bounds: [[number, number], [number, number]] } };
    const [[s, wst], [n, e]] = payload.data.bounds;
    const merc = (lat: number) => Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));
    const padX = (e - wst) * 0.05;
    const padY = (merc(n) - merc(s)) * 0.05;
    const toCrs = proj4('+proj=longlat +datum=WGS84 +no_defs', '+proj=tmerc +lat_0=38 +lon_0=127 +k=1 +x_0=200000 +y_0=600000 +ellps=GRS80 +units=m +no_defs');
    const [ox, a, , oy, , ey] = before.transform!;
    let compared = 0;
    let worst = 0;
    for (const [fx, fy] of [[0.5, 0.5], [0.3, 0.4], [0.65, 0.6], [0.45, 0.7]]) {
      const px = Math.floor(picture.width * fx);
      const py = Math.floor(picture.height * fy);
      const lon = wst - padX + ((px + 0.5) / picture.width) * (e - wst + 2 * padX);
      const y = merc(n) + padY - ((py + 0.5) / picture.height) * (merc(n) - merc(s) + 2 * padY);
      const lat = (360 / Math.PI) * Math.atan(Math.exp(y)) - 90;
      const [x, yy] = toCrs.forward([lon, lat]);
      const col = Math.floor((x - ox) / a);
      const row = Math.floor((yy - oy) / ey);
      if (col < 2 || row < 2 || col >= 254 || row >= 254) {
        continue;
      }
      // The preview pixel equals the file's value somewhere in the 3x3 neighbourhood (overview sampling).
      const o = (py * picture.width + px) * 4;
      let best = Infinity;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          const i = ((row + dy) * 256 + col + dx) * 3;
          best = Math.min(best, Math.abs(picture.data[o] - data[i]) + Math.abs(picture.data[o + 1] - data[i + 1]) + Math.abs(picture.data[o + 2] - data[i + 2]));
        }
      }
      worst = Math.max(worst, best);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(3);
    expect(worst).toBeLessThanOrEqual(60);
    // And the picture is not just the background: many colours where the image is.
    const colours = new Set<number>();
    for (let i = 0; i < picture.data.length; i += 4) {
      colours.add((picture.data[i] << 16) | (picture.data[i + 1] << 8) | picture.data[i + 2]);
    }
    expect(colours.size).toBeGreaterThan(200);
    // Without the store only outlines are drawn: few colours.
    const outline = decodePng(Buffer.from((await map([before])).toDisplay().data['image/png'] as string, 'base64'));
    const few = new Set<number>();
    for (let i = 0; i < outline.data.length; i += 4) {
      few.add((outline.data[i] << 16) | (outline.data[i + 1] << 8) | outline.data[i + 2]);
    }
    expect(few.size).toBeLessThan(5);
  });

  it('refuses layers it cannot place, naming them', async () => {
    await expect(map([{ nonsense: 1 } as never])).rejects.toThrow(/layer 0: expected a catalog image/);
    await expect(map([before, after], { swipe: ['before', 'nope'] })).rejects.toThrow(/swipe: no layer named "before"/);
    await expect(map([before], { swipe: true })).rejects.toThrow(MapLayerError);
    await expect(map([{ geojson: { type: 'Nope' } as never }])).rejects.toThrow(/layer 0: geojson must be/);
  });
});

// Change maps on the Map previews panel: the service lists a project's inference runs (those over
// a view with `bbox`), serves a run's change polygons as GeoJSON for a view, and its output COGs
// with range requests; each checked against the database rows and the stored objects that the real
// `infer` wrote for a small synthetic pair. Another project sees none of it.
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

describe.each(workspaceBackends(cleanups, 'changelab-serve-infer-'))('inference runs through the service (%s)', (_name, open) => {
  let w: Workspace;
  let service: IService;
  let result: IInferenceResult;
  const fixtures = tempDir('changelab-serve-infer-fixtures-');
  const get = (p: string, init?: RequestInit) => fetch(`${service.url}${p}`, init);
  const json = async (p: string, status = 200) => {
    const response = await get(p);
    expect(response.status, p).toBe(status);
    return response.json() as Promise<any>;
  };

  beforeAll(async () => {
    w = await open();
    const files = writePairFiles(fixtures, 256, 'serve-infer');
    for (const f of ['before', 'after'] as const) {
      await w.objects.putFile(`scenes/${f}.tif`, files[f]);
    }
    const model = path.join(fixtures, 'model.onnx');
    fs.writeFileSync(model, exportInference(MODEL_OPTIONS, testModelValues(), { batch: 2, height: 128, width: 128 }));
    result = await infer({ onnx: model, name: 'fc-siam-diff', version: '3' }, { before: 'scenes/before.tif', after: 'scenes/after.tif' }, {
      workspace: w, tile: 128, overlap: 32, batch: 2, threshold: 0.45, progress: 'none'
    });
    await w.db.query(`INSERT INTO projects (id, name) VALUES ('other', 'other') ON CONFLICT DO NOTHING`);
    service = await serve({ workspace: w, log: () => undefined });
  }, 300_000);
  afterAll(async () => {
    await service?.close();
    await w?.close();
    fs.rmSync(fixtures, { recursive: true, force: true });
  });

  it('lists the runs of the project, and with bbox only those over the view; describes them in the OpenAPI document', async () => {
    expect(result.polygons).toBeGreaterThan(0);
    const { runs } = await json('/api/inference/runs');
    expect(runs.map((r: { id: string }) => r.id)).toEqual([result.runId]);
    const run = runs[0];
    expect(run).toMatchObject({
      model: { name: 'fc-siam-diff', version: '3' },
      before: { key: 'scenes/before.tif' },
      after: { key: 'scenes/after.tif' },
      epsg: result.grid.epsg,
      outputs: result.outputs,
      polygonCount: result.polygons,
      changedPixels: result.changedPixels
    });
    expect(run.rasters.probability).toEqual({ key: result.outputs.probability, data: `api/inference/runs/${result.runId}/outputs/probability/data` });
    expect(run.rasters.mask.key).toBe(result.outputs.mask);
    // The footprint is the scene's: the bounds hold every polygon's vertices.
    const [[south, west], [north, east]] = run.bounds;
    const polygons = await json(`/api/inference/runs/${result.runId}/polygons`);
    for (const f of polygons.features) {
      for (const [lon, lat] of f.geometry.coordinates.flat(2)) {
        expect(lon).toBeGreaterThanOrEqual(west - 1e-9);
        expect(lon).toBeLessThanOrEqual(east + 1e-9);
        expect(lat).toBeGreaterThanOrEqual(south - 1e-9);
        expect(lat).toBeLessThanOrEqual(north + 1e-9);
      }
    }
    const inside = `${west + 1e-4},${south + 1e-4},${east - 1e-4},${north - 1e-4}`;
    expect((await json(`/api/inference/runs?bbox=${inside}`)).runs).toHaveLength(1);
    const elsewhere = `${east + 1},${south},${east + 2},${north}`;
    expect((await json(`/api/inference/runs?bbox=${elsewhere}`)).runs).toEqual([]);
    const doc = await json('/openapi.json');
    for (const p of ['/api/inference/runs', '/api/inference/runs/{id}', '/api/inference/runs/{id}/polygons', '/api/inference/runs/{id}/outputs/{name}/data']) {
      expect(doc.paths[p]?.get, p).toBeDefined();
    }
    expect((await json(`/api/inference/runs/${result.runId}`)).id).toBe(result.runId);
  });

  it("serves the run's change polygons as GeoJSON equal to the database rows, filtered by the view", async () => {
    const all = await json(`/api/inference/runs/${result.runId}/polygons`);
    const rows = await w.db.query<{ id: string; area_m2: number; mean_probability: number; pixels: number; geom: string }>(
      'SELECT id, area_m2, mean_probability, pixels, ST_AsGeoJSON(geom) AS geom FROM change_polygons WHERE run_id = $1 ORDER BY area_m2 DESC, id',
      [result.runId]
    );
    expect(all.type).toBe('FeatureCollection');
    expect(all.truncated).toBe(false);
    expect(all.features).toHaveLength(rows.length);
    expect(all.features.map((f: any) => f.id)).toEqual(rows.map(r => Number(r.id)));
    all.features.forEach((f: any, i: number) => {
      expect(f.properties).toEqual({
        id: Number(rows[i].id),
        runId: result.runId,
        areaM2: Number(rows[i].area_m2),
        pixels: rows[i].pixels,
        meanProbability: Number(rows[i].mean_probability),
        model: 'fc-siam-diff',
        modelVersion: '3'
      });
      expect(f.geometry).toEqual(JSON.parse(rows[i].geom));
    });
    // A view around the largest polygon only: that one is in, polygons wholly elsewhere are out.
    const ring = all.features[0].geometry.coordinates[0][0] as number[][];
    const lons = ring.map(p => p[0]);
    const lats = ring.map(p => p[1]);
    const bbox = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
    const view = await json(`/api/inference/runs/${result.runId}/polygons?bbox=${bbox.join(',')}`);
    expect(view.features.map((f: any) => f.id)).toContain(all.features[0].id);
    const [expected] = await w.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM change_polygons WHERE run_id = $1 AND ST_Intersects(geom, ST_MakeEnvelope($2, $3, $4, $5, 4326))',
      [result.runId, ...bbox]
    );
    expect(view.features).toHaveLength(expected.n);
    // limit: the largest first, and `truncated` says more match.
    const first = await json(`/api/inference/runs/${result.runId}/polygons?limit=1`);
    expect(first.features.map((f: any) => f.id)).toEqual([all.features[0].id]);
    expect(first.truncated).toBe(all.features.length > 1);
    const big = await json(`/api/inference/runs/${result.runId}/polygons?minArea=${all.features[0].properties.areaM2}`);
    expect(all.truncated).toBeFalsy();
    const threshold = all.features[0].properties.areaM2;
    expect(big.features.map((f: any) => f.id)).toEqual(all.features.filter((f: any) => f.properties.areaM2 >= threshold).map((f: any) => f.id));
  });

  it("serves the output COGs' bytes with range requests, equal to the stored objects", async () => {
    for (const name of ['probability', 'mask'] as const) {
      const stored = await w.objects.get(result.outputs[name]);
      const whole = await get(`/api/inference/runs/${result.runId}/outputs/${name}/data`);
      expect(whole.status).toBe(200);
      expect(whole.headers.get('content-type')).toBe('image/tiff');
      expect(Buffer.from(await whole.arrayBuffer()).equals(stored)).toBe(true);
      const part = await get(`/api/inference/runs/${result.runId}/outputs/${name}/data`, { headers: { Range: 'bytes=8-263' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 8-263/${stored.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(stored.subarray(8, 264))).toBe(true);
    }
    // The COG reads as the grid the run wrote.
    const tiff = await fromArrayBuffer(new Uint8Array(await w.objects.get(result.outputs.probability)).buffer);
    const image = await tiff.getImage();
    expect([image.getWidth(), image.getHeight()]).toEqual([result.grid.width, result.grid.height]);
  });

  it('never trusts a project or a name: other projects, unknown runs and outputs are refused', async () => {
    const id = result.runId;
    for (const p of [`/api/inference/runs?project=nope`, `/api/inference/runs/${id}?project=nope`, `/api/inference/runs/${id}/polygons?project=nope`, `/api/inference/runs/${id}/outputs/mask/data?project=nope`]) {
      expect((await json(p, 404)).error.message, p).toMatch(/no project/);
    }
    // An existing project sees none of this project's runs.
    expect((await json('/api/inference/runs?project=other')).runs).toEqual([]);
    expect((await json(`/api/inference/runs/${id}?project=other`, 404)).error.message).toMatch(/no inference run .* in project other/);
    expect((await json(`/api/inference/runs/${id}/polygons?project=other`, 404)).error.message).toMatch(/in project other/);
    expect((await json(`/api/inference/runs/${id}/outputs/mask/data?project=other`, 404)).error.message).toMatch(/in project other/);
    expect((await json('/api/inference/runs/no-such-run', 404)).error.message).toMatch(/no inference run no-such-run/);
    expect((await json(`/api/inference/runs/${id}/outputs/gpkg/data`, 400)).error.message).toMatch(/output must be one of probability, mask, confusion/);
    // The run had no ground truth: no confusion map.
    expect((await json(`/api/inference/runs/${id}/outputs/confusion/data`, 404)).error.message).toMatch(/has no confusion output/);
    expect((await json('/api/inference/runs?bbox=1,2,3', 400)).error.message).toMatch(/bbox/);
    expect((await json(`/api/inference/runs/${id}/polygons?limit=0`, 400)).error.message).toMatch(/limit/);
  });
});
