// The service routes behind the Validation results, Dataset versions and Training runs panels, over
// HTTP on both deployments (embedded PGlite + local folder, server PostgreSQL + MinIO), against a
// real workspace: a validated ingest of synthetic imagery (the gate quarantines the policy
// breakers), a validation of rows with known bad values, a dataset with two committed versions in
// DVC's format and a training run that used the first. Answers are checked against what the
// fixture wrote (file bytes, logged values, sha256 of the artifact); the checkout refuses to
// overwrite uncommitted work unless forced; unknown projects are 404 and malformed input 400.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dataset from '../../kernel-lib/src/dataset';
import { serve, type IService } from '../../kernel-lib/src/serve';
import { writeSyntheticSet, type ISyntheticSetManifest } from '../../kernel-lib/src/synth';
import { workspaceLogger } from '../../kernel-lib/src/tracking';
import { ExpectationSuite, ingest, validate } from '../../kernel-lib/src/validate';
import type { Workspace } from '../../kernel-lib/src/workspace';
import { tempDir, workspaceBackends } from '../helpers';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

/** A workspace folder with its own changelab.config.json (the service finds datasets/ beside it). */
const backends = workspaceBackends(cleanups);

const fixtures = tempDir('changelab-serve-panels-fixtures-');
let set: ISyntheticSetManifest;
beforeAll(async () => {
  set = await writeSyntheticSet(fixtures, { seed: 'panels', size: 96 });
});

const ROWS = [
  { id: 1, gsd: 0.5, label: 'road' },
  { id: 2, gsd: 3, label: 'field' },
  { id: 3, gsd: null, label: 'road' },
  { id: 4, gsd: 7.25, label: 'lake' },
  { id: 5, gsd: 0.9, label: 'road' }
];

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

