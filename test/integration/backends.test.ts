// The same behaviour from both deployments: migrations and PostGIS on PGlite and on server
// PostgreSQL; objects in the local folder and in MinIO; jobs in-process and on Redis (BullMQ).
// The server halves run against the services scripts/services.sh starts (`npm test` does).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../kernel-lib/src/db/database';
import { ensureEmbeddedDatabase, stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { listMigrations, migrate } from '../../kernel-lib/src/db/migrations';
import { DatabaseError, NotFoundError, StorageError } from '../../kernel-lib/src/errors';
import { InProcessJobQueue } from '../../kernel-lib/src/jobs/in-process';
import type { IJobQueue } from '../../kernel-lib/src/jobs/queue';
import { RedisJobQueue } from '../../kernel-lib/src/jobs/redis';
import { LocalObjectStore } from '../../kernel-lib/src/objects/local';
import { S3ObjectStore } from '../../kernel-lib/src/objects/s3';
import type { IObjectStore } from '../../kernel-lib/src/objects/store';
import { connect } from '../../kernel-lib/src/workspace';
import { freshServerDatabase, tempDir, testServices, uniqueName } from '../helpers';

const services = testServices();
const embeddedHome = tempDir('changelab-backends-');
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c();
  }
});

const databases: [string, () => Promise<Database>][] = [
  [
    'embedded PGlite + PostGIS',
    async () => {
      cleanups.push(() => stopEmbeddedDatabase(embeddedHome));
      return new Database(await ensureEmbeddedDatabase(embeddedHome), 'embedded');
    }
  ]
];
if (services) {
  databases.push([
    'server PostgreSQL 15 + PostGIS 3',
    async () => new Database(await freshServerDatabase(services.databaseUrl, cleanups), 'server')
  ]);
}

describe.each(databases)('migrations on %s', (_name, open) => {
  let db: Database;
  beforeAll(async () => {
    db = await open();
    cleanups.push(() => db.close());
  });

  it('applies every migration once, then nothing on a second run', async () => {
    const all = listMigrations().map(m => m.version);
    expect(all.length).toBeGreaterThan(0);
    expect(await migrate(db)).toEqual(all);
    expect(await migrate(db)).toEqual([]);
    const rows = await db.query<{ version: number }>('SELECT version FROM changelab_migrations ORDER BY version');
    expect(rows.map(r => r.version)).toEqual(all);
  });

  it('gives real PostGIS: geometry types, GiST indexes and transforms between CRSs', async () => {
    await db.query(
      `INSERT INTO projects (id, name, extent) VALUES ('seoul', 'Seoul',
         ST_Multi(ST_MakeEnvelope(126.9, 37.4, 127.2, 37.7, 4326)))`
    );
    const [r] = await db.query<{ inside: boolean; area_km2: number; srid: number }>(
      `SELECT ST_Contains(extent, ST_SetSRID(ST_Point(127.0, 37.5), 4326)) AS inside,
              ST_Area(ST_Transform(extent, 5186)) / 1e6 AS area_km2, ST_SRID(extent) AS srid
       FROM projects WHERE id = 'seoul'`
    );
    expect(r.inside).toBe(true);
    expect(r.srid).toBe(4326);
    // 0.3° x 0.3° at 37.55° N: 0.3 * 111.0 km * 0.3 * 88.0 km ~ 880 km² (spherical estimate, 2%)
    expect(r.area_km2).toBeGreaterThan(860);
    expect(r.area_km2).toBeLessThan(900);
  });

  it('translates a constraint violation into a DatabaseError with its SQL state', async () => {
    const error = await db.query("INSERT INTO projects (id, name) VALUES ('Not Valid', 'x')").catch(e => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error.context.sqlState).toBe('23514');
  });

  it('rolls back a failed transaction entirely', async () => {
    await expect(
      db.transaction(async tx => {
        await tx.query("INSERT INTO projects (id, name) VALUES ('busan', 'Busan')");
        await tx.query("INSERT INTO projects (id, name) VALUES ('busan', 'again')");
      })
    ).rejects.toBeInstanceOf(DatabaseError);
    expect(await db.query("SELECT id FROM projects WHERE id = 'busan'")).toEqual([]);
  });
});

const stores: [string, () => Promise<IObjectStore>][] = [
  ['local folder', async () => new LocalObjectStore(tempDir('changelab-objects-'))]
];
if (services) {
  stores.push([
    'MinIO (S3)',
    async () => new S3ObjectStore({ ...services.s3, bucket: uniqueName('cltest'), region: 'us-east-1' })
  ]);
}

