// Op helpers: each emits one standard ONNX node (opset 17) and infers its output shape, so every
// tensor in a graph has a static shape that autodiff and the exporter can rely on. Arguments
// follow ONNX's own attribute names and conventions (pads as [begin..., end...]).

import { Graph, GraphError, Tensor, type Attribute, type DType, type Shape } from './graph';

const int = (value: number): Attribute => ({ type: 'int', value });
const ints = (value: readonly number[]): Attribute => ({ type: 'ints', value });
const float = (value: number): Attribute => ({ type: 'float', value });

function one(t: Tensor[]): Tensor {
  return t[0];
}

/** A number or a plain scalar becomes a constant of the other operand's type. */
export type Operand = Tensor | number;

function graphOf(...xs: Operand[]): Graph {
  for (const x of xs) {
    if (x instanceof Tensor) {
      return x.graph;
    }
  }
  throw new GraphError('an op needs at least one tensor operand');
}

function lift(g: Graph, x: Operand, dtype: DType): Tensor {
  return x instanceof Tensor ? x : g.scalar(x, dtype);
}

function floatType(...xs: Operand[]): DType {
  for (const x of xs) {
    if (x instanceof Tensor) {
      return x.dtype;
    }
  }
  return 'float32';
}

/** numpy broadcasting of two shapes. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new GraphError(`shapes [${a}] and [${b}] do not broadcast`, { a, b });
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

function binary(op: string, a: Operand, b: Operand, outType?: DType): Tensor {
  const g = graphOf(a, b);
  const dtype = floatType(a, b);
  const ta = lift(g, a, dtype);
  const tb = lift(g, b, dtype);
  if (ta.dtype !== tb.dtype) {
    throw new GraphError(`${op} of ${ta.dtype} and ${tb.dtype}`, { a: ta.name, b: tb.name });
  }
  return one(g.node(op, [ta, tb], [{ shape: broadcastShapes(ta.shape, tb.shape), dtype: outType ?? dtype }]));
}

export const add = (a: Operand, b: Operand): Tensor => binary('Add', a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary('Mul', a, b);
export const div = (a: Operand, b: Operand): Tensor => binary('Div', a, b);
/** Elementwise power; autodiff supports a constant exponent only. */
export const pow = (a: Operand, b: Operand): Tensor => binary('Pow', a, b);
export const greater = (a: Operand, b: Operand): Tensor => binary('Greater', a, b, 'bool');
export const equal = (a: Operand, b: Operand): Tensor => binary('Equal', a, b, 'bool');

function unary(op: string, x: Tensor, attributes: Record<string, Attribute> = {}, dtype?: DType): Tensor {
  return one(x.graph.node(op, [x], [{ shape: x.shape, dtype: dtype ?? x.dtype }], attributes));
}

export const neg = (x: Tensor): Tensor => unary('Neg', x);
export const abs = (x: Tensor): Tensor => unary('Abs', x);
export const exp = (x: Tensor): Tensor => unary('Exp', x);
export const log = (x: Tensor): Tensor => unary('Log', x);
export const sqrt = (x: Tensor): Tensor => unary('Sqrt', x);
export const sign = (x: Tensor): Tensor => unary('Sign', x);
export const reciprocal = (x: Tensor): Tensor => unary('Reciprocal', x);
export const identity = (x: Tensor): Tensor => unary('Identity', x);
export const relu = (x: Tensor): Tensor => unary('Relu', x);
export const leakyRelu = (x: Tensor, alpha = 0.01): Tensor => unary('LeakyRelu', x, { alpha: float(alpha) });
export const sigmoid = (x: Tensor): Tensor => unary('Sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('Tanh', x);
/** log(1 + exp(x)), computed stably by ONNX Runtime. */
export const softplus = (x: Tensor): Tensor => unary('Softplus', x);
export const cast = (x: Tensor, to: DType): Tensor => {
  const codes: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 };
  return unary('Cast', x, { to: int(codes[to]) }, to);
};

