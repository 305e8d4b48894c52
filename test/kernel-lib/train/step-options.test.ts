// Gradient clipping, gradient accumulation and learning-rate schedules against PyTorch: the same
// small conv net and micro-batches, trained with clip_grad_norm_ and loss / k accumulation, end at
// the same parameters; our schedules give torch.optim.lr_scheduler's rates step by step. Plus
// exact properties of accumulation that need no oracle: a micro-step that does not apply leaves
// parameters and optimizer state bit for bit unchanged.

import * as ort from 'onnxruntime-node';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

import { createRandom } from '../../../kernel-lib/src/synth';
import { Graph, TrainingSession, bceWithLogits, defaultBias, defaultWeight, learningRate, ops, type OptimizerOptions, type Tensor } from '../../../kernel-lib/src/train';
import { tempDir } from '../../helpers';
import { oraclePython, readTensors, relativeError, runOracle, writeTensors } from './oracle';

const python = oraclePython();
const BATCH = 2;
const SIZE = 8;

function smallNet() {
  const g = new Graph();
  const x = g.input('image', [BATCH, 3, SIZE, SIZE]);
  const target = g.input('mask', [BATCH, 1, SIZE / 2, SIZE / 2]);
  const layer = (name: string, input: Tensor, out: number, k: number) => {
    const shape = [out, input.shape[1], k, k];
    const w = g.parameter(`${name}.weight`, shape, defaultWeight(`opts:${name}.w`, shape));
    const b = g.parameter(`${name}.bias`, [out], defaultBias(`opts:${name}.b`, shape));
    return ops.conv(input, w, b, { pads: (k - 1) / 2 });
  };
  const h = ops.relu(layer('conv2', ops.relu(layer('conv1', x, 8, 3)), 8, 3));
  const logits = layer('head', ops.maxPool(h, { kernel: 2, strides: 2 }), 1, 1);
  return { g, loss: bceWithLogits(logits, target) };
}

function microBatches(count: number) {
  const random = createRandom('step-options');
  return Array.from({ length: count }, () => ({
    image: Float32Array.from({ length: BATCH * 3 * SIZE * SIZE }, () => random.normal()),
    mask: Float32Array.from({ length: (BATCH * SIZE * SIZE) / 4 }, () => (random.next() < 0.3 ? 1 : 0))
  }));
}

describe('accumulation without an oracle', () => {
  it('a micro-step that does not apply changes no parameter or optimizer state, only the accumulator', async () => {
    const { g, loss } = smallNet();
    const session = await TrainingSession.create({ graph: g, loss, optimizer: { type: 'adam' }, lr: 0.01, accumulate: 3, gradClip: 1 });
    expect(session.model.states.map(s => s.name)).toContain('conv1.weight.grad_acc');
    const value = (name: string) => session.value(name) as Float32Array;
    const [b] = microBatches(1);
    const before = Float32Array.from(value('conv1.weight'));
    const out = await session.step(b, { apply: false });
    expect(Buffer.from(value('conv1.weight').buffer).equals(Buffer.from(before.buffer))).toBe(true);
    expect(Array.from(value('conv1.weight.exp_avg')).every(v => v === 0)).toBe(true);
    expect(Array.from(value('conv1.weight.grad_acc')).some(v => v !== 0)).toBe(true);
    expect(Number.isFinite(out.loss)).toBe(true);
    await session.step(b, { apply: true });
    expect(Buffer.from(value('conv1.weight').buffer).equals(Buffer.from(before.buffer))).toBe(false);
    // The accumulator starts over after the update.
    expect(Array.from(value('conv1.weight.grad_acc')).every(v => v === 0)).toBe(true);
    await session.release();
  });
});

