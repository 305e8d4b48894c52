// What this proves: in a real JupyterLab (Chromium), the Map previews panel gets live data from
// `changelab serve` started by jupyter-server-proxy at <base_url>/changelab/ (behind the lab's
// token) over a catalog seeded with synthetic pairs in three CRSs (EPSG 5186, 32652, 4326) and a
// 20,000 x 20,000 COG. Footprints appear; a COG drawn in the browser is not blank; the opacity
// slider fades the rendered pixels towards the background by the chosen fraction; the swipe bar
// moves by keyboard and pointer with the earlier date on its left and the later on its right, each
// matching that image drawn alone; the time slider filters footprints to a date. Screenshots go to
// test-output/browser/. It also prints (never asserts) the time to the first full-extent render
// of the large COG, and for 10,000 footprints (polygons and clusters) the longest main-thread block
// and frame gap of a first draw, a pan, a zoom in and a zoom out.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type OnTestFailedHandler } from 'vitest';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { writeGeoTiffFile } from '../../kernel-lib/src/raster';
import { writeSyntheticSet, type ISyntheticSetManifest } from '../../kernel-lib/src/synth';
import { infer, type IInferenceResult } from '../../kernel-lib/src/infer';
import { exportInference } from '../../kernel-lib/src/train/models/fc';
import { connect } from '../../kernel-lib/src/workspace';
import { MODEL_OPTIONS, testModelValues, writePairFiles } from '../kernel-lib/infer/fixtures';
import { tempDir } from '../helpers';
import { cleanUp, launchChromium, launchLab, NAVIGATION, SHOTS, stopLab, waitForLab, recordErrors, type ILabServer } from './lab-server';
import { decodePng, meanDifference, type IPixels } from './png';

const BIG = Number(process.env.CHANGELAB_MAP_BIG_COG ?? 20_000);

/** A large RGB COG in EPSG:5186 south of Seoul (0.5 m pixels), overviews down to one tile. */
async function writeBigCog(file: string, size: number): Promise<void> {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 3;
      data[o] = (x * 255) / size;
      data[o + 1] = (y * 255) / size;
      data[o + 2] = ((x >> 8) + (y >> 8)) & 1 ? 200 : 60;
    }
  }
  await writeGeoTiffFile(file, { width: size, height: size, bands: 3, dataType: 'uint8', data }, {
    crs: { epsg: 5186 },
    transform: [195_000, 0.5, 0, 494_000, 0, -0.5],
    deflateLevel: 1,
    dateTime: new Date('2023-06-01T02:00:00Z')
  });
}

