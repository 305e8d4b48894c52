// Plane geometry for the synthetic world: oriented rectangles (building footprints), lines
// (roads) and convex polygons (shadows), with the overlap tests used while placing them and the
// signed distances used while drawing them. Signed distances give anti-aliased edges and let a
// sub-pixel shift of the camera change edge pixels smoothly, as in a real resampled image.

export interface IPoint {
  x: number;
  y: number;
}

/** An oriented rectangle: centre, half extents along its own axes, rotation in radians. */
export interface IRectangle {
  cx: number;
  cy: number;
  halfLength: number;
  halfWidth: number;
  angle: number;
}

/** An infinite straight line through a point (roads cross the whole scene). */
export interface ILine {
  x: number;
  y: number;
  angle: number;
}

export interface ICircle {
  x: number;
  y: number;
  r: number;
}

export function rectangleCorners(rect: IRectangle): IPoint[] {
  const cos = Math.cos(rect.angle);
  const sin = Math.sin(rect.angle);
  const corners: IPoint[] = [];
  for (const [sl, sw] of [
    [1, 1],
    [-1, 1],
    [-1, -1],
    [1, -1]
  ]) {
    const lx = sl * rect.halfLength;
    const ly = sw * rect.halfWidth;
    corners.push({
      x: rect.cx + lx * cos - ly * sin,
      y: rect.cy + lx * sin + ly * cos
    });
  }
  return corners;
}

/** Point in the rectangle's own frame: x along its length, y across. */
export function toRectangleFrame(
  rect: IRectangle,
  x: number,
  y: number
): IPoint {
  const dx = x - rect.cx;
  const dy = y - rect.cy;
  const cos = Math.cos(rect.angle);
  const sin = Math.sin(rect.angle);
  return { x: dx * cos + dy * sin, y: -dx * sin + dy * cos };
}

/** Separating-axis test, with `margin` of clearance required between the two. */
export function rectanglesOverlap(
  a: IRectangle,
  b: IRectangle,
  margin: number
): boolean {
  const cornersA = rectangleCorners(a);
  const cornersB = rectangleCorners(b);
  for (const angle of [
    a.angle,
    a.angle + Math.PI / 2,
    b.angle,
    b.angle + Math.PI / 2
  ]) {
    const ax = Math.cos(angle);
    const ay = Math.sin(angle);
    const project = (points: IPoint[]) => points.map(p => p.x * ax + p.y * ay);
    const pa = project(cornersA);
    const pb = project(cornersB);
    if (
      Math.max(...pa) + margin < Math.min(...pb) ||
      Math.max(...pb) + margin < Math.min(...pa)
    ) {
      return false;
    }
  }
  return true;
}

/** Signed distance from a line (positive on the side its normal points to). */
export function lineDistance(line: ILine, x: number, y: number): number {
  return (
    -(x - line.x) * Math.sin(line.angle) + (y - line.y) * Math.cos(line.angle)
  );
}

/** Whether a rectangle comes within `clearance` of a line. */
export function rectangleNearLine(
  rect: IRectangle,
  line: ILine,
  clearance: number
): boolean {
  const distances = rectangleCorners(rect).map(p =>
    lineDistance(line, p.x, p.y)
  );
  return (
    Math.max(...distances) > -clearance && Math.min(...distances) < clearance
  );
}

export function rectangleNearCircle(
  rect: IRectangle,
  circle: ICircle,
  clearance: number
): boolean {
  const local = toRectangleFrame(rect, circle.x, circle.y);
  const dx = Math.max(Math.abs(local.x) - rect.halfLength, 0);
  const dy = Math.max(Math.abs(local.y) - rect.halfWidth, 0);
  return Math.hypot(dx, dy) < circle.r + clearance;
}

export interface IRectangleField {
  /** Signed distance to the outline (negative inside); exact inside, close enough outside. */
  distance(x: number, y: number): number;
  /** Coordinate across the rectangle's length (its own y axis). */
  across(x: number, y: number): number;
}

/** Distance functions for one rectangle, with its rotation computed once rather than per pixel. */
export function rectangleField(rect: IRectangle): IRectangleField {
  const { cx, cy, halfLength, halfWidth } = rect;
  const cos = Math.cos(rect.angle);
  const sin = Math.sin(rect.angle);
  return {
    distance: (x, y) => {
      const dx = x - cx;
      const dy = y - cy;
      return Math.max(
        Math.abs(dx * cos + dy * sin) - halfLength,
        Math.abs(dy * cos - dx * sin) - halfWidth
      );
    },
    across: (x, y) => (y - cy) * cos - (x - cx) * sin
  };
}

/** A convex polygon as edges with outward unit normals, for signed distances. */
export interface IConvexPolygon {
  points: IPoint[];
  normals: IPoint[];
}

export function convexHull(points: readonly IPoint[]): IConvexPolygon {
  // Andrew's monotone chain.
  const sorted = [...points].sort((a, b) => a.x - b.x || a.y - b.y);
  const cross = (o: IPoint, a: IPoint, b: IPoint) =>
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
  const lower: IPoint[] = [];
  for (const p of sorted) {
    while (
      lower.length >= 2 &&
      cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0
    ) {
      lower.pop();
    }
    lower.push(p);
  }
  const upper: IPoint[] = [];
  for (let i = sorted.length - 1; i >= 0; i--) {
    const p = sorted[i];
    while (
      upper.length >= 2 &&
      cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0
    ) {
      upper.pop();
    }
    upper.push(p);
  }
  const hull = lower.slice(0, -1).concat(upper.slice(0, -1));
  const centre = {
    x: hull.reduce((s, p) => s + p.x, 0) / hull.length,
    y: hull.reduce((s, p) => s + p.y, 0) / hull.length
  };
  const normals = hull.map((a, i) => {
    const b = hull[(i + 1) % hull.length];
    const length = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    let n = { x: (b.y - a.y) / length, y: -(b.x - a.x) / length };
    if ((centre.x - a.x) * n.x + (centre.y - a.y) * n.y > 0) {
      n = { x: -n.x, y: -n.y }; // make it point outward
    }
    return n;
  });
  return { points: hull, normals };
}

export function convexDistance(
  polygon: IConvexPolygon,
  x: number,
  y: number
): number {
  let d = -Infinity;
  for (let i = 0; i < polygon.points.length; i++) {
    const a = polygon.points[i];
    const n = polygon.normals[i];
    d = Math.max(d, (x - a.x) * n.x + (y - a.y) * n.y);
  }
  return d;
}

export function boundingBox(points: readonly IPoint[]) {
  return {
    minX: Math.min(...points.map(p => p.x)),
    maxX: Math.max(...points.map(p => p.x)),
    minY: Math.min(...points.map(p => p.y)),
    maxY: Math.max(...points.map(p => p.y))
  };
}
