// What this proves: the JupyterLab in .venv loads the changelab extension in a real Chromium. Its
// three side panels open with their headings, both from the side bar and from their commands in
// the palette. The quickstart notebook runs on the tslab kernel against the embedded PGlite +
// PostGIS database, and its status card is drawn by our MIME renderer, not the HTML fallback,
// with no errors in the page or in the notebook.
import { spawn, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type OnTestFailedHandler } from 'vitest';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { tempDir } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const JUPYTER = path.join(ROOT, '.venv', 'bin', 'jupyter');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-output', 'browser');
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

interface ILabServer {
  url: string;
  token: string;
  child: ChildProcess;
  /** The last lines the server wrote, for failure messages. */
  logTail(): string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Lab settings for the run, in its own settings folder so the user's ~/.jupyter is untouched. */
function writeLabSettings(dir: string): void {
  const put = (plugin: string, settings: object) => {
    const [pkg, name] = plugin.split(':');
    fs.mkdirSync(path.join(dir, pkg), { recursive: true });
    fs.writeFileSync(path.join(dir, pkg, `${name}.jupyterlab-settings`), JSON.stringify(settings));
  };
  // The notebook under test is committed: running it must never write its outputs back.
  put('@jupyterlab/docmanager-extension:plugin', { autosave: false });
  // Every cell attached to the DOM whatever the default windowing, since the checks read them all.
  put('@jupyterlab/notebook-extension:tracker', { windowingMode: 'none' });
  // No "fetch Jupyter news?" toast over the screenshots, and no calls out of the machine.
  put('@jupyterlab/apputils-extension:notification', { fetchNews: 'false', checkForUpdates: false });
}

/** Starts `jupyter lab` on a free port with a random token; everything it writes goes under `dir`. */
async function launchLab(dir: string, home: string): Promise<ILabServer> {
  if (!fs.existsSync(JUPYTER)) {
    throw new Error(`${JUPYTER} is missing: run "bash scripts/setup.sh" first`);
  }
  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  writeLabSettings(path.join(dir, 'settings'));
  // Only CHANGELAB_HOME reaches the kernel, so the notebook runs embedded whatever the caller's
  // shell (or `npm test`'s services) exported.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('CHANGELAB_'))
  );
  Object.assign(env, {
    CHANGELAB_HOME: home,
    // The token through the environment keeps it out of `ps` listings.
    JUPYTER_TOKEN: token,
    JUPYTER_PATH: path.join(ROOT, '.venv', 'share', 'jupyter'),
    JUPYTER_CONFIG_DIR: path.join(dir, 'config'),
    JUPYTER_DATA_DIR: path.join(dir, 'data'),
    JUPYTER_RUNTIME_DIR: path.join(dir, 'runtime')
  });
  const args = [
    'lab', '--no-browser', '--ip', '127.0.0.1', '--port', String(port),
    `--ServerApp.root_dir=${ROOT}`, '--LabApp.default_url=/lab',
    `--LabApp.user_settings_dir=${path.join(dir, 'settings')}`,
    `--LabApp.workspaces_dir=${path.join(dir, 'workspaces')}`,
    // CI containers run as root; the server refuses that unless told.
    ...(process.getuid?.() === 0 ? ['--allow-root'] : [])
  ];
  // Its own process group, so a server that ignores SIGTERM can still be killed whole.
  const child = spawn(JUPYTER, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { url: `http://127.0.0.1:${port}`, token, child, logTail: () => log.split('\n').slice(-40).join('\n') };
}

async function waitForLab(lab: ILabServer): Promise<void> {
  const deadline = Date.now() + LAB_START_MS;
  for (;;) {
    if (lab.child.exitCode !== null || lab.child.signalCode !== null) {
      throw new Error(`jupyter lab exited (${lab.child.exitCode ?? lab.child.signalCode}); its log ends:\n${lab.logTail()}`);
    }
    try {
      const response = await fetch(`${lab.url}/api/status?token=${lab.token}`);
      if (response.ok) {
        return;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`jupyter lab did not answer /api/status within ${LAB_START_MS / 1000} s; its log ends:\n${lab.logTail()}`);
    }
    await sleep(250);
  }
}

/** Shuts the kernels down through the API (they run in their own sessions), then the server. */
async function stopLab(lab: ILabServer): Promise<void> {
  const { child } = lab;
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const headers = { Authorization: `token ${lab.token}` };
  try {
    const kernels = (await (await fetch(`${lab.url}/api/kernels`, { headers })).json()) as { id: string }[];
    await Promise.all(kernels.map(k => fetch(`${lab.url}/api/kernels/${k.id}`, { method: 'DELETE', headers })));
  } catch {
    // the server is not answering; SIGTERM below still shuts its kernels down
  }
  const exited = new Promise(resolve => child.once('exit', resolve));
  child.kill('SIGTERM');
  if (!(await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]))) {
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
  }
}

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
    await waitForLab(lab);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // No --disable-gpu: map previews need WebGL, which SwiftShader provides headless.
      args: [
        '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
        '--disable-background-networking', '--disable-component-update', '--no-first-run'
      ]
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('pageerror', error => pageErrors.push(`${error.name}: ${error.message}`));
    page.on('console', message => {
      if (message.type() === 'error') {
        consoleErrors.push(message.text());
      }
    });
  });

  afterAll(async () => {
    // Each step runs even when an earlier one fails, so nothing is left running.
    const steps = [
      () => browser?.close(),
      () => lab && stopLab(lab),
      () => stopEmbeddedDatabase(home),
      () => fs.rmSync(dir, { recursive: true, force: true })
    ];
    const problems: unknown[] = [];
    for (const step of steps) {
      await Promise.resolve()
        .then(step)
        .catch(error => problems.push(error));
    }
    if (problems.length) {
      throw new AggregateError(problems, 'browser suite clean-up failed');
    }
  });

  it('activates the extension: each panel opens from its side-bar tab and its command', async ({ onTestFailed }) => {
    keepFailureShot(onTestFailed, 'panels');
    await page.goto(`${lab!.url}/lab?token=${lab!.token}`);
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
    await page.goto(`${lab!.url}/lab/tree/${QUICKSTART}?token=${lab!.token}`);
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
