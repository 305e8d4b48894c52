// Every gradient rule against central finite differences of the forward graph (see gradcheck.ts).
//
// Tolerances. The gradient graph runs in float32, so each gradient element carries float32
// rounding from its chain of ops (~1e-7 relative per op, growing with the length of the sums):
//  - float64 reference (ops ORT implements in double): h = 1e-5 makes truncation (~h^2) and
//    rounding (~1e-16/h) negligible, so the error is the float32 gradient's: rtol 1e-4, atol 1e-5.
//  - float32 reference for ops linear in the perturbed input (Conv, ConvTranspose, AveragePool,
//    Resize — ORT has no double kernels for them): a linear function has no truncation error, so
//    h = 0.5 keeps the float32 rounding of the loss (~1e-7 |terms| / h) small: rtol 1e-3, atol 1e-4.
//  - float32 reference for non-linear Softplus (BCE): h = 1e-2 balances truncation (~1e-4) against
//    rounding (~1e-5): rtol 5e-3, atol 1e-3.
// Inputs to kinked ops (Relu, Abs, MaxPool) stay away from the kinks by more than h.

import { describe, expect, it } from 'vitest';

import { Graph, bceWithLogits, diceLoss, gradients, ops } from '../../../kernel-lib/src/train';
import { gradCheck, type ICheckInput, type IGradCheck } from './gradcheck';

const F64 = { referenceType: 'float64', h: 1e-5, rtol: 1e-4, atol: 1e-5 } as const;
const LINEAR_F32 = { referenceType: 'float32', h: 0.5, rtol: 1e-3, atol: 1e-4 } as const;
const NONLINEAR_F32 = { referenceType: 'float32', h: 1e-2, rtol: 5e-3, atol: 1e-3 } as const;

const input = (name: string, shape: number[], init?: ICheckInput['init']): ICheckInput => ({ name, shape, init });
/** Values in +-[0.1, 1.1]: away from the kink at 0. */
const awayFromZero: ICheckInput['init'] = (_i, r) => (r() < 0.5 ? -1 : 1) * (0.1 + r());
const positive: ICheckInput['init'] = (_i, r) => 0.5 + r();

async function expectGradients(check: IGradCheck): Promise<void> {
  const { maxError, checked } = await gradCheck(check);
  expect(checked).toBeGreaterThan(0);
  expect(maxError).toBeLessThanOrEqual(1);
}

type Case = [string, Omit<IGradCheck, 'referenceType' | 'h' | 'rtol' | 'atol'>, typeof F64 | typeof LINEAR_F32 | typeof NONLINEAR_F32];

const elementwise: Case[] = [
  ['Add with broadcasting', { inputs: [input('a', [2, 3, 4]), input('b', [3, 1])], build: (_g, [a, b]) => ops.add(a, b) }, F64],
  ['Sub with broadcasting', { inputs: [input('a', [2, 3, 4]), input('b', [4])], build: (_g, [a, b]) => ops.sub(a, b) }, F64],
  ['Mul with broadcasting', { inputs: [input('a', [2, 1, 4]), input('b', [3, 1])], build: (_g, [a, b]) => ops.mul(a, b) }, F64],
  ['Div with broadcasting', { inputs: [input('a', [2, 3]), input('b', [3], positive)], build: (_g, [a, b]) => ops.div(a, b) }, F64],
  ['Pow with a constant exponent', { inputs: [input('x', [3, 4], positive)], build: (_g, [x]) => ops.pow(x, 3) }, F64],
  ['Neg', { inputs: [input('x', [3, 4])], build: (_g, [x]) => ops.neg(x) }, F64],
  ['Abs', { inputs: [input('x', [3, 4], awayFromZero)], build: (_g, [x]) => ops.abs(x) }, F64],
  ['Exp', { inputs: [input('x', [3, 4])], build: (_g, [x]) => ops.exp(x) }, F64],
  ['Log', { inputs: [input('x', [3, 4], positive)], build: (_g, [x]) => ops.log(x) }, F64],
  ['Sqrt', { inputs: [input('x', [3, 4], positive)], build: (_g, [x]) => ops.sqrt(x) }, F64],
  ['Reciprocal', { inputs: [input('x', [3, 4], positive)], build: (_g, [x]) => ops.reciprocal(x) }, F64],
  ['Relu', { inputs: [input('x', [3, 4], awayFromZero)], build: (_g, [x]) => ops.relu(x) }, F64],
  ['LeakyRelu', { inputs: [input('x', [3, 4], awayFromZero)], build: (_g, [x]) => ops.leakyRelu(x, 0.2) }, F64],
  ['Sigmoid', { inputs: [input('x', [3, 4])], build: (_g, [x]) => ops.sigmoid(x) }, F64],
  ['Tanh', { inputs: [input('x', [3, 4])], build: (_g, [x]) => ops.tanh(x) }, F64],
  ['Softplus', { inputs: [input('x', [3, 4])], build: (_g, [x]) => ops.softplus(x) }, NONLINEAR_F32],
  [
    'Where (both branches, broadcast)',
    { inputs: [input('a', [3, 4]), input('b', [4])], build: (_g, [a, b]) => ops.where(ops.greater(a, 0), a, b) },
    F64
  ],
  ['Expand', { inputs: [input('x', [3, 1])], build: (_g, [x]) => ops.expand(x, [2, 3, 4]) }, F64]
];

