// Change polygons as map features: pixel rings placed in the image CRS (and in WGS 84 through
// PROJ), optionally simplified (Douglas-Peucker, in pixels) and filtered by area, then written as
// GeoJSON (RFC 7946, EPSG:4326) and GeoPackage 1.4 (an SQLite file, in the image CRS, so areas
// read in metres) that QGIS and GDAL's ogrinfo open.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import proj4 from 'proj4';

import { wkb } from '../catalog/indexer';
import { ConfigError } from '../errors';
import type { IPixelPolygon } from './polygonize';
import type { IGrid } from './raster-source';

export interface IChangePolygon {
  /** Rings in the image CRS, outer first, each closed ([x, y] pairs, last = first). */
  native: number[][][];
  /** The same rings in EPSG:4326 (lon, lat). */
  wgs84: number[][][];
  pixels: number;
  /** Planar area in the image CRS units squared (m² for metre-based CRSs), holes excluded. */
  areaNative: number;
  /** Area on the WGS 84 ellipsoid's authalic sphere in m²; PostGIS recomputes it exactly. */
  areaM2: number;
  meanProbability: number;
}

export interface IPolygonOptions {
  /** Douglas-Peucker tolerance in pixels; 0 (default) keeps every corner of the pixel outline. */
  simplify?: number;
  /** Polygons smaller than this many m² are dropped. Default 0. */
  minArea?: number;
}

const AUTHALIC_RADIUS = 6371007.2;

function ringArea(ring: number[][]): number {
  let a = 0;
  for (let i = 0; i + 1 < ring.length; i++) {
    a += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  }
  return a / 2;
}

/** Area of a lon/lat ring on a sphere (signed, counter-clockwise positive), in m². */
function sphericalRingArea(ring: number[][]): number {
  let total = 0;
  const rad = Math.PI / 180;
  for (let i = 0; i + 1 < ring.length; i++) {
    const [lon1, lat1] = ring[i];
    const [lon2, lat2] = ring[i + 1];
    total += (lon2 - lon1) * rad * (2 + Math.sin(lat1 * rad) + Math.sin(lat2 * rad));
  }
  return (total * AUTHALIC_RADIUS * AUTHALIC_RADIUS) / 2;
}

/** Douglas-Peucker on a closed ring of [x, y, ...] pixel corners. */
function simplifyRing(points: Float64Array, tolerance: number): Float64Array {
  const n = points.length / 2;
  if (tolerance <= 0 || n <= 4) {
    return points;
  }
  // Anchor the ring at its first point and the point farthest from it.
  let far = 0;
  let best = -1;
  for (let i = 1; i < n; i++) {
    const d = (points[2 * i] - points[0]) ** 2 + (points[2 * i + 1] - points[1]) ** 2;
    if (d > best) {
      best = d;
      far = i;
    }
  }
  const keep = new Uint8Array(n + 1);
  keep[0] = keep[far] = keep[n] = 1;
  const at = (i: number) => [points[2 * (i % n)], points[2 * (i % n) + 1]];
  const stack: Array<[number, number]> = [
    [0, far],
    [far, n]
  ];
  while (stack.length) {
    const [a, b] = stack.pop()!;
    const [ax, ay] = at(a);
    const [bx, by] = at(b);
    const length = Math.hypot(bx - ax, by - ay);
    let index = -1;
    let max = tolerance;
    for (let i = a + 1; i < b; i++) {
      const [px, py] = at(i);
      const d = length === 0 ? Math.hypot(px - ax, py - ay) : Math.abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length;
      if (d > max) {
        max = d;
        index = i;
      }
    }
    if (index >= 0) {
      keep[index] = 1;
      stack.push([a, index], [index, b]);
    }
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (keep[i]) {
      out.push(points[2 * i], points[2 * i + 1]);
    }
  }
  return out.length >= 6 ? Float64Array.from(out) : points;
}

/** Places pixel polygons in the image CRS and in WGS 84, simplified and filtered. */
export function toChangePolygons(polygons: IPixelPolygon[], grid: IGrid, options: IPolygonOptions = {}): IChangePolygon[] {
  const t = grid.transform;
  if (!grid.proj4) {
    throw new ConfigError(`the image CRS (${grid.crsName ?? `EPSG:${grid.epsg}`}) has no PROJ definition; polygons cannot be placed in EPSG:4326`, {
      epsg: grid.epsg
    });
  }
  const toWgs84 = proj4(grid.proj4, 'EPSG:4326');
  const out: IChangePolygon[] = [];
  for (const polygon of polygons) {
    const native: number[][][] = [];
    const wgs84: number[][][] = [];
    for (const [index, ring] of polygon.rings.entries()) {
      const simplified = simplifyRing(ring, options.simplify ?? 0);
      if (index > 0 && simplified.length < 6) {
        continue;
      }
      const placed: number[][] = [];
      for (let i = 0; i < simplified.length; i += 2) {
        const col = simplified[i];
        const row = simplified[i + 1];
        placed.push([t[0] + col * t[1] + row * t[2], t[3] + col * t[4] + row * t[5]]);
      }
      placed.push(placed[0]);
      // RFC 7946 and OGC: outer rings counter-clockwise, holes clockwise (on the map).
      const orientation = ringArea(placed);
      if ((index === 0 && orientation < 0) || (index > 0 && orientation > 0)) {
        placed.reverse();
      }
      native.push(placed);
      wgs84.push(placed.map(p => toWgs84.forward([p[0], p[1]]) as number[]));
    }
    const areaNative = native.reduce((sum, ring, i) => sum + (i === 0 ? 1 : -1) * Math.abs(ringArea(ring)), 0);
    const areaM2 = wgs84.reduce((sum, ring, i) => sum + (i === 0 ? 1 : -1) * Math.abs(sphericalRingArea(ring)), 0);
    if (areaM2 < (options.minArea ?? 0)) {
      continue;
    }
    out.push({ native, wgs84, pixels: polygon.pixels, areaNative, areaM2, meanProbability: polygon.meanProbability });
  }
  return out;
}

