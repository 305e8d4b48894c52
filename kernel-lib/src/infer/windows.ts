// Where the overlapping inference windows go and how their predictions blend. Windows start on a
// multiple of the model's downsampling factor (16 for the FC networks' four poolings), so every
// window sees the same pooling grid as the whole image would. Each window's prediction is weighted
// by a separable window: zero for `margin` pixels along inner edges (where zero padding distorts
// the prediction), then a cosine-squared ramp across the rest of the overlap, 1 inside. Two
// neighbours' ramps are mirror images, so their weights sum to 1 and no seam shows.
import { ConfigError } from '../errors';

export interface IWindowLayout {
  tile: number;
  overlap: number;
  stride: number;
  margin: number;
  /** Window origins along x and along y. */
  xs: number[];
  ys: number[];
  /** 1D weights of a window by its index along each axis (`tile` values each). */
  weightsX: Float32Array[];
  weightsY: Float32Array[];
  /** Sum of the 1D weights at each column / row; the 2D weight sum is their product. */
  sumX: Float64Array;
  sumY: Float64Array;
}

export interface IWindowOptions {
  tile: number;
  overlap: number;
  /** Pixels dropped along inner window edges. Default overlap / 4 (rounded down). */
  margin?: number;
  /** Window origins are multiples of this. Default 16. */
  align?: number;
}

/** Origins along one axis of `length` pixels: 0, stride, ... and a last one reaching the end. */
function origins(length: number, tile: number, stride: number, align: number): number[] {
  const out = [0];
  while (out[out.length - 1] + tile < length) {
    const next = out[out.length - 1] + stride;
    // The last window ends at the image edge when the alignment allows (its own padding, not
    // filled pixels, then meets the edge, as in a whole-image run), else less than `align` past it.
    out.push(next + tile >= length ? Math.ceil((length - tile) / align) * align : next);
  }
  return out;
}

function axisWeights(originsOf: number[], length: number, tile: number, margin: number, ramp: number) {
  const weights = originsOf.map(origin => {
    const w = new Float32Array(tile);
    for (let i = 0; i < tile; i++) {
      const innerStart = origin > 0;
      const innerEnd = origin + tile < length;
      let value = 1;
      if (innerStart) {
        value = Math.min(value, edgeWeight(i, margin, ramp));
      }
      if (innerEnd) {
        value = Math.min(value, edgeWeight(tile - 1 - i, margin, ramp));
      }
      w[i] = value;
    }
    return w;
  });
  const sum = new Float64Array(length);
  originsOf.forEach((origin, k) => {
    for (let i = 0; i < tile && origin + i < length; i++) {
      sum[origin + i] += weights[k][i];
    }
  });
  return { weights, sum };
}

/** Weight of the pixel `d` pixels in from an inner edge. */
function edgeWeight(d: number, margin: number, ramp: number): number {
  if (d < margin) {
    return 0;
  }
  if (d >= margin + ramp) {
    return 1;
  }
  const t = (d - margin + 0.5) / ramp;
  return Math.sin((Math.PI / 2) * t) ** 2;
}

export function planWindows(width: number, height: number, options: IWindowOptions): IWindowLayout {
  const align = options.align ?? 16;
  const { tile, overlap } = options;
  const margin = options.margin ?? Math.floor(overlap / 4);
  const fail = (message: string, context: Record<string, unknown>) => {
    throw new ConfigError(message, context);
  };
  if (!Number.isInteger(tile) || tile < align || tile % align !== 0) {
    fail(`tile must be a positive multiple of ${align} (the model's downsampling), got ${tile}`, { tile, align });
  }
  const stride = tile - overlap;
  if (!Number.isInteger(overlap) || overlap < 0 || stride < align || stride % align !== 0) {
    fail(`tile - overlap must be a positive multiple of ${align} so windows share the pooling grid; tile ${tile}, overlap ${overlap}`, { tile, overlap, align });
  }
  if (!Number.isInteger(margin) || margin < 0 || 2 * margin > overlap) {
    fail(`margin must be an integer in [0, overlap / 2] so every pixel keeps a weight; got ${margin} with overlap ${overlap}`, { margin, overlap });
  }
  const ramp = overlap - 2 * margin;
  const xs = origins(width, tile, stride, align);
  const ys = origins(height, tile, stride, align);
  const ax = axisWeights(xs, width, tile, margin, ramp);
  const ay = axisWeights(ys, height, tile, margin, ramp);
  for (const [axis, sum] of [['x', ax.sum], ['y', ay.sum]] as const) {
    const zero = sum.findIndex(v => !(v > 0));
    if (zero >= 0) {
      fail(`no window covers ${axis} = ${zero} with a positive weight; lower the margin`, { margin, overlap });
    }
  }
  return { tile, overlap, stride, margin, xs, ys, weightsX: ax.weights, weightsY: ay.weights, sumX: ax.sum, sumY: ay.sum };
}
