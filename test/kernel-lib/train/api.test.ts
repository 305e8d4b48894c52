// The one-call API: train() on a dataset version folder trains, keeps the best checkpoint, tests
// it, exports an ONNX model whose output equals run.predict(), logs to every logger (params,
// metrics, dataset lineage, artifacts, model registration) and shows as a card and a chart.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type IDatasetManifest, type IDatasetRef } from '../../../kernel-lib/src/dataset/manifest';
import { writeGeoTiff } from '../../../kernel-lib/src/raster';
import { loadCheckpoint, syntheticChangeData, train, type ITrainLogger, type RunStatus } from '../../../kernel-lib/src/train';
import { tempDir } from '../../helpers';

class RecordingLogger implements ITrainLogger {
  readonly name = 'recording';
  readonly runId = 'run-1';
  calls: string[] = [];
  params: Record<string, string | number | boolean> = {};
  metricKeys = new Set<string>();
  dataset: IDatasetRef | undefined;
  registered: [string, string, string | undefined][] = [];
  status: RunStatus | undefined;
  async logHyperparams(p: Record<string, string | number | boolean>) {
    this.calls.push('params');
    this.params = p;
  }
  async logMetrics(m: Record<string, number>) {
    Object.keys(m).forEach(k => this.metricKeys.add(k));
  }
  async logArtifact(local: string, artifactPath: string) {
    await fsp.access(local);
    this.calls.push(`artifact ${artifactPath}`);
  }
  async logDataset(d: IDatasetRef) {
    this.calls.push('dataset');
    this.dataset = d;
  }
  async registerModel(name: string, artifactPath: string, alias?: string) {
    this.registered.push([name, artifactPath, alias]);
    return { version: '1' };
  }
  async finalize(status: RunStatus) {
    this.calls.push(`finalize ${status}`);
    this.status = status;
  }
}

