// Dot-product (adjoint) tests for the linear gradient rules: for y = conv(x, w) and any r,
// <r, y> = <x, dL/dx> = <w, dL/dw> with L = <r, y>, and <convTranspose(r, w), x> = <r, conv(x, w)>.
// These hold exactly in real arithmetic, so they catch any geometry error (output padding, pads,
// strides vs dilations, groups) without finite-difference noise. Everything runs in float32 (ORT
// has no double Conv); dot products are summed in float64, and the tolerance is 1e-5 of the sum of
// |terms| — float32 rounding of each product and each accumulated output (~1e-7 relative) stays far below.

import { describe, expect, it } from 'vitest';

import { Graph, gradients, ops } from '../../../kernel-lib/src/train';
import { randomArray, runOnce } from './gradcheck';

function dot(a: ArrayLike<number>, b: ArrayLike<number>): { value: number; scale: number } {
  let value = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    value += a[i] * b[i];
    scale += Math.abs(a[i] * b[i]);
  }
  return { value, scale };
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

const geometries: [string, number[], number[], ops.IConvOptions][] = [
  ['3x3 pad 1', [2, 3, 6, 6], [4, 3, 3, 3], { pads: 1 }],
  ['stride 2 on odd sizes', [2, 3, 9, 7], [4, 3, 3, 3], { strides: 2, pads: 1 }],
  ['stride 3, kernel 2, no pad (uncovered border)', [1, 2, 8, 8], [3, 2, 2, 2], { strides: 3 }],
  ['dilation 2, stride 2', [1, 2, 11, 10], [2, 2, 3, 3], { strides: 2, dilations: 2, pads: 2 }],
  ['groups 2, asymmetric pads', [2, 4, 7, 6], [6, 2, 3, 2], { group: 2, pads: [1, 0, 0, 1] }],
  ['depthwise stride 2', [1, 3, 8, 8], [3, 1, 3, 3], { group: 3, strides: 2, pads: 1 }]
];

describe('conv gradients are adjoints', () => {
  it.each(geometries)('%s', async (_name, xShape, wShape, options) => {
    const g = new Graph();
    const x = g.input('x', xShape);
    const w = g.input('w', wShape);
    const y = ops.conv(x, w, undefined, options);
    const r = g.input('r', y.shape);
    const loss = ops.reduceSum(ops.mul(y, r));
    const [gx, gw] = gradients(loss, [x, w]);
    // ConvTranspose alone lands short of x's size where the conv skipped border pixels; output
    // padding restores it (the same correction the Conv input-gradient rule makes).
    const short = ops.convTranspose(r, w, undefined, options).shape;
    const back = ops.convTranspose(r, w, undefined, { ...options, outputPadding: xShape.slice(2).map((d, i) => d - short[2 + i]) });
    const feeds = { x: randomArray('x', size(xShape)), w: randomArray('w', size(wShape)), r: randomArray('r', y.size) };
    const out = await runOnce(g, { y, gx, gw, back }, feeds);
    const ry = dot(feeds.r, out.y);
    const xgx = dot(feeds.x, out.gx);
    const wgw = dot(feeds.w, out.gw);
    const xback = dot(feeds.x, out.back);
    const tol = 1e-5 * ry.scale;
    expect(Math.abs(xgx.value - ry.value)).toBeLessThan(tol);
    expect(Math.abs(wgw.value - ry.value)).toBeLessThan(tol);
    expect(Math.abs(xback.value - ry.value)).toBeLessThan(tol);
  });
});
