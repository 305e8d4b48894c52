// The synthetic world in metres: a road grid, tree patches and buildings placed clear of both,
// and the change between the two dates (some buildings demolished, new ones built). Sizes are
// real-world sizes, so the same seed at a finer GSD shows the same town in more pixels.

import type { IRandom } from './random';
import {
  rectanglesOverlap,
  rectangleNearCircle,
  rectangleNearLine,
  type ICircle,
  type ILine,
  type IRectangle
} from './shapes';

export type Rgb = readonly [number, number, number];

export interface IBuilding extends IRectangle {
  /** Metres above ground; sets the shadow length. */
  height: number;
  roof: Rgb;
  /** A pitched roof shows two faces lit differently; flat roofs do not. */
  gable: boolean;
}

export interface IRoad extends ILine {
  halfWidth: number;
}

export interface ISceneLayout {
  /** Width and height of the world in metres. */
  extentX: number;
  extentY: number;
  roads: IRoad[];
  trees: ICircle[];
  /** Buildings standing at the first date. */
  before: IBuilding[];
  /** Buildings standing at the second date. */
  after: IBuilding[];
  /** Demolished between the dates (in `before`, not in `after`). */
  removed: IBuilding[];
  /** Built between the dates (in `after`, not in `before`). */
  added: IBuilding[];
}

// Roof colours common in Korean towns: concrete greys, blue and green painted steel, red tile.
const ROOFS: Rgb[] = [
  [172, 170, 164],
  [118, 118, 122],
  [72, 112, 152],
  [84, 132, 104],
  [150, 78, 62],
  [210, 208, 200],
  [64, 140, 146]
];

export function layoutScene(
  random: IRandom,
  extentX: number,
  extentY: number,
  changeRate: number
): ISceneLayout {
  const grid = random.next() * (Math.PI / 2);
  const roads = layoutRoads(random.fork('roads'), extentX, extentY, grid);
  const trees = layoutTrees(random.fork('trees'), extentX, extentY);
  const placing = random.fork('buildings');
  const area = extentX * extentY;
  const before: IBuilding[] = [];
  const occupied = new SpatialIndex<IBuilding>(reachOf);
  const treeIndex = new SpatialIndex<ICircle>(tree => tree);
  trees.forEach(tree => treeIndex.add(tree));
  const candidates = Math.ceil(area / 500);
  for (
    let attempt = 0;
    attempt < candidates * 3 && before.length < candidates;
    attempt++
  ) {
    const building = proposeBuilding(placing, extentX, extentY, grid, -10);
    if (fits(building, roads, treeIndex, occupied)) {
      before.push(building);
      occupied.add(building);
    }
  }

  const changing = random.fork('change');
  const inScene = (b: IBuilding) =>
    b.cx >= 0 && b.cx <= extentX && b.cy >= 0 && b.cy <= extentY;
  const removed = before.filter(b => inScene(b) && changing.chance(changeRate));
  const removedSet = new Set(removed);
  const standing = before.filter(b => !removedSet.has(b));
  if (removed.length === 0 && standing.filter(inScene).length >= 2) {
    const pick = changing.pick(standing.filter(inScene));
    removed.push(pick);
    standing.splice(standing.indexOf(pick), 1);
  }
  const added: IBuilding[] = [];
  const wanted = Math.max(1, Math.round(changeRate * before.length));
  for (
    let attempt = 0;
    attempt < wanted * 40 && added.length < wanted;
    attempt++
  ) {
    const building = proposeBuilding(changing, extentX, extentY, grid, 0);
    if (fits(building, roads, treeIndex, occupied)) {
      added.push(building);
      occupied.add(building);
    }
  }
  if (added.length === 0) {
    // A scene too small or too crowded for a clear lot still gets one new building, so that
    // every pair has a change to find.
    added.push({
      ...proposeBuilding(changing, extentX, extentY, grid, 0),
      cx: extentX / 2,
      cy: extentY / 2
    });
  }
  return {
    extentX,
    extentY,
    roads,
    trees,
    before,
    after: [...standing, ...added],
    removed,
    added
  };
}

