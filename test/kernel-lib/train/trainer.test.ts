// The Lightning-style Trainer on small synthetic chips: fit / validate / test / predict agree with
// each other, a checkpoint resumes bit for bit (dropout, augmentation, accumulation, clipping and a
// schedule all on), callbacks keep the top-k checkpoints and stop early, loggers see the run, the
// event loop stays free while the worker trains, and bad settings fail with a clear error.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type IDatasetRef } from '../../../kernel-lib/src/dataset/manifest';
import {
  ChangeMetrics,
  ChangeTask,
  CheckpointError,
  DeviceUnavailableError,
  EarlyStopping,
  LearningRateMonitor,
  ModelCheckpoint,
  Trainer,
  TrainerConfigError,
  cudaAvailable,
  cudaProviderInstalled,
  loadCheckpoint,
  syntheticChangeData,
  taskFromCheckpoint,
  type ITrainLogger,
  type RunStatus
} from '../../../kernel-lib/src/train';
import { tempDir } from '../../helpers';

const data = syntheticChangeData({ seed: 'trainer-test', scenes: 4, scene: 64, chip: 32 });
// 8 train chips, 4 val, 4 test; width 4 keeps a step at a few milliseconds.
const small = { model: 'fc-siam-diff' as const, width: 4, dropout: 0.2, lr: 0.01 };

class RecordingLogger implements ITrainLogger {
  readonly name = 'recording';
  hyperparams: Record<string, string | number | boolean> = {};
  metrics: { metrics: Record<string, number>; step: number }[] = [];
  artifacts: string[] = [];
  status: RunStatus | undefined;
  async logHyperparams(p: Record<string, string | number | boolean>): Promise<void> {
    this.hyperparams = p;
  }
  async logMetrics(metrics: Record<string, number>, step: number): Promise<void> {
    this.metrics.push({ metrics, step });
  }
  async logArtifact(_local: string, artifactPath: string): Promise<void> {
    this.artifacts.push(artifactPath);
  }
  async logDataset(_d: IDatasetRef): Promise<void> {}
  async registerModel(): Promise<{ version: string }> {
    return { version: '1' };
  }
  async finalize(status: RunStatus): Promise<void> {
    this.status = status;
  }
}

