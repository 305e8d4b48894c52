// The training step: one session.run computes forward, loss, backward and the optimizer update.
// A small conv net must learn a synthetic batch with SGD; Adam/AdamW/SGD updates must match a
// hand-computed float64 reference of torch.optim's formulas.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { createRandom } from '../../../kernel-lib/src/synth';
import {
  Graph,
  TrainingSession,
  bceWithLogits,
  defaultBias,
  defaultWeight,
  diceLoss,
  ops,
  type OptimizerOptions,
  type Tensor
} from '../../../kernel-lib/src/train';

/** Two Conv+Relu, MaxPool, Conv 1x1: the smallest shape of an FC-Siam-diff encoder/decoder. */
function smallNet(batch: number, size: number) {
  const g = new Graph();
  const x = g.input('image', [batch, 3, size, size]);
  const target = g.input('mask', [batch, 1, size / 2, size / 2]);
  const layer = (name: string, input: Tensor, out: number, k: number) => {
    const shape = [out, input.shape[1], k, k];
    const w = g.parameter(`${name}.weight`, shape, defaultWeight(`${name}.w`, shape));
    const b = g.parameter(`${name}.bias`, [out], defaultBias(`${name}.b`, shape));
    return ops.conv(input, w, b, { pads: (k - 1) / 2 });
  };
  const h1 = ops.relu(layer('conv1', x, 8, 3));
  const h2 = ops.relu(layer('conv2', h1, 8, 3));
  const pooled = ops.maxPool(h2, { kernel: 2, strides: 2 });
  const logits = layer('head', pooled, 1, 1);
  return { g, x, target, logits };
}

/** A batch whose mask is where the first band, 2x2-averaged, is bright: learnable by the net. */
function syntheticBatch(batch: number, size: number) {
  const random = createRandom('step-test-batch');
  const image = Float32Array.from({ length: batch * 3 * size * size }, () => random.normal());
  const half = size / 2;
  const mask = new Float32Array(batch * half * half);
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < half; j++) {
        let s = 0;
        for (const [di, dj] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
          s += image[((n * 3) * size + 2 * i + di) * size + 2 * j + dj];
        }
        mask[(n * half + i) * half + j] = s > 0.5 ? 1 : 0;
      }
    }
  }
  return { image, mask };
}

describe('TrainingSession', () => {
  it('trains a small conv net with SGD, the loss falling at every one of 20 steps', async () => {
    const batch = 4;
    const size = 16;
    const { g, target, logits } = smallNet(batch, size);
    const loss = ops.add(bceWithLogits(logits, target, { posWeight: 2 }), ops.mul(diceLoss(logits, target, { smooth: 1 }), 0.5));
    const session = await TrainingSession.create({ graph: g, loss, optimizer: { type: 'sgd', momentum: 0.5 }, lr: 0.15, outputs: { logits } });
    expect(session.model.batchNames.sort()).toEqual(['image', 'mask']);
    const data = syntheticBatch(batch, size);
    const losses: number[] = [];
    const started = performance.now();
    for (let s = 0; s < 20; s++) {
      const { loss: value, outputs } = await session.step(data);
      expect(outputs.logits.dims).toEqual([batch, 1, size / 2, size / 2]);
      losses.push(value);
    }
    const perStep = (performance.now() - started) / 20;
    console.log(`small conv net (batch ${batch}, 3x${size}x${size}): ${perStep.toFixed(2)} ms per training step; loss ${losses[0].toFixed(4)} -> ${losses[19].toFixed(4)}`);
    for (let s = 1; s < losses.length; s++) {
      expect(losses[s], `step ${s + 1}`).toBeLessThan(losses[s - 1]);
    }
    expect(losses[19]).toBeLessThan(0.9 * losses[0]);
    expect(session.steps).toBe(20);

    // The trained parameters export as a plain inference model (parameters as initializers).
    session.syncParameters();
    const inference = g.export({ outputs: { logits }, parameters: 'initializers' });
    expect(inference.inputNames).toEqual(['image']);
    const plain = await ort.InferenceSession.create(inference.bytes);
    const out = await plain.run({ image: new ort.Tensor('float32', data.image, [batch, 3, size, size]) });
    expect(out.logits.dims).toEqual([batch, 1, size / 2, size / 2]);
    await plain.release();
    await session.release();
  });
});

