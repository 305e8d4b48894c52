// Imagery expectations, named in Great Expectations' style, over rows shaped like the catalog's
// `image_metadata` table: the report's three questions ("is every TIF readable?", "is resolution
// <= 1.0 m?", "are GPS coordinates in a valid range?") plus a known CRS, a valid footprint, a
// plausible capture time, COG layout, band count and data type. Each works on a catalog table
// (SQL, PostGIS for footprints) and on a freshly extracted batch (`imageRow`) alike. Unlike GE's
// column expectations, a missing value here is unexpected: an image without a GSD, CRS or capture
// time is exactly what these expectations exist to catch.
import type { IImageMetadata } from '../catalog/types';
import { defineExpectation, isBetween, sqlBetween, sqlLiteral, type IArgSpec } from './expectations';
import type { Row } from './types';

const mostly: Record<string, IArgSpec> = { mostly: { type: 'mostly' } };
const col = (name: string) => (kwargs: Record<string, unknown>) => [(kwargs.column as string | undefined) ?? name];
const columnArg: Record<string, IArgSpec> = { column: { type: 'column' } };

defineExpectation({
  type: 'expect_raster_to_be_readable',
  kind: 'column-map',
  imagery: true,
  description: 'the file was read: a known format with positive width, height and band count',
  args: { ...mostly },
  columns: () => ['format', 'width', 'height', 'bands'],
  multiColumn: true,
  rowMissing: 'any',
  nulls: 'unexpected',
  test: () => ([, w, h, b]) => Number(w) > 0 && Number(h) > 0 && Number(b) > 0,
  sql: ([, w, h, b]) => `${w} > 0 AND ${h} > 0 AND ${b} > 0`
});

defineExpectation({
  type: 'expect_gsd_to_be_at_most',
  kind: 'column-map',
  imagery: true,
  description: 'the ground sample distance (metres, the coarser axis) is at most max_value; unknown GSD is unexpected',
  args: { ...columnArg, max_value: { type: 'number', required: true }, ...mostly },
  columns: col('gsd'),
  nulls: 'unexpected',
  test: kwargs => ([v]) => Number(v) <= (kwargs.max_value as number),
  sql: ([c], kwargs) => `${c} <= ${sqlLiteral(kwargs.max_value)}`
});

const validLatLon = (lat: unknown, lon: unknown, allowNullIsland: boolean) => {
  if (lat === null || lat === undefined || lon === null || lon === undefined) {
    return false;
  }
  const y = Number(lat);
  const x = Number(lon);
  return Number.isFinite(x) && Number.isFinite(y) && Math.abs(y) <= 90 && Math.abs(x) <= 180 && (allowNullIsland || x !== 0 || y !== 0);
};

defineExpectation({
  type: 'expect_column_values_to_be_valid_gps',
  kind: 'column-map',
  imagery: true,
  description:
    'GPS positions lie on the Earth (latitude -90..90, longitude -180..180), both present, and not (0, 0) unless allow_null_island; images without GPS are missing, not unexpected',
  args: {
    lat_column: { type: 'column' },
    lon_column: { type: 'column' },
    allow_null_island: { type: 'boolean' },
    ...mostly
  },
  columns: kwargs => [(kwargs.lat_column as string | undefined) ?? 'gps_lat', (kwargs.lon_column as string | undefined) ?? 'gps_lon'],
  multiColumn: true,
  test: kwargs => ([lat, lon]) => validLatLon(lat, lon, kwargs.allow_null_island === true),
  sql: ([lat, lon], kwargs) =>
    `${lat} IS NOT NULL AND ${lon} IS NOT NULL AND ${lat} BETWEEN -90 AND 90 AND ${lon} BETWEEN -180 AND 180` +
    (kwargs.allow_null_island ? '' : ` AND NOT (${lat} = 0 AND ${lon} = 0)`)
});

/** Signed area (degrees²) of a ring by the shoelace formula. */
function ringArea(ring: number[][]): number {
  let a = 0;
  for (let i = 0; i + 1 < ring.length; i++) {
    a += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  }
  return a / 2;
}

