// Reverse-mode differentiation over a builder graph. Gradients are emitted as more standard ONNX
// nodes in the same graph (no com.microsoft ops), so one exported model holds forward, backward
// and, with step.ts, the optimizer update. Each rule is tested against finite differences in
// test/kernel-lib/train/.

import { Graph, GraphError, Node, Tensor, type IComposite, type Shape } from './onnx/graph';
import * as op from './onnx/ops';

/** What a gradient rule sees: the op's inputs and outputs, and the gradients flowing back. */
export interface IGradientContext {
  readonly graph: Graph;
  readonly opType: string;
  readonly node?: Node;
  readonly composite?: IComposite;
  readonly inputs: readonly (Tensor | undefined)[];
  readonly outputs: readonly (Tensor | undefined)[];
  /** Gradient of the loss with respect to each output (undefined where none flows). */
  readonly grads: readonly (Tensor | undefined)[];
  /** Which inputs need a gradient; rules skip the others (the data input of a first conv). */
  readonly needs: readonly boolean[];
}

export type GradientRule = (ctx: IGradientContext) => (Tensor | undefined)[];

/** Sums a broadcast gradient back to the operand's shape (ReduceSum over broadcast axes + Reshape). */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) {
    return g;
  }
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) {
      axes.push(i);
    }
  });
  return op.reshape(op.reduceSum(g, axes, true), shape);
}

function x0(ctx: IGradientContext): Tensor {
  return ctx.inputs[0] as Tensor;
}
function y0(ctx: IGradientContext): Tensor {
  return ctx.outputs[0] as Tensor;
}
function g0(ctx: IGradientContext): Tensor {
  const g = ctx.grads[0];
  if (!g) {
    throw new GraphError(`no gradient reaches the first output of ${ctx.opType}`);
  }
  return g;
}

const unaryRule =
  (f: (g: Tensor, x: Tensor, y: Tensor, ctx: IGradientContext) => Tensor): GradientRule =>
  ctx => [f(g0(ctx), x0(ctx), y0(ctx), ctx)];

function intsOf(t: Tensor | undefined): number[] {
  const v = t && t.graph.constantValue(t);
  if (!v) {
    throw new GraphError(`${t?.name ?? 'an input'} must be a constant for differentiation`);
  }
  return Array.from(v as ArrayLike<number | bigint>, Number);
}

const spatialAxes = (rank: number): number[] => Array.from({ length: rank - 2 }, (_, i) => i + 2);

/**
 * Weight gradient as a convolution: with batch and channels swapped, the output gradient becomes
 * the kernel and the forward strides become dilations (and vice versa). Groups map to a grouped
 * conv over the swapped tensors. Exact for every geometry, but the image-sized kernel is slow in
 * ORT's CPU Conv, so it serves grouped convs, where the patch form below does not apply.
 */
export function convWeightGradientSwapped(x: Tensor, gy: Tensor, weightShape: Shape, geo: op.IConvGeometry): Tensor {
  const [n, c] = x.shape;
  const G = geo.group;
  const cg = c / G;
  const xs = x.shape.slice(2);
  // x [N, G*Cg, ...] -> [Cg, G*N, ...]: channel c of group g becomes batch entry c, channel g*N+n.
  const xr = op.reshape(
    op.transpose(op.reshape(x, [n, G, cg, ...xs]), [2, 1, 0, ...xs.map((_, i) => i + 3)]),
    [cg, G * n, ...xs]
  );
  // gy [N, M, ...] -> [M, N, ...]: each output channel's gradient map is a kernel over the batch.
  const gk = op.transpose(gy, [1, 0, ...spatialAxes(gy.rank)]);
  const full = op.conv(xr, gk, undefined, { strides: geo.dilations, dilations: geo.strides, pads: geo.pads, group: G });
  const kernel = weightShape.slice(2);
  const cut = full.shape.slice(2).some((d, i) => d !== kernel[i])
    ? op.slice(full, kernel.map(() => 0), kernel, spatialAxes(full.rank))
    : full;
  // [Cg, M, k...] -> [M, Cg, k...]
  return op.transpose(cut, [1, 0, ...spatialAxes(cut.rank)]);
}

/**
 * Weight gradient from strided patches (ungrouped convs): for each of the k^d kernel offsets, a
 * strided slice of the channels-last, padded input lines up with the output gradient, and
 * dW[:, :, offset] = sum over batch and positions of gy x_offset^T, one MatMul each. The MatMuls
 * contract over N x positions, which ORT's GEMM runs near peak, unlike the swapped conv.
 */