describe('Map previews and the changelab map, in Chromium', () => {
  const dir = tempDir('changelab-maps-browser-');
  const home = path.join(dir, 'changelab-home');
  const fixtures = path.join(dir, 'fixtures');
  let set: ISyntheticSetManifest;
  let indexed = 0;
  let quarantined = 0;
  const ids = new Map<string, number>();
  let bigId = 0;
  /** A change map of a small synthetic pair, by the real `infer`, for the change-layer test. */
  let run: IInferenceResult;
  const runPair = { before: 0, after: 0 };
  let lab: ILabServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, name) });
  const keepFailureShot = (onTestFailed: (fn: OnTestFailedHandler) => void, name: string) =>
    onTestFailed(async () => {
      await shot(`failed-maps-${name}.png`).catch(() => undefined);
      console.error(`console errors in the page:\n${consoleErrors.join('\n')}\nserver log:\n${lab?.logTail()}`);
    });
  const panel = () => page.locator('#changelab-maps-panel');
  const mapNode = () => panel().locator('.jp-changelab-map');
  const viewport = () => panel().locator('.jp-changelab-map-viewport');
  /** Runs `fn` in the page with the panel's MapWidget as its argument. */
  const withMap = <T>(fn: (m: any, arg: any) => T, arg?: unknown): Promise<T> =>
    page.evaluate(
      ([source, a]) => {
        const m = (document.querySelector('#changelab-maps-panel .jp-changelab-map') as any).changelabMap;
        return new Function('m', 'arg', `return (${source})(m, arg);`)(m, a);
      },
      [fn.toString(), arg] as const
    ) as Promise<T>;
  /** Widens the side panel so the map has room: drags the split handle next to it. */
  const widenPanel = async () => {
    const handle = page.locator('#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)').first();
    const box = await handle.boundingBox();
    if (box) {
      await page.mouse.move(box.x + box.width / 2, box.y + 200);
      await page.mouse.down();
      await page.mouse.move(900, box.y + 200, { steps: 5 });
      await page.mouse.up();
    }
  };
  const viewportPixels = async (): Promise<IPixels> => decodePng(await viewport().screenshot());
  const waitRenders = (layerId: string, atLeast: number) =>
    page.waitForFunction(
      ([id, n]) => {
        const m = (document.querySelector('#changelab-maps-panel .jp-changelab-map') as any).changelabMap;
        const l = m.layer(id);
        return l && l.leaflet.info && l.leaflet.info.renders >= n;
      },
      [layerId, atLeast] as const,
      { timeout: 60_000 }
    );

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    set = await writeSyntheticSet(fixtures, { seed: 'maps', size: 512 });
    const started = Date.now();
    await writeBigCog(path.join(fixtures, 'big.tif'), BIG);
    console.log(`[maps] wrote the ${BIG} x ${BIG} COG (${(fs.statSync(path.join(fixtures, 'big.tif')).size / 2 ** 20).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const w = await connect({ cwd: dir, env: { CHANGELAB_HOME: home } });
    try {
      for (const f of set.files) {
        await w.objects.putFile(`flights/${f.path}`, path.join(fixtures, f.path));
      }
      await w.objects.putFile('large/big.tif', path.join(fixtures, 'big.tif'));
      const pairFiles = writePairFiles(path.join(fixtures, 'change-pair'), 256, 'maps-change');
      await w.objects.putFile('changes/before.tif', pairFiles.before);
      await w.objects.putFile('changes/after.tif', pairFiles.after);
      const summary = await w.catalog.ingest('', { progress: false });
      expect(summary.failed).toBe(0);
      indexed = summary.indexed;
      quarantined = summary.quarantined;
      for (const f of set.files.filter(f => f.role !== 'bad')) {
        ids.set(f.path, (await w.catalog.getByKey(`flights/${f.path}`)).id);
      }
      bigId = (await w.catalog.getByKey('large/big.tif')).id;
      runPair.before = (await w.catalog.getByKey('changes/before.tif')).id;
      runPair.after = (await w.catalog.getByKey('changes/after.tif')).id;
      const model = path.join(fixtures, 'model.onnx');
      fs.writeFileSync(model, exportInference(MODEL_OPTIONS, testModelValues(), { batch: 2, height: 128, width: 128 }));
      run = await infer({ onnx: model, name: 'fc-siam-diff', version: '5' }, { before: 'changes/before.tif', after: 'changes/after.tif' }, {
        workspace: w, tile: 128, overlap: 32, batch: 2, threshold: 0.45, progress: 'none'
      });
      expect(run.polygons).toBeGreaterThan(0);
    } finally {
      await w.close();
    }
    lab = await launchLab(dir, home);
    await waitForLab(lab);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    // Leaving the run notebook (autosave is off) asks "leave the page?": yes.
    page.on('dialog', dialog => void dialog.accept());
    recordErrors(page, pageErrors, consoleErrors);
  }, 600_000);

  afterAll(async () => {
    await cleanUp('maps browser suite', [
      () => browser?.close(),
      () => lab && stopLab(lab),
      () => stopEmbeddedDatabase(home),
      () => fs.rmSync(dir, { recursive: true, force: true })
    ]);
  });

  it('opens Map previews: the catalog footprints come from the service behind the lab, quarantine listed apart', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'panel');
    await page.goto(`${lab!.url}/lab?token=${lab!.token}`, NAVIGATION);
    await page.locator('#jp-main-dock-panel .jp-Launcher').waitFor({ timeout: 60_000 });
    await page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="changelab-maps-panel"]').click();
    await mapNode().waitFor({ state: 'visible' });
    await widenPanel();
    // The service starts with the first request through the proxy (a cold embedded database can take a while).
    await page.waitForFunction(() => Number((document.querySelector('#changelab-maps-panel .jp-changelab-map') as HTMLElement)?.dataset.footprintsLoaded ?? 0) >= 1, null, { timeout: 150_000 });
    await withMap(m => m.map.invalidateSize());
    await page.waitForTimeout(600); // the view refetch after the fit
    const count = await withMap(m => m.footprints.features.length);
    // Every indexed image has a footprint (the quarantined files have none), all within the fitted view.
    expect(count).toBe(indexed);
    expect(await withMap(m => m.footprints.visibleCount)).toBe(indexed);
    await expect.poll(() => panel().locator('.jp-changelab-map-status').textContent()).toMatch(new RegExp(`^${indexed} footprints in view`));
    // The footprints are drawn: the footprint canvas holds painted pixels.
    const painted = await withMap(m => {
      const canvas = m.layer('footprints').pane.querySelector('canvas') as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) {
        n += d[i] > 0 ? 1 : 0;
      }
      return n;
    });
    expect(painted).toBeGreaterThan(0);
    // The quarantine is listed apart, with reasons.
    const quarantine = panel().locator('.jp-changelab-map-quarantine');
    await expect.poll(() => quarantine.locator('summary').textContent()).toBe(`${quarantined} files in quarantine`);
    expect(await quarantine.locator('.jp-changelab-map-quarantine-reason').count()).toBe(quarantined);
    await shot('maps-panel.png');
    expect(pageErrors).toEqual([]);
  });

  it('draws an image chosen on the map from its COG: the raster canvas is not blank', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'image');
    const before = set.files.find(f => f.role === 'before' && f.epsg === 5186)!;
    const id = ids.get(before.path)!;
    // Zoom to the image, then click its footprint as a user would.
    const point = await withMap(
      (m, imageId) => {
        const f = m.footprints.features.find((x: any) => x.id === imageId);
        const layer = (window as any).L ?? null;
        void layer;
        const ring = f.geometry.coordinates[0][0];
        const lats = ring.map((p: number[]) => p[1]);
        const lngs = ring.map((p: number[]) => p[0]);
        m.map.fitBounds([[Math.min(...lats), Math.min(...lngs)], [Math.max(...lats), Math.max(...lngs)]]);
        const c = m.map.latLngToContainerPoint([(Math.min(...lats) + Math.max(...lats)) / 2, (Math.min(...lngs) + Math.max(...lngs)) / 2]);
        const r = m.map.getContainer().getBoundingClientRect();
        return { x: r.left + c.x, y: r.top + c.y };
      },
      id
    );
    await page.waitForTimeout(500);
    await page.mouse.click(point.x, point.y);
    const details = panel().locator('.jp-changelab-map-details');
    // The pair and its mask share one footprint (and so do some bad files): all are offered.
    await expect.poll(() => details.locator('h3').textContent()).toMatch(/^\d+ images here$/);
    for (const role of ['before', 'after', 'mask']) {
      const other = ids.get(`seoul-5186_${role}.tif`);
      if (other) {
        expect(await details.locator(`article[data-image-id="${other}"]`).count()).toBe(1);
      }
    }
    const entry = details.locator(`article[data-image-id="${id}"]`);
    expect(await entry.locator('h4').textContent()).toBe(`flights/${before.path}`);
    expect(await entry.innerText()).toContain('EPSG:5186');
    await entry.locator('button', { hasText: 'Show image on the map' }).click();
    await waitRenders(`image-${id}`, 1);
    const stats = await withMap(
      (m, layerId) => {
        const canvas = m.layer(layerId).leaflet.canvas as HTMLCanvasElement;
        const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let opaque = 0;
        const colours = new Set<number>();
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] === 255) {
            opaque++;
            colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
          }
        }
        return { opaque, colours: colours.size, total: d.length / 4 };
      },
      `image-${id}`
    );
    // The fitted image covers most of the view, with the scene's many colours.
    expect(stats.opaque / stats.total).toBeGreaterThan(0.3);
    expect(stats.colours).toBeGreaterThan(500);
    await shot('maps-image.png');
  });

  it('fades a layer with its opacity slider: the pixels move towards the background by that fraction', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'opacity');
    const id = `image-${ids.get(set.files.find(f => f.role === 'before' && f.epsg === 5186)!.path)}`;
    await withMap(m => m.setVisible('footprints', false));
    const full = await viewportPixels();
    const slider = panel().locator(`li[data-layer-id="${id}"] input.jp-changelab-map-opacity`);
    expect(await slider.getAttribute('aria-label')).toMatch(/^Opacity of /);
    await slider.fill('30');
    expect(await slider.getAttribute('aria-valuetext')).toBe('30%');
    const faded = await viewportPixels();
    await withMap((m, layerId) => m.setVisible(layerId, false), id);
    const background = await viewportPixels();
    // Compare a block in the middle of the view, where the image is.
    const rect = { x: Math.floor(full.width * 0.4), y: Math.floor(full.height * 0.4), w: Math.floor(full.width * 0.2), h: Math.floor(full.height * 0.2) };
    expect(meanDifference(full, background, rect)).toBeGreaterThan(10); // the image shows at all
    // Alpha compositing: faded = background + 0.3 (full - background), within rounding (+-3 of 255).
    let worst = 0;
    for (let y = rect.y; y < rect.y + rect.h; y += 3) {
      for (let x = rect.x; x < rect.x + rect.w; x += 3) {
        const o = (y * full.width + x) * 4;
        for (let c = 0; c < 3; c++) {
          const expected = background.data[o + c] + 0.3 * (full.data[o + c] - background.data[o + c]);
          worst = Math.max(worst, Math.abs(faded.data[o + c] - expected));
        }
      }
    }
    expect(worst).toBeLessThanOrEqual(3);
    await withMap((m, layerId) => {
      m.setVisible(layerId, true);
      m.setOpacity(layerId, 1);
    }, id);
    await shot('maps-opacity.png');
  });

  it('swipes between two dates: the bar moves by keyboard and pointer, earlier date left, later right', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'swipe');
    const pair = set.pairs.find(p => p.meta.crs.epsg === 32652)!;
    const beforeId = ids.get(`${pair.name}_before.tif`)!;
    const afterId = ids.get(`${pair.name}_after.tif`)!;
    // Only this pair on the map.
    await withMap(m => {
      for (const l of [...m.layers]) {
        if (l.kind === 'cog') {
          m.removeLayer(l.id);
        }
      }
    });
    await withMap(async (m, [a, b]) => {
      await m.showImage(b);
      await m.showImage(a);
      const l = m.layer(`image-${a}`);
      m.map.fitBounds(l.bounds);
    }, [beforeId, afterId]);
    await waitRenders(`image-${beforeId}`, 1);
    await waitRenders(`image-${afterId}`, 1);
    await page.waitForTimeout(300);
    await withMap(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))));
    // Each image alone, for comparison with the two sides of the swipe.
    await withMap((m, [a, b]) => { m.setVisible(`image-${a}`, true); m.setVisible(`image-${b}`, false); }, [beforeId, afterId]);
    const aloneBefore = await viewportPixels();
    await withMap((m, [a, b]) => { m.setVisible(`image-${a}`, false); m.setVisible(`image-${b}`, true); }, [beforeId, afterId]);
    const aloneAfter = await viewportPixels();

    await panel().locator('.jp-changelab-map-swipe-controls input[type="checkbox"]').check();
    const bar = panel().locator('.jp-changelab-map-swipe');
    await bar.waitFor({ state: 'visible' });
    expect(await bar.getAttribute('role')).toBe('slider');
    expect(await bar.getAttribute('aria-valuenow')).toBe('50');
    // Earlier date on the left, later on the right.
    expect(await bar.locator('.jp-mod-left').textContent()).toBe(pair.meta.beforeDate.slice(0, 10));
    expect(await bar.locator('.jp-mod-right').textContent()).toBe(pair.meta.afterDate.slice(0, 10));
    expect(pair.meta.beforeDate < pair.meta.afterDate).toBe(true);
    // Keyboard: five steps of 2 % to the left.
    await bar.focus();
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('ArrowLeft');
    }
    expect(await bar.getAttribute('aria-valuenow')).toBe('40');
    await page.keyboard.press('End');
    expect(await bar.getAttribute('aria-valuenow')).toBe('100');
    await page.keyboard.press('Home');
    expect(await bar.getAttribute('aria-valuenow')).toBe('0');
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('PageUp');
    }
    expect(await bar.getAttribute('aria-valuenow')).toBe('50');
    // Pointer: drag the bar to 60 % of the map's width.
    const vp = (await viewport().boundingBox())!;
    const b0 = (await bar.boundingBox())!;
    await page.mouse.move(b0.x + b0.width / 2, b0.y + b0.height / 2);
    await page.mouse.down();
    await page.mouse.move(vp.x + vp.width * 0.6, b0.y + b0.height / 2, { steps: 8 });
    await page.mouse.up();
    const now = Number(await bar.getAttribute('aria-valuenow'));
    expect(Math.abs(now - 60)).toBeLessThanOrEqual(1);
    await withMap(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))));
    const swiped = await viewportPixels();
    // Left of the bar is the before image as drawn alone, right of it the after image.
    const w = swiped.width;
    const h = swiped.height;
    const left = { x: Math.floor(w * 0.3), y: Math.floor(h * 0.3), w: Math.floor(w * 0.2), h: Math.floor(h * 0.4) };
    const right = { x: Math.floor(w * 0.68), y: Math.floor(h * 0.3), w: Math.floor(w * 0.2), h: Math.floor(h * 0.4) };
    // The two dates really differ there (season, light, buildings), so the check can fail.
    expect(meanDifference(aloneBefore, aloneAfter, left)).toBeGreaterThan(5);
    expect(meanDifference(aloneBefore, aloneAfter, right)).toBeGreaterThan(5);
    expect(meanDifference(swiped, aloneBefore, left)).toBeLessThan(1);
    expect(meanDifference(swiped, aloneAfter, right)).toBeLessThan(1);
    await shot('maps-swipe.png');
  });

  it('filters footprints with the time slider and shows the image of the chosen date', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'time');
    await withMap(m => {
      m.setSwipe({ enabled: false });
      m.setVisible('footprints', true);
    });
    // Back to the whole catalog, and wait for the footprints of that view.
    const loads = Number(await mapNode().getAttribute('data-footprints-loaded'));
    await panel().getByRole('button', { name: 'Zoom to every image of the catalog' }).click();
    // One load for the whole catalog (which fits the view), one for the fitted view.
    await page.waitForFunction(n => Number((document.querySelector('#changelab-maps-panel .jp-changelab-map') as HTMLElement).dataset.footprintsLoaded) > n + 1, loads, { timeout: 30_000 });
    await page.waitForFunction(() => {
      const m = (document.querySelector('#changelab-maps-panel .jp-changelab-map') as any).changelabMap;
      return m.dates.length >= 2;
    }, null, { timeout: 20_000 });
    const dates: string[] = await withMap(m => m.dates);
    const captured = set.files.filter(f => f.captured).map(f => f.captured!.slice(0, 10));
    // Every capture date of the fixture is offered (the large COG adds its own).
    for (const d of captured) {
      expect(dates).toContain(d);
    }
    const slider = panel().locator('.jp-changelab-map-time input[type="range"]');
    expect(await slider.getAttribute('aria-label')).toBe('Capture date shown');
    const all = await withMap(m => m.footprints.visibleCount);
    await slider.focus();
    await page.keyboard.press('ArrowRight'); // the earliest date
    const first = dates[0];
    await expect.poll(() => panel().locator('.jp-changelab-map-time-value').textContent()).toBe(first);
    const onFirst = await withMap(m => m.footprints.visibleCount);
    // What the database counts for that day (SQL on the server) is what the map filters in the browser.
    const counts = new Map<string, number>((await withMap(m => m.service.dates({ bbox: m.viewBBox() }))).map((d: { date: string; count: number }) => [d.date, d.count]));
    expect(onFirst).toBe(counts.get(first));
    expect(onFirst).toBeGreaterThanOrEqual(captured.filter(d => d === first).length);
    expect(onFirst).toBeLessThan(all);
    // The pair's later date: its after image becomes the one shown, the before image hidden.
    const pair = set.pairs.find(p => p.meta.crs.epsg === 32652)!;
    const later = pair.meta.afterDate.slice(0, 10);
    const steps = dates.indexOf(later) + 1 - 1;
    for (let i = 0; i < steps; i++) {
      await page.keyboard.press('ArrowRight');
    }
    await expect.poll(() => panel().locator('.jp-changelab-map-time-value').textContent()).toBe(later);
    const afterLayer = `image-${ids.get(`${pair.name}_after.tif`)}`;
    const beforeLayer = `image-${ids.get(`${pair.name}_before.tif`)}`;
    expect(await withMap((m, [a, b]) => [m.layer(a).visible, m.layer(b).visible], [afterLayer, beforeLayer])).toEqual([true, false]);
    expect(await panel().locator(`li[data-layer-id="${beforeLayer}"] input[type="checkbox"]`).isChecked()).toBe(false);
    expect(await withMap(m => m.footprints.visibleCount)).toBe(counts.get(later));
    await shot('maps-time.png');
    await page.keyboard.press('Home');
    await expect.poll(() => panel().locator('.jp-changelab-map-time-value').textContent()).toBe('all dates');
    expect(await withMap(m => m.footprints.visibleCount)).toBe(all);
  });

  it('adds a change map from the panel: probability COG and clickable change polygons over the before/after swipe', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'change-map');
    await withMap(m => {
      m.setSwipe({ enabled: false });
      for (const l of [...m.layers]) {
        if (l.kind === 'cog') {
          m.removeLayer(l.id);
        }
      }
    });
    // Over the pair's scene, the panel lists the run.
    const footprint = await withMap(async (m, id) => (await m.service.image(id)).footprint, runPair.before);
    const ring = footprint.coordinates[0][0] as number[][];
    const scene = [[Math.min(...ring.map(p => p[1])), Math.min(...ring.map(p => p[0]))], [Math.max(...ring.map(p => p[1])), Math.max(...ring.map(p => p[0]))]];
    await withMap((m, b) => m.map.fitBounds(b, { animate: false }), scene);
    const entry = panel().locator(`.jp-changelab-map-runs li[data-run-id="${run.runId}"]`);
    await entry.waitFor({ timeout: 30_000 });
    expect(await entry.innerText()).toContain(`fc-siam-diff 5`);
    expect(await entry.innerText()).toContain(`${run.polygons} polygon`);
    // Elsewhere it is not listed.
    const loads = Number(await mapNode().getAttribute('data-runs-loaded'));
    await withMap(m => m.map.setView([-30, -60], 10, { animate: false }));
    await page.waitForFunction(n => Number((document.querySelector('#changelab-maps-panel .jp-changelab-map') as HTMLElement).dataset.runsLoaded) > n, loads, { timeout: 30_000 });
    expect(await panel().locator('.jp-changelab-map-runs li[data-run-id]').count()).toBe(0);
    await withMap((m, b) => m.map.fitBounds(b, { animate: false }), scene);
    await entry.waitFor({ timeout: 30_000 });
    // Show it: the pair under the swipe (earlier left), the probability map and the polygons on top.
    await entry.getByRole('button', { name: /^Show change map of fc-siam-diff 5/ }).click();
    const probabilityId = await page.waitForFunction(
      () => {
        const m = (document.querySelector('#changelab-maps-panel .jp-changelab-map') as any).changelabMap;
        const p = m.layers.find((l: any) => l.id.endsWith('-probability'));
        const g = m.layers.find((l: any) => l.id.endsWith('-polygons'));
        return p && g && p.leaflet.info.renders > 0 && m.layers.filter((l: any) => l.kind === 'cog' && l.leaflet.info.renders > 0).length === 3 ? p.id : null;
      },
      null,
      { timeout: 60_000 }
    ).then(h => h.jsonValue() as Promise<string>);
    const state = await withMap(m => ({
      order: m.layers.map((l: any) => l.id),
      swipe: m.swipe,
      names: m.layers.map((l: any) => l.name),
      error: m.layers.find((l: any) => l.id.endsWith('-probability')).leaflet.error
    }));
    expect(state.error).toBeNull();
    const polygonsId = state.order.find((id: string) => id.endsWith('-polygons'))!;
    expect(state.swipe).toMatchObject({ enabled: true, left: `image-${runPair.before}`, right: `image-${runPair.after}` });
    // Layer list: polygons above the probability map, above the pair; each with the list's controls.
    expect(state.order.indexOf(polygonsId)).toBeLessThan(state.order.indexOf(probabilityId));
    expect(state.order.indexOf(probabilityId)).toBeLessThan(state.order.indexOf(`image-${runPair.before}`));
    for (const id of [probabilityId, polygonsId]) {
      const li = panel().locator(`li[data-layer-id="${id}"]`);
      expect(await li.locator('input.jp-changelab-map-opacity').getAttribute('aria-label')).toMatch(/^Opacity of Change (probability|polygons) · fc-siam-diff 5$/);
      expect(await li.locator('button[data-move="up"]').count()).toBe(1);
    }
    // The probability map draws: its canvas is not blank, and it changes the view's pixels.
    const drawn = await withMap((m, id) => {
      const canvas = m.layer(id).leaflet.canvas as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let opaque = 0;
      const greys = new Set<number>();
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] === 255) {
          opaque++;
          greys.add(d[i]);
        }
      }
      return { opaque, greys: greys.size, total: d.length / 4 };
    }, probabilityId);
    expect(drawn.opaque / drawn.total).toBeGreaterThan(0.2);
    expect(drawn.greys).toBeGreaterThan(10); // probabilities vary over the scene
    await withMap(m => m.setSwipe({ enabled: false }));
    const withLayer = await viewportPixels();
    await withMap((m, id) => m.setVisible(id, false), probabilityId);
    const withoutLayer = await viewportPixels();
    await withMap((m, id) => m.setVisible(id, true), probabilityId);
    const middle = { x: Math.floor(withLayer.width * 0.4), y: Math.floor(withLayer.height * 0.4), w: Math.floor(withLayer.width * 0.2), h: Math.floor(withLayer.height * 0.2) };
    expect(meanDifference(withLayer, withoutLayer, middle)).toBeGreaterThan(3);
    // The polygons are the service's for the view, drawn as paths.
    const count = await withMap(async (m, id) => {
      const served = await m.service.runPolygons(m.layers.find((l: any) => l.id === id).leaflet.getLayers()[0].feature.properties.runId, { bbox: m.viewBBox() });
      return { served: served.features.length, drawn: m.layer(id).leaflet.getLayers().length, paths: m.layer(id).pane.querySelectorAll('path.leaflet-interactive').length };
    }, polygonsId);
    expect(count.drawn).toBe(count.served);
    expect(count.drawn).toBeGreaterThan(0);
    expect(count.paths).toBe(count.drawn);
    // Click a polygon: its details (area, mean probability, run, model) replace the panel's details.
    await withMap(m => m.setSwipe({ enabled: true }));
    const target = await withMap((m, id) => {
      for (const layer of m.layer(id).leaflet.getLayers()) {
        const path = layer._path as SVGPathElement;
        const r = path.getBoundingClientRect();
        for (let fy = 0.1; fy < 1; fy += 0.1) {
          for (let fx = 0.1; fx < 1; fx += 0.1) {
            const x = r.left + r.width * fx;
            const y = r.top + r.height * fy;
            if (document.elementFromPoint(x, y) === path) {
              return { x, y, properties: layer.feature.properties };
            }
          }
        }
      }
      return null;
    }, polygonsId);
    expect(target).not.toBeNull();
    await page.mouse.click(target!.x, target!.y);
    const details = panel().locator('.jp-changelab-map-details');
    await expect.poll(() => details.locator('h3').textContent()).toBe('Change polygons · fc-siam-diff 5');
    const terms = await details.locator('dt').allTextContents();
    const values = await details.locator('dd').allTextContents();
    const shown = Object.fromEntries(terms.map((t, i) => [t, values[i]]));
    expect(shown).toEqual({
      'area (m²)': String(target!.properties.areaM2),
      'mean probability': String(target!.properties.meanProbability),
      pixels: String(target!.properties.pixels),
      run: run.runId,
      model: 'fc-siam-diff',
      'model version': '5'
    });
    // And these are the stored polygon's values (the run's polygons, as the library wrote them).
    expect(Number(shown['area (m²)'])).toBeGreaterThan(0);
    expect(Number(shown['mean probability'])).toBeGreaterThan(0.45);
    expect(Number(shown['mean probability'])).toBeLessThanOrEqual(1);
    await shot('maps-change-layers.png');
    // Leave the map as the later tests expect it.
    await withMap(m => {
      m.setSwipe({ enabled: false });
      for (const l of [...m.layers]) {
        if (l.kind !== 'footprints') {
          m.removeLayer(l.id);
        }
      }
    });
    expect(pageErrors).toEqual([]);
  });

  it('selects by keyboard: Enter on the focused map selects the shape, else the footprints, under the centre mark', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'keyboard');
    const before = set.files.find(f => f.role === 'before' && f.epsg === 5186)!;
    const id = ids.get(before.path)!;
    const leaflet = panel().locator('.jp-changelab-map-leaflet');
    expect(await leaflet.getAttribute('aria-label')).toMatch(/Enter selects the images or shapes under the centre mark/);
    // The centre on the image's footprint: Enter lists the images there (this one among them).
    await withMap(async (m, imageId) => {
      const image = await m.service.image(imageId);
      const ring = image.footprint.coordinates[0][0];
      const lats = ring.map((p: number[]) => p[1]);
      const lngs = ring.map((p: number[]) => p[0]);
      m.map.fitBounds([[Math.min(...lats), Math.min(...lngs)], [Math.max(...lats), Math.max(...lngs)]], { animate: false });
      m.showDetails('nothing yet', {});
    }, id);
    await leaflet.focus();
    await page.keyboard.press('Enter');
    const details = panel().locator('.jp-changelab-map-details');
    await expect.poll(() => details.locator(`article[data-image-id="${id}"]`).count()).toBe(1);
    // A vector shape over the centre wins over the footprints under it.
    await withMap(m => {
      const c = m.map.getCenter();
      const d = 0.0005;
      m.addLayer({
        id: 'keyboard-square', name: 'Keyboard square', kind: 'geojson',
        data: { type: 'FeatureCollection', features: [{ type: 'Feature', properties: { label: 'under the centre' }, geometry: { type: 'Polygon', coordinates: [[[c.lng - d, c.lat - d], [c.lng + d, c.lat - d], [c.lng + d, c.lat + d], [c.lng - d, c.lat + d], [c.lng - d, c.lat - d]]] } }] }
      }, { fit: false });
    });
    await leaflet.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => details.locator('h3').textContent()).toBe('Keyboard square');
    expect(await details.locator('dd').allTextContents()).toEqual(['under the centre']);
    // Panned off every image and shape: nothing is selected, and the status line says so.
    const loads = Number(await mapNode().getAttribute('data-footprints-loaded'));
    await withMap(m => m.map.setView([-30, -60], 12, { animate: false }));
    // The footprints of the new view have arrived (their status line would replace the note).
    await page.waitForFunction(n => Number((document.querySelector('#changelab-maps-panel .jp-changelab-map') as HTMLElement).dataset.footprintsLoaded) > n, loads, { timeout: 30_000 });
    await leaflet.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => panel().locator('.jp-changelab-map-status').textContent()).toContain('nothing under the centre of the map');
    expect(await details.locator('h3').textContent()).toBe('Keyboard square');
    await withMap(m => m.removeLayer('keyboard-square'));
  });

  it('draws map() outputs of notebooks/maps.ipynb inline with the same widget, not the PNG fallback', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'notebook');
    await page.goto(`${lab!.url}/lab/tree/notebooks/maps.ipynb?token=${lab!.token}`, NAVIGATION);
    const notebook = page.locator('.jp-NotebookPanel');
    await notebook.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').waitFor({ timeout: 120_000 });
    // Room for the outputs: close the side panel if the layout restored it; focus the notebook.
    const mapsTab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="changelab-maps-panel"]');
    if ((await mapsTab.getAttribute('aria-selected')) === 'true') {
      await mapsTab.click();
    }
    await notebook.locator('.jp-Cell').first().click();
    await page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click();
    await page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click();
    await page.waitForFunction(
      () => {
        const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent!.trim());
        const failed = document.querySelector('.jp-NotebookPanel .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]');
        return prompts.length > 0 && !prompts.includes('[*]:') && (failed || prompts.every(p => /^\[\d+\]:$/.test(p)));
      },
      null,
      { timeout: 300_000 }
    );
    expect(await notebook.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]').allInnerTexts()).toEqual([]);
    const outputs = notebook.locator('.jp-changelab-map-output');
    expect(await outputs.count()).toBe(3);
    // Our renderer, not the bundle's image/png fallback.
    expect(await notebook.locator('.jp-OutputArea-output .jp-RenderedImage').count()).toBe(0);
    const first = outputs.first();
    await first.scrollIntoViewIfNeeded();
    // Both images of the pair drawn from their COGs through the service, with the swipe bar between them.
    await page.waitForFunction(() => {
      const node = document.querySelector('.jp-NotebookPanel .jp-changelab-map-output .jp-changelab-map') as any;
      const m = node?.changelabMap;
      return m && m.layers.filter((l: any) => l.kind === 'cog' && l.leaflet.info.renders > 0).length === 2;
    }, null, { timeout: 60_000 });
    expect(await first.locator('.jp-changelab-map-swipe').isVisible()).toBe(true);
    const opaque = await first.evaluate(node => {
      const canvases = [...node.querySelectorAll('canvas.jp-changelab-map-raster')] as HTMLCanvasElement[];
      return canvases.map(c => {
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) {
          n += d[i] === 255 ? 1 : 0;
        }
        return n;
      });
    });
    expect(opaque.length).toBe(2);
    expect(Math.min(...opaque)).toBeGreaterThan(1000);
    await shot('maps-notebook.png');
    expect(pageErrors).toEqual([]);
  });

  it('stays legible in the dark theme', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'dark');
    const contrast = () =>
      page.evaluate(() => {
        const lum = (css: string) => {
          const [r, g, b] = css.match(/[\d.]+/g)!.slice(0, 3).map(Number).map(v => {
            const c = v / 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
          });
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const text = document.querySelector('#changelab-maps-panel .jp-changelab-map-layer-name') as HTMLElement;
        const panelNode = document.querySelector('#changelab-maps-panel') as HTMLElement;
        const [a, b] = [lum(getComputedStyle(text).color), lum(getComputedStyle(panelNode).backgroundColor)];
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      });
    await page.goto(`${lab!.url}/lab?token=${lab!.token}`, NAVIGATION);
    await page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="changelab-maps-panel"]').click();
    await page.waitForFunction(() => Number((document.querySelector('#changelab-maps-panel .jp-changelab-map') as HTMLElement)?.dataset.footprintsLoaded ?? 0) >= 1, null, { timeout: 60_000 });
    await widenPanel();
    const light = await contrast();
    await page.locator('.lm-MenuBar-itemLabel:text-is("Settings")').click();
    await page.locator('.lm-Menu-itemLabel:text-is("Theme")').click();
    await page.locator('.lm-Menu-itemLabel:text-is("JupyterLab Dark")').click();
    await page.waitForFunction(() => document.body.dataset.jpThemeLight === 'false', null, { timeout: 30_000 });
    await page.waitForTimeout(500);
    const dark = await contrast();
    await shot('maps-panel-dark.png');
    // WCAG AA for normal text in both themes.
    expect(light).toBeGreaterThanOrEqual(4.5);
    expect(dark).toBeGreaterThanOrEqual(4.5);
    await page.locator('.lm-MenuBar-itemLabel:text-is("Settings")').click();
    await page.locator('.lm-Menu-itemLabel:text-is("Theme")').click();
    await page.locator('.lm-Menu-itemLabel:text-is("JupyterLab Light")').click();
  });

  it(`measures: first full-extent render of a ${BIG} x ${BIG} COG, and 10,000 footprints (printed, not asserted)`, async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'performance');
    await withMap(m => {
      for (const l of [...m.layers]) {
        if (l.kind === 'cog') {
          m.removeLayer(l.id);
        }
      }
      m.setVisible('footprints', false);
    });
    // Full extent of the large image, then open it: header reads, the overview fitting the view, decode, warp.
    const big = await withMap(async (m, id) => {
      const image = await m.service.image(id);
      const ring = image.footprint.coordinates[0][0];
      const lats = ring.map((p: number[]) => p[1]);
      const lngs = ring.map((p: number[]) => p[0]);
      m.map.fitBounds([[Math.min(...lats), Math.min(...lngs)], [Math.max(...lats), Math.max(...lngs)]]);
      await new Promise(r => setTimeout(r, 300));
      const started = performance.now();
      const layer = await m.showImage(id);
      const cog = layer.leaflet;
      await new Promise<void>(resolve => {
        const check = (): void => void (cog.info.renders > 0 || cog.error ? resolve() : setTimeout(check, 5));
        check();
      });
      const size = m.map.getSize();
      return {
        openMs: performance.now() - started, firstMs: cog.info.firstMs, overview: cog.info.overview, pixelsRead: cog.info.pixelsRead,
        headerMs: cog.info.openMs, tilesMs: cog.info.readMs, warpMs: cog.info.warpMs, error: cog.error, view: [size.x, size.y]
      };
    }, bigId);
    expect(big.error).toBeNull();
    // Panning: the longest gap between animation frames while the view moves and re-renders.
    const pan = await withMap(async m => {
      let last = performance.now();
      let worst = 0;
      let running = true;
      const frame = () => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
        if (running) {
          requestAnimationFrame(frame);
        }
      };
      requestAnimationFrame(frame);
      for (let i = 0; i < 10; i++) {
        m.map.panBy([60, 40], { animate: false });
        await new Promise(r => setTimeout(r, 120));
      }
      m.map.zoomIn(2);
      await new Promise(r => setTimeout(r, 800));
      running = false;
      return { worstFrameMs: worst };
    });
    await shot('maps-large-cog.png');
    // 10,000 footprints, as polygons on one canvas and as clusters: for the first draw, a pan, a
    // zoom in and a zoom out, the longest main-thread block (Long Tasks API: tasks over 50 ms, and
    // the synchronous part of the call) and the longest gap between animation frames (which also
    // catches rendering held back outside the main thread, e.g. GPU rasterisation), from the call
    // until the picture is complete and 20 more frames have been shown.
    const footprints = await withMap(async m => {
      const features: unknown[] = [];
      for (let i = 0; i < 10_000; i++) {
        const lon = 126 + (i % 100) * 0.03;
        const lat = 34.5 + Math.floor(i / 100) * 0.03;
        features.push({
          type: 'Feature', id: 1_000_000 + i,
          geometry: { type: 'MultiPolygon', coordinates: [[[[lon, lat], [lon + 0.026, lat], [lon + 0.026, lat + 0.026], [lon, lat + 0.026], [lon, lat]]]] },
          properties: { id: 1_000_000 + i, key: `synthetic/${i}.tif`, captureTime: '2024-01-01T00:00:00Z', quarantined: i % 50 === 0 }
        });
      }
      m.setVisible('footprints', true);
      // Synthetic footprints only: no refetch from the catalog while measuring.
      m._scheduleFetch = () => undefined;
      const fp = m.footprints;
      const map = m.map;
      const frames = (n: number) => new Promise<void>(resolve => {
        const step = () => (--n <= 0 ? resolve() : requestAnimationFrame(step));
        requestAnimationFrame(step);
      });
      const measure = async (act: () => void) => {
        await frames(5);
        await new Promise(r => setTimeout(r, 200));
        const tasks: number[] = [];
        const observer = new PerformanceObserver(list => list.getEntries().forEach(e => tasks.push(e.duration)));
        observer.observe({ type: 'longtask' });
        let worstGap = 0;
        let last = performance.now();
        let running = true;
        const tick = () => {
          const now = performance.now();
          worstGap = Math.max(worstGap, now - last);
          last = now;
          if (running) {
            requestAnimationFrame(tick);
          }
        };
        requestAnimationFrame(tick);
        const started = performance.now();
        act();
        const syncMs = performance.now() - started;
        await fp.whenDrawn();
        const completeMs = performance.now() - started;
        await frames(20);
        running = false;
        tasks.push(...observer.takeRecords().map(e => e.duration));
        observer.disconnect();
        return { blockMs: Math.round(Math.max(syncMs, ...tasks)), frameGapMs: Math.round(worstGap), completeMs: Math.round(completeMs), mode: fp.mode as string, inView: fp.visibleCount as number };
      };
      type Measure = { blockMs: number; frameGapMs: number; completeMs: number; mode: string; inView: number };
      const results: Record<string, Record<string, Measure>> = {};
      // The reference: the same window with nothing to do (on a loaded machine frames are late anyway).
      const idle = await measure(() => undefined);
      for (const [mode, threshold] of [['polygons', 1e9], ['clusters', 2000]] as const) {
        fp._opts.clusterThreshold = threshold;
        fp.setData([]);
        // All 10,000 in view: about 3-4 screen pixels each, drawn as dots; after the zoom in, polygons.
        map.fitBounds([[34.5, 126], [37.5, 129]], { animate: false });
        const r: Record<string, Measure> = {};
        r.firstDraw = await measure(() => fp.setData(features));
        r.pan = await measure(() => map.panBy([120, 60], { animate: false }));
        r.zoomIn = await measure(() => map.zoomIn(1, { animate: false }));
        r.zoomOut = await measure(() => map.zoomOut(1, { animate: false }));
        results[mode] = r;
      }
      return { modes: results, idle };
    });
    for (const mode of ['polygons', 'clusters']) {
      for (const step of ['firstDraw', 'pan', 'zoomIn', 'zoomOut']) {
        expect(footprints.modes[mode][step].mode).toBe(mode);
      }
      // Every footprint is in the first view (all drawn, or counted in clusters).
      expect(footprints.modes[mode].firstDraw.inView).toBe(10_000);
    }
    await shot('maps-10k-footprints.png');
    const row = (mode: string) =>
      ['firstDraw', 'pan', 'zoomIn', 'zoomOut']
        .map(step => {
          const r = footprints.modes[mode][step];
          return `${step} block ${r.blockMs} ms / frame gap ${r.frameGapMs} ms (complete ${r.completeMs} ms, ${r.inView} in view)`;
        })
        .join('; ');
    console.log(
      `[maps] Chromium (SwiftShader, 2 cores), view ${big.view.join('x')} px: ${BIG}x${BIG} COG first full-extent render ${big.firstMs.toFixed(0)} ms ` +
        `(from adding the layer: header ${big.headerMs.toFixed(0)} ms, overview ${big.overview} (${big.pixelsRead} px) read by ranges and decoded ${big.tilesMs.toFixed(0)} ms, warp ${big.warpMs.toFixed(0)} ms; ${big.openMs.toFixed(0)} ms including the catalog lookup); ` +
        `longest frame gap while panning/zooming ${pan.worstFrameMs.toFixed(0)} ms\n` +
        `[maps] 10,000 footprints as polygons (longest main-thread block / longest frame gap): ${row('polygons')}\n` +
        `[maps] 10,000 footprints as clusters (longest main-thread block / longest frame gap): ${row('clusters')}\n` +
        `[maps] reference, the same window doing nothing: block ${footprints.idle.blockMs} ms / frame gap ${footprints.idle.frameGapMs} ms\n` +
        `[maps] load average during the run: ${os.loadavg().map(l => l.toFixed(1)).join(' ')}`
    );
    fs.writeFileSync(path.join(SHOTS, 'maps-performance.json'), JSON.stringify({ bigCog: { size: BIG, ...big }, pan, footprints }, null, 2));
    expect(pageErrors).toEqual([]);
  });
});