export interface IFeatureProperties {
  runId: string;
  model: string;
  modelVersion: string;
}

/** A GeoJSON FeatureCollection (EPSG:4326, lon/lat) of the change polygons. */
export function changePolygonsGeoJson(polygons: IChangePolygon[], properties: IFeatureProperties): string {
  const round = (v: number) => Math.round(v * 1e9) / 1e9;
  return JSON.stringify({
    type: 'FeatureCollection',
    features: polygons.map((p, i) => ({
      type: 'Feature',
      id: i + 1,
      properties: {
        id: i + 1,
        run_id: properties.runId,
        model: properties.model,
        model_version: properties.modelVersion,
        area_m2: p.areaM2,
        area_crs: p.areaNative,
        pixels: p.pixels,
        mean_probability: Number.isNaN(p.meanProbability) ? null : p.meanProbability
      },
      geometry: { type: 'Polygon', coordinates: p.wgs84.map(r => r.map(([x, y]) => [round(x), round(y)])) }
    }))
  });
}

/** GeoPackage binary geometry: 'GP', version 0, flags (little-endian, xy envelope), SRS id, envelope, WKB. */
function gpkgGeometry(rings: number[][][], srsId: number): Buffer {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x, y] of rings[0]) {
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const header = Buffer.alloc(8 + 32);
  header.write('GP', 0, 'latin1');
  header.writeUInt8(0, 2);
  header.writeUInt8(0b0000_0011, 3); // envelope [minx, maxx, miny, maxy], little-endian
  header.writeInt32LE(srsId, 4);
  header.writeDoubleLE(minX, 8);
  header.writeDoubleLE(maxX, 16);
  header.writeDoubleLE(minY, 24);
  header.writeDoubleLE(maxY, 32);
  return Buffer.concat([header, wkb({ type: 'Polygon', coordinates: rings })]);
}

function epsgWkt(code: number): string | null {
  try {
    const dir = join(dirname(require.resolve('epsg-index/package.json')), 's');
    const raw = JSON.parse(readFileSync(join(dir, `${code}.json`), 'utf8')) as { wkt?: string };
    return raw.wkt ?? null;
  } catch {
    return null;
  }
}

interface ISqlJsDatabase {
  run(sql: string, params?: unknown[]): void;
  prepare(sql: string): { run(params: unknown[]): void; free(): void };
  export(): Uint8Array;
  close(): void;
}

/** A GeoPackage 1.4 file with one feature table `change_polygons` in the image CRS. */
export async function changePolygonsGeoPackage(polygons: IChangePolygon[], grid: IGrid, properties: IFeatureProperties): Promise<Uint8Array> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const initSqlJs = require('sql.js') as () => Promise<{ Database: new () => ISqlJsDatabase }>;
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  try {
    const srsId = grid.epsg ?? 0;
    const wkt = grid.epsg ? epsgWkt(grid.epsg) : null;
    if (grid.epsg && !wkt) {
      throw new ConfigError(`no WKT for EPSG:${grid.epsg}; the GeoPackage cannot describe its CRS`, { epsg: grid.epsg });
    }
    db.run('PRAGMA application_id = 1196444487'); // 'GPKG'
    db.run('PRAGMA user_version = 10400');
    db.run(`CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
      organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)`);
    db.run(`CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
      description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
      min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
      CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))`);
    db.run(`CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
      srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
      CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
      CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
      CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))`);
    const srs = db.prepare('INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)');
    srs.run(['Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system']);
    srs.run(['Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system']);
    srs.run([
      'WGS 84 geodetic',
      4326,
      'EPSG',
      4326,
      'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]',
      'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid'
    ]);
    if (grid.epsg && grid.epsg !== 4326) {
      srs.run([grid.crsName ?? `EPSG:${grid.epsg}`, grid.epsg, 'EPSG', grid.epsg, wkt, '']);
    }
    srs.free();
    db.run(`CREATE TABLE change_polygons (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom POLYGON, run_id TEXT, model TEXT,
      model_version TEXT, area_m2 DOUBLE, area_crs DOUBLE, pixels INTEGER, mean_probability DOUBLE)`);
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    const insert = db.prepare('INSERT INTO change_polygons (geom, run_id, model, model_version, area_m2, area_crs, pixels, mean_probability) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    db.run('BEGIN');
    for (const p of polygons) {
      for (const [x, y] of p.native[0]) {
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
        minY = Math.min(minY, y);
        maxY = Math.max(maxY, y);
      }
      insert.run([
        gpkgGeometry(p.native, srsId),
        properties.runId,
        properties.model,
        properties.modelVersion,
        p.areaM2,
        p.areaNative,
        p.pixels,
        Number.isNaN(p.meanProbability) ? null : p.meanProbability
      ]);
    }
    db.run('COMMIT');
    insert.free();
    const extent = polygons.length ? [minX, minY, maxX, maxY] : [null, null, null, null];
    db.run(
      `INSERT INTO gpkg_contents (table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, srs_id)
       VALUES ('change_polygons', 'features', 'change_polygons', ?, ?, ?, ?, ?, ?)`,
      [`change polygons of run ${properties.runId} (${properties.model} ${properties.modelVersion})`, ...extent, srsId]
    );
    db.run(`INSERT INTO gpkg_geometry_columns VALUES ('change_polygons', 'geom', 'POLYGON', ?, 0, 0)`, [srsId]);
    return db.export();
  } finally {
    db.close();
  }
}
