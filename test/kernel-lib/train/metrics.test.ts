// Change metrics from confusion counts, accumulated over batches, with torchmetrics' rules
// (strict threshold on the sigmoid, zero when a ratio's denominator is zero). The comparison with
// torchmetrics itself is in pytorch-oracle.test.ts.

import { expect, it } from 'vitest';

import { ChangeMetrics, changeMetrics } from '../../../kernel-lib/src/train';

it('accumulates confusion counts over batches and derives the metrics', () => {
  const m = new ChangeMetrics();
  m.update([2, -1, 0.3], [1, 1, 0]); // tp, fn, fp
  m.update([-3, 0, 5], [0, 1, 1]); // tn, fn (sigmoid(0) = 0.5 is not > 0.5), tp
  expect(m.confusion).toEqual({ tp: 2, fp: 1, fn: 2, tn: 1 });
  const v = m.compute();
  expect(v.iou).toBeCloseTo(2 / 5, 12);
  expect(v.f1).toBeCloseTo(4 / 7, 12);
  expect(v.precision).toBeCloseTo(2 / 3, 12);
  expect(v.recall).toBeCloseTo(1 / 2, 12);
  expect(v.accuracy).toBeCloseTo(3 / 6, 12);
  m.reset();
  expect(m.confusion).toEqual({ tp: 0, fp: 0, fn: 0, tn: 0 });
});

it('gives zero where a denominator is zero, as torchmetrics', () => {
  expect(changeMetrics({ tp: 0, fp: 0, fn: 0, tn: 10 })).toEqual({ iou: 0, f1: 0, precision: 0, recall: 0, accuracy: 1 });
  expect(changeMetrics({ tp: 0, fp: 0, fn: 0, tn: 0 }).accuracy).toBe(0);
});

it('reads probabilities, and applies torchmetrics auto rule on request', () => {
  const p = new ChangeMetrics();
  p.update([0.6, 0.5, 0.2], [1, 1, 0], { input: 'probabilities' });
  expect(p.confusion).toEqual({ tp: 1, fp: 0, fn: 1, tn: 1 });
  const auto = new ChangeMetrics();
  auto.update([0.6, 0.4], [1, 0], { input: 'auto' }); // all within [0, 1]: taken as probabilities
  auto.update([0.6, -2], [1, 0], { input: 'auto' }); // -2 outside: logits, sigmoid(0.6) > 0.5
  expect(auto.confusion).toEqual({ tp: 2, fp: 0, fn: 0, tn: 2 });
  expect(() => new ChangeMetrics().update([1], [2])).toThrow(/0 or 1/);
});
