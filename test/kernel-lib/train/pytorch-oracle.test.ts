// FC-Siam-diff against PyTorch: the same initial weights and batch give the same loss and
// parameter gradients at every step, the same parameters and running statistics after N Adam
// steps, and the same inference output from the exported ONNX model (in Node's and in Python's
// onnxruntime) as PyTorch's eval mode; and the change metrics equal torchmetrics' on the same
// predictions. The oracle runs from .venv-oracles (scripts/oracles.sh).

import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

import { createRandom } from '../../../kernel-lib/src/synth';
import { ChangeMetrics, TrainingSession, bceWithLogits, buildChangeModel, exportInference, parameterValues } from '../../../kernel-lib/src/train';
import { tempDir } from '../../helpers';
import { maxAbsDiff, oracleBatch, oraclePython, readTensors, relativeError, runOracle, writeTensors } from './oracle';

const python = oraclePython();

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    s += a[i] * a[i];
  }
  return Math.sqrt(s);
}

/** conv<id>.bias where bn<id> follows: every conv block's bias, not the last layer's. */
const cancelledByBatchNorm = (name: string): boolean => /^conv\w+\.bias$/.test(name) && name !== 'conv11d.bias';

describe.skipIf(!python)('FC-Siam-diff against PyTorch', () => {
  it('matches loss and gradients per step, parameters after Adam steps, and inference output', async () => {
    const config = { bands: 3, width: 4, batch: 2, size: 32, steps: 3, lr: 1e-3 };
    const input = { batch: config.batch, height: config.size, width: config.size };
    const options = { kind: 'fc-siam-diff' as const, bands: config.bands, width: config.width, dropout: 0, seed: 'oracle' };
    const model = buildChangeModel(options, input);
    const initial = Object.fromEntries(Object.entries(parameterValues(model)).map(([k, v]) => [k, Float32Array.from(v as Float32Array)]));

    const { before, after, mask, shape, maskShape } = oracleBatch('oracle-batch', config);

    const work = tempDir('changelab-oracle-');
    const onnxPath = path.join(work, 'fc-siam-diff.onnx');
    const exported = exportInference(options, initial, input);
    fs.writeFileSync(onnxPath, exported);
    writeTensors(path.join(work, 'in'), {
      ...Object.fromEntries(model.graph.parameters.map(p => [p.tensor.name, { data: initial[p.tensor.name], shape: p.tensor.shape }])),
      before: { data: before, shape },
      after: { data: after, shape },
      mask: { data: mask, shape: maskShape }
    });
    runOracle(python as string, 'train_oracle.py', [path.join(work, 'in'), path.join(work, 'out'), JSON.stringify({ ...config, onnx: onnxPath })]);
    const torch = readTensors(path.join(work, 'out'));

    // Inference: the exported model in Node's and Python's onnxruntime against PyTorch's eval
    // mode. Both are float32 with different summation orders through 22 conv layers; 1e-4 of the
    // output's norm is ~100x the observed difference and far below any real error (a wrong pad
    // or a swapped running statistic gives O(1)).
    const inference = await ort.InferenceSession.create(exported);
    const node = (await inference.run({ before: new ort.Tensor('float32', before, shape), after: new ort.Tensor('float32', after, shape) })).logits.data as Float32Array;
    await inference.release();
    expect(relativeError(node, torch.eval_logits.data)).toBeLessThan(1e-4);
    expect(relativeError(torch.onnx_logits.data, torch.eval_logits.data)).toBeLessThan(1e-4);

    const logits = model.logits;
    const target = model.graph.input('mask', maskShape);
    const loss = bceWithLogits(logits, target);
    const session = await TrainingSession.create({
      graph: model.graph,
      loss,
      trainable: model.trainable,
      buffers: model.bufferUpdates,
      optimizer: { type: 'adam' },
      lr: config.lr,
      returnGradients: true
    });
    const report: string[] = [];
    for (let step = 1; step <= config.steps; step++) {
      const result = await session.step({ before, after, mask });
      // Loss: a mean of 2048 float32 terms computed in different orders; 1e-5 relative is ~10x
      // float32 rounding of the sum.
      expect(Math.abs(result.loss - torch.losses.data[step - 1]) / Math.abs(torch.losses.data[step - 1]), `loss at step ${step}`).toBeLessThan(1e-5);
      // Gradients: float32 back-propagation through batch norm (whose backward subtracts nearly
      // equal means) and 22 layers, in different orders; observed worst ~1e-5 relative (norm of
      // the difference over the norm), so 1e-3 leaves room for other CPUs' summation orders while
      // any wrong rule (a missing term, a flipped kernel) gives O(1).
      // A conv bias followed by batch norm has a zero gradient in exact arithmetic (the batch
      // mean removes it); both sides give rounding noise there (observed < 1e-7 against O(0.1)
      // elsewhere), so only its smallness is checked.
      let worst = 0;
      for (const p of model.trainable) {
        const ours = result.outputs[`grad:${p.name}`].data as Float32Array;
        const theirs = torch[`step${step}.grad:${p.name}`];
        expect(theirs, `PyTorch has ${p.name}`).toBeDefined();
        if (cancelledByBatchNorm(p.name)) {
          expect(norm(ours), `gradient of ${p.name} at step ${step}`).toBeLessThan(1e-6);
          expect(norm(theirs.data)).toBeLessThan(1e-6);
          continue;
        }
        const err = relativeError(ours, theirs.data);
        worst = Math.max(worst, err);
        expect(err, `gradient of ${p.name} at step ${step}`).toBeLessThan(1e-3);
      }
      report.push(`step ${step}: loss ${result.loss.toFixed(6)} vs ${torch.losses.data[step - 1].toFixed(6)}, worst gradient error ${worst.toExponential(2)}`);
    }
    // Parameters after N Adam steps. Adam moves every element by about lr per step whatever its
    // gradient's size, so an element whose gradient is at rounding-noise level (a few in each
    // tensor) may move ±lr on either side: elementwise, the bound is Adam's largest possible
    // difference, 2 lr per step; the update as a whole (final - initial) must agree to 2% in norm
    // (observed ~3e-4). The conv biases ahead of batch norm follow noise gradients only, and a
    // running mean averages its conv's output, bias included, so those get the elementwise bound
    // alone; running variances must agree as weights do.
    let worstUpdate = 0;
    let worstName = '';
    for (const p of model.graph.parameters) {
      const name = p.tensor.name;
      const theirs = torch[`final:${name}`];
      expect(theirs, `PyTorch has ${name}`).toBeDefined();
      const ours = session.value(name) as Float32Array;
      expect(maxAbsDiff(ours, theirs.data), `${name} after ${config.steps} steps`).toBeLessThanOrEqual(2 * config.lr * config.steps * 1.01);
      if (cancelledByBatchNorm(name) || name.endsWith('.running_mean')) {
        continue;
      }
      const start = initial[name];
      const err = relativeError(
        ours.map((v, i) => v - start[i]),
        theirs.data.map((v, i) => v - start[i])
      );
      if (err > worstUpdate) {
        worstUpdate = err;
        worstName = name;
      }
      expect(err, `update of ${name} over ${config.steps} steps`).toBeLessThan(2e-2);
    }
    report.push(`after ${config.steps} Adam steps: worst relative update difference ${worstUpdate.toExponential(2)} in ${worstName}`);
    console.log(report.join('\n'));
    await session.release();
    fs.rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('computes the change metrics exactly as torchmetrics over an epoch', () => {
    const random = createRandom('oracle-metrics');
    const cases: Record<string, { logits: Float32Array; target: Float32Array }[]> = {
      // Logits near 0 (sigmoid near the threshold), exact zeros and large values, three batches.
      mixed: [0, 1, 2].map(() => {
        const logits = Float32Array.from({ length: 500 }, (_, i) => (i % 50 === 0 ? 0 : i % 37 === 0 ? 1e-8 : random.normal() * 3));
        return { logits, target: Float32Array.from(logits, v => (random.next() < 0.4 + 0.2 * Math.sign(v) ? 1 : 0)) };
      }),
      // No change predicted and none present: precision, recall, F1 and IoU divide by zero.
      empty: [{ logits: Float32Array.from({ length: 64 }, () => -2 - random.next()), target: new Float32Array(64) }],
      // Change present, none predicted.
      missed: [{ logits: Float32Array.from({ length: 64 }, () => -3), target: Float32Array.from({ length: 64 }, (_, i) => (i < 10 ? 1 : 0)) }]
    };
    const work = tempDir('changelab-metrics-');
    const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (const [name, batches] of Object.entries(cases)) {
      batches.forEach((b, i) => {
        tensors[`${name}/batch${i}.logits`] = { data: b.logits, shape: [b.logits.length] };
        tensors[`${name}/batch${i}.target`] = { data: b.target, shape: [b.target.length] };
      });
    }
    writeTensors(work, tensors);
    const expected = JSON.parse(runOracle(python as string, 'metrics_oracle.py', [work])) as Record<string, Record<string, number>>;
    for (const [name, batches] of Object.entries(cases)) {
      const metrics = new ChangeMetrics();
      for (const b of batches) {
        metrics.update(b.logits, b.target, { input: 'auto' });
      }
      const ours = metrics.compute();
      // torchmetrics computes the ratios in float32; ours are float64 ratios of exact counts.
      for (const key of ['iou', 'f1', 'precision', 'recall', 'accuracy'] as const) {
        expect(ours[key], `${name} ${key}`).toBeCloseTo(expected[name][key], 6);
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }, 120_000);
});
