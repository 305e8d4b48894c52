// Validation on the catalog, on both deployments (embedded PGlite + folder, PostgreSQL + MinIO):
// the ingest gate quarantines the synthetic set's policy breakers with the expectations they
// failed and indexes the rest; the table suite runs by SQL pushdown on image_metadata and agrees
// with the in-memory backend on the same rows (PostGIS ST_IsValid against our footprint check);
// runs are recorded, listed and read back.
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticSet, type ISyntheticSetManifest } from '../../kernel-lib/src/synth';
import { ExpectationSuite, getRun, ingest, listRuns, validate, validateRows } from '../../kernel-lib/src/validate';
import type { Workspace } from '../../kernel-lib/src/workspace';
import { tempDir, workspaceBackends } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const INGEST_SUITE = path.join(ROOT, 'suites', 'ingest.json');
const TABLE_SUITE = path.join(ROOT, 'suites', 'table.json');

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

const backends = workspaceBackends(cleanups, 'changelab-validate-');

const fixtures = tempDir('changelab-validate-fixtures-');
let manifest: ISyntheticSetManifest;
beforeAll(async () => {
  manifest = await writeSyntheticSet(fixtures, { seed: 'validate', size: 128 });
});

// image_metadata rows as the in-memory backend sees them: footprints as GeoJSON.
const ROWS_SQL = `SELECT object_key, format, width, height, bands, data_type, is_cog, crs_epsg, crs_wkt, gsd::float8 AS gsd,
  ST_AsGeoJSON(footprint)::json AS footprint, capture_time, gps_lat, gps_lon, sha256
  FROM image_metadata WHERE project = $1 AND deleted_at IS NULL ORDER BY id`;

