// Inference-run routes of the service, for change maps on the Map previews panel: the project's
// inference runs (those over a map view), one run, its change polygons as GeoJSON for a view, and
// the bytes of its output COGs (probability, mask, confusion) with range requests, so the browser
// draws them with the same COG reader as catalog images. Runs and polygons of another project are
// 404s, like the other routes.
import * as path from 'path';
import { pathToFileURL } from 'url';
import { NotFoundError } from '../errors';
import type { BBox } from '../catalog/search';
import { envelopeSql, imageObject, sendObject } from './catalog-routes';
import { BadRequestError, type IRequestContext, type Router } from './router';

/** The raster outputs a run can have, in the order the panel offers them. */
const RUN_RASTERS = ['probability', 'mask', 'confusion'] as const;

interface IRunRow {
  id: string;
  project: string;
  model_name: string;
  model_version: string;
  model_sha256: string;
  before_key: string;
  after_key: string;
  before_image_id: string | number | null;
  after_image_id: string | number | null;
  crs_epsg: number | null;
  outputs: Record<string, string> | string;
  options: Record<string, unknown> | string;
  metrics: Record<string, number> | string | null;
  polygon_count: number | null;
  changed_pixels: string | number | null;
  footprint: string | null;
  started_at: Date | string;
  finished_at: Date | string;
  before_capture: Date | string | null;
  after_capture: Date | string | null;
}

const RUN_SCHEMA = {
  type: 'object',
  required: ['id', 'model', 'before', 'after', 'outputs', 'rasters'],
  properties: {
    id: { type: 'string' },
    project: { type: 'string' },
    model: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' }, sha256: { type: 'string' } } },
    before: { type: 'object', properties: { key: { type: 'string' }, imageId: { type: ['integer', 'null'] }, captureTime: { type: ['string', 'null'] } } },
    after: { type: 'object', properties: { key: { type: 'string' }, imageId: { type: ['integer', 'null'] }, captureTime: { type: ['string', 'null'] } } },
    epsg: { type: ['integer', 'null'], description: 'CRS of the output COGs' },
    outputs: { type: 'object', description: 'Object keys (or local paths) of the outputs: probability, mask, confusion, geojson, gpkg', additionalProperties: { type: 'string' } },
    rasters: {
      type: 'object',
      description: 'For each raster output: its object key and the service path that serves its bytes with range requests',
      additionalProperties: { type: 'object', properties: { key: { type: 'string' }, data: { type: 'string' } } }
    },
    options: { type: 'object' },
    metrics: { type: ['object', 'null'], description: 'IoU, F1, precision, recall and confusion counts against a ground truth' },
    polygonCount: { type: ['integer', 'null'] },
    changedPixels: { type: ['integer', 'null'] },
    footprint: { type: ['object', 'null'], description: 'GeoJSON Polygon, EPSG:4326' },
    bounds: { type: ['array', 'null'], description: '[[south, west], [north, east]] in degrees' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' }
  }
};

const parseJson = <T>(v: T | string | null): T | null => (typeof v === 'string' ? (JSON.parse(v) as T) : v);
const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());
const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

const SELECT_RUN = `
  SELECT r.id, r.project, r.model_name, r.model_version, r.model_sha256, r.before_key, r.after_key,
         r.before_image_id, r.after_image_id, r.crs_epsg, r.outputs, r.options, r.metrics, r.polygon_count,
         r.changed_pixels, ST_AsGeoJSON(r.footprint) AS footprint, r.started_at, r.finished_at,
         b.capture_time AS before_capture, a.capture_time AS after_capture
  FROM inference_runs r
  LEFT JOIN image_metadata b ON b.id = r.before_image_id
  LEFT JOIN image_metadata a ON a.id = r.after_image_id`;