export function convWeightGradientPatches(x: Tensor, gy: Tensor, weightShape: Shape, geo: op.IConvGeometry): Tensor {
  if (geo.group !== 1) {
    throw new GraphError('the patch form of the conv weight gradient is for ungrouped convs');
  }
  const spatial = x.rank - 2;
  const [n, c] = x.shape;
  const m = gy.shape[1];
  const kernel = weightShape.slice(2);
  const outSize = gy.shape.slice(2);
  const positions = outSize.reduce((a, b) => a * b, 1);
  const axes = Array.from({ length: spatial }, (_, i) => i + 1);
  // Channels last, so each slice reshapes to [N, positions, C] without a copy.
  let xl = op.transpose(x, [0, ...spatialAxes(x.rank), 1]);
  if (geo.pads.some(p => p !== 0)) {
    xl = op.pad(xl, [0, ...geo.pads.slice(0, spatial), 0, 0, ...geo.pads.slice(spatial), 0]);
  }
  const gyr = op.reshape(gy, [n, m, positions]);
  const offsets: number[][] = [[]];
  for (const k of kernel) {
    offsets.splice(0, offsets.length, ...offsets.flatMap(o => Array.from({ length: k }, (_, i) => [...o, i])));
  }
  const parts = offsets.map(o => {
    const starts = o.map((k, i) => k * geo.dilations[i]);
    const ends = starts.map((s, i) => s + (outSize[i] - 1) * geo.strides[i] + 1);
    const patch = op.reshape(op.slice(xl, starts, ends, axes, geo.strides), [n, positions, c]);
    return op.reshape(op.matmul(gyr, patch), [n, m, 1, c]);
  });
  // [N, M, K, C] -> sum over N -> [M, C, K] -> [M, C, k...]
  const summed = op.reduceSum(parts.length === 1 ? parts[0] : op.concat(parts, 2), [0]);
  return op.reshape(op.transpose(summed, [0, 2, 1]), weightShape);
}

/**
 * Gradient of a convolution with respect to its weight [M, C/group, k...], given the conv's input
 * x and the gradient gy of its output. Picks the faster of the two exact forms by shape (see
 * bench/train-step.ts and the notes on each form).
 */
export function convWeightGradient(x: Tensor, gy: Tensor, weightShape: Shape, geo: op.IConvGeometry): Tensor {
  return geo.group === 1 ? convWeightGradientPatches(x, gy, weightShape, geo) : convWeightGradientSwapped(x, gy, weightShape, geo);
}

function convGeometryOf(node: Node): op.IConvGeometry {
  return {
    strides: [...(node.attr('strides', 'ints') ?? [])],
    pads: [...(node.attr('pads', 'ints') ?? [])],
    dilations: [...(node.attr('dilations', 'ints') ?? [])],
    group: node.attr('group', 'int') ?? 1
  };
}

/** Input gradient of a conv: the transposed conv, with output padding restoring the exact size. */
function convInputGradient(gy: Tensor, w: Tensor, xShape: Shape, geo: op.IConvGeometry): Tensor {
  const spatial = xShape.length - 2;
  const kernel = w.shape.slice(2);
  const outputPadding = xShape.slice(2).map(
    (d, i) => d - ((gy.shape[2 + i] - 1) * geo.strides[i] + (kernel[i] - 1) * geo.dilations[i] + 1 - geo.pads[i] - geo.pads[i + spatial])
  );
  return op.convTranspose(gy, w, undefined, { ...geo, outputPadding });
}

function poolCounts(xShape: Shape, outShape: Shape, geo: op.IPoolGeometry, includePad: boolean): number[] | number {
  const spatial = xShape.length - 2;
  const windowSize = geo.kernel.reduce((a, b) => a * b, 1);
  const padded = geo.pads.some(p => p > 0);
  if (includePad || !padded) {
    return windowSize;
  }
  // Windows that overlap padding average over fewer inputs; the count is separable per axis.
  let counts = [1];
  for (let a = 0; a < spatial; a++) {
    const axis: number[] = [];
    for (let o = 0; o < outShape[2 + a]; o++) {
      const start = o * geo.strides[a] - geo.pads[a];
      const end = Math.min(start + geo.kernel[a], xShape[2 + a]);
      axis.push(end - Math.max(start, 0));
    }
    counts = counts.flatMap(c => axis.map(v => c * v));
  }
  return counts;
}