/** Where(cond, a, b): a where cond holds, else b, with broadcasting. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const g = cond.graph;
  const dtype = floatType(a, b);
  const ta = lift(g, a, dtype);
  const tb = lift(g, b, dtype);
  const shape = broadcastShapes(cond.shape, broadcastShapes(ta.shape, tb.shape));
  return one(g.node('Where', [cond, ta, tb], [{ shape, dtype }]));
}

// ---- shape ops --------------------------------------------------------------------------------

/** Reshape to a static shape (one -1 allowed; 0 is not, so empty dims stay explicit). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter(d => d !== -1).reduce((a, b) => a * b, 1);
  const out = shape.map(d => (d === -1 ? x.size / known : d));
  if (out.reduce((a, b) => a * b, 1) !== x.size || out.some(d => !Number.isInteger(d))) {
    throw new GraphError(`cannot reshape [${x.shape}] to [${shape}]`);
  }
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) {
    return x;
  }
  return one(x.graph.node('Reshape', [x, x.graph.ints(out)], [{ shape: out, dtype: x.dtype }]));
}

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort().some((p, i) => p !== i)) {
    throw new GraphError(`bad permutation [${perm}] for rank ${x.rank}`);
  }
  return one(x.graph.node('Transpose', [x], [{ shape: perm.map(p => x.shape[p]), dtype: x.dtype }], { perm: ints(perm) }));
}

/** Broadcasts x to `shape` (numpy rules). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const out = broadcastShapes(x.shape, shape);
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) {
    return x;
  }
  return one(x.graph.node('Expand', [x, x.graph.ints(shape)], [{ shape: out, dtype: x.dtype }]));
}

const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  const first = xs[0];
  const ax = normAxis(axis, first.rank);
  const shape = [...first.shape];
  shape[ax] = 0;
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new GraphError(`cannot concat [${x.shape}] with [${first.shape}] on axis ${ax}`);
    }
    shape[ax] += x.shape[ax];
  }
  return one(first.graph.node('Concat', xs, [{ shape, dtype: first.dtype }], { axis: int(ax) }));
}

/**
 * Slice; starts/ends are clamped like numpy. Steps other than 1 (strided slices, used by the conv
 * weight gradient) have no gradient rule of their own.
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): Tensor {
  const shape = [...x.shape];
  const s: number[] = [];
  const e: number[] = [];
  const ax = axes.map(a => normAxis(a, x.rank));
  const st = steps ?? ax.map(() => 1);
  if (st.some(v => !Number.isInteger(v) || v < 1)) {
    throw new GraphError(`slice steps must be positive integers, got [${st}]`);
  }
  ax.forEach((a, i) => {
    const dim = x.shape[a];
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    s.push(clamp(starts[i]));
    e.push(Math.max(clamp(ends[i]), clamp(starts[i])));
    shape[a] = Math.ceil((e[i] - s[i]) / st[i]);
  });
  const g = x.graph;
  const inputs = [x, g.ints(s), g.ints(e), g.ints(ax)];
  if (st.some(v => v !== 1)) {
    inputs.push(g.ints(st));
  }
  return one(g.node('Slice', inputs, [{ shape, dtype: x.dtype }]));
}

/** Constant zero padding: pads as [begin per axis..., end per axis...]. */
export function pad(x: Tensor, pads: readonly number[]): Tensor {
  const shape = x.shape.map((d, i) => d + pads[i] + pads[i + x.rank]);
  return one(x.graph.node('Pad', [x, x.graph.ints(pads)], [{ shape, dtype: x.dtype }], { mode: { type: 'string', value: 'constant' } }));
}

// ---- reductions -------------------------------------------------------------------------------

function reducedShape(x: Tensor, axes: readonly number[], keepdims: boolean): number[] {
  const ax = new Set(axes.map(a => normAxis(a, x.rank)));
  const out: number[] = [];
  x.shape.forEach((d, i) => {
    if (!ax.has(i)) {
      out.push(d);
    } else if (keepdims) {
      out.push(1);
    }
  });
  return out;
}

const allAxes = (x: Tensor): number[] => x.shape.map((_, i) => i);

/** Sum over `axes` (all when omitted). ReduceSum takes axes as an input since opset 13. */
export function reduceSum(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = (axes ?? allAxes(x)).map(a => normAxis(a, x.rank));
  if (ax.length === 0) {
    return x;
  }
  const shape = reducedShape(x, ax, keepdims);
  return one(x.graph.node('ReduceSum', [x, x.graph.ints(ax)], [{ shape, dtype: x.dtype }], { keepdims: int(keepdims ? 1 : 0) }));
}

