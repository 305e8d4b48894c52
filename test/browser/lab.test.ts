// What this proves: the JupyterLab in .venv loads the changelab extension in a real Chromium. Its
// three side panels open with their headings, both from the side bar and from their commands in
// the palette. The quickstart notebook runs on the tslab kernel against the embedded PGlite +
// PostGIS database, and its status card is drawn by our MIME renderer, not the HTML fallback,
// with no errors in the page or in the notebook.
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type OnTestFailedHandler } from 'vitest';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { tempDir } from '../helpers';
import { cleanUp, launchChromium, launchLab, NAVIGATION, SHOTS, stopLab, waitForLab, recordErrors, type ILabServer } from './lab-server';
const QUICKSTART = 'notebooks/quickstart.ipynb';

const PANELS = [
  { id: 'changelab-datasets-panel', command: 'changelab:open-datasets-panel', heading: 'Dataset versions' },
  { id: 'changelab-validation-panel', command: 'changelab:open-validation-panel', heading: 'Validation results' },
  { id: 'changelab-maps-panel', command: 'changelab:open-maps-panel', heading: 'Map previews' },
  { id: 'changelab-runs-panel', command: 'changelab:open-runs-panel', heading: 'Training runs' }
];

// A cold kernel plus a cold embedded database (PGlite compiles its WASM) takes 15-30 s; leave room.
const LAB_START_MS = 90_000;
const KERNEL_READY_MS = 120_000;
const NOTEBOOK_RUN_MS = 180_000;

describe('JupyterLab with the changelab extension, in Chromium', () => {
  const dir = tempDir('changelab-browser-');
  const home = path.join(dir, 'changelab-home');
  let lab: ILabServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
  const keepFailureShot = (onTestFailed: (fn: OnTestFailedHandler) => void, name: string) =>
    onTestFailed(async () => {
      await shot(`failed-${name}.png`).catch(() => undefined);
      console.error(`console errors in the page:\n${consoleErrors.join('\n')}\nserver log:\n${lab?.logTail()}`);
    });
  const sideTab = (id: string) => page.locator(`.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="${id}"]`);

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    lab = await launchLab(dir, home);
    await waitForLab(lab, LAB_START_MS);
    // No --disable-gpu: map previews need WebGL, which SwiftShader provides headless.
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    recordErrors(page, pageErrors, consoleErrors);
  });

  afterAll(async () => {
    await cleanUp('browser suite', [
      () => browser?.close(),
      () => lab && stopLab(lab),
      () => stopEmbeddedDatabase(home),
      () => fs.rmSync(dir, { recursive: true, force: true })
    ]);
  });

  it('activates the extension: each panel opens from its side-bar tab and its command', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'panels');
    await page.goto(`${lab!.url}/lab?token=${lab!.token}`, NAVIGATION);
    // A fresh workspace gets the launcher once the layout is restored: the lab is ready for input.
    await page.locator('#jp-main-dock-panel .jp-Launcher').waitFor({ timeout: 60_000 });
    for (const panel of PANELS) {
      await sideTab(panel.id).waitFor();
      expect(await sideTab(panel.id).getAttribute('title')).toBe(panel.heading);
    }

    for (const panel of PANELS) {
      await sideTab(panel.id).click();
      const heading = page.locator(`#${panel.id} .jp-changelab-panel-heading`);
      await heading.waitFor({ state: 'visible' });
      expect(await heading.textContent()).toBe(panel.heading);
      expect(await sideTab(panel.id).getAttribute('aria-selected')).toBe('true');
    }
    await shot('panels.png');

    // The same panels through their commands, from the file browser each time so that every
    // command has something to switch.
    for (const panel of PANELS) {
      await sideTab('filebrowser').click();
      await page.locator(`#${panel.id}`).waitFor({ state: 'hidden' });
      await page.keyboard.press('Control+Shift+C');
      const palette = page.locator('#modal-command-palette');
      await palette.locator('.lm-CommandPalette-input').fill(`Show ${panel.heading}`);
      // The palette redraws its items while it filters, so a click can land on a detached node:
      // wait until our command is the active (top) match and run it with Enter instead.
      await palette.locator(`.lm-CommandPalette-item.lm-mod-active[data-command="${panel.command}"]`).waitFor();
      await page.keyboard.press('Enter');
      await page.locator(`#${panel.id} .jp-changelab-panel-heading`).waitFor({ state: 'visible' });
    }

    expect(pageErrors).toEqual([]);
  });

  it('runs the quickstart notebook on tslab and shows the status card from our renderer', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'quickstart');
    await page.goto(`${lab!.url}/lab/tree/${QUICKSTART}?token=${lab!.token}`, NAVIGATION);
    const notebook = page.locator('.jp-NotebookPanel');
    await notebook.locator('.jp-Toolbar-kernelName', { hasText: 'TypeScript' }).waitFor({ timeout: 60_000 });
    await notebook
      .locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
      .waitFor({ timeout: KERNEL_READY_MS });

    await page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click();
    await page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click();

    // Done when no cell is queued or running ("[*]:") and either every code cell shows its
    // execution count ("[3]:") or one failed: a failed cell keeps "[ ]:", so stop waiting then.
    await page.waitForFunction(
      () => {
        const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]
          .map(p => p.textContent!.trim());
        const failed = document.querySelector('.jp-NotebookPanel .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]');
        return prompts.length > 0 && !prompts.includes('[*]:') && (failed || prompts.every(p => /^\[\d+\]:$/.test(p)));
      },
      null,
      { timeout: NOTEBOOK_RUN_MS }
    );
    // Error outputs render as stderr too, so this catches both streams and exceptions.
    const stderr = await notebook.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]').allInnerTexts();
    expect(stderr).toEqual([]);

    const statusCard = '.jp-changelab-card[data-changelab-kind="status"]';
    const output = notebook.locator('.jp-OutputArea-output', { has: page.locator(statusCard) });
    const card = output.locator(statusCard);
    await card.waitFor({ state: 'visible', timeout: 5_000 });
    expect(await card.locator('.jp-changelab-card-title').textContent()).toBe('changelab workspace');
    const cardText = await card.innerText();
    expect(cardText).toContain('PostGIS');
    expect(cardText).toContain('embedded');
    // Our renderer won over the bundle's text/html alternative: the output widget is ours, and
    // neither it nor any other output shows the HTML fallback.
    expect(await output.evaluate(node => node.classList.contains('jp-changelab-rendered'))).toBe(true);
    expect(await output.locator('.jp-RenderedHTMLCommon').count()).toBe(0);
    expect(await notebook.locator('.changelab-fallback').count()).toBe(0);
    // The spatial query cell printed its answer: PostGIS really ran in the kernel.
    const stdout = await notebook.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stdout"]').allInnerTexts();
    expect(stdout.join('\n')).toMatch(/cell near Seoul covers \d+\.\d{3} km²/);

    await card.scrollIntoViewIfNeeded();
    await shot('quickstart.png');
    expect(pageErrors).toEqual([]);
    // Still unsaved: with autosave off, the run never wrote outputs into the committed notebook.
    expect(await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty').count()).toBe(1);
  });
});
