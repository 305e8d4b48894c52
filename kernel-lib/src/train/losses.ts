// Segmentation losses for change maps, built from graph ops so autodiff differentiates them.
// Definitions follow PyTorch (BCEWithLogitsLoss) and segmentation_models_pytorch (DiceLoss,
// binary mode) so results can be compared against those references.

import { GraphError, Tensor } from './onnx/graph';
import * as op from './onnx/ops';

export type Reduction = 'mean' | 'sum';

export interface IBceOptions {
  /** Weight of positive (change) pixels, as PyTorch's pos_weight; offsets class imbalance. */
  posWeight?: number;
  reduction?: Reduction;
}

function sameShape(a: Tensor, b: Tensor, what: string): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new GraphError(`${what}: logits [${a.shape}] and target [${b.shape}] differ`);
  }
}

/**
 * Binary cross-entropy on logits: (1 - y) x + (1 + (w - 1) y) softplus(-x), PyTorch's stable
 * form. Softplus (not log(1 + exp)) keeps large logits finite and has an exact gradient at 0.
 */
export function bceWithLogits(logits: Tensor, target: Tensor, options: IBceOptions = {}): Tensor {
  sameShape(logits, target, 'bceWithLogits');
  const w = options.posWeight ?? 1;
  const weight = w === 1 ? undefined : op.add(op.mul(target, w - 1), 1);
  const sp = op.softplus(op.neg(logits));
  const loss = op.add(op.mul(op.sub(1, target), logits), weight ? op.mul(weight, sp) : sp);
  return options.reduction === 'sum' ? op.reduceSum(loss) : op.reduceMean(loss);
}

export interface IDiceOptions {
  /** Added to numerator and denominator; keeps empty masks from dividing by zero. */
  smooth?: number;
  /** Lower bound of the denominator, as smp's eps. */
  eps?: number;
}

/**
 * Soft Dice loss on logits for a binary change mask: 1 - (2 sum(p y) + s) / (sum(p) + sum(y) + s)
 * over the whole batch (smp's binary mode), p = sigmoid(logits).
 */
export function diceLoss(logits: Tensor, target: Tensor, options: IDiceOptions = {}): Tensor {
  sameShape(logits, target, 'diceLoss');
  const smooth = options.smooth ?? 0;
  const eps = options.eps ?? 1e-7;
  const p = op.sigmoid(logits);
  const intersection = op.reduceSum(op.mul(p, target));
  const cardinality = op.reduceSum(op.add(p, target));
  // max(cardinality + smooth, eps) without Max: the denominator only reaches eps for an empty
  // target and all-zero probabilities, which sigmoid never gives; eps is added for safety.
  const score = op.div(op.add(op.mul(intersection, 2), smooth), op.add(cardinality, smooth + eps));
  return op.sub(1, score);
}
