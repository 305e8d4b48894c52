// Image rows are written in batches: concurrent upserts on one database share a statement (group
// commit). What each caller sees must not change: its own row id, newest-read-wins per key, other
// versions retired, quarantine resolved, and one bad row failing alone instead of its whole batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedByteSource, extractMetadata } from '../../../kernel-lib/src/catalog/extract';
import { isSimpleFootprint, quarantine, upsertImage, wkb } from '../../../kernel-lib/src/catalog/indexer';
import type { Geometry4326, IImageMetadata } from '../../../kernel-lib/src/catalog/types';
import { createRandom, generatePair } from '../../../kernel-lib/src/synth';
import type { IObjectInfo } from '../../../kernel-lib/src/objects/store';
import type { Workspace } from '../../../kernel-lib/src/workspace';
import { serverWorkspace, testServices } from '../../helpers';

const services = testServices();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

async function metadataOf(bytes: Uint8Array, key: string): Promise<IImageMetadata> {
  const source = cachedByteSource(key, bytes.length, async (offset, length) => bytes.subarray(offset, offset + length));
  return extractMetadata(source, { key, size: bytes.length, etag: 'e' });
}

const info = (key: string, etag: string, modified: number, versionId: string | null = null): IObjectInfo => ({
  key,
  size: 1000,
  etag,
  lastModified: new Date(Date.UTC(2026, 0, 1) + modified * 1000),
  versionId
});