let dir: string;
beforeAll(async () => {
  dir = await tempDir('trainer-');
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('Trainer', () => {
  it('fits, logs, and its validation agrees with metrics recomputed from predict()', async () => {
    const logger = new RecordingLogger();
    const task = new ChangeTask(small);
    const trainer = new Trainer({ maxEpochs: 3, logger, callbacks: [new LearningRateMonitor()], progressBar: false, threads: 1, logEveryNSteps: 2 });
    const result = await trainer.fit(task, { train: data.train, val: data.val, batchSize: 4 });
    expect(result.status).toBe('finished');
    expect(result.history.map(r => r.epoch)).toEqual([0, 1, 2]);
    expect(result.position).toMatchObject({ epoch: 3, globalStep: 6, microStep: 6 });
    expect(result.history[2]['train/loss']).toBeLessThan(result.history[0]['train/loss']);
    for (const key of ['train/iou', 'train/f1', 'val/loss', 'val/iou', 'val/f1', 'val/precision', 'val/recall', 'val/accuracy']) {
      expect(Number.isFinite(result.history[2][key])).toBe(true);
    }
    expect(logger.status).toBe('FINISHED');
    expect(logger.hyperparams).toMatchObject({ model: 'fc-siam-diff', width: 4, batchSize: 4, optimizer: 'adam', seed: 'changelab' });
    expect(logger.metrics.filter(m => 'lr-Adam' in m.metrics).map(m => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(logger.metrics.filter(m => 'train/loss_step' in m.metrics).map(m => m.step)).toEqual([2, 4, 6]);
    const epochLogs = logger.metrics.filter(m => 'val/iou' in m.metrics);
    expect(epochLogs.map(m => m.metrics['val/iou'])).toEqual(result.history.map(r => r['val/iou']));

    // validate() after fit gives the last epoch's validation again (same weights, eval mode).
    const val = await trainer.validate(task, { val: data.val, batchSize: 4 });
    expect(val['val/loss']).toBeCloseTo(result.history[2]['val/loss'], 6);
    expect(val['val/iou']).toBe(result.history[2]['val/iou']);

    // predict() gives probabilities; thresholding them as torchmetrics does gives the test metrics.
    const test = await trainer.test(task, { test: data.test, batchSize: 3 });
    const predictions = await trainer.predict(task, data.test, { batchSize: 3 });
    expect(predictions.map(p => p.id)).toEqual(await Promise.all(Array.from({ length: data.test.length }, async (_, i) => (await data.test.get(i)).id)));
    const metrics = new ChangeMetrics();
    for (let i = 0; i < data.test.length; i++) {
      const label = (await data.test.get(i)).label as Uint8Array;
      metrics.update(predictions[i].probability, label, { input: 'probabilities' });
    }
    const m = metrics.compute();
    // Probabilities are float32 sigmoid outputs in both paths; a pixel at exactly 0.5 could differ.
    expect(test['test/iou']).toBeCloseTo(m.iou, 3);
    expect(test['test/f1']).toBeCloseTo(m.f1, 3);
    expect(test['test/accuracy']).toBeCloseTo(m.accuracy, 3);
    await trainer.close();
  });

  it('resumes from a checkpoint bit for bit: 6 steps straight = 3, save, new Trainer, 3 more', async () => {
    // Dropout, augmentation, shuffling, accumulation, clipping and a cosine schedule are all on,
    // and the checkpoint falls in the middle of an epoch (8 chips, batches of 2, 2 per update).
    const settings = { accumulateGrad: 2, gradClip: 0.5, progressBar: false as const, threads: 1, deterministic: true, seed: 7 };
    const hp = { ...small, schedule: { type: 'cosine' as const, tMax: 4 }, warmupSteps: 1 };
    const fitData = { train: data.train, val: data.val, batchSize: 2 };
    const straightTask = new ChangeTask(hp);
    const straight = new Trainer({ ...settings, maxSteps: 6 });
    await straight.fit(straightTask, fitData);

    const firstTask = new ChangeTask(hp);
    const first = new Trainer({ ...settings, maxSteps: 3, worker: false });
    await first.fit(firstTask, fitData);
    const file = path.join(dir, 'half.ckpt');
    await first.saveCheckpoint(file);
    await first.close();
    const saved = await loadCheckpoint(file);
    expect(saved.trainer.position).toEqual({ epoch: 1, batchInEpoch: 2, globalStep: 3, microStep: 6 });
    expect(Object.keys(saved.tensors)).toContain('conv11.weight.exp_avg');
    expect(Object.keys(saved.tensors)).toContain('conv11.weight.grad_acc');
    expect(Object.keys(saved.tensors)).toContain('bn11.running_var');

    const resumedTask = new ChangeTask(hp);
    const resumed = new Trainer({ ...settings, maxSteps: 6 });
    const r = await resumed.fit(resumedTask, fitData, { ckptPath: file });
    expect(r.position).toEqual(straight.position);
    expect(Object.keys(resumedTask.values).sort()).toEqual(Object.keys(straightTask.values).sort());
    for (const [name, value] of Object.entries(straightTask.values)) {
      expect(Buffer.from(resumedTask.values[name].buffer).equals(Buffer.from(value.buffer)), name).toBe(true);
    }
    expect(r.history).toEqual(straight.history);
    // The trained weights moved away from the initial ones (the comparison is not vacuous).
    const initial = new ChangeTask(hp).configureModel({ batch: 1, height: 32, width: 32 }, 'eval').graph.parameters.find(p => p.tensor.name === 'conv11.weight');
    expect(Buffer.from((straightTask.values['conv11.weight'] as Float32Array).buffer).equals(Buffer.from((initial?.value as Float32Array).buffer))).toBe(false);
    await straight.close();
    await resumed.close();
  });

  it('keeps the top-k checkpoints by the monitored metric and stops early', async () => {
    const ckptDir = path.join(dir, 'topk');
    const checkpoint = new ModelCheckpoint({ dirpath: ckptDir, monitor: 'val/loss', saveTopK: 2, saveLast: true });
    const logger = new RecordingLogger();
    const trainer = new Trainer({ maxEpochs: 5, callbacks: [checkpoint], progressBar: false, threads: 1, logger });
    const task = new ChangeTask(small);
    const result = await trainer.fit(task, { train: data.train, val: data.val, batchSize: 4 });
    const losses = result.history.map(r => r['val/loss']);
    const best = [...losses.keys()].sort((a, b) => losses[a] - losses[b]).slice(0, 2);
    const files = (await fsp.readdir(ckptDir)).sort();
    expect(files).toEqual(['last.ckpt', ...best.map(e => `epoch=${e}-step=${(e + 1) * 2}.ckpt`)].sort());
    expect(checkpoint.bestModelPath).toBe(path.join(ckptDir, `epoch=${best[0]}-step=${(best[0] + 1) * 2}.ckpt`));
    expect(checkpoint.bestModelScore).toBe(losses[best[0]]);
    expect(result.bestModelPath).toBe(checkpoint.bestModelPath);
    expect(logger.artifacts.every(a => a.startsWith('checkpoints/epoch='))).toBe(true);
    // The best checkpoint restores a task that predicts (hyper-parameters and weights inside).
    const restored = await taskFromCheckpoint(checkpoint.bestModelPath as string);
    expect(restored.hparams).toEqual(task.hparams);
    const predictor = new Trainer({ progressBar: false });
    const p = await predictor.predict(restored, data.test, { batchSize: 4 });
    expect(p).toHaveLength(data.test.length);
    await predictor.close();
    await trainer.close();

    // The training loss only falls here, so "max" of it never improves: stop after patience epochs.
    const stopper = new EarlyStopping({ monitor: 'train/loss', mode: 'max', patience: 2 });
    const t2 = new Trainer({ maxEpochs: 10, callbacks: [stopper], progressBar: false, threads: 1 });
    const stopped = await t2.fit(new ChangeTask(small), { train: data.train, batchSize: 4 });
    const trainLoss = stopped.history.map(r => r['train/loss']);
    expect(trainLoss[1]).toBeLessThan(trainLoss[0]);
    expect(stopped.status).toBe('stopped');
    expect(stopped.history).toHaveLength(3);
    expect(stopper.stoppedEpoch).toBe(2);
    await t2.close();
  });

  it('trains in a worker thread: the event loop keeps running, and cancel stops after the current batch', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const logger = new RecordingLogger();
    const controller = new AbortController();
    const trainer = new Trainer({
      maxEpochs: 50,
      threads: 1,
      logger,
      progressBar: false,
      signal: controller.signal,
      callbacks: [
        {
          name: 'cancel-at-3',
          onTrainBatchEnd: (_t, b) => {
            if (b.globalStep === 3) {
              controller.abort();
            }
          }
        }
      ]
    });
    const ticksBefore = ticks;
    const result = await trainer.fit(new ChangeTask({ ...small, width: 8 }), { train: data.train, batchSize: 2 });
    clearInterval(timer);
    expect(result.status).toBe('cancelled');
    expect(result.position.globalStep).toBe(3);
    expect(logger.status).toBe('KILLED');
    // Timers fired while the steps ran: session.run did not hold the main thread.
    expect(ticks - ticksBefore).toBeGreaterThan(0);
    await trainer.close();
  });

  it('refuses unsupported settings and missing CUDA with clear errors', async () => {
    expect(() => new Trainer({ precision: '16-mixed' })).toThrow(TrainerConfigError);
    expect(() => new Trainer({ precision: '16-mixed' })).toThrow(/not implemented yet/);
    expect(() => new Trainer({ devices: 2 })).toThrow(/data parallelism/);
    expect(() => new Trainer({ maxEpochs: 0 })).toThrow(/maxEpochs must be a positive integer/);
    expect(() => new Trainer({ accelerator: 'tpu' as never })).toThrow(/unknown accelerator/);
    await expect(new Trainer({ progressBar: false }).fit(new ChangeTask({ ...small, bands: 4 }), { train: data.train, batchSize: 4 })).rejects.toThrow(/3 bands, the task's model 4/);
    await expect(new Trainer({ progressBar: false }).fit(new ChangeTask(small), { train: data.train, batchSize: 64 })).rejects.toThrow(/fewer than one batch/);

    if (!cudaAvailable()) {
      const gpu = new Trainer({ accelerator: 'gpu', maxSteps: 1, progressBar: false });
      const error = await gpu.fit(new ChangeTask(small), { train: data.train, batchSize: 4 }).catch(e => e);
      expect(error).toBeInstanceOf(DeviceUnavailableError);
      // Without the provider: how to install it; with it (scripts/install-cuda-ep.sh) but no GPU: that.
      expect(String(error.message)).toMatch(
        cudaProviderInstalled() ? /shows no NVIDIA GPU/ : /CUDA execution provider is not installed.*scripts\/install-cuda-ep\.sh/
      );
      const fallback = new Trainer({ accelerator: 'gpu', fallback: 'cpu', maxSteps: 1, progressBar: false });
      const r = await fallback.fit(new ChangeTask(small), { train: data.train, batchSize: 4 });
      expect(r.status).toBe('finished');
      expect(fallback.device).toBe('cpu');
      await fallback.close();
    }

    // A checkpoint of another model, and a file that is not a checkpoint.
    const t = new Trainer({ maxSteps: 1, progressBar: false, worker: false });
    await t.fit(new ChangeTask(small), { train: data.train, batchSize: 4 });
    const file = path.join(dir, 'siam-diff.ckpt');
    await t.saveCheckpoint(file);
    await t.close();
    const other = new Trainer({ maxSteps: 2, progressBar: false, worker: false });
    await expect(other.fit(new ChangeTask({ ...small, model: 'fc-ef' }), { train: data.train, batchSize: 4 }, { ckptPath: file })).rejects.toThrow(/trained with model fc-siam-diff, the task has fc-ef/);
    await expect(other.fit(new ChangeTask(small), { train: data.train, batchSize: 2 }, { ckptPath: file })).rejects.toThrow(/batches of 4/);
    const junk = path.join(dir, 'junk.ckpt');
    await fsp.writeFile(junk, 'not a checkpoint');
    await expect(loadCheckpoint(junk)).rejects.toThrow(CheckpointError);
    const truncated = path.join(dir, 'truncated.ckpt');
    const bytes = await fsp.readFile(file);
    await fsp.writeFile(truncated, bytes.subarray(0, bytes.length - 100));
    await expect(loadCheckpoint(truncated)).rejects.toThrow(/truncated/);
    await other.close();
  });
});