/**
 * The [out, in] interpolation matrix of ONNX Resize along one axis, as ORT's CPU kernel computes
 * it (nearest with floor rounding; linear with clamped source coordinates).
 */
export function resizeMatrix(inSize: number, outSize: number, scale: number, mode: string, coord: string): number[] {
  const m = new Array<number>(outSize * inSize).fill(0);
  for (let o = 0; o < outSize; o++) {
    let x: number;
    if (coord === 'align_corners') {
      x = outSize === 1 ? 0 : (o * (inSize - 1)) / (outSize - 1);
    } else if (coord === 'half_pixel') {
      x = (o + 0.5) / scale - 0.5;
    } else {
      x = o / scale;
    }
    if (mode === 'nearest') {
      m[o * inSize + Math.min(Math.max(Math.floor(x), 0), inSize - 1)] = 1;
    } else {
      const c = Math.min(Math.max(x, 0), inSize - 1);
      const x0 = Math.floor(c);
      const x1 = Math.min(x0 + 1, inSize - 1);
      m[o * inSize + x0] += 1 - (c - x0);
      m[o * inSize + x1] += c - x0;
    }
  }
  return m;
}

export const GRADIENT_RULES: Record<string, GradientRule> = {
  Identity: unaryRule(g => g),
  Neg: unaryRule(g => op.neg(g)),
  Abs: unaryRule((g, x) => op.mul(g, op.sign(x))),
  Exp: unaryRule((g, _x, y) => op.mul(g, y)),
  Log: unaryRule((g, x) => op.div(g, x)),
  Sqrt: unaryRule((g, _x, y) => op.div(g, op.mul(y, 2))),
  Reciprocal: unaryRule((g, _x, y) => op.neg(op.mul(g, op.mul(y, y)))),
  Relu: unaryRule((g, x) => op.where(op.greater(x, 0), g, 0)),
  LeakyRelu: unaryRule((g, x, _y, ctx) => op.where(op.greater(x, 0), g, op.mul(g, ctx.node?.attr('alpha', 'float') ?? 0.01))),
  Sigmoid: unaryRule((g, _x, y) => op.mul(g, op.mul(y, op.sub(1, y)))),
  Tanh: unaryRule((g, _x, y) => op.mul(g, op.sub(1, op.mul(y, y)))),
  Softplus: unaryRule((g, x) => op.mul(g, op.sigmoid(x))),
  Cast: unaryRule((g, x) => op.cast(g, x.dtype)),

  Add: ctx => {
    const [a, b] = ctx.inputs as Tensor[];
    const g = g0(ctx);
    return [ctx.needs[0] ? unbroadcast(g, a.shape) : undefined, ctx.needs[1] ? unbroadcast(g, b.shape) : undefined];
  },
  Sub: ctx => {
    const [a, b] = ctx.inputs as Tensor[];
    const g = g0(ctx);
    return [ctx.needs[0] ? unbroadcast(g, a.shape) : undefined, ctx.needs[1] ? unbroadcast(op.neg(g), b.shape) : undefined];
  },
  Mul: ctx => {
    const [a, b] = ctx.inputs as Tensor[];
    const g = g0(ctx);
    return [ctx.needs[0] ? unbroadcast(op.mul(g, b), a.shape) : undefined, ctx.needs[1] ? unbroadcast(op.mul(g, a), b.shape) : undefined];
  },
  Div: ctx => {
    const [a, b] = ctx.inputs as Tensor[];
    const g = g0(ctx);
    const y = y0(ctx);
    return [
      ctx.needs[0] ? unbroadcast(op.div(g, b), a.shape) : undefined,
      ctx.needs[1] ? unbroadcast(op.neg(op.div(op.mul(g, y), b)), b.shape) : undefined
    ];
  },
  Pow: ctx => {
    const [a, b] = ctx.inputs as Tensor[];
    if (ctx.needs[1]) {
      throw new GraphError('Pow is differentiable in its base only (the exponent must be constant)');
    }
    const g = g0(ctx);
    return [unbroadcast(op.mul(g, op.mul(b, op.pow(a, op.sub(b, 1)))), a.shape), undefined];
  },
  Where: ctx => {
    const [c, a, b] = ctx.inputs as Tensor[];
    const g = g0(ctx);
    return [
      undefined,
      ctx.needs[1] ? unbroadcast(op.where(c, g, 0), a.shape) : undefined,
      ctx.needs[2] ? unbroadcast(op.where(c, 0, g), b.shape) : undefined
    ];
  },

  Reshape: ctx => [op.reshape(g0(ctx), x0(ctx).shape)],
  Expand: ctx => [unbroadcast(g0(ctx), x0(ctx).shape)],
  Transpose: ctx => {
    const perm = ctx.node?.attr('perm', 'ints') ?? [];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [op.transpose(g0(ctx), inverse)];
  },
  Concat: ctx => {
    const axis = ctx.node?.attr('axis', 'int') ?? 0;
    const g = g0(ctx);
    let offset = 0;
    return ctx.inputs.map((x, i) => {
      const t = x as Tensor;
      const start = offset;
      offset += t.shape[axis];
      return ctx.needs[i] ? op.slice(g, [start], [offset], [axis]) : undefined;
    });
  },
  Slice: ctx => {
    const x = x0(ctx);
    const starts = intsOf(ctx.inputs[1]);
    const ends = intsOf(ctx.inputs[2]);
    const axes = ctx.inputs[3] ? intsOf(ctx.inputs[3]) : starts.map((_, i) => i);
    if (ctx.inputs[4] && intsOf(ctx.inputs[4]).some(s => s !== 1)) {
      throw new GraphError('Slice with steps other than 1 has no gradient rule yet');
    }
    const pads = new Array<number>(2 * x.rank).fill(0);
    axes.forEach((a, i) => {
      pads[a] = starts[i];
      pads[a + x.rank] = x.shape[a] - ends[i];
    });
    return [op.pad(g0(ctx), pads)];
  },
  Pad: ctx => {
    const x = x0(ctx);
    const pads = intsOf(ctx.inputs[1]);
    const axes = x.shape.map((_, i) => i);
    return [op.slice(g0(ctx), axes.map(a => pads[a]), axes.map(a => pads[a] + x.shape[a]), axes)];
  },

  ReduceSum: ctx => {
    const x = x0(ctx);
    const axes = intsOf(ctx.inputs[1]);
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return [op.expand(op.reshape(g0(ctx), kept), x.shape)];
  },
  ReduceMean: ctx => {
    const x = x0(ctx);
    const axes = [...(ctx.node?.attr('axes', 'ints') ?? x.shape.map((_, i) => i))];
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const count = axes.reduce((n, a) => n * x.shape[a], 1);
    return [op.expand(op.reshape(op.div(g0(ctx), count), kept), x.shape)];
  },
  Softmax: ctx => {
    const axis = ctx.node?.attr('axis', 'int') ?? -1;
    const g = g0(ctx);
    const y = y0(ctx);
    return [op.mul(y, op.sub(g, op.reduceSum(op.mul(g, y), [axis], true)))];
  },
  LogSoftmax: ctx => {
    const axis = ctx.node?.attr('axis', 'int') ?? -1;
    const g = g0(ctx);
    return [op.sub(g, op.mul(op.exp(y0(ctx)), op.reduceSum(g, [axis], true)))];
  },

  MatMul: ctx => {
    const [a, b] = ctx.inputs as Tensor[];
    const g = g0(ctx);
    const swap = (t: Tensor) => op.transpose(t, [...t.shape.slice(0, -2).map((_, i) => i), t.rank - 1, t.rank - 2]);
    return [
      ctx.needs[0] ? unbroadcast(op.matmul(g, swap(b)), a.shape) : undefined,
      ctx.needs[1] ? unbroadcast(op.matmul(swap(a), g), b.shape) : undefined
    ];
  },
  Gemm: ctx => {
    const [a, b, c] = ctx.inputs;
    const A = a as Tensor;
    const B = b as Tensor;
    const node = ctx.node as Node;
    const tA = node.attr('transA', 'int') === 1;
    const tB = node.attr('transB', 'int') === 1;
    const alpha = node.attr('alpha', 'float') ?? 1;
    const beta = node.attr('beta', 'float') ?? 1;
    const g = g0(ctx);
    const da = !ctx.needs[0]
      ? undefined
      : tA
        ? op.gemm(B, g, undefined, { transA: tB, transB: true, alpha })
        : op.gemm(g, B, undefined, { transB: !tB, alpha });
    const db = !ctx.needs[1]
      ? undefined
      : tB
        ? op.gemm(g, A, undefined, { transA: true, transB: tA, alpha })
        : op.gemm(A, g, undefined, { transA: !tA, alpha });
    const dc = c && ctx.needs[2] ? unbroadcast(beta === 1 ? g : op.mul(g, beta), c.shape) : undefined;
    return [da, db, dc];
  },

  Conv: ctx => {
    const [x, w, b] = ctx.inputs;
    const geo = convGeometryOf(ctx.node as Node);
    const g = g0(ctx);
    return [
      ctx.needs[0] ? convInputGradient(g, w as Tensor, (x as Tensor).shape, geo) : undefined,
      ctx.needs[1] ? convWeightGradient(x as Tensor, g, (w as Tensor).shape, geo) : undefined,
      b && ctx.needs[2] ? op.reduceSum(g, [0, ...spatialAxes(g.rank)]) : undefined
    ];
  },
  ConvTranspose: ctx => {
    const [x, w, b] = ctx.inputs;
    const node = ctx.node as Node;
    const geo = convGeometryOf(node);
    const g = g0(ctx);
    // ConvTranspose is the adjoint of Conv with the same weight, so its input gradient is that
    // Conv and its weight gradient is Conv's weight gradient with the roles of x and y swapped.
    return [
      ctx.needs[0] ? op.conv(g, w as Tensor, undefined, geo) : undefined,
      ctx.needs[1] ? convWeightGradient(g, x as Tensor, (w as Tensor).shape, geo) : undefined,
      b && ctx.needs[2] ? op.reduceSum(g, [0, ...spatialAxes(g.rank)]) : undefined
    ];
  },
  MaxPool: ctx => {
    const node = ctx.node as Node;
    const x = x0(ctx);
    const y = y0(ctx);
    // MaxPool's optional second output gives each maximum's flat index into x (batch and
    // channel included); scattering the gradient there routes it exactly as PyTorch does.
    const indices = ctx.graph.addOutput(node, 1, y.shape, 'int64');
    const flat = op.scatterAdd(op.zeros(ctx.graph, [x.size], x.dtype), op.reshape(indices, [-1]), op.reshape(g0(ctx), [-1]));
    return [op.reshape(flat, x.shape)];
  },
  AveragePool: ctx => {
    const node = ctx.node as Node;
    const x = x0(ctx);
    const y = y0(ctx);
    const geo: op.IPoolGeometry = {
      kernel: [...(node.attr('kernel_shape', 'ints') ?? [])],
      strides: [...(node.attr('strides', 'ints') ?? [])],
      pads: [...(node.attr('pads', 'ints') ?? [])]
    };
    const counts = poolCounts(x.shape, y.shape, geo, node.attr('count_include_pad', 'int') === 1);
    const scaled =
      typeof counts === 'number'
        ? op.div(g0(ctx), counts)
        : op.div(g0(ctx), ctx.graph.constant(counts, [1, 1, ...y.shape.slice(2)], x.dtype, 'pool_counts'));
    // Each window spreads its gradient evenly: a depthwise transposed conv with a ones kernel.
    const c = x.shape[1];
    const ones = ctx.graph.constant(new Array<number>(c * geo.kernel.reduce((a, b) => a * b, 1)).fill(1), [c, 1, ...geo.kernel], x.dtype, 'pool_ones');
    const convGeo: op.IConvGeometry = { strides: geo.strides, pads: geo.pads, dilations: geo.kernel.map(() => 1), group: c };
    return [convInputGradient(scaled, ones, x.shape, convGeo)];
  },

  Resize: ctx => {
    // 2-D resizing is separable, Y = A_h X A_w^T, so the gradient is A_h^T dY A_w: two MatMuls
    // with constant interpolation matrices, exact for nearest and bilinear alike.
    const node = ctx.node as Node;
    const x = x0(ctx);
    const y = y0(ctx);
    if (x.rank !== 4) {
      throw new GraphError('Resize has a gradient rule for [N, C, H, W] only');
    }
    const scales = Array.from(ctx.graph.constantValue(ctx.inputs[2] as Tensor) as Float32Array);
    const mode = node.attr('mode', 'string') ?? 'nearest';
    const coord = node.attr('coordinate_transformation_mode', 'string') ?? 'half_pixel';
    const [, , h, w] = x.shape;
    const [, , ho, wo] = y.shape;
    const ahT = op.transpose(ctx.graph.constant(resizeMatrix(h, ho, scales[2], mode, coord), [ho, h], x.dtype, 'resize_h'), [1, 0]);
    const aw = ctx.graph.constant(resizeMatrix(w, wo, scales[3], mode, coord), [wo, w], x.dtype, 'resize_w');
    return [op.matmul(op.matmul(ahT, g0(ctx)), aw)];
  },

  // Composites (see Graph.composite): batch norm in training mode, closed-form backward.
  BatchNormTrain: ctx => {
    const comp = ctx.composite as IComposite;
    const [x, gamma] = ctx.inputs as Tensor[];
    const [, , , invStd, xhat] = ctx.outputs as Tensor[];
    if (ctx.grads.slice(1).some(g => g)) {
      throw new GraphError('batch statistics are not differentiable here (use y only in the loss)');
    }
    const axes = comp.info.axes as number[];
    const bshape = comp.info.bshape as number[];
    const g = g0(ctx);
    const c = x.shape[1];
    const gxhat = op.reduceMean(op.mul(g, xhat), axes, true);
    const dx = ctx.needs[0]
      ? op.mul(op.mul(op.reshape(gamma, bshape), invStd), op.sub(op.sub(g, op.reduceMean(g, axes, true)), op.mul(xhat, gxhat)))
      : undefined;
    const dgamma = ctx.needs[1] ? op.reshape(op.reduceSum(op.mul(g, xhat), axes), [c]) : undefined;
    const dbeta = ctx.needs[2] ? op.reshape(op.reduceSum(g, axes), [c]) : undefined;
    return [dx, dgamma, dbeta];
  }
};