describe.each(stores)('object store: %s', (_name, open) => {
  let store: IObjectStore;
  beforeAll(async () => {
    store = await open();
  });

  it('writes, reads whole and by byte range, and reports size', async () => {
    const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const info = await store.put('scenes/2024/a.tif', body);
    expect(info.size).toBe(5000);
    expect(info.etag.length).toBeGreaterThan(0);
    expect(Buffer.compare(await store.get('scenes/2024/a.tif'), body)).toBe(0);
    expect([...(await store.get('scenes/2024/a.tif', { offset: 4990, length: 100 }))]).toEqual([
      ...body.subarray(4990)
    ]);
    expect([...(await store.get('scenes/2024/a.tif', { offset: 8, length: 4 }))]).toEqual([8, 9, 10, 11]);
    expect((await store.head('scenes/2024/a.tif')).size).toBe(5000);
  });

  it('changes the ETag when an object is overwritten', async () => {
    const first = await store.put('etag/x.bin', 'one');
    await new Promise(r => setTimeout(r, 20));
    const second = await store.put('etag/x.bin', 'two two');
    expect(second.etag).not.toBe(first.etag);
  });

  it('lists by prefix, sorted, and deletes', async () => {
    await store.put('list/b/2.txt', '2');
    await store.put('list/a/1.txt', '1');
    await store.put('list/a/0.txt', '0');
    await store.put('listing-not-in-prefix.txt', 'x');
    const keys: string[] = [];
    for await (const o of store.list('list/')) {
      keys.push(o.key);
    }
    expect(keys).toEqual(['list/a/0.txt', 'list/a/1.txt', 'list/b/2.txt']);
    await store.delete('list/a/0.txt');
    expect(await store.exists('list/a/0.txt')).toBe(false);
    expect(await store.exists('list/a/1.txt')).toBe(true);
  });

  it('reports a missing object as NotFoundError and a bad key as StorageError', async () => {
    await expect(store.get('no/such/object')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.head('no/such/object')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.put('../escape', 'x')).rejects.toBeInstanceOf(StorageError);
    await expect(store.put('/absolute', 'x')).rejects.toBeInstanceOf(StorageError);
  });
});

const queues: [string, () => IJobQueue][] = [['in-process', () => new InProcessJobQueue()]];
if (services) {
  queues.push(['Redis (BullMQ)', () => new RedisJobQueue(services.redisUrl, uniqueName('cltest'))]);
}

describe.each(queues)('job queue: %s', (_name, open) => {
  it('runs registered jobs with bounded concurrency and returns results and errors', async () => {
    const queue = open();
    cleanups.push(() => queue.close());
    let running = 0;
    let peak = 0;
    queue.register<{ n: number }, number>(
      'square',
      async ({ n }) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise(r => setTimeout(r, 30));
        running--;
        return n * n;
      },
      { concurrency: 2 }
    );
    queue.register('fail', async () => {
      throw new Error('bad input: truncated TIFF');
    });
    const ids = await Promise.all([1, 2, 3, 4, 5].map(n => queue.enqueue('square', { n })));
    const results = await Promise.all(ids.map(id => queue.wait<number>(id, 30_000)));
    expect(results).toEqual([1, 4, 9, 16, 25]);
    expect(peak).toBeLessThanOrEqual(2);
    const failed = await queue.enqueue('fail', {});
    await expect(queue.wait(failed, 30_000)).rejects.toThrow(/bad input: truncated TIFF/);
  });
});

describe('connect()', () => {
  it('opens the embedded workspace with no settings and reports it', async () => {
    const home = tempDir('changelab-connect-');
    const workspace = await connect({ cwd: home, env: {} });
    cleanups.push(() => stopEmbeddedDatabase(`${home}/.changelab`));
    try {
      const status = await workspace.status();
      expect(status.database.kind).toBe('embedded');
      expect(status.database.postgis).toMatch(/^3\./);
      expect(status.objects).toEqual({ kind: 'local', location: `${home}/.changelab/objects` });
      expect(status.jobs.kind).toBe('in-process');
      expect(await workspace.db.query("SELECT id FROM projects WHERE id = 'default'")).toHaveLength(1);
    } finally {
      await workspace.close();
    }
  });

  it.runIf(services)('uses PostgreSQL, MinIO and Redis when configured, with the same code', async () => {
    const s = services!;
    const workspace = await connect({
      cwd: tempDir(),
      env: {
        CHANGELAB_DATABASE_URL: await freshServerDatabase(s.databaseUrl, cleanups),
        CHANGELAB_S3_ENDPOINT: s.s3.endpoint,
        CHANGELAB_S3_ACCESS_KEY: s.s3.accessKey,
        CHANGELAB_S3_SECRET_KEY: s.s3.secretKey,
        CHANGELAB_S3_BUCKET: uniqueName('cltest'),
        CHANGELAB_REDIS_URL: s.redisUrl,
        CHANGELAB_PROJECT: 'jeju'
      }
    });
    try {
      const status = await workspace.status();
      expect(status.database.kind).toBe('server');
      expect(status.database.postgres).toMatch(/^15\./);
      expect(status.database.url).not.toContain(new URL(s.databaseUrl).password); // redacted
      expect(status.objects.kind).toBe('s3');
      expect(status.jobs.kind).toBe('redis');
      await workspace.objects.put('hello.txt', 'hi');
      expect((await workspace.objects.get('hello.txt')).toString()).toBe('hi');
      expect(await workspace.db.query("SELECT id FROM projects WHERE id = 'jeju'")).toHaveLength(1);
    } finally {
      await workspace.close();
    }
  });
});
