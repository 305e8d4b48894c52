// The catalog end to end on both deployments: embedded (PGlite + PostGIS, local folder store) and
// server (PostgreSQL + PostGIS, MinIO). Synthetic imagery with known places, dates and GSDs goes in;
// what ingest, search, pairs and the watcher report is checked against what the fixture says.
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImagePage } from '../../kernel-lib/src/catalog/search';
import { NotFoundError } from '../../kernel-lib/src/errors';
import { generateBadFiles, KOREAN_SITES, writeSyntheticSet, type ISyntheticSetManifest } from '../../kernel-lib/src/synth';
import type { Workspace } from '../../kernel-lib/src/workspace';
import { serverWorkspace, tempDir, testServices, workspaceBackends } from '../helpers';

const services = testServices();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

const backends = workspaceBackends(cleanups, 'changelab-catalog-');

// Two synthetic sets written once: A (one 0.5 m pair per CRS, at three sites, with the bad files)
// and B (one 2 m pair at the first site, Seoul).
const fixtures = tempDir('changelab-catalog-fixtures-');
let setA: ISyntheticSetManifest;
let setB: ISyntheticSetManifest;
beforeAll(async () => {
  setA = await writeSyntheticSet(path.join(fixtures, 'a'), { seed: 'catalog-a', size: 128 });
  setB = await writeSyntheticSet(path.join(fixtures, 'b'), { seed: 'catalog-b', size: 128, gsd: 2, crss: [5186], includeBad: false });
});

const fileOf = (set: 'a' | 'b', p: string) => path.join(fixtures, set, p);

