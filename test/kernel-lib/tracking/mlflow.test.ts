// MlflowLogger's behaviour at the HTTP boundary, against a recording stand-in for the REST API:
// batches within MLflow's per-request limits, retries of transient failures only, and a training
// run that goes on (nothing thrown, nothing lost that can still be sent) while the server is down.
// What the real server stores is checked in test/integration/tracking.test.ts.
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../kernel-lib/src/errors';
import { isValidMlflowKey, MLFLOW_LIMITS, MlflowLogger, type IMlflowLoggerOptions } from '../../../kernel-lib/src/tracking';
import { tempDir } from '../../helpers';

interface IRecorded {
  method: string;
  path: string;
  body: any;
  url: string;
  authorization: string | null;
}

/** A minimal MLflow REST stand-in that records requests; `fail` may answer instead. */
function fakeServer(fail?: (r: IRecorded, n: number) => Response | 'refuse' | undefined) {
  const requests: IRecorded[] = [];
  let experiments = 0;
  let versions = 0;
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const body =
      init?.body === undefined ? undefined : typeof init.body === 'string' ? JSON.parse(init.body) : Buffer.from(await (init.body as Blob).arrayBuffer());
    const r: IRecorded = {
      method: init?.method ?? 'GET',
      path: url.pathname + url.search,
      body,
      url: String(input),
      authorization: new Headers(init?.headers).get('authorization')
    };
    const failed = fail?.(r, requests.length);
    requests.push(r);
    if (failed === 'refuse') {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    }
    if (failed) {
      return failed;
    }
    const p = url.pathname.replace('/api/2.0/mlflow/', '');
    if (p === 'experiments/get-by-name') {
      return experiments === 0 ? json(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no such experiment' }) : json(200, { experiment: { experiment_id: '7', lifecycle_stage: 'active' } });
    }
    if (p === 'experiments/create') {
      experiments++;
      return json(200, { experiment_id: '7' });
    }
    if (p === 'runs/create') {
      return json(200, { run: { info: { run_id: 'r'.repeat(32), artifact_uri: `mlflow-artifacts:/7/${'r'.repeat(32)}/artifacts` } } });
    }
    if (p === 'model-versions/create') {
      return json(200, { model_version: { version: String(++versions), status: 'READY' } });
    }
    return json(200, {});
  }) as typeof fetch;
  const batches = () => requests.filter(r => r.path.endsWith('/runs/log-batch') && r.body);
  return { fetchImpl, requests, batches };
}

const quiet = (extra: Partial<IMlflowLoggerOptions> = {}, fetchImpl?: typeof fetch): IMlflowLoggerOptions => ({
  trackingUri: 'http://127.0.0.1:1',
  experiment: 'unit',
  runName: 'unit-run',
  retries: 2,
  retryDelayMs: 1,
  onWarning: () => undefined,
  fetch: fetchImpl,
  ...extra
});

