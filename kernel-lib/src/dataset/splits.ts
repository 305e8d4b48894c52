// Seeded, spatially blocked splits: the ground is cut into square blocks (in the CRS's units, so two
// pairs over the same place share blocks), each block goes to train / val / test by a seeded draw,
// and a chip takes its block's split. A chip whose window crosses blocks of different splits is
// dropped, so chips that share pixels never land on both sides.
import * as crypto from 'crypto';
import { ChangelabError } from '../errors';
import type { GeoTransform } from '../raster/types';
import type { DatasetSplit, IChipWindow } from './manifest';

export type SplitFractions = Record<DatasetSplit, number>;
export const DEFAULT_FRACTIONS: SplitFractions = { train: 0.7, val: 0.15, test: 0.15 };

export function checkFractions(f: Partial<SplitFractions> | undefined): SplitFractions {
  const fractions = { ...DEFAULT_FRACTIONS, ...(f ?? {}) };
  const values = Object.values(fractions);
  if (values.some(v => !(v >= 0 && v <= 1)) || Math.abs(values.reduce((a, b) => a + b, 0) - 1) > 1e-9) {
    throw new ChangelabError(`split fractions must be between 0 and 1 and add up to 1, not ${JSON.stringify(fractions)}`, { fractions });
  }
  return fractions;
}

/** A uniform number in [0, 1) from a string, the same on every machine. */
function uniform(key: string): number {
  const h = crypto.createHash('sha256').update(key).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

export function blockSplit(seed: string, crsKey: string, bx: number, by: number, fractions: SplitFractions): DatasetSplit {
  const u = uniform(`${seed}/${crsKey}/${bx}/${by}`);
  if (u < fractions.train) {
    return 'train';
  }
  return u < fractions.train + fractions.val ? 'val' : 'test';
}

/**
 * The blocks (squares of `blockSize` CRS units, counted from `anchor`) a pixel window covers. The
 * anchor is the top-left corner of the first pair in that CRS, so chips on its grid never cross a
 * block edge when the block is a multiple of the chip stride.
 */
export function windowBlocks(window: IChipWindow, transform: GeoTransform, blockSize: number, anchor: readonly [number, number] = [0, 0]): Array<[number, number]> {
  const [x0, px, , y0, , py] = transform;
  const xs = [x0 + window.x * px - anchor[0], x0 + (window.x + window.width) * px - anchor[0]];
  const ys = [y0 + window.y * py - anchor[1], y0 + (window.y + window.height) * py - anchor[1]];
  // Half-open: a window ending exactly on a block edge does not reach into the next block.
  const eps = 1e-9 * Math.max(1, Math.abs(blockSize));
  const bx0 = Math.floor(Math.min(...xs) / blockSize);
  const bx1 = Math.floor((Math.max(...xs) - eps) / blockSize);
  const by0 = Math.floor(Math.min(...ys) / blockSize);
  const by1 = Math.floor((Math.max(...ys) - eps) / blockSize);
  const out: Array<[number, number]> = [];
  for (let bx = bx0; bx <= bx1; bx++) {
    for (let by = by0; by <= by1; by++) {
      out.push([bx, by]);
    }
  }
  return out;
}

/** The split of a chip, or null when its window crosses blocks of different splits (dropped). */
export function chipSplit(
  window: IChipWindow,
  transform: GeoTransform,
  crsKey: string,
  blockSize: number,
  seed: string,
  fractions: SplitFractions,
  anchor: readonly [number, number] = [0, 0]
): DatasetSplit | null {
  const splits = new Set(windowBlocks(window, transform, blockSize, anchor).map(([bx, by]) => blockSplit(seed, crsKey, bx, by, fractions)));
  return splits.size === 1 ? [...splits][0] : null;
}

/** Windows of `chip` px every `chip - overlap` px that fit inside width x height. */
export function chipWindows(width: number, height: number, chip: number, overlap: number): IChipWindow[] {
  if (!Number.isInteger(chip) || chip < 16) {
    throw new ChangelabError(`chip size must be an integer of at least 16 pixels, not ${chip}`, { chip });
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= chip) {
    throw new ChangelabError(`overlap must be an integer from 0 to chip - 1 pixels, not ${overlap}`, { overlap, chip });
  }
  const stride = chip - overlap;
  const out: IChipWindow[] = [];
  for (let y = 0; y + chip <= height; y += stride) {
    for (let x = 0; x + chip <= width; x += stride) {
      out.push({ x, y, width: chip, height: chip });
    }
  }
  return out;
}
