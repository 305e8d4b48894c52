// The embedded database owner: several pg clients at once through one PGlite backend, and a
// killed owner that loses nothing.
import * as fs from 'fs';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureEmbeddedDatabase, stopEmbeddedDatabase } from '../../../kernel-lib/src/db/embedded';
import { infoPath, isAlive } from '../../../kernel-lib/src/db/embedded-files';
import { tempDir } from '../../helpers';

const home = tempDir('changelab-embedded-');
let url: string;

beforeAll(async () => {
  url = await ensureEmbeddedDatabase(home);
  const c = new Client(url);
  await c.connect();
  await c.query('CREATE TABLE IF NOT EXISTS counters (name text PRIMARY KEY, n integer NOT NULL)');
  await c.query('CREATE TABLE IF NOT EXISTS notes (client integer, i integer, body text)');
  await c.end();
});

afterAll(async () => {
  await stopEmbeddedDatabase(home);
});

describe('embedded database owner', () => {
  it('returns the same server to a second caller instead of starting another', async () => {
    expect(await ensureEmbeddedDatabase(home)).toBe(url);
  });

  it('keeps concurrent clients\' parameterised statements and transactions apart', async () => {
    const clients = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = new Client(url);
        await c.connect();
        return c;
      })
    );
    await clients[0].query("INSERT INTO counters VALUES ('hits', 0) ON CONFLICT (name) DO UPDATE SET n = 0");
    const rounds = 25;
    await Promise.all(
      clients.map(async (c, id) => {
        for (let i = 0; i < rounds; i++) {
          // Extended protocol with parameters: a Parse/Bind interleaved with another client's would
          // return someone else's values here.
          const echo = await c.query('SELECT $1::int AS client, $2::text AS body', [id, `client ${id} round ${i}`]);
          expect(echo.rows[0]).toEqual({ client: id, body: `client ${id} round ${i}` });
          await c.query('BEGIN');
          const before = await c.query<{ n: number }>("SELECT n FROM counters WHERE name = 'hits'");
          await c.query("UPDATE counters SET n = $1 WHERE name = 'hits'", [before.rows[0].n + 1]);
          await c.query('INSERT INTO notes VALUES ($1, $2, $3)', [id, i, `note ${id}/${i}`]);
          await c.query('COMMIT');
        }
      })
    );
    // Read-modify-write inside transactions only adds up if transactions never interleave.
    const total = await clients[0].query("SELECT n FROM counters WHERE name = 'hits'");
    expect(total.rows[0].n).toBe(clients.length * rounds);
    const notes = await clients[0].query('SELECT count(*)::int AS n, count(DISTINCT (client, i))::int AS d FROM notes');
    expect(notes.rows[0]).toEqual({ n: clients.length * rounds, d: clients.length * rounds });
    await Promise.all(clients.map(c => c.end()));
  });

  it('rolls back a transaction left open by a client that disconnects, and serves the others', async () => {
    const a = new Client(url);
    const b = new Client(url);
    await a.connect();
    await b.connect();
    await a.query('BEGIN');
    await a.query("INSERT INTO notes VALUES (99, 0, 'never committed')");
    const bDone = b.query("SELECT count(*)::int AS n FROM notes WHERE client = 99");
    await a.end(); // gone mid-transaction
    expect((await bDone).rows[0].n).toBe(0);
    await b.end();
  });

  it('replaces an owner started by an older build of the library', async () => {
    const info = JSON.parse(fs.readFileSync(infoPath(home), 'utf8'));
    fs.writeFileSync(infoPath(home), JSON.stringify({ ...info, build: 'an-older-build' }));
    const again = await ensureEmbeddedDatabase(home);
    expect(again).not.toBe(url);
    expect(isAlive(info.pid)).toBe(false);
    url = again;
  });

  it('loses no committed data when the owner is killed with SIGKILL, and restarts on demand', async () => {
    const c = new Client(url);
    await c.connect();
    await c.query("INSERT INTO notes VALUES (7, 7, 'before the crash')");
    await c.end();
    const { pid } = JSON.parse(fs.readFileSync(infoPath(home), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await new Promise(r => setTimeout(r, 300));
    const again = await ensureEmbeddedDatabase(home);
    expect(again).not.toBe(url); // a new owner on a new port
    url = again;
    const d = new Client(url);
    await d.connect();
    const rows = await d.query("SELECT body FROM notes WHERE client = 7");
    expect(rows.rows.map(r => r.body)).toEqual(['before the crash']);
    await d.end();
  });
});