interface IUnit {
  opType: string;
  node?: Node;
  composite?: IComposite;
  inputs: readonly (Tensor | undefined)[];
  outputs: readonly (Tensor | undefined)[];
}

function unitsOf(graph: Graph): IUnit[] {
  const units: IUnit[] = [];
  const byStart = new Map(graph.composites.map(c => [c.first, c]));
  for (let i = 0; i < graph.nodes.length; ) {
    const comp = byStart.get(i);
    if (comp && comp.end > comp.first) {
      units.push({ opType: comp.kind, composite: comp, inputs: comp.inputs, outputs: comp.outputs });
      i = comp.end;
    } else {
      const n = graph.nodes[i];
      units.push({ opType: n.opType, node: n, inputs: n.inputs, outputs: n.outputs });
      i++;
    }
  }
  return units;
}

/**
 * Emits the gradients of a scalar `loss` with respect to each of `wrt` into the loss's graph.
 * A tensor the loss does not depend on gets a zero gradient.
 */
export function gradients(loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  const graph = loss.graph;
  if (loss.size !== 1) {
    throw new GraphError(`the loss must be a scalar, not [${loss.shape}]`, { loss: loss.name });
  }
  const units = unitsOf(graph);

  // Forward: which tensors depend on wrt (so only those gradients are built).
  const depends = new Set(wrt.map(t => t.name));
  for (const u of units) {
    if (u.inputs.some(i => i && depends.has(i.name))) {
      for (const o of u.outputs) {
        if (o) {
          depends.add(o.name);
        }
      }
    }
  }

  const grads = new Map<string, Tensor>();
  grads.set(loss.name, graph.scalar(1, loss.dtype).shape.length === loss.rank ? graph.scalar(1, loss.dtype) : op.expand(graph.scalar(1, loss.dtype), loss.shape));
  const accumulate = (t: Tensor, g: Tensor) => {
    if (g.dtype !== t.dtype || g.size !== t.size) {
      throw new GraphError(`gradient of ${t} came out as ${g}`);
    }
    const shaped = g.rank === t.rank && g.shape.every((d, i) => d === t.shape[i]) ? g : op.reshape(g, t.shape);
    const prev = grads.get(t.name);
    grads.set(t.name, prev ? op.add(prev, shaped) : shaped);
  };

  // Units were appended in topological order; gradient nodes appended now are not revisited.
  for (let k = units.length - 1; k >= 0; k--) {
    const u = units[k];
    const outGrads = u.outputs.map(o => (o ? grads.get(o.name) : undefined));
    if (outGrads.every(g => !g)) {
      continue;
    }
    const needs = u.inputs.map(i => !!i && depends.has(i.name) && (i.dtype === 'float32' || i.dtype === 'float64'));
    if (!needs.some(Boolean)) {
      continue;
    }
    const rule = GRADIENT_RULES[u.opType];
    if (!rule) {
      throw new GraphError(`no gradient rule for ${u.opType}`, { op: u.opType, node: u.node?.name });
    }
    const inGrads = rule({ graph, opType: u.opType, node: u.node, composite: u.composite, inputs: u.inputs, outputs: u.outputs, grads: outGrads, needs });
    u.inputs.forEach((inp, i) => {
      const g = inGrads[i];
      if (inp && needs[i] && g) {
        accumulate(inp, g);
      }
    });
  }
  return wrt.map(t => grads.get(t.name) ?? op.zeros(graph, t.shape, t.dtype));
}