describe.runIf(services)('batched image upserts (server PostgreSQL)', () => {
  let w: Workspace;
  let image: IImageMetadata;
  const project = 'upsert-test';
  beforeAll(async () => {
    w = await serverWorkspace(cleanups);
    await w.db.query(`INSERT INTO projects (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [project]);
    const pair = generatePair({ seed: 'upsert', width: 64, crs: 5186, gsd: 0.5 });
    image = await metadataOf(pair.before, 'a.tif');
  }, 120_000);

  const live = (key: string) =>
    w.db.query<{ id: string; etag: string; version_id: string | null }>(
      `SELECT id::text, etag, version_id FROM image_metadata WHERE project = $1 AND object_key = $2 AND deleted_at IS NULL`,
      [project, key]
    );

  it('gives each concurrent caller its own row id, and one live row per key', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `many/img_${i}.tif`);
    const ids = await Promise.all(keys.map(key => upsertImage(w.db, project, key, info(key, `etag-${key}`, 1), image)));
    expect(new Set(ids).size).toBe(keys.length);
    const rows = await w.db.query<{ id: string; object_key: string; etag: string }>(
      `SELECT id::text, object_key, etag FROM image_metadata WHERE project = $1 AND object_key LIKE 'many/%'`,
      [project]
    );
    expect(rows).toHaveLength(keys.length);
    for (const row of rows) {
      const i = keys.indexOf(row.object_key);
      expect(Number(row.id)).toBe(ids[i]);
      expect(row.etag).toBe(`etag-${row.object_key}`);
    }
  });

  it('keeps the newest read of a key when reads of it arrive together, in any order', async () => {
    const key = 'race/a.tif';
    // modified 3 is the newest; it must win whichever statement each lands in.
    const results = await Promise.all(
      [2, 3, 1, 3, 2].map((m, i) => upsertImage(w.db, project, key, info(key, `etag-${m}`, m), image).then(id => ({ i, id })))
    );
    const rows = await live(key);
    expect(rows).toHaveLength(1);
    expect(rows[0].etag).toBe('etag-3');
    // The older reads that came after the newest one was written return null: their row was kept.
    expect(results.every(r => r.id === null || r.id === Number(rows[0].id))).toBe(true);
    const all = await w.db.query(`SELECT 1 FROM image_metadata WHERE project = $1 AND object_key = $2`, [project, key]);
    expect(all).toHaveLength(1);
  });

  it('retires the other versions of a key and resolves its open quarantine entries', async () => {
    const key = 'versions/a.tif';
    await quarantine(w.db, project, key, info(key, 'bad-etag', 1, 'v0'), new Error('truncated'));
    await Promise.all([
      upsertImage(w.db, project, key, info(key, 'e1', 1, 'v1'), image),
      upsertImage(w.db, project, 'versions/b.tif', info('versions/b.tif', 'e1', 1, 'v1'), image)
    ]);
    await upsertImage(w.db, project, key, info(key, 'e2', 2, 'v2'), image);
    const rows = await live(key);
    expect(rows.map(r => r.version_id)).toEqual(['v2']);
    const all = await w.db.query<{ version_id: string; deleted: boolean }>(
      `SELECT version_id, deleted_at IS NOT NULL AS deleted FROM image_metadata WHERE project = $1 AND object_key = $2 ORDER BY version_id`,
      [project, key]
    );
    expect(all).toEqual([
      { version_id: 'v1', deleted: true },
      { version_id: 'v2', deleted: false }
    ]);
    const [q] = await w.db.query<{ resolved: boolean }>(`SELECT resolved FROM quarantine WHERE project = $1 AND object_key = $2`, [
      project,
      key
    ]);
    expect(q.resolved).toBe(true);
    expect(await live('versions/b.tif')).toHaveLength(1);
  });

  it('stores footprints and locations exactly as extracted (sent as WKB)', async () => {
    const split: IImageMetadata = {
      ...image,
      // An antimeridian-crossing footprint: two polygons, one with a hole.
      footprint: {
        type: 'MultiPolygon',
        coordinates: [
          [[[179.5, -17.25], [180, -17.25], [180, -16.75], [179.5, -16.75], [179.5, -17.25]]],
          [
            [[-180, -17.25], [-179.5, -17.25], [-179.5, -16.75], [-180, -16.75], [-180, -17.25]],
            [[-179.9, -17.1], [-179.9, -16.9], [-179.6, -16.9], [-179.6, -17.1], [-179.9, -17.1]]
          ]
        ]
      }
    };
    const still: IImageMetadata = { ...image, format: 'JPEG', footprint: { type: 'Point', coordinates: [127.123456789, 37.5] } };
    await Promise.all([
      upsertImage(w.db, project, 'geometry/split.tif', info('geometry/split.tif', 'e', 1), split),
      upsertImage(w.db, project, 'geometry/polygon.tif', info('geometry/polygon.tif', 'e', 1), image),
      upsertImage(w.db, project, 'geometry/still.jpg', info('geometry/still.jpg', 'e', 1), still)
    ]);
    const rows = await w.db.query<{ object_key: string; footprint: unknown; location: unknown }>(
      `SELECT object_key, ST_AsGeoJSON(footprint, 15)::json AS footprint, ST_AsGeoJSON(location, 15)::json AS location
       FROM image_metadata WHERE project = $1 AND object_key LIKE 'geometry/%' ORDER BY object_key`,
      [project]
    );
    expect(rows).toEqual([
      {
        object_key: 'geometry/polygon.tif',
        footprint: image.footprint!.type === 'Polygon' ? { type: 'MultiPolygon', coordinates: [image.footprint!.coordinates] } : image.footprint,
        location: null
      },
      { object_key: 'geometry/split.tif', footprint: split.footprint, location: null },
      { object_key: 'geometry/still.jpg', footprint: null, location: still.footprint }
    ]);
  });

  it('skips ST_MakeValid only for footprints PostGIS itself finds valid (random rings as the oracle)', async () => {
    // The extractor's own footprints are vouched for (else nothing is saved).
    expect(isSimpleFootprint(image.footprint!)).toBe(true);
    const random = createRandom('simple-footprints');
    const rings: number[][][] = [];
    for (let i = 0; i < 400; i++) {
      const n = 3 + Math.floor(random.range(0, 6));
      const ring = Array.from({ length: n }, () => [Math.round(random.range(0, 4)) / 2, Math.round(random.range(0, 4)) / 2]);
      rings.push([...ring, ring[0]]);
    }
    const geometries: Geometry4326[] = rings.map(ring => ({ type: 'Polygon', coordinates: [ring] }));
    const vouched = geometries.filter(g => isSimpleFootprint(g));
    expect(vouched.length).toBeGreaterThan(10);
    const rows = await w.db.query<{ valid: boolean }>(`SELECT ST_IsValid(ST_GeomFromWKB(g, 4326)) AS valid FROM unnest($1::bytea[]) g`, [
      vouched.map(wkb)
    ]);
    expect(rows.every(r => r.valid)).toBe(true);
    // And a bow-tie written through the upsert comes out repaired.
    const bowTie: IImageMetadata = { ...image, footprint: { type: 'Polygon', coordinates: [[[127, 37], [127.1, 37.1], [127.1, 37], [127, 37.1], [127, 37]]] } };
    await upsertImage(w.db, project, 'geometry/bow-tie.tif', info('geometry/bow-tie.tif', 'e', 1), bowTie);
    const [row] = await w.db.query<{ valid: boolean; parts: number }>(
      `SELECT ST_IsValid(footprint) AS valid, ST_NumGeometries(footprint) AS parts FROM image_metadata WHERE project = $1 AND object_key = $2`,
      [project, 'geometry/bow-tie.tif']
    );
    expect(row).toEqual({ valid: true, parts: 2 });
  });

  it('fails only the bad row of a batch; the rows written with it are kept', async () => {
    // A row the table refuses (width > 0 is checked): its statement fails.
    const broken: IImageMetadata = { ...image, width: 0 };
    const keys = Array.from({ length: 20 }, (_, i) => `mixed/img_${i}.tif`);
    const settled = await Promise.allSettled(
      keys.map((key, i) => upsertImage(w.db, project, key, info(key, 'e', 1), i === 7 ? broken : image))
    );
    expect(settled.filter(s => s.status === 'rejected')).toHaveLength(1);
    expect(settled[7].status).toBe('rejected');
    const rows = await w.db.query<{ object_key: string }>(
      `SELECT object_key FROM image_metadata WHERE project = $1 AND object_key LIKE 'mixed/%' AND deleted_at IS NULL`,
      [project]
    );
    expect(rows.map(r => r.object_key).sort()).toEqual(keys.filter((_, i) => i !== 7).sort());
  });
});