function runJson(row: IRunRow) {
  const outputs = parseJson(row.outputs) ?? {};
  const footprint = row.footprint ? (JSON.parse(row.footprint) as { type: string; coordinates: number[][][] }) : null;
  let bounds: [[number, number], [number, number]] | null = null;
  if (footprint) {
    const ring = footprint.coordinates[0];
    const lons = ring.map(p => p[0]);
    const lats = ring.map(p => p[1]);
    bounds = [
      [Math.min(...lats), Math.min(...lons)],
      [Math.max(...lats), Math.max(...lons)]
    ];
  }
  const rasters: Record<string, { key: string; data: string }> = {};
  for (const name of RUN_RASTERS) {
    if (outputs[name]) {
      rasters[name] = { key: outputs[name], data: `api/inference/runs/${encodeURIComponent(row.id)}/outputs/${name}/data` };
    }
  }
  return {
    id: row.id,
    project: row.project,
    model: { name: row.model_name, version: row.model_version, sha256: row.model_sha256 },
    before: { key: row.before_key, imageId: num(row.before_image_id), captureTime: iso(row.before_capture) },
    after: { key: row.after_key, imageId: num(row.after_image_id), captureTime: iso(row.after_capture) },
    epsg: row.crs_epsg,
    outputs,
    rasters,
    options: parseJson(row.options) ?? {},
    metrics: parseJson(row.metrics),
    polygonCount: row.polygon_count,
    changedPixels: num(row.changed_pixels),
    footprint,
    bounds,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at)
  };
}

/** The envelope of a bbox query value (two boxes when it crosses the antimeridian), as SQL over params from `first`. */
function checkRunId(id: string): string {
  if (!id || id.length > 200 || /[\u0000-\u001f]/.test(id)) {
    throw new BadRequestError(`run id must be 1 to 200 printable characters, not ${JSON.stringify(id)}`, { parameter: 'id', value: id });
  }
  return id;
}

/** The run of the path's id, only when it belongs to the checked project (another project's is a 404). */
async function projectRun(context: IRequestContext): Promise<IRunRow> {
  const id = checkRunId(context.params.id);
  const rows = await context.workspace.db.query<IRunRow>(`${SELECT_RUN} WHERE r.id = $1 AND r.project = $2`, [id, context.project]);
  if (!rows.length) {
    throw new NotFoundError(`no inference run ${id} in project ${context.project}`, { id, project: context.project });
  }
  return rows[0];
}