const structural: Case[] = [
  ['Reshape', { inputs: [input('x', [2, 3, 4])], build: (_g, [x]) => ops.reshape(x, [6, -1]) }, F64],
  ['Transpose', { inputs: [input('x', [2, 3, 4])], build: (_g, [x]) => ops.transpose(x, [2, 0, 1]) }, F64],
  [
    'Concat of three inputs',
    { inputs: [input('a', [2, 1, 3]), input('b', [2, 2, 3]), input('c', [2, 3, 3])], build: (_g, [a, b, c]) => ops.concat([a, b, c], 1) },
    F64
  ],
  ['Slice on two axes', { inputs: [input('x', [3, 5, 4])], build: (_g, [x]) => ops.slice(x, [1, -3], [3, 100], [1, 2]) }, F64],
  ['Pad', { inputs: [input('x', [2, 3])], build: (_g, [x]) => ops.pad(x, [1, 0, 0, 2]) }, F64],
  ['ReduceSum over two axes', { inputs: [input('x', [2, 3, 4, 2])], build: (_g, [x]) => ops.reduceSum(x, [1, 3]) }, F64],
  ['ReduceMean keeping dims', { inputs: [input('x', [2, 3, 4])], build: (_g, [x]) => ops.reduceMean(x, [0, 2], true) }, F64],
  ['Softmax', { inputs: [input('x', [2, 4, 3])], build: (_g, [x]) => ops.softmax(x, 1) }, F64],
  ['LogSoftmax', { inputs: [input('x', [2, 3, 4])], build: (_g, [x]) => ops.logSoftmax(x, -1) }, F64]
];

const linearAlgebra: Case[] = [
  ['MatMul with batch broadcasting', { inputs: [input('a', [2, 3, 4]), input('b', [4, 5])], build: (_g, [a, b]) => ops.matmul(a, b) }, F64],
  ['MatMul with broadcast batch of 1', { inputs: [input('a', [1, 3, 4]), input('b', [2, 4, 2])], build: (_g, [a, b]) => ops.matmul(a, b) }, F64],
  ...([
    [false, false],
    [true, false],
    [false, true],
    [true, true]
  ] as const).map(
    ([transA, transB]): Case => [
      `Gemm transA=${transA} transB=${transB} alpha beta C broadcast`,
      {
        inputs: [input('a', transA ? [4, 3] : [3, 4]), input('b', transB ? [5, 4] : [4, 5]), input('c', [5])],
        build: (_g, [a, b, c]) => ops.gemm(a, b, c, { transA, transB, alpha: 0.7, beta: 1.3 })
      },
      F64
    ]
  )
];

const conv = (opts: ops.IConvOptions, x: number[], w: number[], bias = false): Case[1] => ({
  inputs: [input('x', x), input('w', w), ...(bias ? [input('b', [w[0]])] : [])],
  build: (_g, [xt, wt, bt]) => ops.conv(xt, wt, bt, opts)
});

const convolution: Case[] = [
  ['Conv 3x3 pad 1 with bias', conv({ pads: 1 }, [2, 3, 5, 5], [4, 3, 3, 3], true), LINEAR_F32],
  ['Conv stride 2 on an odd size', conv({ strides: 2, pads: 1 }, [2, 2, 7, 6], [3, 2, 3, 3]), LINEAR_F32],
  ['Conv dilation 2', conv({ dilations: 2, pads: 2 }, [1, 2, 7, 7], [2, 2, 3, 3]), LINEAR_F32],
  ['Conv groups 2, stride 2, dilation 2', conv({ group: 2, strides: 2, dilations: 2, pads: 1 }, [2, 4, 8, 7], [6, 2, 3, 3], true), LINEAR_F32],
  ['Conv depthwise', conv({ group: 3, pads: 1 }, [1, 3, 5, 5], [3, 1, 3, 3]), LINEAR_F32],
  ['Conv asymmetric pads, 2x1 kernel', conv({ pads: [0, 1, 1, 0] }, [1, 2, 4, 5], [2, 2, 2, 1]), LINEAR_F32],
  ['Conv 1x1', conv({}, [2, 3, 3, 3], [2, 3, 1, 1], true), LINEAR_F32],
  [
    'ConvTranspose stride 2, pad 1, output padding 1, bias',
    {
      inputs: [input('x', [2, 3, 3, 4]), input('w', [3, 2, 3, 3]), input('b', [2])],
      build: (_g, [x, w, b]) => ops.convTranspose(x, w, b, { strides: 2, pads: 1, outputPadding: 1 })
    },
    LINEAR_F32
  ],
  [
    'ConvTranspose groups 2, dilation 2',
    {
      inputs: [input('x', [1, 4, 3, 3]), input('w', [4, 1, 2, 2])],
      build: (_g, [x, w]) => ops.convTranspose(x, w, undefined, { group: 2, dilations: 2 })
    },
    LINEAR_F32
  ]
];

