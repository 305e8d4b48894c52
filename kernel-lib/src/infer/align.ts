// Puts the second date on the first date's pixel grid. When both images share CRS, pixel size and
// origin, windows are read as they are. Otherwise every target pixel centre is mapped into the
// source image (affine in one CRS, through PROJ when the CRSs differ: exact on a 16-pixel lattice,
// bilinear in between, well under a hundredth of a pixel for aerial scenes) and resampled
// bilinearly or by nearest neighbour from the source window that covers the target window.
import proj4 from 'proj4';

import { InvalidRasterError } from '../errors';
import type { GeoTransform } from '../raster/types';
import type { IGrid, IRasterSource } from './raster-source';

export type Resampling = 'bilinear' | 'nearest';

/** Reads windows of a raster on some target grid. */
export interface IWindowReader {
  readonly bands: number;
  /** What was done to put the source on the grid, for the outputs' metadata. */
  readonly alignment: IAlignment;
  readWindow(col: number, row: number, width: number, height: number, fill?: number): Promise<Float32Array>;
}

export interface IAlignment {
  mode: 'identical' | 'resampled' | 'reprojected';
  resampling: Resampling | null;
  sourceEpsg: number | null;
  targetEpsg: number | null;
  /** Source pixel size (CRS units) and target pixel size. */
  sourcePixel: [number, number];
  targetPixel: [number, number];
}

const LATTICE = 16;

function invert(t: GeoTransform): GeoTransform {
  const [x0, a, b, y0, d, e] = t;
  const det = a * e - b * d;
  return [(b * y0 - e * x0) / det, e / det, -b / det, (d * x0 - a * y0) / det, -d / det, a / det];
}

const sameTransform = (a: GeoTransform, b: GeoTransform) =>
  a.every((v, i) => Math.abs(v - b[i]) <= 1e-9 * Math.max(1, Math.abs(v), Math.abs(b[i])));

