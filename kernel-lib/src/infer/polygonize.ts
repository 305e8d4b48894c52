// Change mask -> polygons with holes, row by row. Every foreground pixel edge that borders
// background becomes a directed edge with the foreground on its right (in pixel coordinates, y
// down); edges are chained at their shared corners as rows arrive, and a chain that meets its own
// start is a finished ring: outer rings run clockwise on screen (counter-clockwise on a north-up
// map), holes the other way. Components are 4-connected, as gdal_polygonize's default, so two
// pixels touching only at a corner are separate polygons. A streaming union-find labels the
// components on the way to sum each one's pixels and probabilities. Memory grows with the rings'
// vertices and the open chains, never with the scene's area.
import { ChangelabError } from '../errors';

export interface IPixelPolygon {
  /** Rings in pixel corner coordinates [x0, y0, x1, y1, ...], closed implicitly; outer first. */
  rings: Float64Array[];
  /** Pixels inside (holes excluded). */
  pixels: number;
  /** Mean of the probabilities given with the rows (NaN when none were given). */
  meanProbability: number;
}

interface IChain {
  /** Point chunks, in order, each [x, y, x, y, ...]. */
  chunks: number[][];
  startKey: number;
  endKey: number;
  label: number;
}

interface IRing {
  points: Float64Array;
  label: number;
  /** Signed area in pixels: > 0 for outer rings. */
  area: number;
  bbox: [number, number, number, number];
}

export class Polygonizer {
  private row = 0;
  private previous: Uint8Array;
  private current: Uint8Array | null = null;
  private currentProbability: ArrayLike<number> | null = null;
  private previousLabels: Int32Array;
  private currentLabels: Int32Array;
  private readonly byStart = new Map<number, IChain>();
  private readonly byEnd = new Map<number, IChain>();
  private readonly rings: IRing[] = [];
  // Union-find over provisional component labels, with per-root pixel and probability sums.
  private parent: Int32Array = new Int32Array(1024);
  private pixelCount: Float64Array = new Float64Array(1024);
  private probabilitySum: Float64Array = new Float64Array(1024);
  private labels = 0;
  private probabilities = false;

  constructor(readonly width: number) {
    this.previous = new Uint8Array(width);
    this.previousLabels = new Int32Array(width).fill(-1);
    this.currentLabels = new Int32Array(width).fill(-1);
  }

  /** Adds the next mask row (non-zero = change) and optionally its probabilities. */
  pushRow(mask: ArrayLike<number>, probability?: ArrayLike<number>): void {
    if (mask.length < this.width) {
      throw new ChangelabError(`a mask row has ${mask.length} pixels, the polygonizer expects ${this.width}`);
    }
    const next = new Uint8Array(this.width);
    for (let x = 0; x < this.width; x++) {
      next[x] = mask[x] ? 1 : 0;
    }
    if (this.current) {
      this.processRow(next);
    }
    this.current = next;
    this.currentProbability = probability ?? null;
    this.probabilities ||= probability !== undefined;
  }

  /** Finishes the last row and returns the polygons. */
  finish(): IPixelPolygon[] {
    if (this.current) {
      this.processRow(new Uint8Array(this.width));
      this.current = null;
    }
    if (this.byStart.size > 0 || this.byEnd.size > 0) {
      throw new ChangelabError(`internal: ${this.byStart.size} boundary chains were left open`);
    }
    return this.assemble();
  }

  private newLabel(): number {
    if (this.labels === this.parent.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.parent = grow(this.parent, n => new Int32Array(n));
      this.pixelCount = grow(this.pixelCount, n => new Float64Array(n));
      this.probabilitySum = grow(this.probabilitySum, n => new Float64Array(n));
    }
    const label = this.labels++;
    this.parent[label] = label;
    return label;
  }

  find(label: number): number {
    let root = label;
    while (this.parent[root] !== root) {
      root = this.parent[root];
    }
    while (this.parent[label] !== root) {
      const up = this.parent[label];
      this.parent[label] = root;
      label = up;
    }
    return root;
  }