describe.each(backends)('panel routes of changelab serve on %s', (_name, open) => {
  const home = tempDir('changelab-serve-panels-');
  const folder = path.join(home, 'datasets', 'seoul');
  let w: Workspace;
  let service: IService;
  let gateRunId: number;
  let rowsRunId: number;
  let tableRunId: number;
  let v1: string;
  let v2: string;
  let runId: string;
  const artifact = path.join(home, 'model.onnx');
  const curve = [0.31, 0.52, 0.64, 0.71, 0.78];

  const call = (p: string, init?: RequestInit) => fetch(`${service.url}${p}`, init);
  const json = async (p: string, status = 200, init?: RequestInit) => {
    const response = await call(p, init);
    const body = await response.json();
    expect(response.status, `${p}: ${JSON.stringify(body)}`).toBe(status);
    return body;
  };
  const post = (p: string, body: unknown, status = 200, headers: Record<string, string> = { 'Content-Type': 'application/json' }) =>
    json(p, status, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(folder, file)), { recursive: true });
    fs.writeFileSync(path.join(folder, file), text);
  };

  beforeAll(async () => {
    fs.writeFileSync(path.join(home, 'changelab.config.json'), '{}\n');
    cleanups.push(async () => fs.rmSync(home, { recursive: true, force: true }));
    w = await open(home);
    cleanups.push(() => w.close());
    // Validation: the ingest gate on the synthetic set, and rows with known bad values.
    for (const f of set.files) {
      await w.objects.putFile(`flights/${f.path}`, path.join(fixtures, f.path));
    }
    const gate = new ExpectationSuite('ingest-policy').add('expect_gsd_to_be_at_most', { max_value: 1 });
    const ingested = await ingest(w, 'flights/', { ingestSuite: gate, progress: false });
    gateRunId = ingested.gateRunId!;
    const rowsSuite = new ExpectationSuite('labels')
      .add('expect_column_values_to_not_be_null', { column: 'gsd' })
      .add('expect_column_values_to_be_between', { column: 'gsd', min_value: 0, max_value: 1 })
      .add('expect_column_values_to_be_in_set', { column: 'label', value_set: ['road', 'field', 'lake'] });
    const result = await validate({ rows: ROWS, name: 'label rows' }, rowsSuite, { workspace: w, display: false });
    rowsRunId = result.json.meta.run_id as number;
    const crsSuite = new ExpectationSuite('crs').add('expect_column_values_to_be_in_set', { column: 'crs_epsg', value_set: [5186] });
    tableRunId = (await validate('image_metadata', crsSuite, { workspace: w, display: false })).json.meta.run_id as number;
    // A dataset with two versions: v2 adds one file, deletes one and modifies one.
    write('a.txt', 'alpha\n');
    write('b.txt', 'bravo\n');
    write('sub/c.txt', 'charlie\n');
    v1 = (await dataset.commit('seoul', 'first chips', { root: home, tag: 'v1' })).rev;
    // A run that trained on v1, with a metric curve and an artifact.
    const logger = workspaceLogger(w, { experiment: 'panels', runName: 'unet-small' });
    await logger.logHyperparams({ lr: 0.001, epochs: 5 });
    for (const [step, value] of curve.entries()) {
      await logger.logMetrics({ 'val/iou': value }, step);
    }
    fs.writeFileSync(artifact, 'not really onnx\n');
    await logger.logArtifact(artifact, 'model/model.onnx');
    await logger.logDataset(await dataset.ref('seoul', { root: home }));
    await logger.finalize('FINISHED');
    runId = logger.runId;
    fs.rmSync(path.join(folder, 'b.txt'));
    write('a.txt', 'alpha, again\n');
    write('d.txt', 'delta\n');
    v2 = (await dataset.commit('seoul', 'more chips', { root: home, tag: 'v2' })).rev;
    service = await serve({ workspace: w });
    cleanups.push(() => service.close());
  }, 240_000);

  it('lists its routes in the OpenAPI document', async () => {
    const doc = await json('/openapi.json');
    const operations = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap(p => Object.values(p).map(o => o.operationId));
    expect(operations).toEqual(
      expect.arrayContaining(['validationRuns', 'validationRun', 'validationOffendingRows', 'datasets', 'datasetVersions', 'datasetDiff', 'datasetCheckout', 'trainingRuns', 'trainingRun'])
    );
    expect(doc.paths['/api/datasets/checkout'].post.responses['409']).toBeDefined();
    expect(doc.paths['/api/validation/runs'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['suite', 'failed', 'limit', 'project']));
  });

  it('validation runs: listed newest first with suite, target and statistics; a failure shows its offending values', async () => {
    const { runs } = await json('/api/validation/runs');
    const ids = runs.map((r: { id: number }) => r.id);
    expect(ids).toEqual(expect.arrayContaining([gateRunId, rowsRunId, tableRunId]));
    expect(ids).toEqual([...ids].sort((a: number, b: number) => b - a));
    const rowsRun = runs.find((r: { id: number }) => r.id === rowsRunId);
    expect(rowsRun).toMatchObject({ suiteName: 'labels', target: 'label rows', targetKind: 'rows', rowCount: ROWS.length, success: false, evaluated: 3, successful: 1 });
    expect(typeof rowsRun.suiteVersion).toBe('string');
    expect((await json('/api/validation/runs?failed=true')).runs.every((r: { success: boolean }) => !r.success)).toBe(true);
    expect((await json('/api/validation/runs?suite=labels')).runs.map((r: { id: number }) => r.id)).toEqual([rowsRunId]);
    expect((await json('/api/validation/runs?limit=1')).runs).toHaveLength(1);

    const detail = await json(`/api/validation/runs/${rowsRunId}`);
    expect(detail.run.id).toBe(rowsRunId);
    expect(detail.statistics).toMatchObject({ evaluated_expectations: 3, successful_expectations: 1, unsuccessful_expectations: 2 });
    const [notNull, between, inSet] = detail.expectations;
    // What the rows hold: one null gsd (row 3), two gsd values above 1 (rows 2 and 4).
    const nulls = ROWS.map((r, i) => (r.gsd === null ? i : -1)).filter(i => i >= 0);
    const outside = ROWS.map((r, i) => (r.gsd !== null && r.gsd > 1 ? i : -1)).filter(i => i >= 0);
    expect(notNull).toMatchObject({ type: 'expect_column_values_to_not_be_null', columns: 'gsd', success: false, unexpectedCount: nulls.length });
    expect(notNull.partialUnexpectedIndexList).toEqual(nulls);
    expect(between).toMatchObject({ type: 'expect_column_values_to_be_between', success: false, unexpectedCount: outside.length, missingCount: nulls.length });
    expect(between.partialUnexpectedList).toEqual(outside.map(i => ROWS[i].gsd));
    expect(between.partialUnexpectedIndexList).toEqual(outside);
    expect(between.kwargs).toMatchObject({ column: 'gsd', min_value: 0, max_value: 1 });
    expect(inSet).toMatchObject({ success: true, unexpectedCount: 0, partialUnexpectedList: [] });
    expect(detail.quarantine).toEqual([]);
  });

  it('a gate run links its failed expectation to the quarantined file and its quarantine entry', async () => {
    const coarse = `flights/${set.files.find(f => f.kind === 'gsd-too-coarse')!.path}`;
    const detail = await json(`/api/validation/runs/${gateRunId}`);
    expect(detail.run).toMatchObject({ id: gateRunId, suiteName: 'ingest-policy', targetKind: 'ingest-batch', success: false });
    const gsd = detail.expectations.find((e: { type: string }) => e.type === 'expect_gsd_to_be_at_most');
    expect(gsd.quarantinedKeys).toEqual([coarse]);
    const entry = detail.quarantine.find((q: { key: string }) => q.key === coarse);
    expect(entry.reason).toMatch(/expect_gsd_to_be_at_most/);
    // The same entry the catalog's quarantine route serves.
    const { entries } = await json('/api/catalog/quarantine');
    expect(entries.find((e: { key: string }) => e.key === coarse).id).toBe(entry.id);
  });

  it("a table run's failed expectation: the rows holding the offending values, with their ids", async () => {
    const detail = await json(`/api/validation/runs/${tableRunId}`);
    expect(detail.run).toMatchObject({ targetKind: 'table', target: 'image_metadata', success: false });
    // What the table says, asked directly.
    const expected = await w.db.query<{ id: string; object_key: string; crs_epsg: string }>(
      `SELECT id::text, object_key, crs_epsg::text FROM image_metadata WHERE project = $1 AND deleted_at IS NULL AND crs_epsg <> 5186 ORDER BY id::text`,
      [w.project]
    );
    expect(expected.length).toBeGreaterThan(0);
    expect(detail.expectations[0].unexpectedCount).toBe(expected.length);
    const found = await json(`/api/validation/runs/${tableRunId}/expectations/0/rows`);
    expect(found).toMatchObject({ table: 'image_metadata', column: 'crs_epsg', columns: ['id', 'object_key', 'crs_epsg'], truncated: false });
    expect(found.rows).toEqual(expected);
    const one = await json(`/api/validation/runs/${tableRunId}/expectations/0/rows?limit=1`);
    expect(one.rows).toEqual(expected.slice(0, 1));
    expect(one.truncated).toBe(expected.length > 1);
    // Rows in memory keep their evidence in the run; positions must exist; projects are checked.
    expect((await json(`/api/validation/runs/${rowsRunId}/expectations/1/rows`, 400)).error.message).toMatch(/rows in memory/);
    await json(`/api/validation/runs/${tableRunId}/expectations/7/rows`, 404);
    await json(`/api/validation/runs/${tableRunId}/expectations/x/rows`, 400);
    await json(`/api/validation/runs/${tableRunId}/expectations/0/rows?project=nope`, 404);
    await json(`/api/validation/runs/${tableRunId}/expectations/0/rows?limit=0`, 400);
  });

  it('validation routes: unknown project 404, bad ids and parameters 400, unknown run 404', async () => {
    expect((await json('/api/validation/runs?project=nope', 404)).error.message).toMatch(/no project "nope"/);
    await json(`/api/validation/runs/${rowsRunId}?project=nope`, 404);
    expect((await json('/api/validation/runs/abc', 400)).error.message).toMatch(/run id/);
    await json('/api/validation/runs/0', 400);
    await json('/api/validation/runs/999999999', 404);
    expect((await json('/api/validation/runs?limit=0', 400)).error.message).toMatch(/"limit"/);
    expect((await json('/api/validation/runs?failed=maybe', 400)).error.message).toMatch(/"failed"/);
    expect((await json('/api/validation/runs?sute=labels', 400)).error.message).toMatch(/unknown query parameter "sute"/);
    // A run of another project is not this project's.
    await w.db.query(`INSERT INTO projects (id, name) VALUES ('other', 'other') ON CONFLICT DO NOTHING`);
    await json(`/api/validation/runs/${rowsRunId}?project=other`, 404);
    expect((await json('/api/validation/runs?project=other')).runs).toEqual([]);
  });

  it('datasets: the versions with message, author, date, size and file count, and the runs of each', async () => {
    const list = await json('/api/datasets');
    expect(fs.realpathSync(list.root)).toBe(fs.realpathSync(home));
    expect(list.clean).toBe(true);
    expect(list.datasets).toHaveLength(1);
    expect(list.datasets[0]).toMatchObject({ name: 'seoul', workspace: 'clean', rev: v2, atHead: true, versions: 2, uncommitted: null });

    const { versions } = await json('/api/datasets/seoul/versions');
    expect(versions.map((v: { rev: string }) => v.rev)).toEqual([v2, v1]);
    const files = (rev: 'v1' | 'v2') =>
      rev === 'v1' ? ['alpha\n', 'bravo\n', 'charlie\n'] : ['alpha, again\n', 'charlie\n', 'delta\n'];
    for (const [v, tag, message] of [[versions[0], 'v2', 'more chips'], [versions[1], 'v1', 'first chips']] as const) {
      expect(v).toMatchObject({ name: 'seoul', message, tags: [tag], nfiles: 3, size: files(tag).reduce((s, t) => s + Buffer.byteLength(t), 0) });
      expect(v.md5).toMatch(/^[0-9a-f]{32}\.dir$/);
      expect(Number.isNaN(Date.parse(v.date))).toBe(false);
      expect(v.author.length).toBeGreaterThan(0);
    }
    // The run trained on v1 only.
    expect(versions[1].runs).toEqual([expect.objectContaining({ runId, rev: v1, name: 'unet-small', experiment: 'panels', status: 'FINISHED' })]);
    expect(versions[0].runs).toEqual([]);
    // Lineage is per project.
    expect((await json('/api/datasets/seoul/versions?project=other')).versions[1].runs).toEqual([]);
  });

  it('datasets: the diff between two versions, and between a version and the workspace', async () => {
    const diff = await json('/api/datasets/seoul/diff?from=v1&to=v2');
    expect(diff).toMatchObject({ from: 'v1', to: 'v2', summary: { added: 1, deleted: 1, modified: 1 }, added: ['d.txt'], deleted: ['b.txt'], modified: ['a.txt'], truncated: false });
    const back = await json(`/api/datasets/seoul/diff?from=${v2}&to=${v1}`);
    expect(back).toMatchObject({ added: ['b.txt'], deleted: ['d.txt'], modified: ['a.txt'] });
    const none = await json('/api/datasets/seoul/diff?from=v2');
    expect(none).toMatchObject({ to: 'workspace', summary: { added: 0, deleted: 0, modified: 0 } });
    expect((await json('/api/datasets/seoul/diff', 400)).error.message).toMatch(/"from" is required/);
    expect((await json('/api/datasets/seoul/diff?from=--output=x', 400)).error.message).toMatch(/from must be a git commit/);
    expect((await json('/api/datasets/seoul/diff?from=v9', 404)).error.message).toMatch(/"v9" is not a git commit/);
    expect((await json('/api/datasets/..%2Fetc/diff?from=v1', 400)).error.message).toMatch(/invalid dataset name/);
    await json('/api/datasets/nothere/versions', 404);
    await json('/api/datasets?project=nope', 404);
    await json('/api/datasets/seoul/diff?from=v1&project=nope', 404);
  });

  it('checkout: refuses over uncommitted changes (409, nothing touched), then with force restores the version byte for byte', async () => {
    write('a.txt', 'edited by hand\n');
    const before = fs.readFileSync(path.join(folder, 'a.txt'), 'utf8');
    const status = await json('/api/datasets');
    expect(status.clean).toBe(false);
    expect(status.datasets[0]).toMatchObject({ workspace: 'modified', changes: { modified: 1 } });
    const refused = await post('/api/datasets/checkout', { rev: 'v1' }, 409);
    expect(refused.error.type).toBe('UncommittedChanges');
    expect(refused.uncommitted).toEqual([expect.stringMatching(/^seoul: 0 added, 0 deleted, 1 modified/)]);
    expect(fs.readFileSync(path.join(folder, 'a.txt'), 'utf8')).toBe(before);
    expect(fs.existsSync(path.join(folder, 'd.txt'))).toBe(true);

    // Malformed requests change nothing either.
    expect((await post('/api/datasets/checkout', '{"rev": ', 400)).error.message).toMatch(/not valid JSON/);
    expect((await post('/api/datasets/checkout', { rev: 'v1' }, 400, { 'Content-Type': 'text/plain' })).error.message).toMatch(/Content-Type: application\/json/);
    expect((await post('/api/datasets/checkout', { rev: 'v1', forse: true }, 400)).error.message).toMatch(/unknown field "forse"/);
    expect((await post('/api/datasets/checkout', { rev: 'v1', force: 'yes' }, 400)).error.message).toMatch(/force must be true or false/);
    expect((await post('/api/datasets/checkout', {}, 400)).error.message).toMatch(/rev must be/);
    expect((await post('/api/datasets/checkout', ['v1'], 400)).error.message).toMatch(/JSON object/);
    await post('/api/datasets/checkout?project=nope', { rev: 'v1', force: true }, 404);
    expect((await json('/api/datasets/checkout', 405)).error.message).toMatch(/allows POST/);
    expect(fs.readFileSync(path.join(folder, 'a.txt'), 'utf8')).toBe(before);

    const done = await post('/api/datasets/checkout', { rev: 'v1', force: true });
    expect(done).toMatchObject({ rev: 'v1', resolved: v1 });
    expect(done.datasets[0]).toMatchObject({ name: 'seoul', written: 2, deleted: 1, unchanged: 1 });
    const read = (f: string) => fs.readFileSync(path.join(folder, f), 'utf8');
    expect([read('a.txt'), read('b.txt'), read('sub/c.txt')]).toEqual(['alpha\n', 'bravo\n', 'charlie\n']);
    expect(fs.existsSync(path.join(folder, 'd.txt'))).toBe(false);
    // At v1 and clean: back to v2 needs no force.
    expect((await json('/api/datasets')).datasets[0]).toMatchObject({ workspace: 'clean', rev: v1, atHead: false, uncommitted: null });
    await post('/api/datasets/checkout', { rev: 'v2', name: 'seoul' });
    expect([read('a.txt'), read('d.txt')]).toEqual(['alpha, again\n', 'delta\n']);
    expect(fs.existsSync(path.join(folder, 'b.txt'))).toBe(false);
    await post('/api/datasets/checkout', { rev: 'nosuchtag' }, 404);
  });

  it('a folder with no dataset workspace: an empty list, 404 for the rest, and nothing written there', async () => {
    const empty = tempDir('changelab-serve-panels-empty-');
    cleanups.push(async () => fs.rmSync(empty, { recursive: true, force: true }));
    fs.writeFileSync(path.join(empty, 'changelab.config.json'), '{}\n');
    // The same database, configured from a file in another folder.
    const elsewhere = Object.create(w, { config: { value: { ...w.config, sources: [path.join(empty, 'changelab.config.json')] } } }) as Workspace;
    const other = await serve({ workspace: elsewhere });
    try {
      const list = (await (await fetch(`${other.url}/api/datasets`)).json()) as { root: string; datasets: unknown[]; clean: boolean };
      expect(list).toEqual({ root: empty, clean: true, datasets: [] });
      expect((await fetch(`${other.url}/api/datasets/seoul/versions`)).status).toBe(404);
      expect((await fetch(`${other.url}/api/datasets/seoul/diff?from=v1`)).status).toBe(404);
      const checkout = await fetch(`${other.url}/api/datasets/checkout`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"rev": "v1"}' });
      expect(checkout.status).toBe(404);
      expect(fs.readdirSync(empty)).toEqual(['changelab.config.json']);
    } finally {
      await other.close();
    }
  });

  it('training runs: params, metric curves, artifacts and dataset version', async () => {
    const { runs } = await json('/api/runs');
    const run = runs.find((r: { id: string }) => r.id === runId);
    expect(run).toMatchObject({ name: 'unet-small', experiment: 'panels', status: 'FINISHED', latestMetrics: { 'val/iou': curve[curve.length - 1] } });
    expect(run.dataset).toMatchObject({ name: 'seoul', rev: v1 });
    expect((await json('/api/runs?experiment=none')).runs).toEqual([]);
    expect((await json('/api/runs?dataset=seoul')).runs.map((r: { id: string }) => r.id)).toEqual([runId]);
    expect((await json('/api/runs?status=FINISHED')).runs.map((r: { id: string }) => r.id)).toContain(runId);

    const detail = await json(`/api/runs/${runId}`);
    expect(detail.params).toEqual({ lr: '0.001', epochs: '5' });
    expect(detail.metrics['val/iou']).toEqual(curve.map((v, i) => [i, v]));
    expect(detail.metricPoints).toEqual({ 'val/iou': curve.length });
    expect(detail.artifacts).toEqual([expect.objectContaining({ path: 'model/model.onnx', size: fs.statSync(artifact).size, sha256: sha256(fs.readFileSync(artifact)) })]);
    expect(detail.dataset).toMatchObject({ name: 'seoul', rev: v1 });
    // Thinned curves keep the first and the last point.
    expect((await json(`/api/runs/${runId}?points=2`)).metrics['val/iou']).toEqual([[0, curve[0]], [curve.length - 1, curve[curve.length - 1]]]);

    expect((await json('/api/runs/xyz', 400)).error.message).toMatch(/32 lower-case hex/);
    await json(`/api/runs/${'0'.repeat(32)}`, 404);
    await json(`/api/runs/${runId}?project=other`, 404);
    await json(`/api/runs/${runId}?project=nope`, 404);
    expect((await json('/api/runs?status=DONE', 400)).error.message).toMatch(/"status" must be one of/);
    await json('/api/runs?points=1', 400);
  });
});
