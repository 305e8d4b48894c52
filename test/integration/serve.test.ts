// The changelab service over HTTP on both deployments (embedded PGlite + local folder, server
// PostgreSQL + MinIO): a synthetic set with known places and dates is ingested, then footprints,
// image details, dates and the quarantine are checked against what the fixture says; image bytes
// by Range against the files themselves (and against geotiff.js reading a COG overview through
// the service, compared with the same read of the local file); projects are never trusted;
// malformed queries get a 400 that names the parameter.
import * as fs from 'fs';
import * as path from 'path';
import { fromArrayBuffer, fromUrl } from 'geotiff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type IService } from '../../kernel-lib/src/serve';
import { KOREAN_SITES, writeSyntheticSet, type ISyntheticSetManifest } from '../../kernel-lib/src/synth';
import type { Workspace } from '../../kernel-lib/src/workspace';
import { tempDir, workspaceBackends } from '../helpers';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

const backends = workspaceBackends(cleanups, 'changelab-serve-');

const fixtures = tempDir('changelab-serve-fixtures-');
let set: ISyntheticSetManifest;
beforeAll(async () => {
  set = await writeSyntheticSet(fixtures, { seed: 'serve', size: 300 });
});

/** A bbox of +-0.01 degrees around a site: holds that site's images and no other site's. */
const around = (site: number): [number, number, number, number] => {
  const { lat, lon } = KOREAN_SITES[site].centre;
  return [lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01];
};

