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
import { decodePng } from '../browser/png';
import { tempDir } from '../helpers';

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