function layoutRoads(
  random: IRandom,
  extentX: number,
  extentY: number,
  grid: number
): IRoad[] {
  const roads: IRoad[] = [];
  const cx = extentX / 2;
  const cy = extentY / 2;
  const reach = Math.hypot(extentX, extentY) / 2 + 20;
  for (const angle of [grid, grid + Math.PI / 2]) {
    const spacing = random.range(110, 230);
    // Offsets along the road's normal, covering the whole scene.
    for (
      let offset = -reach + random.next() * spacing;
      offset < reach;
      offset += spacing * random.range(0.8, 1.2)
    ) {
      if (random.chance(0.25)) {
        continue; // not every street of the grid exists
      }
      const arterial = random.chance(0.3);
      roads.push({
        x: cx - offset * Math.sin(angle),
        y: cy + offset * Math.cos(angle),
        angle: angle + random.normal(0, 0.01),
        halfWidth: (arterial ? random.range(12, 20) : random.range(6, 9)) / 2
      });
    }
  }
  return roads;
}

function layoutTrees(
  random: IRandom,
  extentX: number,
  extentY: number
): ICircle[] {
  const trees: ICircle[] = [];
  const patches = Math.max(
    1,
    Math.round(((extentX * extentY) / 40000) * random.range(1, 3))
  );
  for (let p = 0; p < patches; p++) {
    const x = random.range(0, extentX);
    const y = random.range(0, extentY);
    const crowns = random.int(3, 12);
    for (let c = 0; c < crowns; c++) {
      trees.push({
        x: x + random.normal(0, 14),
        y: y + random.normal(0, 14),
        r: random.range(3, 12)
      });
    }
  }
  return trees;
}

/** A building of one of three kinds: a house, a larger low-rise, or a Korean apartment slab. */
function proposeBuilding(
  random: IRandom,
  extentX: number,
  extentY: number,
  grid: number,
  margin: number
): IBuilding {
  const kind = random.next();
  let length: number;
  let width: number;
  let height: number;
  if (kind < 0.12 && Math.min(extentX, extentY) > 120) {
    length = random.range(50, 80);
    width = random.range(12, 18);
    height = random.range(35, 70);
  } else if (kind < 0.4) {
    length = random.range(20, 45);
    width = random.range(15, 28);
    height = random.range(8, 25);
  } else {
    length = random.range(8, 16);
    width = random.range(7, 12);
    height = random.range(3, 8);
  }
  return {
    cx: random.range(-margin, extentX + margin),
    cy: random.range(-margin, extentY + margin),
    halfLength: length / 2,
    halfWidth: width / 2,
    angle:
      grid + (random.chance(0.5) ? 0 : Math.PI / 2) + random.normal(0, 0.03),
    height,
    roof: random.pick(ROOFS),
    gable: height < 10 && random.chance(0.6)
  };
}

function fits(
  building: IBuilding,
  roads: IRoad[],
  trees: SpatialIndex<ICircle>,
  occupied: SpatialIndex<IBuilding>
): boolean {
  const reach = reachOf(building);
  return (
    !roads.some(road =>
      rectangleNearLine(building, road, road.halfWidth + 3)
    ) &&
    !trees.near(reach).some(tree => rectangleNearCircle(building, tree, 1)) &&
    !occupied.near(reach).some(other => rectanglesOverlap(building, other, 3))
  );
}

/**
 * Things bucketed by 50 m cells under their bounding circles, so placing thousands of buildings
 * in a large scene tests each candidate against its neighbours only.
 */
class SpatialIndex<T> {
  private readonly cells = new Map<string, T[]>();
  private static readonly CELL = 50;

  constructor(private readonly bounds: (item: T) => ICircle) {}

  add(item: T): void {
    for (const key of this.keys(this.bounds(item))) {
      const bucket = this.cells.get(key);
      if (bucket) {
        bucket.push(item);
      } else {
        this.cells.set(key, [item]);
      }
    }
  }

  near(area: ICircle): T[] {
    const found = new Set<T>();
    for (const key of this.keys(area)) {
      for (const item of this.cells.get(key) ?? []) {
        found.add(item);
      }
    }
    return [...found];
  }

  private keys({ x, y, r }: ICircle): string[] {
    const cell = SpatialIndex.CELL;
    const keys: string[] = [];
    for (
      let i = Math.floor((x - r) / cell);
      i <= Math.floor((x + r) / cell);
      i++
    ) {
      for (
        let j = Math.floor((y - r) / cell);
        j <= Math.floor((y + r) / cell);
        j++
      ) {
        keys.push(`${i},${j}`);
      }
    }
    return keys;
  }
}

/** Bounding circle of a footprint, widened by the clearance kept around it. */
function reachOf(building: IBuilding): ICircle {
  return {
    x: building.cx,
    y: building.cy,
    r: Math.hypot(building.halfLength, building.halfWidth) + 3
  };
}
