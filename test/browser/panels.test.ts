// What this proves: in a real JupyterLab (Chromium), the Validation results, Dataset versions and
// Training runs panels get live data from `changelab serve` behind jupyter-server-proxy, over a
// workspace seeded with a validated ingest (the gate quarantines the synthetic set's bad files), a
// validation of rows with known bad values, a dataset with two committed versions and a training
// run that used the first. The runs appear; a failed expectation shows its offending rows; a
// quarantined file links to the Map previews quarantine list; the versions show their runs; the
// diff lists what changed; a checkout over uncommitted changes asks first (keeping the changes when
// the user says so, restoring v1 byte for byte when they accept); a run shows its metric curve.
// Screenshots (light, plus one dark) go to test-output/browser/.
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type OnTestFailedHandler } from 'vitest';
import * as dataset from '../../kernel-lib/src/dataset';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { writeSyntheticSet, type ISyntheticSetManifest } from '../../kernel-lib/src/synth';
import { workspaceLogger } from '../../kernel-lib/src/tracking';
import { ExpectationSuite, ingest, validate } from '../../kernel-lib/src/validate';
import { connect } from '../../kernel-lib/src/workspace';
import { tempDir } from '../helpers';
import { cleanUp, launchChromium, launchLab, NAVIGATION, SHOTS, stopLab, waitForLab, recordErrors, type ILabServer } from './lab-server';

const ROWS = [
  { id: 1, gsd: 0.5, label: 'road' },
  { id: 2, gsd: 3, label: 'field' },
  { id: 3, gsd: null, label: 'road' },
  { id: 4, gsd: 7.25, label: 'lake' },
  { id: 5, gsd: 0.9, label: 'road' }
];
const CURVE = [0.31, 0.52, 0.64, 0.71, 0.78];

