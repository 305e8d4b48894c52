// Finds the embedded database's owner process for a changelab home, starting one when none runs.
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { spawn } from 'child_process';
import { ServiceUnavailableError } from '../errors';
import { buildOf, infoPath, isAlive, logPath, type IEmbeddedInfo } from './embedded-files';

const START_TIMEOUT_MS = 120_000; // a cold PGlite + PostGIS start compiles WASM (about 10 s)

function readInfo(home: string): IEmbeddedInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(infoPath(home), 'utf8')) as IEmbeddedInfo;
  } catch {
    return undefined;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function liveInfo(home: string): Promise<IEmbeddedInfo | undefined> {
  const info = readInfo(home);
  return info && isAlive(info.pid) && (await canConnect(info.port)) ? info : undefined;
}

/** The compiled owner script; tests run from source, so always point at the built file. */
function serverScript(): string {
  const built = path.resolve(__dirname, '..', '..', 'lib', 'db', 'embedded-server.js');
  if (!fs.existsSync(built)) {
    throw new ServiceUnavailableError(
      `the embedded database needs the compiled kernel library (${built}); run "npm run build"`
    );
  }
  return built;
}

/** Returns the loopback URL of the embedded database under `home`, starting its owner if needed. */
export async function ensureEmbeddedDatabase(home: string): Promise<string> {
  fs.mkdirSync(home, { recursive: true });
  const script = serverScript();
  let info = await liveInfo(home);
  if (info && info.build !== buildOf(script)) {
    // An owner from an older build may lack what newer migrations need (e.g. an extension).
    await stopEmbeddedDatabase(home);
    info = undefined;
  }
  if (!info) {
    const log = fs.openSync(logPath(home), 'a');
    const child = spawn(process.execPath, [script, home], {
      detached: true,
      stdio: ['ignore', log, log]
    });
    child.unref();
    fs.closeSync(log);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(info = await liveInfo(home))) {
      if (Date.now() > deadline) {
        const tail = fs.existsSync(logPath(home)) ? fs.readFileSync(logPath(home), 'utf8').slice(-2000) : '';
        throw new ServiceUnavailableError(
          `the embedded database under ${home} did not start within ${START_TIMEOUT_MS / 1000} s; its log ends:\n${tail}`,
          { home }
        );
      }
      await new Promise(r => setTimeout(r, 100));
    }
  }
  return `postgres://postgres@127.0.0.1:${info.port}/postgres`;
}

/** Stops the embedded database's owner, if one runs (tests and `changelab db stop`). */
export async function stopEmbeddedDatabase(home: string): Promise<boolean> {
  const info = readInfo(home);
  if (!info || !isAlive(info.pid)) {
    return false;
  }
  process.kill(info.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (isAlive(info.pid) && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 50));
  }
  return true;
}
