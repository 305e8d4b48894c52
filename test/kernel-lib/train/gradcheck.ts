// Finite-difference and dot-product checks for gradient rules. The gradient graph runs in ORT in
// float32 (as training does); the reference is a central difference of the forward graph run in
// ORT in float64 where ORT's CPU EP implements the ops in double, else in float32 (the caller
// then passes a looser tolerance and says why).

import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';

import { createRandom } from '../../../kernel-lib/src/synth';
import { Graph, gradients, ops, type DType, type Tensor } from '../../../kernel-lib/src/train';

export interface ICheckInput {
  name: string;
  shape: number[];
  /** Value generator for element i (default standard normal). */
  init?: (i: number, random: () => number) => number;
}

export interface IGradCheck {
  inputs: ICheckInput[];
  /** Builds the op(s) under test from the inputs; must work for any float dtype. */
  build: (g: Graph, xs: Tensor[]) => Tensor;
  /** dtype of the forward graph used for finite differences. */
  referenceType: 'float64' | 'float32';
  /** Central-difference step. */
  h: number;
  rtol: number;
  atol: number;
  /** Checks at most this many elements per input (spread evenly). */
  maxElements?: number;
  seed?: string;
}

function toArray(dtype: DType, v: readonly number[]): Float32Array | Float64Array {
  return dtype === 'float64' ? Float64Array.from(v) : Float32Array.from(v);
}

function buildLoss(dtype: DType, check: IGradCheck, projection: number[]) {
  const g = new Graph();
  const xs = check.inputs.map(i => g.input(i.name, i.shape, dtype));
  const y = check.build(g, xs);
  // A random projection makes every output element matter with a distinct weight.
  const loss = ops.reduceSum(ops.mul(y, g.constant(toArray(dtype, projection.slice(0, y.size)), y.shape, dtype)));
  return { g, xs, y, loss };
}

export async function gradCheck(check: IGradCheck): Promise<{ maxError: number; checked: number }> {
  const random = createRandom(check.seed ?? 'gradcheck');
  const values = check.inputs.map(i => {
    const size = i.shape.reduce((a, b) => a * b, 1);
    return Array.from({ length: size }, (_, k) => (i.init ? i.init(k, () => random.next()) : random.normal()));
  });
  const projection = Array.from({ length: 1 << 16 }, () => random.normal());

  // Gradient graph, float32.
  const ad = buildLoss('float32', check, projection);
  const grads = gradients(ad.loss, ad.xs);
  const gradModel = ad.g.export({ outputs: grads });
  const gradSession = await ort.InferenceSession.create(gradModel.bytes);
  const feed32: Record<string, ort.Tensor> = {};
  check.inputs.forEach((inp, i) => (feed32[inp.name] = new ort.Tensor('float32', toArray('float32', values[i]), inp.shape)));
  const gradOut = await gradSession.run(Object.fromEntries(gradModel.inputNames.map(n => [n, feed32[n]])));

  // Reference: central differences of the forward graph.
  const dtype = check.referenceType;
  const fwd = buildLoss(dtype, check, projection);
  const fwdModel = fwd.g.export({ outputs: [fwd.loss] });
  const fwdSession = await ort.InferenceSession.create(fwdModel.bytes);
  const arrays = values.map(v => toArray(dtype, v));
  const evaluate = async () => {
    const feeds: Record<string, ort.Tensor> = {};
    check.inputs.forEach((inp, i) => (feeds[inp.name] = new ort.Tensor(dtype, arrays[i], inp.shape)));
    const out = await fwdSession.run(Object.fromEntries(fwdModel.inputNames.map(n => [n, feeds[n]])));
    return Number(out[fwd.loss.name].data[0]);
  };

  let maxError = 0;
  let checked = 0;
  for (const [i, inp] of check.inputs.entries()) {
    const adGrad = gradOut[gradModel.outputNames[i]].data as Float32Array;
    const n = arrays[i].length;
    const count = Math.min(n, check.maxElements ?? 64);
    for (let c = 0; c < count; c++) {
      const k = Math.floor((c * n) / count);
      const x0 = arrays[i][k];
      arrays[i][k] = x0 + check.h;
      const fp = await evaluate();
      arrays[i][k] = x0 - check.h;
      const fm = await evaluate();
      arrays[i][k] = x0;
      const fd = (fp - fm) / (2 * check.h);
      const err = Math.abs(adGrad[k] - fd);
      maxError = Math.max(maxError, err / (check.atol + check.rtol * Math.abs(fd)));
      checked++;
      if (err > check.atol + check.rtol * Math.abs(fd)) {
        expect.soft(adGrad[k], `d loss / d ${inp.name}[${k}]: autodiff ${adGrad[k]}, finite difference ${fd}`).toBeCloseTo(fd, 10);
      }
    }
  }
  await gradSession.release();
  await fwdSession.release();
  return { maxError, checked };
}

/** Runs a model once with float32 feeds and returns its outputs' data by output name. */
export async function runOnce(g: Graph, outputs: Record<string, Tensor>, feeds: Record<string, Float32Array | Float64Array>): Promise<Record<string, Float32Array | Float64Array>> {
  const model = g.export({ outputs });
  const session = await ort.InferenceSession.create(model.bytes);
  const tensors: Record<string, ort.Tensor> = {};
  for (const name of model.inputNames) {
    const t = g.inputs.find(i => i.name === name) ?? g.parameters.find(p => p.tensor.name === name)?.tensor;
    tensors[name] = new ort.Tensor(t!.dtype as 'float32', feeds[name], t!.shape);
  }
  const out = await session.run(tensors);
  await session.release();
  return Object.fromEntries(Object.keys(outputs).map(k => [k, out[k].data as Float32Array]));
}

export function randomArray(seed: string, size: number, scale = 1): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: size }, () => random.normal() * scale);
}