const pooling: Case[] = [
  ['MaxPool 2x2 stride 2', { inputs: [input('x', [2, 3, 4, 6])], build: (_g, [x]) => ops.maxPool(x, { kernel: 2, strides: 2 }) }, F64],
  [
    'MaxPool 3x3 stride 2 pad 1 (overlapping windows)',
    { inputs: [input('x', [1, 2, 5, 5])], build: (_g, [x]) => ops.maxPool(x, { kernel: 3, strides: 2, pads: 1 }) },
    F64
  ],
  ['AveragePool 2x2 stride 2', { inputs: [input('x', [2, 2, 4, 5])], build: (_g, [x]) => ops.averagePool(x, { kernel: 2, strides: 2 }) }, LINEAR_F32],
  [
    'AveragePool 3x3 pad 1 excluding padding',
    { inputs: [input('x', [1, 2, 5, 4])], build: (_g, [x]) => ops.averagePool(x, { kernel: 3, strides: 2, pads: 1 }) },
    LINEAR_F32
  ],
  [
    'AveragePool 3x3 pad 1 including padding',
    { inputs: [input('x', [1, 2, 5, 4])], build: (_g, [x]) => ops.averagePool(x, { kernel: 3, strides: 1, pads: 1, countIncludePad: true }) },
    LINEAR_F32
  ],
  ['Global average pool', { inputs: [input('x', [2, 3, 3, 4])], build: (_g, [x]) => ops.globalAveragePool(x) }, F64],
  ['Resize nearest x2', { inputs: [input('x', [1, 2, 3, 4])], build: (_g, [x]) => ops.resize(x, { scales: 2, mode: 'nearest' }) }, LINEAR_F32],
  ['Resize bilinear x2 (half pixel)', { inputs: [input('x', [1, 2, 3, 4])], build: (_g, [x]) => ops.resize(x, { scales: 2, mode: 'linear' }) }, LINEAR_F32],
  [
    'Resize bilinear x2 (align corners)',
    { inputs: [input('x', [1, 1, 3, 3])], build: (_g, [x]) => ops.resize(x, { scales: 2, mode: 'linear', coordinateTransformation: 'align_corners' }) },
    LINEAR_F32
  ]
];

const normalisation: Case[] = [
  [
    'BatchNorm in training mode (closed-form backward)',
    {
      inputs: [input('x', [3, 2, 3, 3]), input('gamma', [2], positive), input('beta', [2])],
      build: (_g, [x, gamma, beta]) => ops.batchNormTrain(x, gamma, beta).y
    },
    F64
  ]
];

const lossTarget = (_i: number, r: () => number) => (r() < 0.3 ? 1 : 0);
const losses: Case[] = [
  [
    'BCE with logits, pos_weight 3 (logits only)',
    {
      inputs: [input('x', [2, 1, 3, 3])],
      build: (g, [x]) => {
        const t = g.constant(Array.from({ length: 18 }, (_, i) => (i % 3 === 0 ? 1 : 0)), [2, 1, 3, 3], x.dtype);
        return bceWithLogits(x, t, { posWeight: 3 });
      }
    },
    NONLINEAR_F32
  ],
  [
    'Dice loss',
    {
      inputs: [input('x', [2, 1, 3, 3]), input('t', [2, 1, 3, 3], lossTarget)],
      build: (_g, [x, t]) => diceLoss(x, t, { smooth: 1 })
    },
    F64
  ]
];

describe.each([
  ['elementwise', elementwise],
  ['shape and reduction', structural],
  ['linear algebra', linearAlgebra],
  ['convolution', convolution],
  ['pooling and resizing', pooling],
  ['normalisation', normalisation],
  ['losses', losses]
] as const)('gradients: %s', (_group, cases) => {
  it.each(cases as Case[])('%s', async (_name, check, tolerance) => {
    await expectGradients({ ...check, ...tolerance });
  });
});

it('gives a zero gradient for a tensor the loss does not depend on', async () => {
  const g = new Graph();
  const a = g.input('a', [2]);
  const b = g.input('b', [3]);
  const [ga, gb] = gradients(ops.reduceSum(ops.mul(a, a)), [a, b]);
  const { runOnce } = await import('./gradcheck');
  const out = await runOnce(g, { ga, gb }, { a: Float32Array.from([1, -2]) });
  expect(Array.from(out.ga)).toEqual([2, -4]);
  expect(Array.from(out.gb)).toEqual([0, 0, 0]);
});

it('names the op when a gradient rule is missing', () => {
  const g = new Graph();
  const x = g.input('x', [2, 3]);
  const y = g.node('Floor', [x], [{ shape: x.shape, dtype: x.dtype }])[0];
  expect(() => gradients(ops.reduceSum(y), [x])).toThrow(/no gradient rule for Floor/);
});
