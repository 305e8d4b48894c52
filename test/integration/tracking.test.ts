// Experiment tracking end to end on the server deployment (PostgreSQL + PostGIS, MinIO) with a real
// `mlflow server` (scripts/services.sh, from .venv-oracles-mlflow). A run is logged the way a
// Trainer logs it, to every logger `loggersFromConfig` gives; then MLflow's own Python client
// (MlflowClient, the oracle) reads the run back — params, metric histories, artifact bytes, dataset
// input, model version and alias must equal what was sent — and the workspace's run store must
// hold the same run. Also: MLflow down for the whole run, and down in the middle of one.
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagesForRun } from '../../kernel-lib/src/dataset/lineage';
import type { IDatasetRef } from '../../kernel-lib/src/dataset/manifest';
import { getModelVersion, getRun, listRuns, loggersFromConfig, MlflowLogger, workspaceLogger, type WorkspaceLogger } from '../../kernel-lib/src/tracking';
import type { ITrainLogger } from '../../kernel-lib/src/train/logger';
import { connect, type Workspace } from '../../kernel-lib/src/workspace';
import { freshServerDatabase, tempDir, testServices, uniqueName, serverWorkspace } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const ORACLE_PYTHON = path.join(ROOT, '.venv-oracles-mlflow', 'bin', 'python');
const READBACK = path.join(ROOT, 'test', 'kernel-lib', 'tracking', 'mlflow_readback.py');

const services = testServices();
const mlflowUrl = process.env.CHANGELAB_TEST_MLFLOW_URL;
const required = process.env.CHANGELAB_TEST_REQUIRE_SERVICES === '1';
if (required && !mlflowUrl) {
  throw new Error('CHANGELAB_TEST_MLFLOW_URL is missing: scripts/services.sh start runs the mlflow service (run through `npm test`)');
}
if (required && !fs.existsSync(ORACLE_PYTHON)) {
  throw new Error(`the MLflow oracle environment is missing (${ORACLE_PYTHON}); run scripts/oracles.sh to create it`);
}
const ready = Boolean(services && mlflowUrl && fs.existsSync(ORACLE_PYTHON));

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

interface IReadback {
  run_id: string;
  run_name: string;
  experiment_name: string;
  status: string;
  start_time: number;
  end_time: number;
  artifact_uri: string;
  params: Record<string, string>;
  tags: Record<string, string>;
  metrics: Record<string, [number, number | string, number][]>;
  artifacts: { path: string; size: number; bytes: number; sha256: string }[];
  datasets: { name: string; digest: string; source_type: string; source: Record<string, unknown>; profile: { num_images: number; image_ids?: number[] }; tags: Record<string, string> }[];
  model?: { name: string; version: string; source: string; run_id: string; status: string; aliases: Record<string, string>; versions: number[] };
}