/** Mean over `axes` (all when omitted). In opset 17 ReduceMean still takes axes as an attribute. */
export function reduceMean(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = (axes ?? allAxes(x)).map(a => normAxis(a, x.rank));
  const shape = reducedShape(x, ax, keepdims);
  return one(x.graph.node('ReduceMean', [x], [{ shape, dtype: x.dtype }], { axes: ints(ax), keepdims: int(keepdims ? 1 : 0) }));
}

export const softmax = (x: Tensor, axis = -1): Tensor => unary('Softmax', x, { axis: int(normAxis(axis, x.rank)) });
export const logSoftmax = (x: Tensor, axis = -1): Tensor => unary('LogSoftmax', x, { axis: int(normAxis(axis, x.rank)) });

// ---- linear algebra ---------------------------------------------------------------------------

/** MatMul of rank >= 2 operands (batch dimensions broadcast). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) {
    throw new GraphError('matmul needs rank >= 2 operands (reshape vectors first)');
  }
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) {
    throw new GraphError(`matmul of [${a.shape}] and [${b.shape}]`);
  }
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  return one(a.graph.node('MatMul', [a, b], [{ shape: [...batch, m, n], dtype: a.dtype }]));
}

export interface IGemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

/** alpha * op(A) @ op(B) + beta * C, A and B 2-D; C broadcasts to the result. */
export function gemm(a: Tensor, b: Tensor, c?: Tensor, options: IGemmOptions = {}): Tensor {
  const m = options.transA ? a.shape[1] : a.shape[0];
  const k = options.transA ? a.shape[0] : a.shape[1];
  const k2 = options.transB ? b.shape[1] : b.shape[0];
  const n = options.transB ? b.shape[0] : b.shape[1];
  if (a.rank !== 2 || b.rank !== 2 || k !== k2) {
    throw new GraphError(`gemm of [${a.shape}] and [${b.shape}]`);
  }
  if (c) {
    broadcastShapes([m, n], c.shape);
  }
  return one(
    a.graph.node('Gemm', c ? [a, b, c] : [a, b], [{ shape: [m, n], dtype: a.dtype }], {
      transA: int(options.transA ? 1 : 0),
      transB: int(options.transB ? 1 : 0),
      alpha: float(options.alpha ?? 1),
      beta: float(options.beta ?? 1)
    })
  );
}

// ---- convolution and pooling ------------------------------------------------------------------

export interface IConvOptions {
  /** Per spatial axis, or one number for all. */
  strides?: number | readonly number[];
  /** One number, one per spatial axis (symmetric), or ONNX's [begin..., end...]. */
  pads?: number | readonly number[];
  dilations?: number | readonly number[];
  group?: number;
}

export interface IConvTransposeOptions extends IConvOptions {
  outputPadding?: number | readonly number[];
}

function perAxis(v: number | readonly number[] | undefined, n: number, fallback: number): number[] {
  if (v === undefined) {
    return new Array<number>(n).fill(fallback);
  }
  if (typeof v === 'number') {
    return new Array<number>(n).fill(v);
  }
  if (v.length !== n) {
    throw new GraphError(`expected ${n} values, got [${v}]`);
  }
  return [...v];
}

function padsOf(v: number | readonly number[] | undefined, n: number): number[] {
  if (v === undefined || typeof v === 'number') {
    return new Array<number>(2 * n).fill(v ?? 0);
  }
  if (v.length === n) {
    return [...v, ...v];
  }
  if (v.length !== 2 * n) {
    throw new GraphError(`pads need ${n} or ${2 * n} values, got [${v}]`);
  }
  return [...v];
}

/** Resolved convolution geometry, shared by the op helpers and the gradient rules. */
export interface IConvGeometry {
  strides: number[];
  pads: number[];
  dilations: number[];
  group: number;
}

export function convGeometry(spatial: number, options: IConvOptions): IConvGeometry {
  return {
    strides: perAxis(options.strides, spatial, 1),
    pads: padsOf(options.pads, spatial),
    dilations: perAxis(options.dilations, spatial, 1),
    group: options.group ?? 1
  };
}

const geometryAttributes = (geo: IConvGeometry, kernel: readonly number[]): Record<string, Attribute> => ({
  kernel_shape: ints(kernel),
  strides: ints(geo.strides),
  pads: ints(geo.pads),
  dilations: ints(geo.dilations),
  group: int(geo.group)
});

