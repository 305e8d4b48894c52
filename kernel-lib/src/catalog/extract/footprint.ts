// Where an image lies on the Earth: its outline in EPSG:4326 (edges densified, because straight
// edges in a projected CRS are curves in lon/lat), its centroid, and its ground sample distance
// in metres. An outline crossing the antimeridian is split at ±180° into a MultiPolygon, so
// PostGIS and map clients do not draw it the long way round the world.
import proj4 from 'proj4';

import type { Geometry4326 } from '../types';
import { applyTransform, type GeoTransform } from './geotransform';

export interface IPlacement {
  footprint: Geometry4326 | null;
  centroid: [number, number] | null;
  gsd: { x: number; y: number } | null;
  problems: string[];
}

const WGS84 = '+proj=longlat +datum=WGS84 +no_defs';

// proj4() parses its definition on every call; ingest sees a handful of CRSs thousands of times.
const converters = new Map<
  string,
  { converter: proj4.Converter; proj: IProjParameters }
>();

interface IProjParameters {
  projName: string;
  a: number;
  es: number;
  to_meter?: number;
}

function converterFor(definition: string) {
  let cached = converters.get(definition);
  if (!cached) {
    cached = {
      converter: proj4(definition, WGS84),
      proj: proj4.Proj(definition) as unknown as IProjParameters
    };
    if (converters.size > 256) {
      converters.clear();
    }
    converters.set(definition, cached);
  }
  return cached;
}

export function placeImage(
  transform: GeoTransform,
  width: number,
  height: number,
  definition: string,
  geographic: boolean,
  pointsPerEdge: number
): IPlacement {
  let conversion: ReturnType<typeof converterFor>;
  try {
    conversion = converterFor(definition);
  } catch (cause) {
    return failed(
      `the CRS (${definition}) cannot be transformed to WGS 84: ${(cause as Error)?.message ?? cause}`
    );
  }
  const { converter, proj } = conversion;
  const gsd = groundSampleDistance(transform, width, height, proj, geographic);

  // A geographic grid's edges are already straight in lon/lat; densifying adds nothing.
  const steps = geographic ? 1 : Math.max(1, Math.floor(pointsPerEdge));
  const corners: Array<[number, number]> = [
    [0, 0],
    [0, height],
    [width, height],
    [width, 0]
  ];
  const ring: number[][] = [];
  for (let edge = 0; edge < 4; edge++) {
    const [c0, r0] = corners[edge];
    const [c1, r1] = corners[(edge + 1) % 4];
    for (let step = 0; step < steps; step++) {
      const t = step / steps;
      const [x, y] = applyTransform(
        transform,
        c0 + (c1 - c0) * t,
        r0 + (r1 - r0) * t
      );
      let lonLat: number[];
      try {
        lonLat = converter.forward([x, y]);
      } catch {
        lonLat = [Number.NaN, Number.NaN];
      }
      if (
        !Number.isFinite(lonLat[0]) ||
        !Number.isFinite(lonLat[1]) ||
        Math.abs(lonLat[1]) > 90
      ) {
        return {
          ...failed(
            'parts of the image lie outside the area where its CRS is defined; no footprint'
          ),
          gsd
        };
      }
      ring.push([lonLat[0], lonLat[1]]);
    }
  }

  // Make longitudes continuous, so an outline across ±180° has no 360° jumps.
  for (let i = 1; i < ring.length; i++) {
    while (ring[i][0] - ring[i - 1][0] > 180) {
      ring[i][0] -= 360;
    }
    while (ring[i][0] - ring[i - 1][0] < -180) {
      ring[i][0] += 360;
    }
  }
  const closing = ring[0][0] - ring[ring.length - 1][0];
  if (Math.abs(closing) > 180) {
    return {
      ...failed(
        'the image encloses a pole; its footprint cannot be drawn as a lon/lat polygon'
      ),
      gsd
    };
  }
  const mean = ring.reduce((sum, [lon]) => sum + lon, 0) / ring.length;
  const shift =
    mean > 180
      ? -360 * Math.ceil((mean - 180) / 360)
      : mean < -180
        ? 360 * Math.ceil((-180 - mean) / 360)
        : 0;
  for (const point of ring) {
    point[0] += shift;
  }
  if (signedArea(ring) < 0) {
    ring.reverse();
  }
  const centroid = centroidOf(ring);
  centroid[0] = wrapLongitude(centroid[0]);

  const lons = ring.map(([lon]) => lon);
  const west = Math.min(...lons);
  const east = Math.max(...lons);
  let footprint: Geometry4326;
  if (east > 180 || west < -180) {
    const line = east > 180 ? 180 : -180;
    const inside = clipAtLongitude(ring, line, line === 180 ? 'west' : 'east');
    const outside = clipAtLongitude(
      ring,
      line,
      line === 180 ? 'east' : 'west'
    ).map(([lon, lat]) => [lon - Math.sign(line) * 360, lat]);
    footprint = {
      type: 'MultiPolygon',
      coordinates: [[close(inside)], [close(outside)]].filter(
        ([part]) => part.length >= 4
      )
    };
  } else {
    footprint = { type: 'Polygon', coordinates: [close(ring)] };
  }
  return { footprint, centroid, gsd, problems: [] };
}

