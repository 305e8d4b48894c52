// The workspace run store on the embedded database (PGlite + PostGIS, local object folder): what a
// Trainer logs through `workspaceLogger` is what `getRun` / `listRuns` give back, artifacts are
// byte-identical copies in the object store, model versions and aliases behave as MLflow's do.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagesForRun } from '../../../kernel-lib/src/dataset/lineage';
import type { IDatasetRef } from '../../../kernel-lib/src/dataset/manifest';
import { stopEmbeddedDatabase } from '../../../kernel-lib/src/db/embedded';
import { NotFoundError, StorageError } from '../../../kernel-lib/src/errors';
import {
  getModelVersion,
  getRun,
  listRuns,
  loggersFromConfig,
  RunConflictError,
  workspaceLogger
} from '../../../kernel-lib/src/tracking';
import { RunStore } from '../../../kernel-lib/src/tracking/store';
import { connect, type Workspace } from '../../../kernel-lib/src/workspace';
import { tempDir } from '../../helpers';

let home: string;
let ws: Workspace;
const files = tempDir('changelab-tracking-files-');

beforeAll(async () => {
  home = tempDir('changelab-tracking-');
  ws = await connect({ cwd: home, env: {} });
  fs.writeFileSync(path.join(files, 'model.onnx'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256)));
  fs.mkdirSync(path.join(files, 'ckpt', 'optim'), { recursive: true });
  fs.writeFileSync(path.join(files, 'ckpt', 'params.bin'), 'parameters');
  fs.writeFileSync(path.join(files, 'ckpt', 'optim', 'adam.bin'), 'moments');
});
afterAll(async () => {
  await ws?.close();
  await stopEmbeddedDatabase(path.join(home, '.changelab'));
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dataset: IDatasetRef = {
  name: 'seoul-pairs',
  rev: '3f1c2a9e0b7d4c5a6e8f9012345678901234abcd',
  md5: '0123456789abcdef0123456789abcdef.dir',
  path: '/data/datasets/seoul-pairs',
  imageIds: [12, 7, 9000000001]
};

describe('workspace run store (embedded)', () => {
  it('keeps params, metric histories, artifacts, dataset and model versions of a run', async () => {
    const logger = workspaceLogger(ws, { experiment: 'store-basic', runName: 'fc-siam-diff' });
    expect(logger.runId).toMatch(/^[0-9a-f]{32}$/);
    await logger.logHyperparams({ lr: 0.001, model: 'fc-siam-diff', amp: false, batch: 8 });
    const sent: Record<string, [number, number][]> = { 'train/loss': [], 'val/iou': [] };
    for (let step = 0; step < 20; step++) {
      const loss = 1 / (step + 1);
      await logger.logMetrics({ 'train/loss': loss }, step);
      sent['train/loss'].push([step, loss]);
      if (step % 5 === 4) {
        await logger.logMetrics({ 'val/iou': step / 25 }, step);
        sent['val/iou'].push([step, step / 25]);
      }
    }
    await logger.logArtifact(path.join(files, 'model.onnx'), 'model/model.onnx');
    await logger.logArtifact(path.join(files, 'ckpt'), 'checkpoints/epoch=3');
    await logger.logDataset(dataset);
    expect(await logger.registerModel('cd-store-basic', 'model', 'champion')).toEqual({ version: '1' });
    await logger.finalize('FINISHED');

    const run = await getRun(ws, logger.runId);
    const r = run.run;
    expect(r.experiment).toBe('store-basic');
    expect(r.name).toBe('fc-siam-diff');
    expect(r.status).toBe('FINISHED');
    expect(r.endedAt!.getTime()).toBeGreaterThanOrEqual(r.startedAt.getTime());
    expect(r.params).toEqual({ lr: '0.001', model: 'fc-siam-diff', amp: 'false', batch: '8' });
    expect(run.history('train/loss')).toEqual(sent['train/loss']);
    expect(run.history('val/iou')).toEqual(sent['val/iou']);
    expect(r.latestMetrics).toEqual({ 'train/loss': 1 / 20, 'val/iou': 19 / 25 });
    expect(r.dataset).toEqual(dataset);
    // Lineage through the dataset module's table: the images behind the run.
    expect((await imagesForRun(ws.db, r.id)).sort((x, y) => x - y)).toEqual([...dataset.imageIds].sort((x, y) => x - y));
    expect(r.artifacts.map(a => a.path)).toEqual([
      'checkpoints/epoch=3/optim/adam.bin',
      'checkpoints/epoch=3/params.bin',
      'model/model.onnx'
    ]);
    for (const [artifact, local] of [
      ['model/model.onnx', 'model.onnx'],
      ['checkpoints/epoch=3/optim/adam.bin', 'ckpt/optim/adam.bin'],
      ['checkpoints/epoch=3/params.bin', 'ckpt/params.bin']
    ]) {
      const a = r.artifacts.find(x => x.path === artifact)!;
      const bytes = fs.readFileSync(path.join(files, local));
      expect(a.key).toBe(`runs/${r.id}/${artifact}`);
      expect(a.size).toBe(bytes.length);
      expect(a.sha256).toBe(sha256(bytes));
      expect((await ws.objects.get(a.key)).equals(bytes)).toBe(true);
    }
    expect(r.models).toEqual([
      expect.objectContaining({ name: 'cd-store-basic', version: 1, artifactPath: 'model', aliases: ['champion'], run: r.id })
    ]);
    const card = run.toDisplay();
    expect(card.data['text/plain']).toContain('param lr: 0.001');
    expect((card.data['application/vnd.changelab.table+json'] as { data: { metrics: Record<string, unknown> } }).data.metrics['val/iou']).toEqual(
      sent['val/iou']
    );
  });

  it('applies calls in the order they were made even when not awaited', async () => {
    const logger = workspaceLogger(ws, { experiment: 'store-order' });
    const pending: Promise<void>[] = [];
    for (let step = 0; step < 40; step++) {
      pending.push(logger.logMetrics({ loss: step * 0.5, same: 1 }, step));
    }
    pending.push(logger.finalize('KILLED'));
    await Promise.all(pending);
    const r = (await getRun(ws, logger.runId)).run;
    expect(r.status).toBe('KILLED');
    expect(r.metrics.loss.map(p => p.step)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(r.metrics.loss.map(p => p.value)).toEqual(Array.from({ length: 40 }, (_, i) => i * 0.5));
    // Timestamps are non-decreasing in logging order.
    const t = r.metrics.loss.map(p => p.timestamp.getTime());
    expect([...t].sort((a, b) => a - b)).toEqual(t);
  });

  it('thins long metric histories for cards, keeping the first and last points', async () => {
    const logger = workspaceLogger(ws, { experiment: 'store-thin' });
    await logger.start();
    // One batch insert through the store (5001 logMetrics calls would only make the test slow).
    await new RunStore(ws).logMetrics(
      logger.runId,
      Array.from({ length: 5001 }, (_, step) => ({ key: 'loss', value: step / 2, step, timestamp: Date.now() }))
    );
    await logger.finalize('FINISHED');
    const run = await getRun(ws, logger.runId);
    expect(run.history('loss')).toHaveLength(5001);
    const thin = run.history('loss', 11);
    expect(thin).toEqual(Array.from({ length: 11 }, (_, i) => [i * 500, i * 250]));
    const card = run.toDisplay().data['application/vnd.changelab.table+json'] as { data: { metrics: Record<string, [number, number][]> } };
    expect(card.data.metrics.loss).toHaveLength(2000);
    expect(card.data.metrics.loss[0]).toEqual([0, 0]);
    expect(card.data.metrics.loss[1999]).toEqual([5000, 2500]);
  });

  it('keeps non-finite metric values and repeated steps, as MLflow does', async () => {
    const logger = workspaceLogger(ws, { experiment: 'store-nonfinite' });
    await logger.logMetrics({ loss: NaN, grad: Infinity }, 0);
    await logger.logMetrics({ loss: 0.5, grad: -Infinity }, 0);
    await logger.finalize('FAILED');
    const r = (await getRun(ws, logger.runId)).run;
    expect(r.metrics.loss.map(p => [p.step, p.value])).toEqual([[0, NaN], [0, 0.5]]);
    expect(r.metrics.grad.map(p => p.value)).toEqual([Infinity, -Infinity]);
    expect(r.status).toBe('FAILED');
  });

  it('refuses to change a logged parameter, and names bad input', async () => {
    const logger = workspaceLogger(ws, { experiment: 'store-errors' });
    await logger.logHyperparams({ lr: 0.1 });
    await logger.logHyperparams({ lr: 0.1, wd: 0 }); // same value again: fine
    await expect(logger.logHyperparams({ lr: 0.2 })).rejects.toThrow(RunConflictError);
    await expect(logger.logHyperparams({ lr: 0.2 })).rejects.toThrow(/parameter lr .* "0\.1"; it cannot change to "0\.2"/);
    await expect(logger.logDataset({ ...dataset, rev: 'main' })).rejects.toThrow(/committed dataset reference/);
    await expect(logger.logHyperparams({ ['k'.repeat(251)]: 1 })).rejects.toThrow(/parameter name must have 1 to 250 characters/);
    await expect(logger.logMetrics({ '': 1 }, 0)).rejects.toThrow(/metric name must have 1 to 250 characters/);
    await expect(logger.logMetrics({ loss: 1 }, 0.5)).rejects.toThrow(/step must be an integer/);
    await expect(logger.logArtifact(path.join(files, 'missing.onnx'), 'model/model.onnx')).rejects.toThrow(NotFoundError);
    await expect(logger.logArtifact(path.join(files, 'model.onnx'), '../escape.onnx')).rejects.toThrow(StorageError);
    await expect(logger.registerModel('cd-errors', 'model', 'champion')).rejects.toThrow(/has no artifact model/);
    await logger.logArtifact(path.join(files, 'model.onnx'), 'model/model.onnx');
    await expect(logger.registerModel('cd-errors', 'model', 'latest')).rejects.toThrow(/invalid model alias/);
    // A failed call leaves the run usable.
    await logger.logMetrics({ loss: 1 }, 0);
    await logger.finalize('FINISHED');
    const r = (await getRun(ws, logger.runId)).run;
    expect(r.params).toEqual({ lr: '0.1', wd: '0' });
    expect(r.models).toEqual([]);
    expect(r.dataset).toBeNull(); // the refused reference left nothing behind
    expect(r.artifacts.map(a => a.path)).toEqual(['model/model.onnx']);
  });

  it('numbers model versions per model and moves an alias to the newest', async () => {
    const versions: string[] = [];
    const runs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const logger = workspaceLogger(ws, { experiment: 'store-registry' });
      await logger.logArtifact(path.join(files, 'model.onnx'), 'model/model.onnx');
      versions.push((await logger.registerModel('cd-registry', 'model/model.onnx', i === 1 ? undefined : 'champion')).version);
      await logger.finalize('FINISHED');
      runs.push(logger.runId);
    }
    expect(versions).toEqual(['1', '2', '3']);
    const champion = await getModelVersion(ws, 'cd-registry', 'champion');
    expect(champion).toMatchObject({ version: 3, run: runs[2], artifactPath: 'model/model.onnx', aliases: ['champion'] });
    expect(await getModelVersion(ws, 'cd-registry', 1)).toMatchObject({ version: 1, run: runs[0], aliases: [] });
    await expect(getModelVersion(ws, 'cd-registry', 'staging')).rejects.toThrow(NotFoundError);
  });

  it('lists runs newest first, filtered by experiment, status and dataset', async () => {
    const made: string[] = [];
    for (const [i, ds] of [[0, { ...dataset, rev: 'a'.repeat(40) }], [1, { ...dataset, rev: 'b'.repeat(40) }], [2, undefined]] as const) {
      const logger = workspaceLogger(ws, { experiment: 'store-list', runName: `r${i}` });
      await logger.logMetrics({ 'val/iou': 0.5 + i / 10 }, 0);
      await logger.logMetrics({ 'val/iou': 0.6 + i / 10 }, 1);
      if (ds) {
        await logger.logDataset(ds);
      }
      await logger.finalize(i === 2 ? 'FAILED' : 'FINISHED');
      made.push(logger.runId);
    }
    const all = await listRuns(ws, { experiment: 'store-list' });
    expect(all.runs.map(r => r.name)).toEqual(['r2', 'r1', 'r0']);
    expect(all.runs.map(r => r.id)).toEqual([...made].reverse());
    expect(all.runs.map(r => r.latestMetrics['val/iou'])).toEqual([0.8, 0.7, 0.6].map(v => expect.closeTo(v, 12)));
    expect((await listRuns(ws, { experiment: 'store-list', status: 'FAILED' })).runs.map(r => r.name)).toEqual(['r2']);
    expect((await listRuns(ws, { dataset: { name: dataset.name, rev: 'b'.repeat(40) } })).runs.map(r => r.id)).toEqual([made[1]]);
    expect((await listRuns(ws, { experiment: 'no-such-experiment' })).runs).toEqual([]);
    const bundle = all.toDisplay();
    const table = (bundle.data['application/vnd.changelab.table+json'] as { table: { columns: string[]; rows: unknown[][] } }).table;
    expect(table.columns).toEqual(['run', 'name', 'experiment', 'status', 'started', 'seconds', 'dataset', 'val/iou']);
    expect(table.rows.map(r => [r[1], r[3], r[6]])).toEqual([
      ['r2', 'FAILED', null],
      ['r1', 'FINISHED', 'seoul-pairs@bbbbbbbb'],
      ['r0', 'FINISHED', 'seoul-pairs@aaaaaaaa']
    ]);
    await expect(listRuns(ws, { limit: 0 })).rejects.toThrow(/limit/);
  });

  it('keeps runs to their project', async () => {
    const logger = workspaceLogger(ws, { experiment: 'store-project' });
    await logger.finalize('FINISHED');
    const other = await connect({ cwd: home, env: { CHANGELAB_PROJECT: 'other-team' } });
    try {
      await expect(getRun(other, logger.runId)).rejects.toThrow(NotFoundError);
      expect((await listRuns(other, { experiment: 'store-project' })).runs).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('loggersFromConfig gives the workspace logger alone when no MLflow server is configured', () => {
    const loggers = loggersFromConfig(ws, { experiment: 'cfg' });
    expect(loggers.map(l => l.name)).toEqual(['workspace']);
  });
});