/**
 * A quadratic loss with a known gradient, g = 2 c p + d, in float64 so the update formulas are
 * compared with a float64 reference at 1e-12 (only summation order differs).
 */
function quadratic() {
  const g = new Graph();
  const init = Float64Array.from([0.5, -1.5, 2, 0.25, -0.75]);
  const c = [1, 2, 0.5, 3, 1.5];
  const d = [0.1, -0.2, 0.3, 0, -0.4];
  const p = g.parameter('p', [5], init.slice(), 'float64');
  const loss = ops.reduceSum(ops.add(ops.mul(ops.mul(p, p), g.constant(c, [5], 'float64')), ops.mul(p, g.constant(d, [5], 'float64'))));
  const grad = (v: number[]) => v.map((pi, i) => 2 * c[i] * pi + d[i]);
  return { g, loss, init: Array.from(init), grad };
}

type Reference = (p: number[], grad: (v: number[]) => number[], lr: number, steps: number) => number[][];

/** torch.optim.Adam / AdamW, written out. */
const adamReference =
  (decoupled: boolean, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): Reference =>
  (p0, grad, lr, steps) => {
    let p = [...p0];
    const m = p.map(() => 0);
    const v = p.map(() => 0);
    const history: number[][] = [];
    for (let t = 1; t <= steps; t++) {
      let g = grad(p);
      if (!decoupled && wd) {
        g = g.map((gi, i) => gi + wd * p[i]);
      }
      if (decoupled && wd) {
        p = p.map(pi => pi * (1 - lr * wd));
      }
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      p = p.map((pi, i) => {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        return pi - (lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
      });
      history.push([...p]);
    }
    return history;
  };

/** torch.optim.SGD with momentum, Nesterov and weight decay (dampening 0), written out. */
const sgdReference =
  (mu: number, nesterov: boolean, wd: number): Reference =>
  (p0, grad, lr, steps) => {
    let p = [...p0];
    let buf: number[] | undefined;
    const history: number[][] = [];
    for (let t = 1; t <= steps; t++) {
      let g = grad(p).map((gi, i) => gi + wd * p[i]);
      if (mu) {
        buf = buf ? buf.map((b, i) => mu * b + g[i]) : [...g];
        g = nesterov ? g.map((gi, i) => gi + mu * buf![i]) : buf;
      }
      p = p.map((pi, i) => pi - lr * g[i]);
      history.push([...p]);
    }
    return history;
  };

describe('optimizer updates match torch.optim formulas (float64, 1e-12)', () => {
  const cases: [string, OptimizerOptions, Reference][] = [
    ['Adam', { type: 'adam' }, adamReference(false, 0)],
    ['Adam with L2 weight decay', { type: 'adam', weightDecay: 0.1, betas: [0.8, 0.99], eps: 1e-6 }, adamReference(false, 0.1, 0.8, 0.99, 1e-6)],
    ['AdamW', { type: 'adamw', weightDecay: 0.05 }, adamReference(true, 0.05)],
    ['SGD', { type: 'sgd' }, sgdReference(0, false, 0)],
    ['SGD momentum + weight decay', { type: 'sgd', momentum: 0.9, weightDecay: 0.01 }, sgdReference(0.9, false, 0.01)],
    ['SGD Nesterov', { type: 'sgd', momentum: 0.9, nesterov: true }, sgdReference(0.9, true, 0)]
  ];
  it.each(cases)('%s', async (_name, optimizer, reference) => {
    const { g, loss, init, grad } = quadratic();
    const lr = 0.05;
    const session = await TrainingSession.create({ graph: g, loss, optimizer, lr });
    const expected = reference(init, grad, lr, 3);
    for (let t = 0; t < 3; t++) {
      await session.step({});
      const got = Array.from(session.value('p') as Float64Array);
      got.forEach((v, i) => expect(Math.abs(v - expected[t][i]), `step ${t + 1} p[${i}]`).toBeLessThan(1e-12));
    }
    await session.release();
  });
});
