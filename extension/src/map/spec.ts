// What a map shows, as JSON: the `data` of an `application/vnd.changelab.map+json` output (written
// by the kernel library's `map(layers, options)`) and what the Map previews panel builds itself.
// Outputs may be old, shared or hand-edited, so `parseMapSpec` checks fields and names the bad one.
import type { FeatureCollection } from 'geojson';
import type { Stretch } from './cog';

export interface IVectorStyle {
  color?: string;
  fillColor?: string;
  weight?: number;
  fillOpacity?: number;
  dashArray?: string;
}

export interface IMapLayerSpec {
  /** Unique in the map; default derived from the position. */
  id?: string;
  name: string;
  kind: 'cog' | 'geojson' | 'footprints';
  /** Capture date (ISO 8601), for the time slider and the swipe's earlier/later sides. */
  date?: string | null;
  opacity?: number;
  visible?: boolean;
  // cog
  /** Catalog image id: read through the service's data route. */
  imageId?: number;
  /** Or a URL geotiff.js can read with range requests. */
  url?: string;
  crs?: { epsg: number | null; wkt?: string | null };
  transform?: number[] | null;
  bands?: number[];
  stretch?: Stretch;
  nodata?: number | null;
  /** [[south, west], [north, east]] in degrees, to fit the view. */
  bounds?: [[number, number], [number, number]];
  // geojson
  data?: FeatureCollection;
  style?: IVectorStyle;
  /** Feature properties shown on a click, in order, with their labels (default: all, as named). */
  labels?: Record<string, string>;
}

export interface IMapSpec {
  layers: IMapLayerSpec[];
  /** [[south, west], [north, east]]; default: the layers' bounds. */
  bounds?: [[number, number], [number, number]];
  /** Swipe between two layers (ids; default the earliest and latest dated images). */
  swipe?: boolean | { left: string; right: string; position?: number };
  /** Show the time slider (default true when layers or footprints have dates). */
  timeSlider?: boolean;
  /** Draw the catalog's footprints for the view (needs the service). */
  footprints?: boolean;
  /** List the inference runs (change maps) over the view, to add as layers (needs the service). */
  inferenceRuns?: boolean;
  /** Default `<base_url>/changelab/`. */
  serviceUrl?: string;
  project?: string;
  /** Pixel height of an inline map; default 420. */
  height?: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a map payload's `data`; returns the spec or the reason it cannot be drawn. */
export function parseMapSpec(raw: unknown): { ok: true; spec: IMapSpec } | { ok: false; error: string } {
  if (!isRecord(raw)) {
    return { ok: false, error: '"data" of a map output must be an object' };
  }
  if (!Array.isArray(raw.layers)) {
    return { ok: false, error: '"data.layers" must be an array' };
  }
  for (const [i, layer] of raw.layers.entries()) {
    if (!isRecord(layer)) {
      return { ok: false, error: `"data.layers[${i}]" must be an object` };
    }
    if (!['cog', 'geojson', 'footprints'].includes(layer.kind as string)) {
      return { ok: false, error: `"data.layers[${i}].kind" must be "cog", "geojson" or "footprints", got ${JSON.stringify(layer.kind)}` };
    }
    if (typeof layer.name !== 'string') {
      return { ok: false, error: `"data.layers[${i}].name" must be a string` };
    }
    if (layer.kind === 'cog' && typeof layer.imageId !== 'number' && typeof layer.url !== 'string') {
      return { ok: false, error: `"data.layers[${i}]" (cog) needs "imageId" or "url"` };
    }
    if (layer.kind === 'cog' && !isRecord(layer.crs) && typeof layer.imageId !== 'number') {
      return { ok: false, error: `"data.layers[${i}]" (cog by url) needs "crs"` };
    }
    if (layer.kind === 'geojson' && (!isRecord(layer.data) || layer.data.type !== 'FeatureCollection')) {
      return { ok: false, error: `"data.layers[${i}].data" must be a GeoJSON FeatureCollection` };
    }
    if (layer.opacity !== undefined && (typeof layer.opacity !== 'number' || layer.opacity < 0 || layer.opacity > 1)) {
      return { ok: false, error: `"data.layers[${i}].opacity" must be a number from 0 to 1` };
    }
  }
  return { ok: true, spec: raw as unknown as IMapSpec };
}