describe.each(backends)('validation on the catalog: %s', (_name, open) => {
  let w: Workspace;
  beforeAll(async () => {
    w = await open();
    cleanups.push(() => w.close());
    for (const f of manifest.files) {
      await w.objects.putFile(`flights/${f.path}`, path.join(fixtures, f.path));
    }
  });

  it('the ingest gate quarantines the policy breakers with the expectations they failed, indexes the rest', async () => {
    const run = await ingest(w, 'flights/', { ingestSuite: INGEST_SUITE, tableSuite: TABLE_SUITE, progress: false });
    const good = manifest.files.filter(f => f.role !== 'bad').map(f => `flights/${f.path}`).sort();
    const bad = manifest.files.filter(f => f.role === 'bad');
    const indexed = (await w.db.query<{ object_key: string }>(`SELECT object_key FROM image_metadata WHERE project = $1 AND deleted_at IS NULL`, [w.project]))
      .map(r => r.object_key)
      .sort();
    expect(indexed).toEqual(good);
    const q = new Map((await w.catalog.quarantine()).entries.map(e => [e.key, e]));
    expect([...q.keys()].sort()).toEqual(bad.map(f => `flights/${f.path}`).sort());

    const byKind = (kind: string) => q.get(`flights/${bad.find(f => f.kind === kind)!.path}`)!;
    // The report's "resolution <= 1.0 m?" and "GPS in a valid range?": caught by the gate, with the suite's expectation named.
    expect(byKind('gsd-too-coarse').reason).toMatch(/expect_gsd_to_be_at_most \(gsd\) found 5/);
    expect(byKind('gsd-too-coarse').detail).toMatchObject({ context: { code: 'failed-expectations', suite: 'ingest' } });
    expect(byKind('gps-out-of-range').reason).toMatch(/expect_column_values_to_be_valid_gps \(gps_lat, gps_lon\) found \{"gps_lat":123,"gps_lon":127\}/);
    // "Is every TIF readable?": unreadable files keep the extractor's reason.
    expect(byKind('truncated').reason).not.toMatch(/expect_/);

    // The gate's run: every image it judged, the quarantined keys on the expectations they failed.
    expect(run.gate).not.toBeNull();
    expect(run.gate!.json.meta.row_count).toBe(good.length + 2);
    const gateRun = await getRun(w.db, run.gateRunId!);
    expect(gateRun.targetKind).toBe('ingest-batch');
    const gsd = gateRun.outcomes.find(o => o.expectationType === 'expect_gsd_to_be_at_most')!;
    expect(gsd).toMatchObject({ success: false, unexpectedCount: 1, quarantinedKeys: [`flights/${bad.find(f => f.kind === 'gsd-too-coarse')!.path}`] });

    // The table suite ran on what was indexed.
    expect(run.table!.json.meta.row_count).toBe(good.length);
    expect(run.table!.results.find(r => r.expectation_config.type === 'expect_gsd_to_be_at_most')!.success).toBe(true);
  });

  it('the table suite gives the same answers by SQL pushdown and in memory on the same rows', async () => {
    const suite = ExpectationSuite.load(TABLE_SUITE);
    const sql = await validate('image_metadata', suite, { workspace: w, save: false, display: false });
    const rows = await w.db.query(ROWS_SQL, [w.project]);
    const memory = validateRows(suite, { rows, columns: [...Object.keys(rows[0]), 'project'] });
    const pick = (r: (typeof sql.results)[number]) => [
      r.expectation_config.type,
      r.success,
      r.result.element_count,
      r.result.unexpected_count,
      r.result.missing_count,
      r.result.observed_value
    ];
    expect(sql.results.map(pick)).toEqual(memory.results.map(pick));
  });

  it('imagery expectations fail where the data breaks them, in SQL and in memory alike', async () => {
    const strict = new ExpectationSuite('strict')
      .add('expect_gsd_to_be_at_most', { max_value: 0.25 })
      .add('expect_crs_to_be_known', { epsg_in: [5186] })
      .add('expect_capture_time_to_be_plausible', { min_value: '2000-01-01', max_value: '2001-01-01' })
      .add('expect_raster_band_count_to_be_between', { min_value: 4 })
      .add('expect_raster_to_be_readable');
    const sql = await validate('image_metadata', strict, { workspace: w, save: false, display: false, resultFormat: 'COMPLETE' });
    const rows = await w.db.query(ROWS_SQL, [w.project]);
    const memory = validateRows(strict, rows, { resultFormat: 'COMPLETE' });
    const epsg5186 = rows.filter(r => r.crs_epsg === 5186).length;
    expect(sql.results.map(r => r.result.unexpected_count)).toEqual([rows.length, rows.length - epsg5186, rows.length, rows.length, 0]);
    expect(memory.results.map(r => r.result.unexpected_count)).toEqual(sql.results.map(r => r.result.unexpected_count));
    expect(sql.results.map(r => r.success)).toEqual([false, false, false, false, true]);
  });

  it('runs are recorded and listed newest first; a run reads back with its suite and result', async () => {
    const suite = ExpectationSuite.load(TABLE_SUITE);
    const result = await validate('image_metadata', suite, { workspace: w, display: false, origin: 'test' });
    const id = result.json.meta.run_id as number;
    expect(id).toBeGreaterThan(0);
    const runs = (await listRuns(w.db, { project: w.project })).runs;
    expect(runs[0]).toMatchObject({ id, suiteName: 'image_metadata', suiteVersion: suite.version, target: 'image_metadata', targetKind: 'table', origin: 'test' });
    expect(runs.map(r => r.targetKind)).toContain('ingest-batch');
    const failed = (await listRuns(w.db, { project: w.project, failedOnly: true })).runs;
    expect(failed.every(r => !r.success)).toBe(true);
    const detail = await getRun(w.db, id, w.project);
    expect(detail.suite).toEqual(suite.toJSON());
    expect(detail.result.json.results).toEqual(result.json.results);
    expect(detail.outcomes).toHaveLength(suite.expectations.length);
    expect(detail.rowCount).toBe(result.json.meta.row_count);
    await expect(getRun(w.db, id, 'another-project')).rejects.toThrow(/no validation run/);
  });
});