function failed(problem: string): IPlacement {
  return { footprint: null, centroid: null, gsd: null, problems: [problem] };
}

/**
 * Metres per pixel along the image's x and y axes. Projected: CRS units times the unit's length.
 * Geographic: degrees times the ellipsoid's radii of curvature at the image's centre latitude.
 */
function groundSampleDistance(
  gt: GeoTransform,
  width: number,
  height: number,
  proj: IProjParameters,
  geographic: boolean
): { x: number; y: number } {
  if (!geographic) {
    const unit = proj.to_meter ?? 1;
    return {
      x: Math.hypot(gt[1], gt[4]) * unit,
      y: Math.hypot(gt[2], gt[5]) * unit
    };
  }
  const [, lat] = applyTransform(gt, width / 2, height / 2);
  const phi = (lat * Math.PI) / 180;
  const w = 1 - proj.es * Math.sin(phi) ** 2;
  const perDegreeLat = ((proj.a * (1 - proj.es)) / w ** 1.5) * (Math.PI / 180); // meridian radius M
  const perDegreeLon =
    ((proj.a * Math.cos(phi)) / Math.sqrt(w)) * (Math.PI / 180); // N cos(phi)
  return {
    x: Math.hypot(gt[1] * perDegreeLon, gt[4] * perDegreeLat),
    y: Math.hypot(gt[2] * perDegreeLon, gt[5] * perDegreeLat)
  };
}

/** Twice the signed area (shoelace); positive for counter-clockwise rings. */
function signedArea(ring: number[][]): number {
  let sum = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x0, y0] = ring[i];
    const [x1, y1] = ring[(i + 1) % ring.length];
    sum += x0 * y1 - x1 * y0;
  }
  return sum;
}

function centroidOf(ring: number[][]): [number, number] {
  const area = signedArea(ring);
  if (area === 0) {
    const n = ring.length;
    return [
      ring.reduce((s, p) => s + p[0], 0) / n,
      ring.reduce((s, p) => s + p[1], 0) / n
    ];
  }
  // Relative to the first vertex, so large longitudes do not cost precision.
  const [ox, oy] = ring[0];
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < ring.length; i++) {
    const x0 = ring[i][0] - ox;
    const y0 = ring[i][1] - oy;
    const x1 = ring[(i + 1) % ring.length][0] - ox;
    const y1 = ring[(i + 1) % ring.length][1] - oy;
    const cross = x0 * y1 - x1 * y0;
    cx += (x0 + x1) * cross;
    cy += (y0 + y1) * cross;
  }
  return [ox + cx / (3 * area), oy + cy / (3 * area)];
}

/** Sutherland-Hodgman against one meridian: keeps the side named by `keep`. */
function clipAtLongitude(
  ring: number[][],
  line: number,
  keep: 'west' | 'east'
): number[][] {
  const inside = ([lon]: number[]) =>
    keep === 'west' ? lon <= line : lon >= line;
  const out: number[][] = [];
  for (let i = 0; i < ring.length; i++) {
    const current = ring[i];
    const previous = ring[(i + ring.length - 1) % ring.length];
    const crossing = () => {
      const t = (line - previous[0]) / (current[0] - previous[0]);
      return [line, previous[1] + t * (current[1] - previous[1])];
    };
    if (inside(current)) {
      if (!inside(previous)) {
        out.push(crossing());
      }
      out.push(current);
    } else if (inside(previous)) {
      out.push(crossing());
    }
  }
  return out;
}

function close(ring: number[][]): number[][] {
  if (ring.length === 0) {
    return ring;
  }
  const [first] = ring;
  const last = ring[ring.length - 1];
  return first[0] === last[0] && first[1] === last[1]
    ? ring.map(p => [...p])
    : [...ring.map(p => [...p]), [...first]];
}

function wrapLongitude(lon: number): number {
  const wrapped = ((((lon + 180) % 360) + 360) % 360) - 180;
  return wrapped === -180 && lon > 0 ? 180 : wrapped;
}
