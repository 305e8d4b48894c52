// The process that owns the embedded database: opens PGlite + PostGIS persisted under
// `<home>/db`, serves it on loopback (see wire-server.ts), and records where in `<home>/db.json`.
// A lock file makes it the only owner. It exits after a while with no clients, and on SIGTERM.
// Started on demand by `ensureEmbeddedDatabase`; run by hand as `node embedded-server.js <home>`.
import * as fs from 'fs';
import * as path from 'path';
import { PGlite } from '@electric-sql/pglite';
import { postgis } from '@electric-sql/pglite-postgis';
import { serveWire } from './wire-server';
import { buildOf, lockPath, infoPath, isAlive, type IEmbeddedInfo } from './embedded-files';

// btree_gist (migration 0003: GiST over footprint + capture time + GSD). Required by its exported
// subpath, which the node10 module resolution of this package cannot see; typed from the file.
const { btree_gist } = require('@electric-sql/pglite/contrib/btree_gist') as typeof import('@electric-sql/pglite/dist/contrib/btree_gist');

const IDLE_EXIT_MS = Number(process.env.CHANGELAB_DB_IDLE_MS ?? 15 * 60_000);

function takeLock(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
      const holder = Number(fs.readFileSync(file, 'utf8'));
      if (isAlive(holder)) {
        return false;
      }
      fs.rmSync(file, { force: true }); // stale: its owner died
    }
  }
  return false;
}

async function main(): Promise<void> {
  const home = path.resolve(process.argv[2] ?? '.changelab');
  fs.mkdirSync(home, { recursive: true });
  const lock = lockPath(home);
  if (!takeLock(lock)) {
    console.log(`another process owns ${home}/db; leaving it to that one`);
    return;
  }
  const info = infoPath(home);
  let cleaned = false;
  const cleanup = () => {
    if (!cleaned) {
      cleaned = true;
      fs.rmSync(info, { force: true });
      fs.rmSync(lock, { force: true });
    }
  };
  process.on('exit', cleanup);
  try {
    const started = Date.now();
    const db = await PGlite.create({ dataDir: path.join(home, 'db'), extensions: { postgis, btree_gist } });
    const server = await serveWire(db);
    const record: IEmbeddedInfo = {
      pid: process.pid,
      port: server.port,
      startedAt: new Date().toISOString(),
      build: buildOf(__filename)
    };
    fs.writeFileSync(info + '.tmp', JSON.stringify(record));
    fs.renameSync(info + '.tmp', info);
    console.log(`embedded PostgreSQL + PostGIS on 127.0.0.1:${server.port} (opened in ${Date.now() - started} ms)`);

    let stopping = false;
    const stop = async (why: string) => {
      if (stopping) {
        return;
      }
      stopping = true;
      console.log(`stopping: ${why}`);
      fs.rmSync(info, { force: true }); // no new clients from here on
      await server.close();
      await db.close();
      cleanup();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    setInterval(() => {
      if (server.connections === 0 && Date.now() - server.lastActivity > IDLE_EXIT_MS) {
        void stop(`no clients for ${Math.round(IDLE_EXIT_MS / 1000)} s`);
      }
    }, Math.min(IDLE_EXIT_MS, 30_000)).unref();
    // keep the process alive while the server listens
    setInterval(() => undefined, 1 << 30);
  } catch (error) {
    cleanup();
    throw error;
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