describe('Validation results, Dataset versions and Training runs panels, in Chromium', () => {
  const dir = tempDir('changelab-panels-browser-');
  const home = path.join(dir, 'changelab-home');
  const workspace = path.join(dir, 'workspace');
  const folder = path.join(workspace, 'datasets', 'seoul');
  const fixtures = path.join(dir, 'fixtures');
  let set: ISyntheticSetManifest;
  let rowsRunId = 0;
  let gateRunId = 0;
  let tableRunId = 0;
  let otherCrs: { id: string; object_key: string; crs_epsg: string }[] = [];
  let v1 = '';
  let lab: ILabServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(folder, file)), { recursive: true });
    fs.writeFileSync(path.join(folder, file), text);
  };
  const read = (file: string) => fs.readFileSync(path.join(folder, file), 'utf8');
  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, name) });
  const keepFailureShot = (onTestFailed: (fn: OnTestFailedHandler) => void, name: string) =>
    onTestFailed(async () => {
      await shot(`failed-panels-${name}.png`).catch(() => undefined);
      console.error(`console errors in the page:\n${consoleErrors.join('\n')}\nserver log:\n${lab?.logTail()}`);
    });
  const open = async (id: string) => {
    await page.locator(`.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="${id}"]`).click();
    await page.locator(`#${id} .jp-changelab-live-content`).waitFor({ state: 'visible' });
  };
  /** Widens the left area so the tables have room. */
  const widen = async () => {
    const handle = page.locator('#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)').first();
    const box = await handle.boundingBox();
    if (box) {
      await page.mouse.move(box.x + box.width / 2, box.y + 200);
      await page.mouse.down();
      await page.mouse.move(760, box.y + 200, { steps: 5 });
      await page.mouse.up();
    }
  };

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    fs.mkdirSync(workspace, { recursive: true });
    fs.writeFileSync(path.join(workspace, 'changelab.config.json'), '{}\n');
    set = await writeSyntheticSet(fixtures, { seed: 'panels-browser', size: 96 });
    const w = await connect({ cwd: workspace, env: { CHANGELAB_HOME: home } });
    try {
      for (const f of set.files) {
        await w.objects.putFile(`flights/${f.path}`, path.join(fixtures, f.path));
      }
      const gate = new ExpectationSuite('ingest-policy').add('expect_gsd_to_be_at_most', { max_value: 1 });
      gateRunId = (await ingest(w, 'flights/', { ingestSuite: gate, progress: false })).gateRunId!;
      const suite = new ExpectationSuite('labels')
        .add('expect_column_values_to_not_be_null', { column: 'gsd' })
        .add('expect_column_values_to_be_between', { column: 'gsd', min_value: 0, max_value: 1 })
        .add('expect_column_values_to_be_in_set', { column: 'label', value_set: ['road', 'field', 'lake'] });
      rowsRunId = (await validate({ rows: ROWS, name: 'label rows' }, suite, { workspace: w, display: false })).json.meta.run_id as number;
      const crs = new ExpectationSuite('crs').add('expect_column_values_to_be_in_set', { column: 'crs_epsg', value_set: [5186] });
      tableRunId = (await validate('image_metadata', crs, { workspace: w, display: false })).json.meta.run_id as number;
      otherCrs = await w.db.query(
        `SELECT id::text, object_key, crs_epsg::text FROM image_metadata WHERE project = $1 AND deleted_at IS NULL AND crs_epsg <> 5186 ORDER BY id::text`,
        [w.project]
      );
      write('a.txt', 'alpha\n');
      write('b.txt', 'bravo\n');
      write('sub/c.txt', 'charlie\n');
      v1 = (await dataset.commit('seoul', 'first chips', { root: workspace, tag: 'v1' })).rev;
      const logger = workspaceLogger(w, { experiment: 'panels', runName: 'unet-small' });
      await logger.logHyperparams({ lr: 0.001, epochs: 5 });
      for (const [step, value] of CURVE.entries()) {
        await logger.logMetrics({ 'val/iou': value }, step);
      }
      fs.writeFileSync(path.join(dir, 'model.onnx'), 'not really onnx\n');
      await logger.logArtifact(path.join(dir, 'model.onnx'), 'model/model.onnx');
      await logger.logDataset(await dataset.ref('seoul', { root: workspace }));
      await logger.finalize('FINISHED');
      fs.rmSync(path.join(folder, 'b.txt'));
      write('a.txt', 'alpha, again\n');
      write('d.txt', 'delta\n');
      await dataset.commit('seoul', 'more chips', { root: workspace, tag: 'v2' });
    } finally {
      await w.close();
    }
    // The service finds the workspace folder (and its datasets/) from the config file it is given.
    lab = await launchLab(dir, home, { env: { CHANGELAB_CONFIG: path.join(workspace, 'changelab.config.json') } });
    await waitForLab(lab);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    recordErrors(page, pageErrors, consoleErrors);
    await page.goto(`${lab.url}/lab?token=${lab.token}`, NAVIGATION);
    await page.locator('#jp-main-dock-panel .jp-Launcher').waitFor({ timeout: 60_000 });
  }, 600_000);

  afterAll(async () => {
    await cleanUp('panels browser suite', [
      () => browser?.close(),
      () => lab && stopLab(lab),
      () => stopEmbeddedDatabase(home),
      () => fs.rmSync(dir, { recursive: true, force: true })
    ]);
  });

  it('Validation results: lists the runs; a failed expectation shows its offending rows', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'validation');
    await open('changelab-validation-panel');
    await widen();
    const panel = page.locator('#changelab-validation-panel');
    const rows = panel.locator('.jp-changelab-validation-runs tbody tr');
    // The service starts with the first request through the proxy (a cold embedded database can take a while).
    await expect.poll(() => rows.count(), { timeout: 150_000 }).toBe(3);
    expect(await rows.evaluateAll(trs => trs.map(tr => tr.querySelector('td')!.textContent))).toEqual([`#${tableRunId}`, `#${rowsRunId}`, `#${gateRunId}`]);
    expect(await rows.nth(1).textContent()).toContain('labels');
    expect(await rows.nth(1).textContent()).toContain('label rows');
    expect(await rows.nth(1).textContent()).toContain('1/3');
    expect(await panel.locator('.jp-changelab-live-status').textContent()).toBe('3 runs, 3 failed');

    // By keyboard: focus the run and press Enter.
    await rows.nth(1).focus();
    await page.keyboard.press('Enter');
    const failures = panel.locator('.jp-changelab-validation-failure');
    await expect.poll(() => failures.count(), { timeout: 30_000 }).toBe(2);
    expect(await failures.nth(0).locator('code').first().textContent()).toBe('expect_column_values_to_not_be_null');
    const between = failures.nth(1);
    expect(await between.locator('code').first().textContent()).toBe('expect_column_values_to_be_between');
    // Offending rows: index in the rows checked and the value found, from the fixture.
    const offending = ROWS.map((r, i) => [i, r.gsd] as const).filter(([, g]) => g !== null && g > 1);
    const cells = await between.locator('.jp-changelab-validation-offending tbody tr').evaluateAll(trs => trs.map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent)));
    expect(cells).toEqual(offending.map(([i, g]) => [String(i), String(g)]));
    expect(await between.textContent()).toContain(`${offending.length} unexpected of ${ROWS.length}`);
    expect(await panel.locator('.jp-changelab-validation-passed summary').textContent()).toBe('1 expectation met');
    await shot('panels-validation.png');

    // The table run: the rows of image_metadata holding the offending values, as the table says.
    await rows.nth(0).click();
    await panel.getByRole('button', { name: /^Show the rows of image_metadata/ }).click();
    const tableRows = panel.locator('.jp-changelab-validation-table-rows tbody tr');
    await expect.poll(() => tableRows.count(), { timeout: 30_000 }).toBe(otherCrs.length);
    expect(await tableRows.evaluateAll(trs => trs.map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent)))).toEqual(
      otherCrs.map(r => [r.id, r.object_key, r.crs_epsg])
    );
    await shot('panels-validation-table-rows.png');

    // The gate run: the coarse image is quarantined by the gsd expectation, with its entry.
    await rows.nth(2).click();
    const coarse = `flights/${set.files.find(f => f.kind === 'gsd-too-coarse')!.path}`;
    const file = panel.locator('.jp-changelab-validation-file', { hasText: coarse });
    await file.waitFor();
    const item = panel.locator('.jp-changelab-validation-files li', { hasText: coarse });
    expect(await item.textContent()).toMatch(/quarantine entry #\d+: .*expect_gsd_to_be_at_most/);
    await shot('panels-validation-gate.png');
    await item.getByRole('button', { name: `Show ${coarse} in the Map previews quarantine list` }).click();
    const quarantine = page.locator('#changelab-maps-panel .jp-changelab-map-quarantine');
    await expect.poll(() => quarantine.evaluate(d => (d as HTMLDetailsElement).open), { timeout: 60_000 }).toBe(true);
    expect(await quarantine.locator('.jp-changelab-map-quarantine-key', { hasText: coarse }).count()).toBe(1);
    expect(pageErrors).toEqual([]);
  });

  it('Dataset versions: versions with their runs, the diff between them, a checkout that asks over uncommitted changes', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'datasets');
    await open('changelab-datasets-panel');
    const panel = page.locator('#changelab-datasets-panel');
    const versions = panel.locator('.jp-changelab-dataset-versions tbody tr');
    await expect.poll(() => versions.count(), { timeout: 60_000 }).toBe(2);
    const text = async (i: number) => (await versions.nth(i).textContent()) ?? '';
    expect(await text(0)).toContain('more chips');
    expect(await text(0)).toContain('(v2)');
    expect(await text(1)).toContain('first chips');
    expect(await text(1)).toContain('(v1)');
    // Files and size from the .dvc files: 3 files each; v1 holds 6 + 6 + 8 bytes.
    expect(await versions.nth(1).locator('td').nth(4).textContent()).toBe('3');
    expect(await versions.nth(1).locator('td').nth(5).textContent()).toBe('20 B');
    // The run that trained on v1, and none on v2.
    expect(await versions.nth(1).locator('.jp-changelab-dataset-runs').textContent()).toBe('unet-small (finished)');
    expect(await versions.nth(0).locator('td').nth(6).textContent()).toBe('none');

    // The diff from v1 to v2 (the form's default).
    await panel.getByRole('button', { name: 'Show the diff of seoul' }).click();
    const diff = panel.locator('.jp-changelab-dataset-diff');
    await diff.waitFor();
    expect(await diff.locator('h4').textContent()).toMatch(/1 added, 1 deleted, 1 modified$/);
    const changes = await diff.locator('tbody tr').evaluateAll(trs => trs.map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent)));
    expect(changes).toEqual([
      ['added', 'd.txt'],
      ['deleted', 'b.txt'],
      ['modified', 'a.txt']
    ]);
    await shot('panels-datasets-diff.png');

    // An uncommitted edit: the checkout asks first; "keep" changes nothing.
    write('a.txt', 'edited by hand\n');
    await panel.getByRole('button', { name: 'Refresh dataset versions' }).click();
    await expect.poll(() => panel.locator('h3 .jp-changelab-live-badge').textContent(), { timeout: 30_000 }).toMatch(/^modified/);
    const checkoutV1 = () => panel.getByRole('button', { name: /^Check out seoul at .* \(v1\)$/ }).click();
    await checkoutV1();
    const dialog = page.locator('.jp-Dialog');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('seoul: 0 added, 0 deleted, 1 modified');
    await shot('panels-datasets-confirm.png');
    await dialog.getByRole('button', { name: 'Keep my changes' }).click();
    await expect.poll(() => panel.locator('.jp-changelab-live-status').textContent(), { timeout: 30_000 }).toMatch(/cancelled; nothing changed/);
    expect(read('a.txt')).toBe('edited by hand\n');
    // Accepting overwrites and restores v1 byte for byte.
    await checkoutV1();
    await dialog.getByRole('button', { name: 'Overwrite and check out' }).click();
    await expect.poll(() => panel.locator('.jp-changelab-live-status').textContent(), { timeout: 60_000 }).toMatch(/^Checked out seoul at .* \(v1\): 2 written, 1 deleted, 1 unchanged\.$/);
    expect([read('a.txt'), read('b.txt'), read('sub/c.txt')]).toEqual(['alpha\n', 'bravo\n', 'charlie\n']);
    expect(fs.existsSync(path.join(folder, 'd.txt'))).toBe(false);
    expect(await panel.locator('h3 .jp-changelab-live-badge').textContent()).toBe(`at ${v1.slice(0, 7)}`);
    await shot('panels-datasets-checkout.png');
    expect(pageErrors).toEqual([]);
  });

  it('Training runs: the run with its parameters, metric curve, artifact and dataset version', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'runs');
    await open('changelab-runs-panel');
    const panel = page.locator('#changelab-runs-panel');
    const rows = panel.locator('.jp-changelab-runs-list tbody tr');
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(1);
    expect(await rows.nth(0).textContent()).toContain('unet-small');
    expect(await rows.nth(0).textContent()).toContain(`seoul@${v1.slice(0, 7)}`);
    await rows.nth(0).click();
    const chart = panel.locator('.jp-changelab-runs-chart[data-metric="val/iou"] svg');
    await chart.waitFor();
    expect(await chart.getAttribute('aria-label')).toBe(`val/iou: ${CURVE.length} points from step 0 to ${CURVE.length - 1}; first 0.31, last 0.78, min 0.31, max 0.78`);
    // The line has one vertex per logged point.
    expect(((await chart.locator('path').getAttribute('d')) ?? '').match(/[ML]/g)).toHaveLength(CURVE.length);
    const params = await panel.locator('.jp-changelab-runs-params tbody tr').evaluateAll(trs => trs.map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent)));
    expect(params).toEqual([
      ['epochs', '5'],
      ['lr', '0.001']
    ]);
    expect(await panel.locator('.jp-changelab-runs-artifacts tbody tr td').first().textContent()).toBe('model/model.onnx');
    expect(await panel.locator('.jp-changelab-runs-detail').textContent()).toContain(`seoul at ${v1.slice(0, 12)}`);
    await shot('panels-runs.png');

    // The same panels in the dark theme: the text stays legible (theme colours, not fixed ones).
    await page.locator('.lm-MenuBar-itemLabel', { hasText: 'Settings' }).click();
    await page.locator('.lm-Menu-itemLabel').getByText('Theme', { exact: true }).hover();
    await page.locator('.lm-Menu-itemLabel').getByText('JupyterLab Dark', { exact: true }).click();
    await expect.poll(() => page.evaluate(() => document.body.dataset.jpThemeLight), { timeout: 30_000 }).toBe('false');
    // The contrast of a run's text against what is behind it, once the dark theme's colours apply.
    const contrast = () => panel.evaluate(node => {
      const colour = (c: string) => (c.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number);
      const luminance = ([r, g, b]: number[]) => {
        const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      const cell = node.querySelector('.jp-changelab-runs-list td') as HTMLElement;
      const fg = luminance(colour(getComputedStyle(cell).color));
      // The colour behind the text: the nearest ancestor with an opaque background.
      let behind: HTMLElement | null = cell;
      while (behind && /rgba\(.*,\s*0\)|transparent/.test(getComputedStyle(behind).backgroundColor)) {
        behind = behind.parentElement;
      }
      const bg = luminance(colour(getComputedStyle(behind ?? node).backgroundColor));
      return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    });
    // WCAG AA for normal text.
    await expect.poll(contrast, { timeout: 10_000 }).toBeGreaterThanOrEqual(4.5);
    await shot('panels-runs-dark.png');
    expect(pageErrors).toEqual([]);
  });
});