async function upload(w: Workspace, set: 'a' | 'b', manifest: ISyntheticSetManifest, prefix: string, filter = (_f: { role: string }) => true) {
  for (const f of manifest.files.filter(filter)) {
    await w.objects.putFile(`${prefix}${f.path}`, fileOf(set, f.path));
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe.each(backends)('catalog on %s', (_name, open) => {
  let w: Workspace;
  beforeAll(async () => {
    w = await open();
    cleanups.push(() => w.close());
  });

  const rowsFor = (project: string, key: string) =>
    w.db.query<{ id: string; etag: string; deleted_at: Date | null }>(
      'SELECT id::text, etag, deleted_at FROM image_metadata WHERE project = $1 AND object_key = $2',
      [project, key]
    );

  describe('ingest', () => {
    const good = () => setA.files.filter(f => f.role !== 'bad').map(f => `set/${f.path}`);
    const corrupt = () => setA.files.filter(f => f.role === 'bad' && ['truncated', 'bad-magic', 'absurd-dimensions', 'no-georeference'].includes(f.kind!));
    const oddKey = 'set/odd names/flight 7 — 서울 100% +final.tif';

    it('indexes the good files and quarantines the bad ones with a reason; nothing is dropped', async () => {
      await upload(w, 'a', setA, 'set/');
      await w.objects.putFile(oddKey, fileOf('a', setA.files[0].path));
      await w.objects.put('set/empty.tif', Buffer.alloc(0));
      const summary = await w.catalog.ingest('set/', { progress: false });
      const listed = setA.files.length + 2;
      expect(summary.listed).toBe(listed);
      expect(summary.indexed + summary.quarantined).toBe(listed);
      expect(summary.failed).toBe(0);

      for (const key of [...good(), oddKey]) {
        const image = await w.catalog.getByKey(key);
        expect(image.width).toBe(128);
        expect(image.footprint?.type).toBe('MultiPolygon');
      }
      const quarantine = await w.catalog.quarantine();
      const reasons = new Map(quarantine.entries.map(e => [e.key, e.reason]));
      for (const bad of corrupt()) {
        expect(reasons.get(`set/${bad.path}`), bad.path).toMatch(/\w/);
      }
      expect(reasons.get('set/empty.tif')).toMatch(/\w/);
      expect(summary.quarantined).toBe(quarantine.entries.length);
      // The odd key round-trips exactly.
      expect((await w.catalog.getByKey(oddKey)).key).toBe(oddKey);
    });

    it('does nothing on a second run', async () => {
      const before = await w.db.query('SELECT id, etag, indexed_at FROM image_metadata ORDER BY id');
      const summary = await w.catalog.ingest('set/', { progress: false });
      expect(summary.indexed).toBe(0);
      expect(summary.quarantined).toBe(0);
      expect(summary.deleted).toBe(0);
      expect(summary.unchanged + summary.stillQuarantined).toBe(summary.listed);
      expect(await w.db.query('SELECT id, etag, indexed_at FROM image_metadata ORDER BY id')).toEqual(before);
    });

    it('re-indexes a changed object in place and resolves a fixed quarantined one', async () => {
      const key = good()[0];
      const old = await w.catalog.getByKey(key);
      await sleep(20); // the local store's ETag has millisecond resolution
      // Replace it with the Daejeon image: new ETag, new footprint, same row.
      const daejeon = setA.files.find(f => f.pair?.startsWith('daejeon') && f.role === 'before')!;
      await w.objects.putFile(key, fileOf('a', daejeon.path));
      const truncated = `set/${corrupt().find(f => f.kind === 'truncated')!.path}`;
      await w.objects.putFile(truncated, fileOf('a', daejeon.path));
      const summary = await w.catalog.ingest('set/', { progress: false });
      expect(summary.indexed).toBe(2);
      const now = await w.catalog.getByKey(key);
      expect(now.id).toBe(old.id);
      expect(now.etag).not.toBe(old.etag);
      expect(now.centroid![1]).toBeCloseTo(KOREAN_SITES[1].centre.lat, 2);
      expect((await rowsFor('default', key)).length).toBe(1);
      const open = await w.catalog.quarantine();
      expect(open.entries.map(e => e.key)).not.toContain(truncated);
      const all = await w.catalog.quarantine({ includeResolved: true });
      expect(all.entries.find(e => e.key === truncated)?.resolved).toBe(true);
    });

    it('soft-deletes the row of a removed object', async () => {
      const key = good()[1];
      const image = await w.catalog.getByKey(key);
      await w.objects.delete(key);
      const summary = await w.catalog.ingest('set/', { progress: false });
      expect(summary.deleted).toBe(1);
      await expect(w.catalog.get(image.id)).rejects.toBeInstanceOf(NotFoundError);
      expect((await w.catalog.get(image.id, { includeDeleted: true })).deletedAt).toBeInstanceOf(Date);
      await expect(w.catalog.get(999_999_999)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('ingests a local folder in place under file:// keys', async () => {
      const summary = await w.catalog.ingest(path.join(fixtures, 'b'), { project: 'local', progress: false });
      expect(summary.indexed).toBe(3);
      const image = await w.catalog.getByKey(`file://${path.join(fixtures, 'b')}/${setB.files[0].path}`, { project: 'local' });
      expect(image.gsd!.x).toBeCloseTo(2, 6);
      expect(fs.readdirSync(path.join(fixtures, 'b')).sort()).toEqual([...setB.files.map(f => f.path), 'manifest.json'].sort());
    });
  });

  describe('search and pairs', () => {
    const P = 'search';
    let all: ImagePage;
    beforeAll(async () => {
      await upload(w, 'a', setA, 'a/', f => f.role !== 'bad');
      await upload(w, 'b', setB, 'b/');
      const summary = await w.catalog.ingest('a/', { project: P, progress: false });
      expect(summary.indexed).toBe(9);
      expect((await w.catalog.ingest('b/', { project: P, progress: false })).indexed).toBe(3);
      all = await w.catalog.search({ project: P, limit: 1000 });
      expect(all.images.length).toBe(12);
    });

    const keysOf = (page: ImagePage) => page.images.map(i => i.key).sort();
    const idsWhere = (pred: (key: string) => boolean) =>
      all.images.filter(i => pred(i.key)).map(i => i.id).sort((a, b) => a - b);
    const sorted = (page: ImagePage) => page.ids.sort((a, b) => a - b);
    const around = (site: number, d = 0.0005): [number, number, number, number] => {
      const { lat, lon } = KOREAN_SITES[site].centre;
      return [lon - d, lat - d, lon + d, lat + d];
    };

    it('finds by bbox exactly the images covering that place', async () => {
      // Each site's centre lies inside its pair's footprints (128 px at 0.5 m or 2 m around it)
      // and tens of kilometres from the other sites.
      for (const [site, name] of KOREAN_SITES.map((s, i) => [i, s.name] as const)) {
        const page = await w.catalog.search({ project: P, bbox: around(site) });
        expect(sorted(page), name).toEqual(idsWhere(k => k.includes(`/${name}-`)));
      }
      // Seoul and Daejeon but not Cheongju (east of 127.4).
      const two = await w.catalog.search({ project: P, bbox: [126.9, 36.3, 127.4, 37.6] });
      expect(sorted(two)).toEqual(idsWhere(k => /\/(seoul|daejeon)-/.test(k)));
      expect((await w.catalog.search({ project: P, bbox: [0, 0, 1, 1] })).images).toEqual([]);
      const polygon = await w.catalog.search({
        project: P,
        geometry: { type: 'Polygon', coordinates: [[[127.3, 36.3], [127.45, 36.3], [127.45, 36.4], [127.3, 36.3]]] }
      });
      expect(sorted(polygon)).toEqual(idsWhere(k => k.includes('/daejeon-')));
    });

    it('filters by time, GSD and CRS', async () => {
      const afters = await w.catalog.search({ project: P, from: '2024-01-01' });
      expect(sorted(afters)).toEqual(idsWhere(k => k.endsWith('_after.tif')));
      const befores = await w.catalog.search({ project: P, to: new Date('2023-12-31') });
      expect(sorted(befores)).toEqual(idsWhere(k => k.endsWith('_before.tif')));
      const coarse = await w.catalog.search({ project: P, minGsd: 1 });
      expect(keysOf(coarse)).toEqual(setB.files.map(f => `b/${f.path}`).sort());
      const fine = await w.catalog.search({ project: P, maxGsd: 1, bbox: around(0) });
      expect(keysOf(fine)).toEqual(setA.files.filter(f => f.pair?.startsWith('seoul')).map(f => `a/${f.path}`).sort());
      const utm = await w.catalog.search({ project: P, crs: 32652 });
      expect(sorted(utm)).toEqual(idsWhere(k => k.includes('-32652_')));
    });

    it('pages with a cursor in (capture time, id) order, unknown times last, with no repeats', async () => {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: ImagePage = await w.catalog.search({ project: P, limit: 5, cursor });
        expect(page.images.length).toBeLessThanOrEqual(5);
        seen.push(...page.ids);
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual(all.ids);
      const order = all.images.map(i => [i.captureTime?.getTime() ?? Infinity, i.id]);
      expect(order).toEqual([...order].sort((a, b) => a[0] - b[0] || a[1] - b[1]));
      expect(all.images.at(-1)!.captureTime).toBeNull(); // masks carry no capture time
      await expect(w.catalog.search({ project: P, cursor: 'not-a-cursor' })).rejects.toThrow(/cursor/);
      const iterated: number[] = [];
      for await (const image of w.catalog.iterate({ project: P, limit: 4 })) {
        iterated.push(image.id);
      }
      expect(iterated).toEqual(all.ids);
    });

    it('discovers the before/after pairs of each site with overlap near 1, never across sites', async () => {
      const same = await w.catalog.pairs.discover({ project: P, maxGsdRatio: 1.5 });
      const names = same.pairs.map(p => `${p.before.key} -> ${p.after.key}`).sort();
      const expected = [
        ...setA.pairs.map(p => `a/${p.name}_before.tif -> a/${p.name}_after.tif`),
        ...setB.pairs.map(p => `b/${p.name}_before.tif -> b/${p.name}_after.tif`)
      ].sort();
      expect(names).toEqual(expected);
      for (const p of same.pairs) {
        // the after image is shifted by at most half a pixel of 128: overlap >= 1 - 0.5/128 per axis
        expect(p.overlap).toBeGreaterThan(0.99);
        expect(p.overlap).toBeLessThanOrEqual(1);
        expect(p.daysApart).toBeGreaterThan(500);
        expect(p.gsdRatio).toBeCloseTo(1, 6);
      }
      const any = await w.catalog.pairs.discover({ project: P });
      const site = (key: string) => key.split('/')[1].split('-')[0];
      expect(any.pairs.length).toBeGreaterThan(same.pairs.length); // 0.5 m before vs 2 m after at Seoul
      for (const p of any.pairs) {
        expect(site(p.before.key)).toBe(site(p.after.key));
      }
      expect(any.pairs.map(p => p.overlap)).toEqual([...any.pairs.map(p => p.overlap)].sort((a, b) => b - a));
      expect(any.toDisplay().data['text/plain']).toMatch(/candidate pairs/);
    });
  });

  describe('watch', () => {
    const P = 'watch';
    const key = (name: string) => `incoming/${name}`;
    const good = (i: number) => fileOf('a', setA.files.filter(f => f.role !== 'bad')[i].path);
    const live = (k: string) => w.catalog.getByKey(k, { project: P });
    const countRows = async (k: string) => (await rowsFor(P, k)).length;

    it('indexes uploads as they land, quarantines bad files, reflects deletes; a restart catches up', async () => {
      // The pinned MinIO commit does not flush ListenBucketNotification streams (its
      // trackingResponseWriter hides http.Flusher), so events arrive in ~4 KB chunks: a burst
      // shows up at once, a lone upload only with later traffic. On S3 the scan interval is
      // therefore short here; on the local folder, an hour, so only filesystem events can work.
      const interval = w.objects.kind === 's3' ? 1_500 : 3_600_000;
      let watcher = w.catalog.watch({ prefix: 'incoming/', project: P, reconcileIntervalMs: interval, onError: () => undefined });
      await watcher.ready;
      await sleep(1000); // the notification stream is open by now

      // A burst arrives through events.
      for (let i = 0; i < 8; i++) {
        await w.objects.putFile(key(`burst/${i}.tif`), good(i % 6));
      }
      await until('the burst indexed', async () =>
        (await w.catalog.search({ project: P, limit: 100 })).images.filter(i => i.key.startsWith(key('burst/'))).length === 8 ? true : undefined
      );
      expect(watcher.stats.events).toBeGreaterThan(0);

      // Uploads appear without calling ingest.
      const odd = key('dir with space/ünïcode 50% +1.tif');
      await w.objects.putFile(key('one.tif'), good(0));
      await w.objects.putFile(odd, good(1));
      const one = await until('one.tif indexed', () => live(key('one.tif')));
      await until('odd key indexed', () => live(odd));
      expect(one.key).toBe(key('one.tif'));

      // A bad file is quarantined and the watcher keeps going.
      await w.objects.put(key('broken.tif'), generateBadFiles()[1].bytes);
      await until('broken.tif quarantined', async () =>
        (await w.catalog.quarantine({ project: P })).entries.find(e => e.key === key('broken.tif')) ?? undefined
      );
      await w.objects.putFile(key('two.tif'), good(2));
      await until('two.tif indexed', () => live(key('two.tif')));

      // A delete makes the image disappear from search.
      await w.objects.delete(key('one.tif'));
      await until('one.tif gone', async () => ((await live(key('one.tif')).catch(e => e)) instanceof NotFoundError ? true : undefined));
      expect((await w.catalog.search({ project: P, limit: 100 })).images.map(i => i.key)).not.toContain(key('one.tif'));

      // Stopped, the watcher misses events; restarted, its scan catches up, without duplicates.
      await watcher.stop();
      await w.objects.putFile(key('while-down-1.tif'), good(3));
      await w.objects.putFile(key('while-down-2.tif'), good(4));
      await w.objects.delete(key('two.tif'));
      await sleep(300);
      expect(await countRows(key('while-down-1.tif'))).toBe(0);
      watcher = w.catalog.watch({ prefix: 'incoming/', project: P, reconcileIntervalMs: 3_600_000, onError: () => undefined });
      const caughtUp = await watcher.ready;
      expect(caughtUp.indexed).toBe(2);
      expect(caughtUp.deleted).toBe(1);
      await live(key('while-down-1.tif'));
      await live(key('while-down-2.tif'));
      await expect(live(key('two.tif'))).rejects.toBeInstanceOf(NotFoundError);

      // Replays of events and another scan change nothing.
      const again = await watcher.reconcileNow();
      expect(again.indexed + again.quarantined + again.deleted).toBe(0);
      for (const k of [odd, key('while-down-1.tif'), key('while-down-2.tif'), key('two.tif')]) {
        expect(await countRows(k), k).toBe(1);
      }
      await watcher.stop();
    });
  });
});

// MinIO's Redis notification target (scripts/services.sh configures one) as the watcher's event
// source: every upload and delete arrives as an event, however few there are, and two watchers on
// the same bucket both see all of them (the list is read as a shared log, not consumed).
describe.runIf(services)('watch with bucket events from a Redis list', () => {
  it('indexes each upload and delete through its event, with no scan, for every watcher', async () => {
    const events = services!.s3Events;
    expect(events, 'scripts/services.sh starts MinIO with a Redis notification target').toBeDefined();
    const w = await serverWorkspace(cleanups, tempDir('changelab-catalog-'));
    cleanups.push(() => w.close());
    await w.objects.put('other/readme.txt', Buffer.from('not under the prefix'));
    const seen: Record<string, { key: string; outcome: string; via: string }[]> = { a: [], b: [] };
    const start = (project: 'a' | 'b') =>
      w.catalog.watch({
        prefix: 'incoming/',
        project,
        events: { ...events!, pollMs: 20 },
        reconcileIntervalMs: 3_600_000,
        onEvent: e => seen[project].push(e),
        onError: () => undefined
      });
    const watchers = [start('a'), start('b')];
    await Promise.all(watchers.map(x => x.ready));

    const good = setA.files.filter(f => f.role !== 'bad').map(f => fileOf('a', f.path));
    const keys = ['incoming/1.tif', 'incoming/sub dir/ünï +2%.tif', 'incoming/3.tif'];
    for (const [i, k] of keys.entries()) {
      await w.objects.putFile(k, good[i]);
      // One at a time: each must arrive on its own, not pushed out by later traffic.
      await until(`${k} indexed in both projects`, async () =>
        (await Promise.all(['a', 'b'].map(p => w.catalog.getByKey(k, { project: p })))).length === 2 ? true : undefined
      );
    }
    await w.objects.delete(keys[0]);
    await until('the delete reflected', async () =>
      (await w.catalog.getByKey(keys[0], { project: 'a' }).catch(e => e)) instanceof NotFoundError &&
      (await w.catalog.getByKey(keys[0], { project: 'b' }).catch(e => e)) instanceof NotFoundError
        ? true
        : undefined
    );
    await Promise.all(watchers.map(x => x.stop()));

    for (const project of ['a', 'b'] as const) {
      const acted = seen[project].filter(e => e.outcome !== 'unchanged');
      expect(acted.map(e => [e.key, e.outcome, e.via])).toEqual([
        ...keys.map(k => [k, 'indexed', 'event']),
        [keys[0], 'vanished', 'event']
      ]);
      expect(watchers[project === 'a' ? 0 : 1].stats.reconciles).toBe(1); // only the one at start
    }
  });
});
