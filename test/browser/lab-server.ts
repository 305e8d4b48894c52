// Shared set-up of the browser suites: a JupyterLab from .venv on a free loopback port with a
// random token, its settings, config and runtime folders kept in a temporary folder (the user's
// ~/.jupyter is untouched), and Debian's Chromium driven by playwright-core (no browser download).
import { spawn, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const ROOT = path.resolve(__dirname, '..', '..');
export const JUPYTER = path.join(ROOT, '.venv', 'bin', 'jupyter');
export const CHROMIUM = '/usr/bin/chromium';
export const SHOTS = path.join(ROOT, 'test-output', 'browser');
/**
 * How pages are opened: JupyterLab's page has loaded its code once the DOM is ready (what the tests
 * wait for next is the element they check), and a loaded 2-core machine can take more than
 * Playwright's default 30 s to fire `load` for the whole bundle.
 */
export const NAVIGATION = { waitUntil: 'domcontentloaded', timeout: 120_000 } as const;

export interface ILabServer {
  url: string;
  token: string;
  child: ChildProcess;
  /** The last lines the server wrote, for failure messages. */
  logTail(): string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Lab settings for the run, in its own settings folder so the user's ~/.jupyter is untouched. */
export function writeLabSettings(dir: string, extra: Record<string, object> = {}): void {
  const put = (plugin: string, settings: object) => {
    const [pkg, name] = plugin.split(':');
    fs.mkdirSync(path.join(dir, pkg), { recursive: true });
    fs.writeFileSync(path.join(dir, pkg, `${name}.jupyterlab-settings`), JSON.stringify(settings));
  };
  // Committed notebooks under test: running them must never write their outputs back.
  put('@jupyterlab/docmanager-extension:plugin', { autosave: false });
  // Every cell attached to the DOM whatever the default windowing, since the checks read them all.
  put('@jupyterlab/notebook-extension:tracker', { windowingMode: 'none' });
  // No "fetch Jupyter news?" toast over the screenshots, and no calls out of the machine.
  put('@jupyterlab/apputils-extension:notification', { fetchNews: 'false', checkForUpdates: false });
  for (const [plugin, settings] of Object.entries(extra)) {
    put(plugin, settings);
  }
}

/**
 * Starts `jupyter lab`; only CHANGELAB_HOME (and `env`) reach it and its children (kernels, the
 * changelab service behind jupyter-server-proxy), so it runs embedded whatever the caller exported.
 */
export function launchLab(dir: string, home: string, options: { env?: Record<string, string>; settings?: Record<string, object> } = {}): Promise<ILabServer> {
  return (async () => {
    if (!fs.existsSync(JUPYTER)) {
      throw new Error(`${JUPYTER} is missing: run "bash scripts/setup.sh" first`);
    }
    const port = await freePort();
    const token = randomBytes(24).toString('hex');
    writeLabSettings(path.join(dir, 'settings'), options.settings);
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CHANGELAB_')));
    Object.assign(env, {
      CHANGELAB_HOME: home,
      JUPYTER_TOKEN: token,
      JUPYTER_PATH: path.join(ROOT, '.venv', 'share', 'jupyter'),
      JUPYTER_CONFIG_DIR: path.join(dir, 'config'),
      JUPYTER_DATA_DIR: path.join(dir, 'data'),
      JUPYTER_RUNTIME_DIR: path.join(dir, 'runtime'),
      ...options.env
    });
    const args = [
      'lab', '--no-browser', '--ip', '127.0.0.1', '--port', String(port),
      `--ServerApp.root_dir=${ROOT}`, '--LabApp.default_url=/lab',
      `--LabApp.user_settings_dir=${path.join(dir, 'settings')}`,
      `--LabApp.workspaces_dir=${path.join(dir, 'workspaces')}`,
      ...(process.getuid?.() === 0 ? ['--allow-root'] : [])
    ];
    const child = spawn(JUPYTER, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const keep = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    return { url: `http://127.0.0.1:${port}`, token, child, logTail: () => log.split('\n').slice(-40).join('\n') };
  })();
}

export async function waitForLab(lab: ILabServer, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
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
      throw new Error(`jupyter lab did not answer /api/status within ${timeoutMs / 1000} s; its log ends:\n${lab.logTail()}`);
    }
    await sleep(250);
  }
}

/** Shuts the kernels down through the API, then the server (and its proxied processes) with it. */
export async function stopLab(lab: ILabServer): Promise<void> {
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

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
      '--disable-background-networking', '--disable-component-update', '--no-first-run'
    ]
  });
}

/** Collects the page's uncaught errors and console errors, for assertions and failure messages. */
export function recordErrors(page: Page, pageErrors: string[], consoleErrors: string[]): void {
  page.on('pageerror', error => pageErrors.push(`${error.name}: ${error.message}`));
  page.on('console', message => {
    if (message.type() === 'error') {
      consoleErrors.push(message.text());
    }
  });
}

/** Runs every clean-up step even when an earlier one fails, so nothing is left running; then reports the failures. */
export async function cleanUp(suite: string, steps: (() => unknown)[]): Promise<void> {
  const problems: unknown[] = [];
  for (const step of steps) {
    await Promise.resolve()
      .then(step)
      .catch(error => problems.push(error));
  }
  if (problems.length) {
    throw new AggregateError(problems, `${suite} clean-up failed`);
  }
}