  private union(a: number, b: number): number {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) {
      return ra;
    }
    const [keep, drop] = ra < rb ? [ra, rb] : [rb, ra];
    this.parent[drop] = keep;
    this.pixelCount[keep] += this.pixelCount[drop];
    this.probabilitySum[keep] += this.probabilitySum[drop];
    return keep;
  }

  /** Emits the edges of row `this.row` (the current row), knowing the row above and below. */
  private processRow(below: Uint8Array): void {
    const y = this.row;
    const above = this.previous;
    const cur = this.current!;
    const w = this.width;
    const labels = this.currentLabels;
    const probability = this.currentProbability;
    // Labels: 4-connected to the left and above.
    for (let x = 0; x < w; x++) {
      if (!cur[x]) {
        labels[x] = -1;
        continue;
      }
      const left = x > 0 && cur[x - 1] ? labels[x - 1] : -1;
      const up = above[x] ? this.previousLabels[x] : -1;
      let label: number;
      if (left >= 0 && up >= 0) {
        label = this.union(left, up);
      } else if (left >= 0) {
        label = left;
      } else if (up >= 0) {
        label = this.find(up);
      } else {
        label = this.newLabel();
      }
      labels[x] = label;
      const root = this.find(label);
      this.pixelCount[root] += 1;
      if (probability) {
        this.probabilitySum[root] += probability[x];
      }
    }
    const at = (row: Uint8Array, x: number) => (x >= 0 && x < w ? row[x] : 0);
    for (let x = 0; x < w; x++) {
      if (!cur[x]) {
        continue;
      }
      const label = labels[x];
      if (!at(above, x)) {
        this.edge(x, y, x + 1, y, label, above, cur, below);
      }
      if (!at(cur, x + 1)) {
        this.edge(x + 1, y, x + 1, y + 1, label, above, cur, below);
      }
      if (!at(below, x)) {
        this.edge(x + 1, y + 1, x, y + 1, label, above, cur, below);
      }
      if (!at(cur, x - 1)) {
        this.edge(x, y + 1, x, y, label, above, cur, below);
      }
    }
    this.previous = cur;
    const swap = this.previousLabels;
    this.previousLabels = labels;
    this.currentLabels = swap;
    this.row++;
  }

  /**
   * The key of an edge's end at corner (x, y). A corner where the four pixels form a diagonal
   * (a saddle) carries two boundaries; with 4-connectivity each pixel of the diagonal keeps its
   * own, so the key also names which pixel the edge belongs to.
   */
  private cornerKey(x: number, y: number, dx: number, dy: number, incoming: boolean, rows: [Uint8Array, Uint8Array, Uint8Array]): number {
    const base = (y * (this.width + 1) + x) * 2;
    // Pixels around corner (x, y): a (x-1, y-1), b (x, y-1), c (x-1, y), d (x, y).
    const pixel = (px: number, py: number) => {
      if (px < 0 || px >= this.width) {
        return 0;
      }
      const index = py - (this.row - 1);
      return index >= 0 && index <= 2 ? rows[index][px] : 0;
    };
    const a = pixel(x - 1, y - 1);
    const b = pixel(x, y - 1);
    const c = pixel(x - 1, y);
    const d = pixel(x, y);
    if (a === d && b === c && a !== b) {
      // Direction of travel at the corner: incoming edges arrive moving (dx, dy); outgoing leave.
      if (a) {
        // a and d set: a's boundary comes down from the north and leaves west; d's comes up from
        // the south and leaves east.
        return base + (incoming ? (dy > 0 ? 0 : 1) : dx < 0 ? 0 : 1);
      }
      // b and c set: b's comes in from the east (moving west) and leaves north; c's comes in from
      // the west (moving east) and leaves south.
      return base + (incoming ? (dx < 0 ? 0 : 1) : dy < 0 ? 0 : 1);
    }
    return base;
  }

  private edge(x0: number, y0: number, x1: number, y1: number, label: number, above: Uint8Array, cur: Uint8Array, below: Uint8Array): void {
    const rows: [Uint8Array, Uint8Array, Uint8Array] = [above, cur, below];
    const dx = x1 - x0;
    const dy = y1 - y0;
    const startKey = this.cornerKey(x0, y0, dx, dy, false, rows);
    const endKey = this.cornerKey(x1, y1, dx, dy, true, rows);
    const before = this.byEnd.get(startKey);
    const after = this.byStart.get(endKey);
    if (before && after) {
      this.byEnd.delete(startKey);
      this.byStart.delete(endKey);
      if (before === after) {
        this.closeRing(before);
        return;
      }
      before.chunks.push(...after.chunks);
      before.endKey = after.endKey;
      this.byEnd.set(before.endKey, before);
    } else if (before) {
      this.byEnd.delete(startKey);
      const last = before.chunks[before.chunks.length - 1];
      if (last.length < 4096) {
        last.push(x1, y1);
      } else {
        before.chunks.push([x1, y1]);
      }
      before.endKey = endKey;
      this.byEnd.set(endKey, before);
    } else if (after) {
      this.byStart.delete(endKey);
      after.chunks.unshift([x0, y0]);
      after.startKey = startKey;
      this.byStart.set(startKey, after);
    } else {
      const chain: IChain = { chunks: [[x0, y0, x1, y1]], startKey, endKey, label };
      this.byStart.set(startKey, chain);
      this.byEnd.set(endKey, chain);
    }
  }

  /** A chain whose end met its start: drop collinear corners and keep the ring. */
  private closeRing(chain: IChain): void {
    let n = 0;
    for (const chunk of chain.chunks) {
      n += chunk.length;
    }
    const all = new Float64Array(n);
    let o = 0;
    for (const chunk of chain.chunks) {
      all.set(chunk, o);
      o += chunk.length;
    }
    // The closing edge runs from the last point back to the first, which is not repeated.
    const count = n / 2;
    const kept: number[] = [];
    for (let i = 0; i < count; i++) {
      const p = (i + count - 1) % count;
      const q = (i + 1) % count;
      const ux = all[2 * i] - all[2 * p];
      const uy = all[2 * i + 1] - all[2 * p + 1];
      const vx = all[2 * q] - all[2 * i];
      const vy = all[2 * q + 1] - all[2 * i + 1];
      if (ux * vy - uy * vx !== 0) {
        kept.push(all[2 * i], all[2 * i + 1]);
      }
    }
    const points = Float64Array.from(kept);
    let area = 0;
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    const m = points.length / 2;
    for (let i = 0; i < m; i++) {
      const j = (i + 1) % m;
      area += points[2 * i] * points[2 * j + 1] - points[2 * j] * points[2 * i + 1];
      minX = Math.min(minX, points[2 * i]);
      maxX = Math.max(maxX, points[2 * i]);
      minY = Math.min(minY, points[2 * i + 1]);
      maxY = Math.max(maxY, points[2 * i + 1]);
    }
    this.rings.push({ points, label: chain.label, area: area / 2, bbox: [minX, minY, maxX, maxY] });
  }

  /** Outer rings become polygons; each hole joins the outer ring of its own component. */
  private assemble(): IPixelPolygon[] {
    const byRoot = new Map<number, { outer: IRing; holes: IRing[] }>();
    const holes: IRing[] = [];
    for (const ring of this.rings) {
      if (ring.area > 0) {
        const root = this.find(ring.label);
        if (byRoot.has(root)) {
          throw new ChangelabError('internal: a component has two outer rings');
        }
        byRoot.set(root, { outer: ring, holes: [] });
      } else {
        holes.push(ring);
      }
    }
    for (const hole of holes) {
      const entry = byRoot.get(this.find(hole.label));
      if (!entry) {
        throw new ChangelabError('internal: a hole has no outer ring');
      }
      entry.holes.push(hole);
    }
    const polygons: IPixelPolygon[] = [];
    for (const [root, { outer, holes: inner }] of byRoot) {
      polygons.push({
        rings: [outer.points, ...inner.map(h => h.points)],
        pixels: this.pixelCount[root],
        meanProbability: this.probabilities ? this.probabilitySum[root] / this.pixelCount[root] : Number.NaN
      });
    }
    return polygons;
  }
}

/** Polygonizes a whole in-memory mask (tests, small rasters). */
export function polygonizeMask(mask: ArrayLike<number>, width: number, height: number, probability?: ArrayLike<number>): IPixelPolygon[] {
  const p = new Polygonizer(width);
  for (let y = 0; y < height; y++) {
    const row = Array.prototype.slice.call(mask, y * width, (y + 1) * width) as number[];
    p.pushRow(row, probability ? (Array.prototype.slice.call(probability, y * width, (y + 1) * width) as number[]) : undefined);
  }
  return p.finish();
}