describe('MlflowLogger over REST', () => {
  it('creates the experiment and run, sends params and metrics in batches within MLflow limits, in order', async () => {
    const s = fakeServer();
    const logger = new MlflowLogger(quiet({}, s.fetchImpl));
    const params = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p${String(i).padStart(3, '0')}`, i]));
    await logger.logHyperparams(params);
    const metrics = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`m${i}`, i / 3]));
    await logger.logMetrics(metrics, 4);
    await logger.logMetrics({ loss: NaN, up: Infinity, down: -Infinity }, 5);
    await logger.finalize('FINISHED');

    expect(s.requests.slice(0, 3).map(r => `${r.method} ${r.path.split('?')[0]}`)).toEqual([
      'GET /api/2.0/mlflow/experiments/get-by-name',
      'POST /api/2.0/mlflow/experiments/create',
      'POST /api/2.0/mlflow/runs/create'
    ]);
    const create = s.requests[2].body;
    expect(create).toMatchObject({ experiment_id: '7', run_name: 'unit-run' });
    for (const b of s.batches()) {
      const n = (b.body.metrics?.length ?? 0) + (b.body.params?.length ?? 0) + (b.body.tags?.length ?? 0);
      expect(b.body.metrics?.length ?? 0).toBeLessThanOrEqual(MLFLOW_LIMITS.metricsPerBatch);
      expect((b.body.params?.length ?? 0) + (b.body.tags?.length ?? 0)).toBeLessThanOrEqual(MLFLOW_LIMITS.paramsTagsPerBatch);
      expect(n).toBeLessThanOrEqual(MLFLOW_LIMITS.entitiesPerBatch);
    }
    const sentParams = s.batches().flatMap(b => b.body.params ?? []);
    expect(sentParams).toEqual(Object.entries(params).map(([key, value]) => ({ key, value: String(value) })));
    const sentMetrics = s.batches().flatMap(b => b.body.metrics ?? []);
    expect(sentMetrics.map((m: any) => [m.key, m.value, m.step])).toEqual([
      ...Object.entries(metrics).map(([k, v]) => [k, v, 4]),
      ['loss', 'NaN', 5],
      ['up', 'Infinity', 5],
      ['down', '-Infinity', 5]
    ]);
    expect(s.batches().map(b => b.body.metrics?.length ?? 0).filter(n => n > 0)).toEqual([1000, 1000, 500, 3]); // the 2500 went at once (over 1000), the last 3 at finalize
    const last = s.requests[s.requests.length - 1];
    expect(last.path).toBe('/api/2.0/mlflow/runs/update');
    expect(last.body).toMatchObject({ run_id: 'r'.repeat(32), status: 'FINISHED' });
    expect(logger.undelivered).toBe(0);
    expect(logger.warnings).toEqual([]);
  });

  it('retries 5xx and dropped connections, but not a refused request', async () => {
    let bad = 0;
    const s = fakeServer(r => {
      if (r.path.endsWith('/runs/log-batch') && r.body.params && bad < 2) {
        bad++;
        return bad === 1 ? new Response('busy', { status: 503 }) : 'refuse';
      }
      if (r.path.endsWith('/runs/log-batch') && r.body.metrics?.[0]?.key === 'bad') {
        return new Response(JSON.stringify({ error_code: 'INVALID_PARAMETER_VALUE', message: 'nope' }), { status: 400 });
      }
      return undefined;
    });
    const warnings: string[] = [];
    const logger = new MlflowLogger(quiet({ onWarning: w => warnings.push(w), flushIntervalMs: 0 }, s.fetchImpl));
    await logger.logHyperparams({ lr: 0.01 });
    await logger.logMetrics({ bad: 1 }, 0);
    await logger.logMetrics({ good: 2 }, 1);
    await logger.finalize('FINISHED');
    const paramPosts = s.requests.filter(r => r.body?.params);
    expect(paramPosts).toHaveLength(3); // 503, refused, accepted
    expect(s.requests.filter(r => r.body?.metrics?.[0]?.key === 'bad')).toHaveLength(1); // 400: not retried
    expect(s.batches().flatMap(b => b.body.metrics ?? []).map((m: any) => m.key)).toEqual(['bad', 'good']);
    expect(warnings).toEqual([expect.stringMatching(/refused metrics .*INVALID_PARAMETER_VALUE: nope; kept in the workspace run only/)]);
    expect(logger.undelivered).toBe(0);
  });

  it('never throws while the server is down, warns, and reports what was not delivered', async () => {
    const s = fakeServer(() => 'refuse');
    const warnings: string[] = [];
    const dir = tempDir('changelab-mlflow-unit-');
    fs.writeFileSync(path.join(dir, 'model.onnx'), 'onnx');
    const logger = new MlflowLogger(quiet({ onWarning: w => warnings.push(w), cooldownMs: 60_000 }, s.fetchImpl));
    await logger.logHyperparams({ lr: 0.01 });
    for (let step = 0; step < 10; step++) {
      await logger.logMetrics({ loss: 1 / (step + 1) }, step);
    }
    await logger.logArtifact(path.join(dir, 'model.onnx'), 'model/model.onnx');
    expect(await logger.registerModel('cd', 'model', 'champion')).toEqual({ version: '' });
    await logger.finalize('FINISHED');
    expect(logger.runId).toBeUndefined();
    // One attempt series (1 + 2 retries) at the first call, then the cool-down; one more series at finalize.
    expect(s.requests).toHaveLength(6);
    expect(warnings[0]).toMatch(/MLflow at http:\/\/127\.0\.0\.1:1 is unreachable \(.*ECONNREFUSED\).*training goes on/);
    expect(warnings[1]).toMatch(/14 logged item\(s\) could not be delivered \(params, metrics, artifact, register, finish\); the workspace run has them/);
    expect(logger.undelivered).toBe(14);
  });

  it('delivers what was buffered during an outage once the server answers again, each item once', async () => {
    let down = true;
    const s = fakeServer(() => (down ? 'refuse' : undefined));
    const warnings: string[] = [];
    const logger = new MlflowLogger(quiet({ onWarning: w => warnings.push(w), cooldownMs: 0, flushIntervalMs: 0, retries: 0 }, s.fetchImpl));
    await logger.logHyperparams({ lr: 0.01, epochs: 3 });
    for (let step = 0; step < 30; step++) {
      if (step === 20) {
        down = false;
      }
      await logger.logMetrics({ loss: step }, step);
    }
    await logger.finalize('FINISHED');
    expect(logger.runId).toBe('r'.repeat(32));
    expect(s.batches().flatMap(b => b.body.params ?? [])).toEqual([{ key: 'lr', value: '0.01' }, { key: 'epochs', value: '3' }]);
    expect(s.batches().flatMap(b => b.body.metrics ?? []).map((m: any) => m.step)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(warnings).toEqual([expect.stringMatching(/unreachable/), expect.stringMatching(/answers again; buffered items were delivered/)]);
    expect(logger.undelivered).toBe(0);
  });

  it('keeps only the newest metrics when the outage outlasts the buffer', async () => {
    const s = fakeServer(() => 'refuse');
    const warnings: string[] = [];
    const logger = new MlflowLogger(quiet({ onWarning: w => warnings.push(w), cooldownMs: 60_000, maxBufferedMetrics: 25, retries: 0 }, s.fetchImpl));
    for (let step = 0; step < 40; step++) {
      await logger.logMetrics({ loss: step }, step);
    }
    await logger.finalize('FAILED');
    expect(logger.undelivered).toBe(25 + 1);
    expect(warnings.some(w => /15 metric value\(s\) were dropped/.test(w))).toBe(true);
  });

  it('stops logging to MLflow when the server refuses the run itself, without throwing', async () => {
    const s = fakeServer(r => (r.path.includes('runs/create') ? new Response(JSON.stringify({ error_code: 'PERMISSION_DENIED', message: 'read-only' }), { status: 403 }) : undefined));
    const warnings: string[] = [];
    const logger = new MlflowLogger(quiet({ onWarning: w => warnings.push(w) }, s.fetchImpl));
    await logger.logHyperparams({ lr: 1 });
    const seen = s.requests.length;
    await logger.logMetrics({ loss: 1 }, 0);
    await logger.finalize('FINISHED');
    expect(s.requests.length).toBe(seen);
    expect(warnings).toEqual([expect.stringMatching(/cannot create the run: .*403 PERMISSION_DENIED: read-only; logging to MLflow is off for this run/)]);
  });

  it('filters names MLflow would refuse, with one warning per name, and checks bad input at once', async () => {
    const s = fakeServer();
    const warnings: string[] = [];
    const logger = new MlflowLogger(quiet({ onWarning: w => warnings.push(w), flushIntervalMs: 0 }, s.fetchImpl));
    await logger.logMetrics({ 'train/loss': 1, 'epoch=3': 2, 'a//b': 3 }, 0);
    await logger.logMetrics({ 'epoch=3': 2 }, 1);
    await logger.logMetrics({ 'train/loss': 4 }, 1.5);
    expect(s.batches().flatMap(b => b.body.metrics ?? []).map((m: any) => m.key)).toEqual(['train/loss']);
    expect(warnings).toHaveLength(3);
    expect(warnings[2]).toBe('MLflow: metrics at step 1.5 skipped: a step must be an integer');
    await expect(logger.logArtifact('/no/such/file.onnx', 'model/model.onnx')).rejects.toThrow(NotFoundError);
    await expect(logger.registerModel('cd', 'model')).rejects.toThrow(/has no artifact model/);
    expect(() => new MlflowLogger({ trackingUri: 'localhost:5000' })).toThrow(/not a URL|http/);
    expect(() => new MlflowLogger({ trackingUri: 'file:///tmp/mlruns' })).toThrow(/must be http/);
  });

  it('registers no version whose files the server refused, without throwing', async () => {
    const s = fakeServer(r => (r.method === 'PUT' ? new Response(JSON.stringify({ error_code: 'INVALID_PARAMETER_VALUE', message: 'no artifacts here' }), { status: 400 }) : undefined));
    const warnings: string[] = [];
    const dir = tempDir('changelab-mlflow-refused-');
    fs.writeFileSync(path.join(dir, 'model.onnx'), 'onnx');
    const logger = new MlflowLogger(quiet({ onWarning: w => warnings.push(w) }, s.fetchImpl));
    await logger.logArtifact(path.join(dir, 'model.onnx'), 'model/model.onnx');
    expect(await logger.registerModel('cd', 'model', 'champion')).toEqual({ version: '' });
    await logger.finalize('FINISHED');
    expect(s.requests.filter(r => r.path.includes('model-versions') || r.path.includes('registered-models'))).toEqual([]);
    expect(warnings).toEqual([
      expect.stringMatching(/refused artifact .*no artifacts here/),
      expect.stringMatching(/refused register .*did not reach the server, so no version is registered there/)
    ]);
    expect(s.requests[s.requests.length - 1].path).toBe('/api/2.0/mlflow/runs/update');
  });

  it('sends credentials in the tracking URI as Basic authorization, never in the URL', async () => {
    const s = fakeServer();
    const dir = tempDir('changelab-mlflow-auth-');
    fs.writeFileSync(path.join(dir, 'model.onnx'), 'onnx');
    const logger = new MlflowLogger(quiet({ trackingUri: 'http://trainer:p%40ss@127.0.0.1:1/' }, s.fetchImpl));
    await logger.logArtifact(path.join(dir, 'model.onnx'), 'model/model.onnx');
    await logger.finalize('FINISHED');
    expect(logger.trackingUri).toBe('http://127.0.0.1:1');
    expect(s.requests.length).toBeGreaterThan(3);
    for (const r of s.requests) {
      expect(r.url.startsWith('http://127.0.0.1:1/api/2.0/')).toBe(true);
      expect(r.authorization).toBe(`Basic ${Buffer.from('trainer:p@ss').toString('base64')}`);
    }
    const put = s.requests.find(r => r.method === 'PUT')!;
    expect(put.path).toBe(`/api/2.0/mlflow-artifacts/artifacts/7/${'r'.repeat(32)}/artifacts/model/model.onnx`);
    expect(put.body.toString()).toBe('onnx');
  });

  it('knows MLflow key rules', () => {
    for (const ok of ['train/loss', 'val/iou', 'lr-Adam', 'epoch', 'a.b c:d', '변화율']) {
      expect(isValidMlflowKey(ok)).toBe(true);
    }
    for (const bad of ['', '/abs', 'a//b', 'a/./b', '../x', 'a/', 'x=1', 'k'.repeat(251)]) {
      expect(isValidMlflowKey(bad)).toBe(false);
    }
  });
});