/** The output size of a convolution or pooling window along one axis (floor mode). */
export function convOutSize(size: number, kernel: number, stride: number, padBegin: number, padEnd: number, dilation: number): number {
  return Math.floor((size + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** N-d convolution: x [N, C, ...], w [M, C/group, k...], b [M]. */
export function conv(x: Tensor, w: Tensor, b?: Tensor, options: IConvOptions = {}): Tensor {
  const spatial = x.rank - 2;
  const geo = convGeometry(spatial, options);
  const kernel = w.shape.slice(2);
  if (w.rank !== x.rank || w.shape[1] * geo.group !== x.shape[1] || w.shape[0] % geo.group !== 0) {
    throw new GraphError(`conv of [${x.shape}] with weight [${w.shape}] and group ${geo.group}`);
  }
  const out = [x.shape[0], w.shape[0]];
  for (let i = 0; i < spatial; i++) {
    out.push(convOutSize(x.shape[2 + i], kernel[i], geo.strides[i], geo.pads[i], geo.pads[i + spatial], geo.dilations[i]));
  }
  if (out.some(d => d <= 0)) {
    throw new GraphError(`conv of [${x.shape}] with weight [${w.shape}] leaves no output`);
  }
  return one(x.graph.node('Conv', b ? [x, w, b] : [x, w], [{ shape: out, dtype: x.dtype }], geometryAttributes(geo, kernel)));
}

/** Transposed convolution: x [N, C, ...], w [C, M/group, k...], b [M]. */
export function convTranspose(x: Tensor, w: Tensor, b?: Tensor, options: IConvTransposeOptions = {}): Tensor {
  const spatial = x.rank - 2;
  const geo = convGeometry(spatial, options);
  const outputPadding = perAxis(options.outputPadding, spatial, 0);
  const kernel = w.shape.slice(2);
  if (w.rank !== x.rank || w.shape[0] !== x.shape[1] || x.shape[1] % geo.group !== 0) {
    throw new GraphError(`convTranspose of [${x.shape}] with weight [${w.shape}] and group ${geo.group}`);
  }
  const out = [x.shape[0], w.shape[1] * geo.group];
  for (let i = 0; i < spatial; i++) {
    out.push(
      geo.strides[i] * (x.shape[2 + i] - 1) + outputPadding[i] + (kernel[i] - 1) * geo.dilations[i] + 1 - geo.pads[i] - geo.pads[i + spatial]
    );
  }
  return one(
    x.graph.node('ConvTranspose', b ? [x, w, b] : [x, w], [{ shape: out, dtype: x.dtype }], {
      ...geometryAttributes(geo, kernel),
      output_padding: ints(outputPadding)
    })
  );
}

export interface IPoolOptions {
  kernel: number | readonly number[];
  strides?: number | readonly number[];
  pads?: number | readonly number[];
  /** AveragePool only: divide by the window's full size even where it overlaps padding. */
  countIncludePad?: boolean;
}

export interface IPoolGeometry {
  kernel: number[];
  strides: number[];
  pads: number[];
}

export function poolGeometry(spatial: number, options: IPoolOptions): IPoolGeometry {
  const kernel = perAxis(options.kernel, spatial, 1);
  return { kernel, strides: perAxis(options.strides, spatial, 1), pads: padsOf(options.pads, spatial) };
}

function poolShape(x: Tensor, geo: IPoolGeometry): number[] {
  const spatial = x.rank - 2;
  const out = [x.shape[0], x.shape[1]];
  for (let i = 0; i < spatial; i++) {
    out.push(convOutSize(x.shape[2 + i], geo.kernel[i], geo.strides[i], geo.pads[i], geo.pads[i + spatial], 1));
  }
  return out;
}

/** Max pooling (floor mode). Backward asks the node for its indices output. */
export function maxPool(x: Tensor, options: IPoolOptions): Tensor {
  const geo = poolGeometry(x.rank - 2, options);
  return one(
    x.graph.node('MaxPool', [x], [{ shape: poolShape(x, geo), dtype: x.dtype }], {
      kernel_shape: ints(geo.kernel),
      strides: ints(geo.strides),
      pads: ints(geo.pads)
    })
  );
}

export function averagePool(x: Tensor, options: IPoolOptions): Tensor {
  const geo = poolGeometry(x.rank - 2, options);
  return one(
    x.graph.node('AveragePool', [x], [{ shape: poolShape(x, geo), dtype: x.dtype }], {
      kernel_shape: ints(geo.kernel),
      strides: ints(geo.strides),
      pads: ints(geo.pads),
      count_include_pad: int(options.countIncludePad ? 1 : 0)
    })
  );
}

/** Mean over all spatial axes, keeping them as size 1 (as ONNX's GlobalAveragePool). */
export function globalAveragePool(x: Tensor): Tensor {
  return reduceMean(x, x.shape.slice(2).map((_, i) => i + 2), true);
}

// ---- resizing ---------------------------------------------------------------------------------

export interface IResizeOptions {
  /** Integer or fractional factor per spatial axis. */
  scales: number | readonly number[];
  mode: 'nearest' | 'linear';
  /** 'half_pixel' matches PyTorch's align_corners=False; 'align_corners' its True. */
  coordinateTransformation?: 'half_pixel' | 'align_corners' | 'asymmetric';
}

/** Spatial resize of [N, C, ...] (nearest uses floor rounding, as PyTorch's 'nearest'). */
export function resize(x: Tensor, options: IResizeOptions): Tensor {
  const spatial = x.rank - 2;
  const scales = [1, 1, ...perAxis(options.scales, spatial, 1)];
  const out = x.shape.map((d, i) => Math.floor(d * scales[i]));
  const g = x.graph;
  const coord = options.coordinateTransformation ?? (options.mode === 'nearest' ? 'asymmetric' : 'half_pixel');
  return one(
    g.node('Resize', [x, undefined, g.constant(scales, [scales.length], 'float32', 'scales')], [{ shape: out, dtype: x.dtype }], {
      mode: { type: 'string', value: options.mode },
      coordinate_transformation_mode: { type: 'string', value: coord },
      nearest_mode: { type: 'string', value: 'floor' }
    })
  );
}

// ---- normalisation ----------------------------------------------------------------------------

export interface IBatchNormResult {
  y: Tensor;
  /** Batch mean and biased variance per channel, for updating running statistics. */
  mean: Tensor;
  variance: Tensor;
}

/**
 * Batch normalisation in training mode from primitive ops (ORT's BatchNormalization has no
 * training mode on the CPU EP in inference builds), recorded as a composite so that autodiff
 * uses the closed-form backward. Statistics over N and the spatial axes, as PyTorch.
 */
export function batchNormTrain(x: Tensor, gamma: Tensor, beta: Tensor, epsilon = 1e-5): IBatchNormResult {
  const axes = [0, ...x.shape.slice(2).map((_, i) => i + 2)];
  const bshape = [1, x.shape[1], ...x.shape.slice(2).map(() => 1)];
  // invStd and xhat are composite outputs too, so the backward reuses them instead of recomputing.
  const [y, mean, variance] = x.graph.composite('BatchNormTrain', [x, gamma, beta], { axes, bshape }, () => {
    const m = reduceMean(x, axes, true);
    const centered = sub(x, m);
    const v = reduceMean(mul(centered, centered), axes, true);
    const inv = reciprocal(sqrt(add(v, epsilon)));
    const xh = mul(centered, inv);
    const out = add(mul(xh, reshape(gamma, bshape)), reshape(beta, bshape));
    return [out, reshape(m, [x.shape[1]]), reshape(v, [x.shape[1]]), inv, xh];
  });
  return { y, mean, variance };
}

/** Batch normalisation with fixed statistics (inference), as ONNX's BatchNormalization. */
export function batchNormInference(x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, epsilon = 1e-5): Tensor {
  return one(x.graph.node('BatchNormalization', [x, gamma, beta, mean, variance], [{ shape: x.shape, dtype: x.dtype }], { epsilon: float(epsilon) }));
}

// ---- gradient plumbing (used by autodiff, usable by anyone) -----------------------------------

/** ScatterElements with reduction 'add' (opset 16+): data[indices[i]] += updates[i] along axis. */
export function scatterAdd(data: Tensor, indices: Tensor, updates: Tensor, axis = 0): Tensor {
  return one(
    data.graph.node('ScatterElements', [data, indices, updates], [{ shape: data.shape, dtype: data.dtype }], {
      axis: int(axis),
      reduction: { type: 'string', value: 'add' }
    })
  );
}

/** A tensor of zeros with the given shape, via Expand of a scalar (no large initializer). */
export function zeros(g: Graph, shape: Shape, dtype: DType = 'float32'): Tensor {
  return one(g.node('Expand', [g.scalar(0, dtype), g.ints(shape)], [{ shape, dtype }]));
}