/** A GeoJSON Polygon / MultiPolygon in EPSG:4326 with closed rings, coordinates on the Earth and area. */
export function isValidFootprint(value: unknown): boolean {
  let g = value;
  if (typeof g === 'string') {
    try {
      g = JSON.parse(g);
    } catch {
      return false;
    }
  }
  const geometry = g as { type?: string; coordinates?: unknown };
  const polygons =
    geometry?.type === 'Polygon' ? [geometry.coordinates] : geometry?.type === 'MultiPolygon' ? (geometry.coordinates as unknown[]) : null;
  if (!Array.isArray(polygons) || polygons.length === 0) {
    return false;
  }
  let area = 0;
  for (const polygon of polygons) {
    if (!Array.isArray(polygon) || polygon.length === 0) {
      return false;
    }
    for (const ring of polygon as unknown[]) {
      if (!Array.isArray(ring) || ring.length < 4) {
        return false;
      }
      for (const p of ring as unknown[]) {
        if (!Array.isArray(p) || p.length < 2 || !validLatLon(p[1], p[0], true)) {
          return false;
        }
      }
      const first = ring[0] as number[];
      const last = ring[ring.length - 1] as number[];
      if (first[0] !== last[0] || first[1] !== last[1]) {
        return false;
      }
    }
    area += Math.abs(ringArea(polygon[0] as number[][]));
  }
  return area > 0;
}

defineExpectation({
  type: 'expect_footprint_to_be_valid',
  kind: 'column-map',
  imagery: true,
  description: 'the footprint is a valid, non-empty polygon with area, inside lon -180..180 / lat -90..90; a missing footprint is unexpected',
  args: { ...columnArg, ...mostly },
  columns: col('footprint'),
  nulls: 'unexpected',
  test: () => ([v]) => isValidFootprint(v),
  sql: ([c]) =>
    `ST_IsValid(${c}) AND NOT ST_IsEmpty(${c}) AND ST_Area(${c}) > 0 AND ST_XMin(${c}) >= -180 AND ST_XMax(${c}) <= 180 AND ST_YMin(${c}) >= -90 AND ST_YMax(${c}) <= 90`
});

defineExpectation({
  type: 'expect_crs_to_be_known',
  kind: 'column-map',
  imagery: true,
  description: 'the image has a coordinate reference system (an EPSG code, or a WKT definition unless epsg_in is given, which then lists the codes allowed)',
  args: { epsg_in: { type: 'array' }, ...mostly },
  columns: () => ['crs_epsg', 'crs_wkt'],
  multiColumn: true,
  nulls: 'unexpected',
  test: kwargs => {
    const allowed = Array.isArray(kwargs.epsg_in) ? new Set((kwargs.epsg_in as unknown[]).map(Number)) : null;
    return ([epsg, wkt]) =>
      allowed ? epsg !== null && epsg !== undefined && allowed.has(Number(epsg)) : (epsg !== null && epsg !== undefined) || (typeof wkt === 'string' && wkt.trim() !== '');
  },
  sql: ([epsg, wkt], kwargs) =>
    Array.isArray(kwargs.epsg_in)
      ? (kwargs.epsg_in as unknown[]).length
        ? `${epsg} IN (${(kwargs.epsg_in as unknown[]).map(v => sqlLiteral(Number(v))).join(', ')})`
        : 'FALSE'
      : `${epsg} IS NOT NULL OR btrim(coalesce(${wkt}, '')) <> ''`
});

defineExpectation({
  type: 'expect_raster_to_be_cog',
  kind: 'column-map',
  imagery: true,
  description: 'the file is a valid Cloud-Optimized GeoTIFF (tiled, with overviews, header first)',
  args: { ...columnArg, ...mostly },
  columns: col('is_cog'),
  nulls: 'unexpected',
  test: () => ([v]) => v === true,
  sql: ([c]) => `${c} IS TRUE`
});

/** Default plausible capture times: from 1990 to one day after the run (clock skew). */
function captureBounds(kwargs: Record<string, unknown>): Record<string, unknown> {
  return {
    min_value: kwargs.min_value ?? '1990-01-01T00:00:00Z',
    max_value: kwargs.max_value ?? new Date(Date.now() + 86_400_000).toISOString()
  };
}