function readBack(runId: string, model?: [string, string]): IReadback {
  const out = execFileSync(ORACLE_PYTHON, [READBACK, mlflowUrl!, runId, ...(model ?? [])], {
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 64 << 20
  });
  return JSON.parse(out) as IReadback;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const asMlflow = (v: number) => (Number.isNaN(v) ? 'NaN' : v);

/** What a Trainer does: every call to every logger, in order. */
async function each(loggers: ITrainLogger[], call: (l: ITrainLogger) => Promise<unknown>): Promise<void> {
  for (const l of loggers) {
    await call(l);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

describe.runIf(ready)('tracking: server workspace + real MLflow server (MlflowClient as the oracle)', () => {
  let ws: Workspace;
  const files = tempDir('changelab-tracking-it-');
  const modelBytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 2654435761) >>> 24));
  const dataset: IDatasetRef = {
    name: 'seoul-gangnam-pairs',
    rev: 'c0ffee0123456789abcdef0123456789abcdef01',
    md5: '9e107d9d372bb6826bd81d3542a419d6.dir',
    path: path.join(files, 'datasets', 'seoul-gangnam-pairs'),
    imageIds: [101, 102, 205, 206]
  };

  beforeAll(async () => {
    ws = await serverWorkspace(cleanups, tempDir('changelab-tracking-ws-'), { CHANGELAB_MLFLOW_URL: mlflowUrl! });
    cleanups.push(() => ws.close());
    fs.writeFileSync(path.join(files, 'model.onnx'), modelBytes);
    fs.mkdirSync(path.join(files, 'ckpt', 'optimizer'), { recursive: true });
    fs.writeFileSync(path.join(files, 'ckpt', 'state.json'), JSON.stringify({ epoch: 3, step: 299 }));
    fs.writeFileSync(path.join(files, 'ckpt', 'optimizer', 'adam.bin'), Buffer.alloc(1000, 7));
  });

  it('logs a run to the workspace and to MLflow; MLflow reads back exactly what was sent', async () => {
    const experiment = uniqueName('changelab-it');
    const modelName = uniqueName('cd-fc-siam-diff');
    const warnings: string[] = [];
    const loggers = loggersFromConfig(ws, { experiment, runName: 'fc-siam-diff-seed7', mlflow: { onWarning: w => warnings.push(w) } });
    expect(loggers.map(l => l.name)).toEqual(['workspace', 'mlflow']);
    const [local, remote] = loggers as [WorkspaceLogger, MlflowLogger];

    const params = { model: 'fc-siam-diff', lr: 0.001, batch: 8, precision: '16-mixed', deterministic: true, seed: 7, note: 'x'.repeat(7000) };
    const sent: Record<string, [number, number][]> = { 'train/loss': [], 'lr-Adam': [], 'val/iou': [], 'val/f1': [] };
    const t0 = Date.now();
    await each(loggers, l => l.logHyperparams(params));
    for (let step = 0; step < 1500; step++) {
      const m: Record<string, number> = { 'train/loss': Math.exp(-step / 300) + (step % 7) / 1000, 'lr-Adam': 0.001 * Math.cos(step / 1000) };
      if (step % 300 === 299) {
        m['val/iou'] = step === 899 ? NaN : 0.5 + step / 6000;
        m['val/f1'] = 0.6 + step / 6000;
      }
      for (const [k, v] of Object.entries(m)) {
        sent[k].push([step, v]);
      }
      await each(loggers, l => l.logMetrics(m, step));
    }
    await each(loggers, l => l.logDataset(dataset));
    await each(loggers, l => l.logArtifact(path.join(files, 'model.onnx'), 'model/model.onnx'));
    await each(loggers, l => l.logArtifact(path.join(files, 'ckpt'), 'checkpoints/epoch=3-step=299'));
    const versions: string[] = [];
    await each(loggers, async l => versions.push((await l.registerModel(modelName, 'model', 'champion')).version));
    await each(loggers, l => l.finalize('FINISHED'));
    const t1 = Date.now();
    expect(versions).toEqual(['1', '1']);
    expect(warnings).toEqual([]);
    expect(remote.undelivered).toBe(0);

    const mlflowRunId = remote.runId!;
    const back = readBack(mlflowRunId, [modelName, 'champion']);

    // Run identity, status and the links between the two stores.
    expect(back.run_name).toBe('fc-siam-diff-seed7');
    expect(back.experiment_name).toBe(experiment);
    expect(back.status).toBe('FINISHED');
    expect(back.start_time).toBeGreaterThanOrEqual(t0);
    expect(back.end_time).toBeLessThanOrEqual(t1);
    expect(back.tags['changelab.run_id']).toBe(local.runId);
    const run = (await getRun(ws, local.runId)).run;
    expect(run.links.mlflow).toEqual({ runId: mlflowRunId, experimentId: remote.runInfo!.experimentId, url: remote.runInfo!.url });

    // Params: strings, long values cut at MLflow's 6000 characters in both stores.
    const expectedParams = { ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])), note: 'x'.repeat(6000) };
    expect(back.params).toEqual(expectedParams);
    expect(run.params).toEqual(expectedParams);

    // Metric histories: every (step, value), NaN included, timestamps in logging order.
    expect(Object.keys(back.metrics).sort()).toEqual(Object.keys(sent).sort());
    for (const [key, history] of Object.entries(sent)) {
      expect(back.metrics[key].map(([s, v]) => [s, v]), key).toEqual(history.map(([s, v]) => [s, asMlflow(v)]));
      expect(run.metrics[key].map(p => [p.step, p.value]), key).toEqual(history);
      const ts = back.metrics[key].map(p => p[2]);
      expect(ts[0]).toBeGreaterThanOrEqual(t0);
      expect(ts[ts.length - 1]).toBeLessThanOrEqual(t1);
    }

    // Artifacts: the same files, the same bytes, in MLflow and in the workspace object store.
    const expectedArtifacts = [
      ['checkpoints/epoch=3-step=299/optimizer/adam.bin', fs.readFileSync(path.join(files, 'ckpt', 'optimizer', 'adam.bin'))],
      ['checkpoints/epoch=3-step=299/state.json', fs.readFileSync(path.join(files, 'ckpt', 'state.json'))],
      ['model/model.onnx', modelBytes]
    ] as const;
    expect(back.artifacts).toEqual(expectedArtifacts.map(([p, b]) => ({ path: p, size: b.length, bytes: b.length, sha256: sha256(b) })));
    expect(run.artifacts.map(a => [a.path, a.size, a.sha256])).toEqual(expectedArtifacts.map(([p, b]) => [p, b.length, sha256(b)]));
    for (const a of run.artifacts) {
      expect(sha256(await ws.objects.get(a.key))).toBe(a.sha256);
    }

    // Dataset lineage: MLflow's dataset input and tags; the workspace run's dataset columns.
    expect(back.datasets).toEqual([
      {
        name: dataset.name,
        digest: dataset.md5,
        source_type: 'dvc',
        source: { rev: dataset.rev, md5: dataset.md5, path: dataset.path },
        profile: { num_images: 4, image_ids: dataset.imageIds },
        tags: { 'mlflow.data.context': 'training' }
      }
    ]);
    expect(back.tags).toMatchObject({
      'changelab.dataset.name': dataset.name,
      'changelab.dataset.rev': dataset.rev,
      'changelab.dataset.md5': dataset.md5
    });
    expect(run.dataset).toEqual(dataset);
    expect((await imagesForRun(ws.db, local.runId)).sort((x, y) => x - y)).toEqual(dataset.imageIds);

    // Model registry: version 1 of the model, aliased champion, pointing at this run's model folder.
    expect(back.model).toEqual({
      name: modelName,
      version: '1',
      source: `${back.artifact_uri}/model`,
      run_id: mlflowRunId,
      status: 'READY',
      aliases: { champion: '1' },
      versions: [1]
    });
    expect(run.models).toEqual([expect.objectContaining({ name: modelName, version: 1, aliases: ['champion'], artifactPath: 'model' })]);

    // A second run registering the same model moves the alias in both registries.
    const second = loggersFromConfig(ws, { experiment, runName: 'fc-siam-diff-seed8' });
    await each(second, l => l.logArtifact(path.join(files, 'model.onnx'), 'model/model.onnx'));
    const v2: string[] = [];
    await each(second, async l => v2.push((await l.registerModel(modelName, 'model', 'champion')).version));
    await each(second, l => l.finalize('FINISHED'));
    expect(v2).toEqual(['2', '2']);
    const back2 = readBack((second[1] as MlflowLogger).runId!, [modelName, 'champion']);
    expect(back2.model).toMatchObject({ version: '2', aliases: { champion: '2' }, versions: [1, 2] });
    const listed = await listRuns(ws, { experiment });
    expect(listed.runs.map(r => r.name)).toEqual(['fc-siam-diff-seed8', 'fc-siam-diff-seed7']);
    expect(listed.runs[1].latestMetrics['val/f1']).toBeCloseTo(0.6 + 1499 / 6000, 12);
  });

  it('gives concurrent registrations of one model distinct, consecutive versions (PostgreSQL row lock)', async () => {
    const name = uniqueName('cd-concurrent');
    const loggers = Array.from({ length: 6 }, () => workspaceLogger(ws, { experiment: 'concurrent' }));
    await Promise.all(loggers.map(l => l.logArtifact(path.join(files, 'model.onnx'), 'model/model.onnx')));
    const versions = await Promise.all(loggers.map(l => l.registerModel(name, 'model', 'champion')));
    expect(versions.map(v => Number(v.version)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    const champion = await getModelVersion(ws, name, 'champion');
    // The alias ends on whichever registration committed last: the highest version.
    expect(champion.version).toBe(6);
    expect(champion.run).toBe(loggers[versions.findIndex(v => v.version === '6')].runId);
  });

  it('an MLflow outage in the middle of a run delays delivery but loses nothing', async () => {
    let down = false;
    let refused = 0;
    const flaky = (async (input: string | URL | Request, init?: RequestInit) => {
      if (down) {
        refused++;
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      }
      return fetch(input, init);
    }) as typeof fetch;
    const warnings: string[] = [];
    const logger = new MlflowLogger({
      trackingUri: mlflowUrl!,
      experiment: uniqueName('changelab-outage'),
      runName: 'outage',
      fetch: flaky,
      retries: 1,
      retryDelayMs: 5,
      cooldownMs: 0,
      flushIntervalMs: 0,
      onWarning: w => warnings.push(w)
    });
    await logger.logHyperparams({ lr: 0.01 });
    for (let step = 0; step < 150; step++) {
      down = step >= 50 && step < 100;
      await logger.logMetrics({ loss: step / 10 }, step);
    }
    await logger.finalize('FINISHED');
    expect(refused).toBeGreaterThan(0);
    expect(warnings).toEqual([expect.stringMatching(/unreachable/), expect.stringMatching(/answers again/)]);
    const back = readBack(logger.runId!);
    expect(back.metrics.loss.map(([s, v]) => [s, v])).toEqual(Array.from({ length: 150 }, (_, i) => [i, i / 10]));
    expect(back.status).toBe('FINISHED');
  });

  it('with MLflow unreachable for the whole run, training goes on and the workspace run is complete', async () => {
    const port = await freePort();
    const down = await connect({
      cwd: tempDir('changelab-tracking-down-'),
      env: {
        CHANGELAB_DATABASE_URL: await freshServerDatabase(services!.databaseUrl, cleanups),
        CHANGELAB_S3_ENDPOINT: services!.s3.endpoint,
        CHANGELAB_S3_ACCESS_KEY: services!.s3.accessKey,
        CHANGELAB_S3_SECRET_KEY: services!.s3.secretKey,
        CHANGELAB_S3_BUCKET: uniqueName('cltrack'),
        CHANGELAB_MLFLOW_URL: `http://127.0.0.1:${port}`
      }
    });
    cleanups.push(() => down.close());
    const warnings: string[] = [];
    const loggers = loggersFromConfig(down, { experiment: 'offline', mlflow: { retries: 1, retryDelayMs: 5, onWarning: w => warnings.push(w) } });
    await each(loggers, l => l.logHyperparams({ lr: 0.01 }));
    for (let step = 0; step < 200; step++) {
      await each(loggers, l => l.logMetrics({ loss: 1 / (step + 1) }, step));
    }
    await each(loggers, l => l.logDataset(dataset));
    await each(loggers, l => l.logArtifact(path.join(files, 'model.onnx'), 'model/model.onnx'));
    const versions: string[] = [];
    await each(loggers, async l => versions.push((await l.registerModel('cd-offline', 'model/model.onnx', 'champion')).version));
    await each(loggers, l => l.finalize('FINISHED'));
    expect(versions).toEqual(['1', '']);
    expect(warnings[0]).toMatch(new RegExp(`MLflow at http://127.0.0.1:${port} is unreachable .*ECONNREFUSED`));
    expect(warnings.some(w => /could not be delivered .*the workspace run has them/.test(w))).toBe(true);
    const run = (await getRun(down, loggers[0].runId)).run;
    expect(run.status).toBe('FINISHED');
    expect(run.params).toEqual({ lr: '0.01' });
    expect(run.metrics.loss).toHaveLength(200);
    expect(run.dataset).toEqual(dataset);
    expect(run.artifacts.map(a => [a.path, a.sha256])).toEqual([['model/model.onnx', sha256(modelBytes)]]);
    expect(run.models).toEqual([expect.objectContaining({ version: 1, aliases: ['champion'] })]);
    expect(run.links).toEqual({});
  });
});
