// Fractal value noise anchored to world coordinates. Lattice values are hashes of integer world
// lattice coordinates rather than a random table, so every view of the world — shifted by a
// fraction of a pixel or not — samples the same continuous field.

import type { IView } from './view';

export interface INoiseOctave {
  /** Lattice spacing in metres: the size of the features this octave makes. */
  spacing: number;
  weight: number;
}

/** Noise in [0, 1] at each pixel centre of the view, row-major. */
export function fractalNoise(
  view: IView,
  seed: number,
  octaves: readonly INoiseOctave[]
): Float32Array {
  const { width, height } = view;
  const out = new Float32Array(width * height);
  const totalWeight = octaves.reduce((sum, o) => sum + o.weight, 0);
  octaves.forEach((octave, index) => {
    addOctave(
      out,
      view,
      (seed + Math.imul(index + 1, 0x9e3779b9)) | 0,
      octave,
      octave.weight / totalWeight
    );
  });
  return out;
}

function addOctave(
  out: Float32Array,
  view: IView,
  seed: number,
  octave: INoiseOctave,
  weight: number
): void {
  const { width, height, gsd } = view;
  // Lattice coordinate of pixel centres; lattice cells never shrink below one pixel (aliasing).
  const spacing = Math.max(octave.spacing, gsd);
  const toLatticeX = (col: number) =>
    ((col + 0.5 + view.shiftX) * gsd) / spacing;
  const toLatticeY = (row: number) =>
    ((row + 0.5 + view.shiftY) * gsd) / spacing;
  const i0 = Math.floor(toLatticeX(0));
  const j0 = Math.floor(toLatticeY(0));
  const across = Math.floor(toLatticeX(width - 1)) - i0 + 2;
  const down = Math.floor(toLatticeY(height - 1)) - j0 + 2;
  const lattice = new Float32Array(across * down);
  for (let j = 0; j < down; j++) {
    for (let i = 0; i < across; i++) {
      lattice[j * across + i] = latticeValue(i0 + i, j0 + j, seed);
    }
  }
  // Horizontal lattice index and smoothed fraction are the same for every row.
  const cellX = new Int32Array(width);
  const fadeX = new Float32Array(width);
  for (let col = 0; col < width; col++) {
    const u = toLatticeX(col);
    const cell = Math.floor(u);
    cellX[col] = cell - i0;
    fadeX[col] = smoothstep(u - cell);
  }
  for (let row = 0; row < height; row++) {
    const v = toLatticeY(row);
    const cellY = Math.floor(v);
    const fy = smoothstep(v - cellY);
    const top = (cellY - j0) * across;
    const bottom = top + across;
    const base = row * width;
    for (let col = 0; col < width; col++) {
      const i = cellX[col];
      const fx = fadeX[col];
      const upper =
        lattice[top + i] + (lattice[top + i + 1] - lattice[top + i]) * fx;
      const lower =
        lattice[bottom + i] +
        (lattice[bottom + i + 1] - lattice[bottom + i]) * fx;
      out[base + col] += weight * (upper + (lower - upper) * fy);
    }
  }
}

function smoothstep(t: number): number {
  return t * t * (3 - 2 * t);
}

/** Integer hash of a lattice point to [0, 1). */
export function latticeValue(i: number, j: number, seed: number): number {
  let h = Math.imul(i, 0x27d4eb2d) ^ Math.imul(j, 0x165667b1) ^ seed;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