defineExpectation({
  type: 'expect_capture_time_to_be_plausible',
  kind: 'column-map',
  imagery: true,
  description: 'the capture time is present and between min_value (default 1990-01-01) and max_value (default: a day from now)',
  args: { ...columnArg, min_value: { type: 'bound' }, max_value: { type: 'bound' }, ...mostly },
  check: kwargs => {
    for (const k of ['min_value', 'max_value']) {
      if (typeof kwargs[k] === 'string' && Number.isNaN(Date.parse(kwargs[k] as string))) {
        return `kwargs.${k} is not a date: ${JSON.stringify(kwargs[k])}`;
      }
    }
    return undefined;
  },
  columns: col('capture_time'),
  nulls: 'unexpected',
  test: kwargs => {
    const b = captureBounds(kwargs);
    const min = Date.parse(String(b.min_value));
    const max = Date.parse(String(b.max_value));
    return ([v]) => {
      const t = v instanceof Date ? v.getTime() : Date.parse(String(v));
      return Number.isFinite(t) && t >= min && t <= max;
    };
  },
  sql: ([c], kwargs) => {
    const b = captureBounds(kwargs);
    return `${c} >= ${sqlLiteral(b.min_value)}::timestamptz AND ${c} <= ${sqlLiteral(b.max_value)}::timestamptz`;
  }
});

defineExpectation({
  type: 'expect_raster_band_count_to_be_between',
  kind: 'column-map',
  imagery: true,
  description: 'the number of bands is between min_value and max_value',
  args: { ...columnArg, min_value: { type: 'integer' }, max_value: { type: 'integer' }, ...mostly },
  check: kwargs => (kwargs.min_value == null && kwargs.max_value == null ? 'min_value and max_value cannot both be null' : undefined),
  columns: col('bands'),
  nulls: 'unexpected',
  test: kwargs => ([v]) => isBetween(Number(v), kwargs),
  sql: ([c], kwargs) => sqlBetween(c, kwargs)
});

defineExpectation({
  type: 'expect_raster_data_type_to_be_in_set',
  kind: 'column-map',
  imagery: true,
  description: "the pixel data type ('uint8', 'uint16', 'float32', ...) is one of value_set",
  args: { ...columnArg, value_set: { type: 'string[]', required: true }, ...mostly },
  columns: col('data_type'),
  nulls: 'unexpected',
  test: kwargs => {
    const set = new Set(kwargs.value_set as string[]);
    return ([v]) => set.has(String(v));
  },
  sql: ([c], kwargs) => `${c} IN (${(kwargs.value_set as string[]).map(sqlLiteral).join(', ')})`
});

/** The image_metadata columns a suite sees for one image, for extracted batches (before insert). */
export function imageRow(m: IImageMetadata): Row {
  return {
    object_key: m.key,
    etag: m.etag,
    size: m.size,
    format: m.format,
    width: m.width,
    height: m.height,
    bands: m.bands,
    data_type: m.dataType,
    nodata: m.nodata,
    compression: m.compression,
    tiled: m.tiled,
    overviews: m.overviews,
    is_cog: m.isCog,
    crs_epsg: m.crs?.epsg ?? null,
    crs_wkt: m.crs && m.crs.epsg === null ? m.crs.wkt : null,
    gsd_x: m.gsd?.x ?? null,
    gsd_y: m.gsd?.y ?? null,
    gsd: m.gsd ? Math.max(m.gsd.x, m.gsd.y) : null,
    footprint: m.footprint && m.footprint.type !== 'Point' ? m.footprint : null,
    capture_time: m.captureTime,
    capture_time_source: m.captureTimeSource,
    // The raw EXIF position (the catalog keeps an off-Earth one out of its gps columns).
    gps_lat: m.gps?.lat ?? null,
    gps_lon: m.gps?.lon ?? null,
    gps_alt: m.gps?.alt ?? null,
    sha256: m.sha256
  };
}

/** The row of a file that could not be read at all: readable fails, every other column is missing. */
export function unreadableRow(key: string, reason: string): Row {
  return { object_key: key, format: null, width: null, height: null, bands: null, read_error: reason };
}