export function registerInferRoutes(router: Router): Router {
  router.add({
    method: 'GET',
    path: '/api/inference/runs',
    operationId: 'inferenceRuns',
    summary: 'Inference runs (change maps), newest first; with `bbox`, only those whose scene meets the view',
    tags: ['inference'],
    query: {
      bbox: { type: 'bbox', description: 'minLon,minLat,maxLon,maxLat in EPSG:4326 degrees; minLon > maxLon crosses the antimeridian' },
      limit: { type: 'integer', description: 'At most this many (default 100)', minimum: 1, maximum: 10_000 }
    },
    responses: { '200': { description: 'Runs, newest first', schema: { type: 'object', properties: { runs: { type: 'array', items: RUN_SCHEMA } } } } },
    handler: async context => {
      const params: unknown[] = [context.project];
      const where = ['r.project = $1'];
      const bbox = context.query.bbox as BBox | undefined;
      if (bbox) {
        params.push(...bbox);
        where.push(`ST_Intersects(r.footprint, ${envelopeSql(bbox, 2)})`);
      }
      params.push((context.query.limit as number | undefined) ?? 100);
      const rows = await context.workspace.db.query<IRunRow>(
        `${SELECT_RUN} WHERE ${where.join(' AND ')} ORDER BY r.finished_at DESC, r.id LIMIT $${params.length}`,
        params
      );
      return { json: { runs: rows.map(runJson) } };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/inference/runs/{id}',
    operationId: 'inferenceRun',
    summary: 'One inference run: model, pair, outputs, scene metrics',
    tags: ['inference'],
    responses: { '200': { description: 'The run', schema: RUN_SCHEMA }, '404': { description: 'No such run in the project' } },
    handler: async context => ({ json: runJson(await projectRun(context)) })
  });

  router.add({
    method: 'GET',
    path: '/api/inference/runs/{id}/polygons',
    operationId: 'changePolygons',
    summary: "A run's change polygons (EPSG:4326) for a map view, as a GeoJSON FeatureCollection, largest first",
    tags: ['inference'],
    query: {
      bbox: { type: 'bbox', description: 'minLon,minLat,maxLon,maxLat in EPSG:4326 degrees; minLon > maxLon crosses the antimeridian' },
      minArea: { type: 'number', description: 'Only polygons of at least this many m²', minimum: 0 },
      limit: { type: 'integer', description: 'At most this many features, 1 to 50000 (default 10000)', minimum: 1, maximum: 50_000 }
    },
    responses: {
      '200': {
        description: 'Polygons with area (m², on the ellipsoid), pixel count, mean probability, run and model',
        content: {
          'application/geo+json': {
            schema: {
              type: 'object',
              properties: {
                type: { const: 'FeatureCollection' },
                features: { type: 'array', items: { type: 'object' } },
                truncated: { type: 'boolean', description: 'More polygons match than `limit`; zoom in' }
              }
            }
          }
        }
      },
      '404': { description: 'No such run in the project' }
    },
    handler: async context => {
      const run = await projectRun(context);
      const params: unknown[] = [run.id, context.project];
      const where = ['run_id = $1', 'project = $2'];
      const bbox = context.query.bbox as BBox | undefined;
      if (bbox) {
        params.push(...bbox);
        where.push(`ST_Intersects(geom, ${envelopeSql(bbox, 3)})`);
      }
      if (context.query.minArea !== undefined) {
        params.push(context.query.minArea);
        where.push(`area_m2 >= $${params.length}`);
      }
      const limit = (context.query.limit as number | undefined) ?? 10_000;
      params.push(limit + 1);
      const rows = await context.workspace.db.query<{ id: string; geom: string; area_m2: number; pixels: number; mean_probability: number | null }>(
        `SELECT id, ST_AsGeoJSON(geom) AS geom, area_m2, pixels, mean_probability
         FROM change_polygons WHERE ${where.join(' AND ')} ORDER BY area_m2 DESC, id LIMIT $${params.length}`,
        params
      );
      const truncated = rows.length > limit;
      const features = rows.slice(0, limit).map(r => ({
        type: 'Feature' as const,
        id: Number(r.id),
        geometry: JSON.parse(r.geom) as object,
        properties: {
          id: Number(r.id),
          runId: run.id,
          areaM2: Number(r.area_m2),
          pixels: Number(r.pixels),
          meanProbability: r.mean_probability === null ? null : Number(r.mean_probability),
          model: run.model_name,
          modelVersion: run.model_version
        }
      }));
      return { json: { type: 'FeatureCollection', features, truncated }, headers: { 'Content-Type': 'application/geo+json' } };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/inference/runs/{id}/outputs/{name}/data',
    operationId: 'readInferenceOutput',
    summary: "A run's output COG bytes (probability, mask or confusion); honours Range (206) for browser-side COG reading",
    tags: ['inference', 'objects'],
    query: { redirect: { type: 'boolean', description: 'On S3: answer 307 to a short-lived presigned URL instead of streaming through the service' } },
    headers: { Range: { description: 'bytes=start-end (one range; several are served as the range covering them)' } },
    responses: {
      '200': { description: 'The whole file', content: { 'image/tiff': { schema: { type: 'string', format: 'binary' } } } },
      '206': { description: 'The requested range', content: { 'image/tiff': { schema: { type: 'string', format: 'binary' } } } },
      '307': { description: 'Presigned S3 URL (with ?redirect=true on S3 stores)' },
      '400': { description: 'Not one of probability, mask, confusion' },
      '404': { description: 'No such run in the project, or the run has no such output' },
      '416': { description: 'The range lies beyond the file' }
    },
    handler: async context => {
      const name = context.params.name;
      if (!(RUN_RASTERS as readonly string[]).includes(name)) {
        throw new BadRequestError(`output must be one of ${RUN_RASTERS.join(', ')}, not ${JSON.stringify(name)}`, { parameter: 'name', value: name });
      }
      const run = await projectRun(context);
      const key = (parseJson(run.outputs) ?? {})[name];
      if (!key) {
        throw new NotFoundError(`inference run ${run.id} has no ${name} output`, { id: run.id, output: name });
      }
      // Outputs of file inputs were written beside them (absolute paths); otherwise keys of the store.
      const where = imageObject(context.workspace, path.isAbsolute(key) ? pathToFileURL(key).href : key);
      await sendObject(context, where.store, where.key, 'image/tiff');
    }
  });
  return router;
}
