// Binary change metrics defined as torchmetrics' Binary* metrics for the change class: inputs that
// are logits go through a sigmoid, a pixel is predicted as change when the probability exceeds
// the threshold (strictly, 0.5 by default), and the confusion counts are summed over an epoch
// before the ratios are taken. A ratio whose denominator is 0 is 0 (torchmetrics' zero_division).

import { GraphError } from './onnx/graph';

export interface IConfusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface IChangeMetricValues {
  /** Jaccard index of the change class, TP / (TP + FP + FN) (BinaryJaccardIndex). */
  iou: number;
  /** 2 TP / (2 TP + FP + FN) (BinaryF1Score). */
  f1: number;
  precision: number;
  recall: number;
  /** (TP + TN) / all (BinaryAccuracy). */
  accuracy: number;
}

export interface IMetricUpdateOptions {
  /**
   * 'logits' (default) applies a sigmoid first; 'probabilities' compares directly; 'auto' is
   * torchmetrics' own rule, a sigmoid only when some value of the batch lies outside [0, 1].
   */
  input?: 'logits' | 'probabilities' | 'auto';
  /** Labels equal to this value are skipped (torchmetrics' ignore_index). */
  ignoreIndex?: number;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** The metrics from summed confusion counts. */
export function changeMetrics(c: IConfusion): IChangeMetricValues {
  return {
    iou: ratio(c.tp, c.tp + c.fp + c.fn),
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    precision: ratio(c.tp, c.tp + c.fp),
    recall: ratio(c.tp, c.tp + c.fn),
    accuracy: ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn)
  };
}

/** Epoch accumulator of the change-class confusion counts; clone one per stage (train/val/test). */
export class ChangeMetrics {
  private counts: IConfusion = { tp: 0, fp: 0, fn: 0, tn: 0 };

  constructor(readonly threshold = 0.5) {
    if (!(threshold >= 0 && threshold <= 1)) {
      throw new GraphError(`threshold must be in [0, 1], got ${threshold}`);
    }
  }

  /** Adds a batch: predictions (logits or probabilities) and 0/1 targets of the same length. */
  update(predictions: ArrayLike<number>, target: ArrayLike<number>, options: IMetricUpdateOptions = {}): void {
    if (predictions.length !== target.length) {
      throw new GraphError(`${predictions.length} predictions for ${target.length} targets`);
    }
    const input = options.input ?? 'logits';
    let logits = input === 'logits';
    if (input === 'auto') {
      for (let i = 0; i < predictions.length && !logits; i++) {
        logits = !(predictions[i] >= 0 && predictions[i] <= 1);
      }
    }
    const c = this.counts;
    for (let i = 0; i < predictions.length; i++) {
      const t = target[i];
      if (t === options.ignoreIndex) {
        continue;
      }
      if (t !== 0 && t !== 1) {
        throw new GraphError(`targets must be 0 or 1, found ${t} at ${i}`, { index: i, value: t });
      }
      // The sigmoid is rounded to float32, as torch computes it, so that values within float32's
      // resolution of the threshold fall on the same side as in torchmetrics.
      const p = logits ? Math.fround(1 / (1 + Math.exp(-predictions[i]))) : predictions[i];
      const positive = p > this.threshold;
      if (positive) {
        if (t === 1) {
          c.tp++;
        } else {
          c.fp++;
        }
      } else if (t === 1) {
        c.fn++;
      } else {
        c.tn++;
      }
    }
  }

  get confusion(): IConfusion {
    return { ...this.counts };
  }

  compute(): IChangeMetricValues {
    return changeMetrics(this.counts);
  }

  reset(): void {
    this.counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
  }

  /** Sets the counts (a checkpoint saved mid-epoch resumes its epoch's metrics). */
  restore(c: IConfusion): void {
    this.counts = { tp: c.tp, fp: c.fp, fn: c.fn, tn: c.tn };
  }

  clone(): ChangeMetrics {
    return new ChangeMetrics(this.threshold);
  }
}