describe.skipIf(!python)('clipping, accumulation and schedules against PyTorch', () => {
  it.each<[string, OptimizerOptions, number]>([
    // SGD is linear in the gradient: float32 rounding alone separates the two.
    ['sgd', { type: 'sgd', momentum: 0.9 }, 1e-5],
    // Adam divides by sqrt(v): parameters whose gradients are tiny amplify rounding differences.
    ['adam', { type: 'adam' }, 1e-4]
  ])('%s with clip_grad_norm_ 0.05 and 2-batch accumulation ends at PyTorch parameters', async (name, optimizer, tolerance) => {
    const k = 2;
    const micro = 6;
    const lrs = [0.1, 0.05, 0.02];
    const { g, loss } = smallNet();
    const initial = Object.fromEntries(g.parameters.map(p => [p.tensor.name, { data: Float32Array.from(p.value as Float32Array), shape: p.tensor.shape }]));
    const batches = microBatches(micro);
    const session = await TrainingSession.create({ graph: g, loss, optimizer, lr: lrs[0], accumulate: k, gradClip: 0.05, session: { intraOpNumThreads: 1 } });
    const norms: number[] = [];
    for (let m = 0; m < micro; m++) {
      const apply = (m + 1) % k === 0;
      const out = await session.step(batches[m], { lr: lrs[Math.floor(m / k)], apply });
      if (apply) {
        norms.push((out.outputs.grad_norm as ort.Tensor).data[0] as number);
      }
    }
    const dir = tempDir('clip-oracle-');
    const tensors: Record<string, { data: ArrayLike<number>; shape: readonly number[] }> = { ...initial };
    batches.forEach((b, i) => {
      tensors[`image${i}`] = { data: b.image, shape: [BATCH, 3, SIZE, SIZE] };
      tensors[`mask${i}`] = { data: b.mask, shape: [BATCH, 1, SIZE / 2, SIZE / 2] };
    });
    writeTensors(path.join(dir, 'in'), tensors);
    runOracle(python as string, 'clip_accumulate_oracle.py', [
      path.join(dir, 'in'),
      path.join(dir, 'out'),
      JSON.stringify({ accumulate: k, micro, clip: 0.05, lrs, optimizer: name, momentum: 0.9 })
    ]);
    const expected = readTensors(path.join(dir, 'out'));
    // The gradient norms exceed the clip, so clipping really scaled every update.
    expect(norms.every(n => n > 0.05)).toBe(true);
    expect(relativeError(norms, expected.norms.data)).toBeLessThan(1e-5);
    for (const p of g.parameters) {
      const err = relativeError(session.value(p.tensor.name) as Float32Array, expected[p.tensor.name].data);
      expect(err, p.tensor.name).toBeLessThan(tolerance);
    }
    await session.release();
  });

  it('gives the learning rates of StepLR, CosineAnnealingLR and LinearLR warm-up + cosine', () => {
    const schedules = {
      step: { type: 'step', base: 0.1, stepSize: 3, gamma: 0.5, steps: 12 },
      cosine: { type: 'cosine', base: 0.01, tMax: 7, etaMin: 1e-4, steps: 16 },
      'warmup-cosine': { type: 'warmup-cosine', base: 0.02, warmup: 4, startFactor: 0.25, tMax: 8, etaMin: 0, steps: 14 }
    };
    const out = JSON.parse(runOracle(python as string, 'clip_accumulate_oracle.py', ['-', '-', JSON.stringify({ schedules })])) as Record<string, number[]>;
    const ours = {
      step: Array.from({ length: 12 }, (_, t) => learningRate(0.1, t, { schedule: { type: 'step', stepSize: 3, gamma: 0.5 } })),
      cosine: Array.from({ length: 16 }, (_, t) => learningRate(0.01, t, { schedule: { type: 'cosine', tMax: 7, etaMin: 1e-4 } })),
      'warmup-cosine': Array.from({ length: 14 }, (_, t) =>
        learningRate(0.02, t, { schedule: { type: 'cosine', tMax: 8 }, warmupSteps: 4, warmupStartFactor: 0.25 })
      )
    };
    for (const key of Object.keys(schedules) as (keyof typeof schedules)[]) {
      // PyTorch updates cosine rates recursively; the closed form agrees to rounding.
      expect(out[key]).toHaveLength(ours[key].length);
      out[key].forEach((lr, t) => expect(ours[key][t], `${key} step ${t}`).toBeCloseTo(lr, 10));
    }
  });
});