describe.each(backends)('changelab serve on %s', (name, open) => {
  let w: Workspace;
  let service: IService;
  const ids = new Map<string, number>();
  const get = (p: string, init?: RequestInit) => fetch(`${service.url}${p}`, init);
  const json = async (p: string, status = 200) => {
    const response = await get(p);
    const body = await response.json();
    expect(response.status, JSON.stringify(body)).toBe(status);
    return body;
  };

  beforeAll(async () => {
    w = await open();
    cleanups.push(() => w.close());
    for (const f of set.files) {
      await w.objects.putFile(`set/${f.path}`, path.join(fixtures, f.path));
    }
    const summary = await w.catalog.ingest('set/', { progress: false });
    expect(summary.failed).toBe(0);
    for (const f of set.files) {
      const image = await w.catalog.getByKey(`set/${f.path}`).catch(() => undefined);
      if (image) {
        ids.set(f.path, image.id);
      }
    }
    await w.db.query(`INSERT INTO projects (id, name) VALUES ('other', 'other') ON CONFLICT DO NOTHING`);
    service = await serve({ workspace: w, log: () => undefined });
    cleanups.push(() => service.close());
  });

  it('describes itself in an OpenAPI 3 document and reports health', async () => {
    const doc = await json('/openapi.json');
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/api/health', '/api/catalog/footprints', '/api/catalog/images/{id}', '/api/catalog/images/{id}/data', '/api/catalog/quarantine', '/api/catalog/dates']) {
      expect(doc.paths[p]?.get?.operationId, p).toMatch(/\w/);
    }
    const params = doc.paths['/api/catalog/footprints'].get.parameters.map((p: { name: string }) => p.name);
    expect(params).toEqual(expect.arrayContaining(['bbox', 'from', 'to', 'project', 'limit']));
    const health = await json('/api/health');
    expect(health).toMatchObject({ status: 'ok', project: w.project, database: name.startsWith('embedded') ? 'embedded' : 'server' });
  });

  it('gives the footprints of a place and time window as GeoJSON: exactly the fixture images there', async () => {
    // Site 0 holds the first pair: before and after on different dates, plus the mask.
    const pair = set.pairs[0];
    const from = pair.meta.beforeDate;
    const everything = await json(`/api/catalog/footprints?bbox=${around(0).join(',')}`);
    expect(everything.type).toBe('FeatureCollection');
    const pairIds = set.files.filter(f => f.pair === pair.name).map(f => ids.get(f.path));
    const got = everything.features.map((f: { id: number }) => f.id) as number[];
    expect(got).toEqual(expect.arrayContaining(pairIds));
    // Besides the pair, only bad files that were still indexable there (stills with EXIF GPS, non-COG layouts).
    const byId = new Map([...ids].map(([p, id]) => [id, p]));
    for (const f of everything.features.filter((f: { id: number }) => !pairIds.includes(f.id))) {
      expect(set.files.find(x => x.path === byId.get(f.id))?.role, byId.get(f.id)).toBe('bad');
    }
    expect(everything.truncated).toBe(false);

    // Only the after image is captured after the before date.
    const after = await json(`/api/catalog/footprints?bbox=${around(0).join(',')}&from=${encodeURIComponent(new Date(Date.parse(from) + 1000).toISOString())}`);
    expect(after.features.map((f: { id: number }) => f.id)).toEqual([ids.get(`${pair.name}_after.tif`)]);
    const feature = after.features[0];
    expect(feature.geometry.type).toBe('MultiPolygon');
    expect(feature.properties).toMatchObject({ width: 300, height: 300, bands: 3, epsg: pair.meta.crs.epsg, quarantined: false });
    expect(Date.parse(feature.properties.captureTime)).toBe(Date.parse(pair.meta.afterDate));
    // The footprint really lies around the site.
    const ring = feature.geometry.coordinates[0][0] as [number, number][];
    const { lat, lon } = KOREAN_SITES[0].centre;
    for (const [x, y] of ring) {
      expect(Math.abs(x - lon)).toBeLessThan(0.01);
      expect(Math.abs(y - lat)).toBeLessThan(0.01);
    }
    // The same answer as the library's search.
    const page = await w.catalog.search({ bbox: around(0) });
    expect(everything.features.map((f: { id: number }) => f.id)).toEqual(page.ids);
    // A limit below the count says the list was cut.
    expect((await json(`/api/catalog/footprints?bbox=${around(0).join(',')}&limit=1`)).truncated).toBe(true);
  });

  it('lists the capture dates of a place, for the time slider', async () => {
    const pair = set.pairs[1];
    const { dates } = await json(`/api/catalog/dates?bbox=${around(1).join(',')}`);
    expect(dates).toEqual([
      { date: pair.meta.beforeDate.slice(0, 10), count: 1 },
      { date: pair.meta.afterDate.slice(0, 10), count: 1 }
    ]);
  });

  it("gives an image's details, only in its own project", async () => {
    const id = ids.get(set.files[0].path)!;
    const image = await json(`/api/catalog/images/${id}`);
    expect(image).toEqual(JSON.parse(JSON.stringify(await w.catalog.get(id))));
    expect((await json(`/api/catalog/images/${id}?project=other`, 404)).error.message).toMatch(/no image .* in project other/);
    expect((await json(`/api/catalog/images/999999`, 404)).error.type).toBe('NotFoundError');
    expect((await json(`/api/catalog/images/abc`, 404)).error.message).toMatch(/positive integers/);
  });

  it('never trusts a project id: an unknown project is a 404 on every project route', async () => {
    const id = ids.get(set.files[0].path)!;
    for (const p of [
      '/api/catalog/footprints?project=nope',
      '/api/catalog/images?project=nope',
      `/api/catalog/images/${id}?project=nope`,
      `/api/catalog/images/${id}/data?project=nope`,
      '/api/catalog/quarantine?project=nope',
      '/api/catalog/dates?project=nope',
      "/api/catalog/footprints?project=x'%20OR%201=1--"
    ]) {
      const body = await json(p, 404);
      expect(body.error.message, p).toMatch(/no project/);
    }
    // An existing project sees only its own images.
    expect((await json('/api/catalog/footprints?project=other')).features).toEqual([]);
  });

  it('answers malformed queries with 400 and a message naming the parameter', async () => {
    const cases: [string, RegExp][] = [
      ['/api/catalog/footprints?bbox=1,2,3', /"bbox" must be minLon,minLat,maxLon,maxLat/],
      ['/api/catalog/footprints?bbox=1,50,3,40', /"bbox"/],
      ['/api/catalog/footprints?from=yesterday', /"from" must be an ISO 8601 date/],
      ['/api/catalog/footprints?limit=0', /"limit" must be from 1 to 10000/],
      ['/api/catalog/footprints?limit=2.5', /"limit" must be an integer/],
      ['/api/catalog/footprints?bbx=1,2,3,4', /unknown query parameter "bbx"/],
      ['/api/catalog/images?cursor=garbage', /not a search cursor/],
      ['/api/catalog/footprints?limit=1&limit=2', /given 2 times/]
    ];
    for (const [p, message] of cases) {
      const body = await json(p, 400);
      expect(body.error.message, p).toMatch(message);
    }
    expect((await get('/api/catalog/footprints', { method: 'POST' })).status).toBe(405);
    expect((await get('/api/nothing')).status).toBe(404);
  });

  it('lists the quarantine with reasons', async () => {
    const { entries } = await json('/api/catalog/quarantine');
    const bad = set.files.filter(f => f.role === 'bad').map(f => `set/${f.path}`);
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      expect(bad).toContain(e.key);
      expect(e.reason).toMatch(/\w/);
    }
  });

  it('reads image bytes with Range: 206 with exactly the requested bytes, 200 whole, 416 beyond the end', async () => {
    const file = set.files.find(f => f.role === 'after')!;
    const bytes = fs.readFileSync(path.join(fixtures, file.path));
    const url = `/api/catalog/images/${ids.get(file.path)}/data`;

    const part = await get(url, { headers: { Range: 'bytes=100-1099' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-1099/${bytes.length}`);
    expect(part.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(100, 1100))).toBe(true);

    const suffix = await get(url, { headers: { Range: 'bytes=-500' } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(bytes.length - 500))).toBe(true);

    const open = await get(url, { headers: { Range: `bytes=${bytes.length - 10}-` } });
    expect(Buffer.from(await open.arrayBuffer()).equals(bytes.subarray(bytes.length - 10))).toBe(true);

    // Two ranges come back as the one range covering both.
    const two = await get(url, { headers: { Range: 'bytes=0-9, 20-29' } });
    expect(two.status).toBe(206);
    expect(two.headers.get('content-range')).toBe(`bytes 0-29/${bytes.length}`);
    expect(Buffer.from(await two.arrayBuffer()).equals(bytes.subarray(0, 30))).toBe(true);

    const whole = await get(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('image/tiff');
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);

    const beyond = await get(url, { headers: { Range: `bytes=${bytes.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
    expect((await get(url, { headers: { Range: 'bytes=9-3' } })).status).toBe(416);
  });

  it('serves COGs that geotiff.js reads through it by ranges, the same pixels as the file, overview included', async () => {
    const file = set.files.find(f => f.role === 'before')!;
    const local = await fromArrayBuffer(new Uint8Array(fs.readFileSync(path.join(fixtures, file.path))).buffer);
    const remote = await fromUrl(`${service.url}/api/catalog/images/${ids.get(file.path)}/data`, { allowFullFile: false });
    expect(await remote.getImageCount()).toBe(await local.getImageCount());
    const last = (await local.getImageCount()) - 1;
    expect(last).toBeGreaterThan(0); // the fixture has an overview to read
    for (const index of [0, last]) {
      const [a, b] = await Promise.all([(await local.getImage(index)).readRasters({ interleave: true }), (await remote.getImage(index)).readRasters({ interleave: true })]);
      expect(Buffer.from(b.buffer as ArrayBuffer).equals(Buffer.from(a.buffer as ArrayBuffer))).toBe(true);
    }
  });

  it.runIf(name.startsWith('server'))('redirects to a short-lived presigned URL on S3 when asked', async () => {
    const file = set.files.find(f => f.role === 'before')!;
    const bytes = fs.readFileSync(path.join(fixtures, file.path));
    const response = await get(`/api/catalog/images/${ids.get(file.path)}/data?redirect=true`, { redirect: 'manual' });
    expect(response.status).toBe(307);
    const location = response.headers.get('location')!;
    expect(new URL(location).searchParams.get('X-Amz-Expires')).toBe('300');
    const part = await fetch(location, { headers: { Range: 'bytes=8-263' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(8, 264))).toBe(true);
  });

  it('binds loopback only', async () => {
    await expect(serve({ workspace: w, host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
    expect(new URL(service.url).hostname).toBe('127.0.0.1');
  });
});
