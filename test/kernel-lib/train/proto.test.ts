// The hand-written ONNX writer: models must load in onnxruntime and compute what they say, with
// attributes of every kind we emit, initializers, and pruning to the requested outputs.

import * as ort from 'onnxruntime-node';
import { expect, it } from 'vitest';

import { Graph, ops } from '../../../kernel-lib/src/train';

it('writes a model that onnxruntime loads and runs exactly', async () => {
  const g = new Graph();
  const x = g.input('x', [2, 3]);
  const w = g.parameter('w', [4, 3], Float32Array.from({ length: 12 }, (_, i) => i - 6));
  const b = g.parameter('b', [4], Float32Array.from([0.5, -0.5, 1, -1]));
  const y = ops.leakyRelu(ops.gemm(x, w, b, { transB: true, alpha: 0.5 }), 0.25);
  const unused = ops.exp(x);
  const asInputs = g.export({ outputs: { y }, parameters: 'inputs' });
  expect(asInputs.inputNames).toEqual(['x', 'w', 'b']);
  const model = g.export({ outputs: { y }, parameters: 'initializers' });
  expect(model.inputNames).toEqual(['x']);
  const session = await ort.InferenceSession.create(model.bytes);
  expect(session.inputNames).toEqual(['x']);
  expect(session.outputNames).toEqual(['y']);
  const xv = Float32Array.from([1, 2, 3, -1, 0, 2]);
  const out = (await session.run({ x: new ort.Tensor('float32', xv, [2, 3]) })).y.data as Float32Array;
  const expected: number[] = [];
  for (let n = 0; n < 2; n++) {
    for (let m = 0; m < 4; m++) {
      let s = [0.5, -0.5, 1, -1][m];
      for (let k = 0; k < 3; k++) {
        s += 0.5 * xv[n * 3 + k] * (m * 3 + k - 6);
      }
      expected.push(s > 0 ? s : 0.25 * s);
    }
  }
  expect(Array.from(out)).toEqual(expected.map(v => Math.fround(v)));
  void unused;
  await session.release();
});

it('keeps int64 constants and negative values intact', async () => {
  const g = new Graph();
  const x = g.input('x', [2, 3, 4]);
  const y = ops.slice(ops.reshape(x, [6, -1]), [-4], [-1], [0]);
  const model = g.export({ outputs: { y } });
  const session = await ort.InferenceSession.create(model.bytes);
  const data = Float32Array.from({ length: 24 }, (_, i) => i);
  const out = await session.run({ x: new ort.Tensor('float32', data, [2, 3, 4]) });
  expect(out.y.dims).toEqual([3, 4]);
  expect(Array.from(out.y.data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, i) => i + 8));
  await session.release();
});
