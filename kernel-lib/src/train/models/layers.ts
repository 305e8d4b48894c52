// Layers shared by the change-detection models: parameters initialised as PyTorch's defaults, and
// batch norm that in training mode also emits its running-statistics update (PyTorch's momentum
// rule), while in evaluation mode it reads the running statistics as ONNX BatchNormalization.

import { seedToUint32, type Seed } from '../../synth/random';
import { defaultWeight, fanIn, uniform } from '../init';
import { Graph, GraphError, Tensor, type TypedArray } from '../onnx/graph';
import * as op from '../onnx/ops';
import { RANDOM_PREFIX, type IBufferUpdate } from '../step';

export type ModelMode = 'train' | 'eval';

/**
 * Where a model's parameters come from and where its trainable tensors and buffers are recorded.
 * `values` (by PyTorch state_dict name) overrides the default initialisation, e.g. for export.
 */
export class LayerContext {
  readonly trainable: Tensor[] = [];
  readonly buffers: Tensor[] = [];
  readonly updates: IBufferUpdate[] = [];
  /** The latest pending value of each buffer within this step (Siamese encoders update twice). */
  private readonly pending = new Map<string, Tensor>();
  private draws = 0;

  constructor(
    readonly graph: Graph,
    readonly mode: ModelMode,
    readonly seed: Seed,
    readonly values?: Readonly<Record<string, TypedArray>>
  ) {}

  private valueOf(name: string, shape: readonly number[], init: () => TypedArray): TypedArray {
    const given = this.values?.[name];
    if (!given) {
      if (this.values && this.mode === 'eval') {
        throw new GraphError(`no value given for ${name}`, { name });
      }
      return init();
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (given.length !== size) {
      throw new GraphError(`${name} has ${given.length} values, the model needs [${shape}]`, { name, shape });
    }
    return given;
  }

  /** A reused parameter (Siamese weight sharing) or a new one. */
  private param(name: string, shape: readonly number[], init: () => TypedArray, buffer: boolean): Tensor {
    const existing = this.graph.parameters.find(p => p.tensor.name === name);
    if (existing) {
      return existing.tensor;
    }
    const t = this.graph.parameter(name, shape, this.valueOf(name, shape, init));
    (buffer ? this.buffers : this.trainable).push(t);
    return t;
  }

  weight(name: string, shape: readonly number[]): Tensor {
    return this.param(name, shape, () => defaultWeight(`${this.seed}:${name}`, shape), false);
  }

  /** Bias of a layer whose weight has `weightShape` (PyTorch draws it from the same fan-in bound). */
  bias(name: string, weightShape: readonly number[], channels: number): Tensor {
    return this.param(name, [channels], () => uniform(`${this.seed}:${name}`, channels, 1 / Math.sqrt(fanIn(weightShape))), false);
  }

  constant(name: string, channels: number, value: number, buffer: boolean): Tensor {
    return this.param(name, [channels], () => new Float32Array(channels).fill(value), buffer);
  }

  /** A seed for the next random op, derived from the model's seed and the op's position. */
  nextSeed(): number {
    return seedToUint32(`${this.seed}:random:${this.draws++}`);
  }

  /** Records a buffer's next value; a second update in the same step chains on the first. */
  update(buffer: Tensor, next: (current: Tensor) => Tensor): void {
    const current = this.pending.get(buffer.name) ?? buffer;
    const value = next(current);
    this.pending.set(buffer.name, value);
    const entry = this.updates.find(u => u.buffer === buffer);
    if (entry) {
      entry.next = value;
    } else {
      this.updates.push({ buffer, next: value });
    }
  }
}

/** PyTorch's nn.Conv2d (bias on) with 'same' padding for odd kernels. */
export function conv2d(ctx: LayerContext, name: string, x: Tensor, out: number, kernel = 3): Tensor {
  const shape = [out, x.shape[1], kernel, kernel];
  const w = ctx.weight(`${name}.weight`, shape);
  const b = ctx.bias(`${name}.bias`, shape, out);
  return op.conv(x, w, b, { pads: (kernel - 1) / 2 });
}

/**
 * PyTorch's nn.ConvTranspose2d: weight [in, out, k, k], whose default initialisation takes fan-in
 * from dimension 1 (out * k * k), exactly as fanIn() does on that shape.
 */
export function convTranspose2d(
  ctx: LayerContext,
  name: string,
  x: Tensor,
  out: number,
  options: { kernel?: number; stride?: number; padding?: number; outputPadding?: number } = {}
): Tensor {
  const k = options.kernel ?? 3;
  const shape = [x.shape[1], out, k, k];
  const w = ctx.weight(`${name}.weight`, shape);
  const b = ctx.bias(`${name}.bias`, shape, out);
  return op.convTranspose(x, w, b, { strides: options.stride ?? 1, pads: options.padding ?? 1, outputPadding: options.outputPadding ?? 0 });
}

/** PyTorch's default nn.BatchNorm2d momentum and epsilon. */
export const BN_MOMENTUM = 0.1;
export const BN_EPSILON = 1e-5;

/**
 * nn.BatchNorm2d: in training mode normalises with the batch statistics and updates the running
 * mean with the batch mean and the running variance with the unbiased batch variance, as
 * running = (1 - momentum) running + momentum batch; in evaluation mode uses the running values.
 */
export function batchNorm2d(ctx: LayerContext, name: string, x: Tensor): Tensor {
  const c = x.shape[1];
  const gamma = ctx.constant(`${name}.weight`, c, 1, false);
  const beta = ctx.constant(`${name}.bias`, c, 0, false);
  const runningMean = ctx.constant(`${name}.running_mean`, c, 0, true);
  const runningVar = ctx.constant(`${name}.running_var`, c, 1, true);
  if (ctx.mode === 'eval') {
    return op.batchNormInference(x, gamma, beta, runningMean, runningVar, BN_EPSILON);
  }
  const { y, mean, variance } = op.batchNormTrain(x, gamma, beta, BN_EPSILON);
  const n = x.size / c;
  const unbiased = op.mul(variance, n / Math.max(n - 1, 1));
  ctx.update(runningMean, r => op.add(op.mul(r, 1 - BN_MOMENTUM), op.mul(mean, BN_MOMENTUM)));
  ctx.update(runningVar, r => op.add(op.mul(r, 1 - BN_MOMENTUM), op.mul(unbiased, BN_MOMENTUM)));
  return y;
}

/**
 * nn.Dropout2d in training mode: whole channels zeroed with probability p, the rest scaled by
 * 1 / (1 - p). The mask compares a `random:*` input, drawn by the session from its seed and the
 * step number, with 1 - p, so each step draws a new mask. Identity in evaluation mode or at p = 0.
 */
export function dropout2d(ctx: LayerContext, x: Tensor, p: number): Tensor {
  if (ctx.mode === 'eval' || p === 0) {
    return x;
  }
  if (!(p > 0 && p < 1)) {
    throw new GraphError(`dropout probability must be in [0, 1), got ${p}`);
  }
  const g = ctx.graph;
  const shape = [x.shape[0], x.shape[1], 1, 1];
  // Uniform noise fed by the session per step (see randomFeeds in step.ts), not RandomUniform:
  // the mask then depends on the step number alone, so a resumed run draws the same masks.
  const u = g.input(`${RANDOM_PREFIX}dropout${ctx.nextSeed()}`, shape);
  const [keep] = g.node('Less', [u, g.scalar(1 - p)], [{ shape, dtype: 'bool' }]);
  const mask = op.div(op.cast(keep, 'float32'), 1 - p);
  return op.mul(x, mask);
}