let dir: string;
let datasetFolder: string;
beforeAll(async () => {
  dir = tempDir('train-api-');
  // A dataset version folder as the dataset builder writes it, from synthetic chips.
  datasetFolder = path.join(dir, 'dataset');
  const data = syntheticChangeData({ seed: 'api', scenes: 4, scene: 64, chip: 32 });
  const chips: IDatasetManifest['chips'] = [];
  await fsp.mkdir(path.join(datasetFolder, 'chips'), { recursive: true });
  for (const split of ['train', 'val', 'test'] as const) {
    for (let i = 0; i < data[split].length; i++) {
      const s = await data[split].get(i);
      const write = async (role: string, bands: number, pixels: Uint8Array) => {
        const rel = `chips/${s.id}-${role}.tif`;
        await fsp.writeFile(path.join(datasetFolder, rel), writeGeoTiff({ width: 32, height: 32, bands, dataType: 'uint8', data: pixels }, { crs: null, transform: null, overviews: false, tileSize: 32 }));
        return rel;
      };
      chips.push({ id: s.id, split, pair: s.id.split('-')[0], window: { x: 0, y: 0, width: 32, height: 32 }, before: await write('before', 3, s.before), after: await write('after', 3, s.after), label: await write('label', 1, s.label as Uint8Array) });
    }
  }
  const manifest: IDatasetManifest = { version: 1, name: 'api-set', created: new Date(0).toISOString(), chip: 32, overlap: 0, bands: 3, seed: 'api', splits: { block: 64, fractions: { train: 0.5, val: 0.25, test: 0.25 } }, images: [], chips };
  await fsp.writeFile(path.join(datasetFolder, 'manifest.json'), JSON.stringify(manifest));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('train()', () => {
  it('trains on a dataset version, exports a model equal to predict(), and logs the run', async () => {
    const logger = new RecordingLogger();
    const ref: IDatasetRef = { name: 'api-set', rev: 'abc123', md5: 'd41d8cd98f00b204e9800998ecf8427e.dir', path: datasetFolder, imageIds: [1, 2] };
    const run = await train({ dataset: ref, model: 'fc-siam-diff', width: 4, epochs: 3, batchSize: 4, lr: 0.01, schedule: 'cosine', loggers: [logger], registerAs: 'change-detector', alias: 'candidate', dir: path.join(dir, 'run'), threads: 1 });
    try {
      expect(run.status).toBe('finished');
      expect(run.history).toHaveLength(3);
      expect(Object.keys(run.testMetrics).sort()).toEqual(['test/accuracy', 'test/f1', 'test/iou', 'test/loss', 'test/precision', 'test/recall']);
      expect(run.metrics['val/iou']).toBe(run.history[2]['val/iou']);
      // The best checkpoint is the epoch with the highest val/iou.
      const ious = run.history.map(r => r['val/iou']);
      const bestEpoch = ious.indexOf(Math.max(...ious));
      expect(path.basename(run.bestCheckpoint as string)).toBe(`epoch=${bestEpoch}-step=${(bestEpoch + 1) * 2}.ckpt`);
      expect((await loadCheckpoint(run.lastCheckpoint)).trainer.position.globalStep).toBe(6);

      // Logging: params first, lineage, artifacts, registration, one finalize at the end.
      expect(logger.dataset).toEqual(ref);
      // The run carries the version it trained on: dataset.checkout(run.datasetRev) restores it.
      expect(run.datasetRef).toEqual(ref);
      expect(run.datasetRev).toBe('abc123');
      expect(run.datasetMd5).toBe(ref.md5);
      expect(logger.params).toMatchObject({ model: 'fc-siam-diff', schedule: JSON.stringify({ type: 'cosine', tMax: 6 }) });
      expect(logger.calls.filter(c => c.startsWith('finalize'))).toEqual(['finalize FINISHED']);
      expect(logger.calls[logger.calls.length - 1]).toBe('finalize FINISHED');
      expect(logger.calls).toContain('artifact model/model.onnx');
      expect(logger.calls).toContain('artifact checkpoints/last.ckpt');
      expect(logger.registered).toEqual([['change-detector', 'model/model.onnx', 'candidate']]);
      for (const key of ['train/loss', 'val/iou', 'test/iou', 'lr-Adam']) {
        expect(logger.metricKeys.has(key), key).toBe(true);
      }
      expect(run.runIds).toEqual({ recording: 'run-1' });

      // The exported model (batch 1, plain ONNX) gives the probabilities predict() gives.
      const data = syntheticChangeData({ seed: 'api', scenes: 4, scene: 64, chip: 32 });
      const predictions = await run.predict(data.test);
      const session = await ort.InferenceSession.create(run.modelPath);
      const { ChangeLoader } = await import('../../../kernel-lib/src/train');
      const batch = await new ChangeLoader(data.test, { batchSize: 1 }).batch(0, [2]);
      const out = await session.run({ before: new ort.Tensor('float32', batch.before, [1, 3, 32, 32]), after: new ort.Tensor('float32', batch.after, [1, 3, 32, 32]) });
      const logits = out.logits.data as Float32Array;
      let maxDiff = 0;
      logits.forEach((l, i) => (maxDiff = Math.max(maxDiff, Math.abs(1 / (1 + Math.exp(-l)) - predictions[2].probability[i]))));
      // Same weights and graph; only the batch size (1 vs 4) and the sigmoid's rounding differ.
      expect(maxDiff).toBeLessThan(1e-5);
      await session.release();

      // Displays: the card carries the history; the chart has a line per logged curve.
      const bundle = run.toDisplay();
      expect((bundle.data['application/vnd.changelab.progress+json'] as { table: { rows: unknown[] } }).table.rows).toHaveLength(3);
      const svg = run.curves().data['image/svg+xml'] as string;
      expect(svg.match(/<polyline/g)).toHaveLength(5);
    } finally {
      await run.close();
    }
  });

  it('refuses a folder without a dataset and missing CUDA unless asked to fall back', async () => {
    await expect(train({ dataset: path.join(dir, 'nothing'), epochs: 1 })).rejects.toThrow(/manifest.json is missing/);
    const { cudaAvailable } = await import('../../../kernel-lib/src/train');
    if (!cudaAvailable()) {
      await expect(train({ dataset: datasetFolder, gpu: true, epochs: 1, width: 4, batchSize: 4, dir: path.join(dir, 'gpu') })).rejects.toThrow(/CUDA execution provider is not installed/);
      const run = await train({ dataset: datasetFolder, gpu: true, fallback: 'cpu', maxSteps: 1, width: 4, batchSize: 4, dir: path.join(dir, 'fallback'), threads: 1 });
      expect(run.trainer.device).toBe('cpu');
      await run.close();
    }
  });
});