export function alignTo(source: IRasterSource, target: IGrid, resampling: Resampling = 'bilinear'): IWindowReader {
  const s = source.grid;
  const sameCrs = s.epsg !== null && s.epsg === target.epsg;
  const alignment: IAlignment = {
    mode: 'identical',
    resampling: null,
    sourceEpsg: s.epsg,
    targetEpsg: target.epsg,
    sourcePixel: [s.transform[1], s.transform[5]],
    targetPixel: [target.transform[1], target.transform[5]]
  };
  if (sameCrs && sameTransform(s.transform, target.transform)) {
    return { bands: source.bands, alignment, readWindow: (c, r, w, h, fill) => source.readWindow(c, r, w, h, fill) };
  }
  let toSourceCrs: ((x: number, y: number) => [number, number]) | null = null;
  if (!sameCrs) {
    if (!s.proj4 || !target.proj4) {
      const which = !s.proj4 ? `${source.key} (${s.crsName ?? `EPSG:${s.epsg}`})` : `the reference grid (${target.crsName ?? `EPSG:${target.epsg}`})`;
      throw new InvalidRasterError(`cannot reproject: no PROJ definition for the CRS of ${which}; reproject the images to one CRS first (gdalwarp -t_srs)`, {
        key: source.key,
        sourceEpsg: s.epsg,
        targetEpsg: target.epsg
      });
    }
    const converter = proj4(target.proj4, s.proj4);
    toSourceCrs = (x, y) => converter.forward([x, y]) as [number, number];
  }
  alignment.mode = sameCrs ? 'resampled' : 'reprojected';
  alignment.resampling = resampling;
  const inverse = invert(s.transform);
  const t = target.transform;

  /** Source pixel coordinates (continuous, corners at integers) of a target pixel position. */
  const map = (col: number, row: number): [number, number] => {
    let x = t[0] + col * t[1] + row * t[2];
    let y = t[3] + col * t[4] + row * t[5];
    if (toSourceCrs) {
      [x, y] = toSourceCrs(x, y);
    }
    return [inverse[0] + x * inverse[1] + y * inverse[2], inverse[3] + x * inverse[4] + y * inverse[5]];
  };

  const readWindow = async (col: number, row: number, width: number, height: number, fill = 0): Promise<Float32Array> => {
    // Source coordinates of every target pixel centre: exact on a lattice, interpolated between.
    const nx = Math.ceil(width / LATTICE) + 1;
    const ny = Math.ceil(height / LATTICE) + 1;
    const lattice = new Float64Array(nx * ny * 2);
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const [sx, sy] = map(col + Math.min(i * LATTICE, width - 1) + 0.5, row + Math.min(j * LATTICE, height - 1) + 0.5);
        lattice[(j * nx + i) * 2] = sx;
        lattice[(j * nx + i) * 2 + 1] = sy;
        minX = Math.min(minX, sx);
        maxX = Math.max(maxX, sx);
        minY = Math.min(minY, sy);
        maxY = Math.max(maxY, sy);
      }
    }
    const bands = source.bands;
    const out = new Float32Array(bands * width * height);
    if (!Number.isFinite(minX + minY + maxX + maxY)) {
      return out.fill(fill);
    }
    const c0 = Math.floor(minX - 1.5);
    const r0 = Math.floor(minY - 1.5);
    const sw = Math.ceil(maxX + 1.5) - c0;
    const sh = Math.ceil(maxY + 1.5) - r0;
    if (c0 >= s.width || r0 >= s.height || c0 + sw <= 0 || r0 + sh <= 0) {
      return out.fill(fill);
    }
    const src = await source.readWindow(c0, r0, sw, sh, fill);
    const plane = width * height;
    const splane = sw * sh;
    const inside = (x: number, y: number) => x >= 0 && y >= 0 && x < s.width && y < s.height;
    for (let y = 0; y < height; y++) {
      const j = Math.min(Math.floor(y / LATTICE), ny - 2);
      const y0 = Math.min(j * LATTICE, height - 1);
      const y1 = Math.min((j + 1) * LATTICE, height - 1);
      const fy = y1 === y0 ? 0 : (y - y0) / (y1 - y0);
      for (let x = 0; x < width; x++) {
        const i = Math.min(Math.floor(x / LATTICE), nx - 2);
        const x0 = Math.min(i * LATTICE, width - 1);
        const x1 = Math.min((i + 1) * LATTICE, width - 1);
        const fx = x1 === x0 ? 0 : (x - x0) / (x1 - x0);
        const a = (j * nx + i) * 2;
        const b = (j * nx + i + 1) * 2;
        const c = ((j + 1) * nx + i) * 2;
        const d = ((j + 1) * nx + i + 1) * 2;
        const top = 1 - fy;
        const sx = (lattice[a] * (1 - fx) + lattice[b] * fx) * top + (lattice[c] * (1 - fx) + lattice[d] * fx) * fy;
        const sy = (lattice[a + 1] * (1 - fx) + lattice[b + 1] * fx) * top + (lattice[c + 1] * (1 - fx) + lattice[d + 1] * fx) * fy;
        const o = y * width + x;
        if (!inside(sx, sy)) {
          for (let band = 0; band < bands; band++) {
            out[band * plane + o] = fill;
          }
          continue;
        }
        if (resampling === 'nearest') {
          const k = (Math.floor(sy) - r0) * sw + (Math.floor(sx) - c0);
          for (let band = 0; band < bands; band++) {
            out[band * plane + o] = src[band * splane + k];
          }
          continue;
        }
        // Bilinear between the four pixel centres around (sx, sy), clamped at the image edge.
        const px = Math.min(Math.max(sx - 0.5, 0), s.width - 1);
        const py = Math.min(Math.max(sy - 0.5, 0), s.height - 1);
        const ix = Math.floor(px);
        const iy = Math.floor(py);
        const ix1 = Math.min(ix + 1, s.width - 1);
        const iy1 = Math.min(iy + 1, s.height - 1);
        const wx = px - ix;
        const wy = py - iy;
        const k00 = (iy - r0) * sw + (ix - c0);
        const k01 = (iy - r0) * sw + (ix1 - c0);
        const k10 = (iy1 - r0) * sw + (ix - c0);
        const k11 = (iy1 - r0) * sw + (ix1 - c0);
        for (let band = 0; band < bands; band++) {
          const p = band * splane;
          out[band * plane + o] =
            (src[p + k00] * (1 - wx) + src[p + k01] * wx) * (1 - wy) + (src[p + k10] * (1 - wx) + src[p + k11] * wx) * wy;
        }
      }
    }
    return out;
  };
  return { bands: source.bands, alignment, readWindow };
}
