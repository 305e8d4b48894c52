// Catalog routes of the service: search, one image, footprints as GeoJSON for a map view and time
// window, the capture dates of a place (for a time slider), the quarantine, and an image's bytes
// with HTTP range requests (or a short-lived presigned redirect on S3) for browser-side COG reading.
import * as path from 'path';
import { fileURLToPath } from 'url';
import type { CatalogImage } from '../catalog/images';
import type { BBox, ISearchQuery } from '../catalog/search';
import { FolderSource, bucketSource } from '../catalog/sources';
import { NotFoundError } from '../errors';
import { S3ObjectStore } from '../objects/s3';
import type { IObjectStore } from '../objects/store';
import type { Workspace } from '../workspace';
import { RangeNotSatisfiableError, type IQueryParam, type IRequestContext, type Router } from './router';

const SEARCH_QUERY: Record<string, IQueryParam> = {
  bbox: { type: 'bbox', description: 'minLon,minLat,maxLon,maxLat in EPSG:4326 degrees; minLon > maxLon crosses the antimeridian' },
  from: { type: 'date', description: 'Captured at or after (ISO 8601)' },
  to: { type: 'date', description: 'Captured at or before (ISO 8601)' },
  minGsd: { type: 'number', description: 'Ground sample distance at least (metres)', minimum: 0 },
  maxGsd: { type: 'number', description: 'Ground sample distance at most (metres)', minimum: 0 },
  crs: { type: 'integer', description: "EPSG code of the image's CRS", minimum: 1 }
};

const IMAGE_SCHEMA = {
  type: 'object',
  required: ['id', 'project', 'key', 'width', 'height', 'bands'],
  properties: {
    id: { type: 'integer' },
    project: { type: 'string' },
    key: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    bands: { type: 'integer' },
    dataType: { type: 'string' },
    nodata: { type: ['number', 'null'] },
    crs: { type: 'object', properties: { epsg: { type: ['integer', 'null'] }, wkt: { type: ['string', 'null'] } } },
    transform: { type: ['array', 'null'], items: { type: 'number' } },
    gsd: { type: ['object', 'null'] },
    footprint: { type: ['object', 'null'], description: 'GeoJSON MultiPolygon, EPSG:4326' },
    captureTime: { type: ['string', 'null'], format: 'date-time' },
    overviews: { type: 'integer' },
    isCog: { type: 'boolean' }
  }
};

const FEATURE_COLLECTION_SCHEMA = {
  type: 'object',
  required: ['type', 'features'],
  properties: {
    type: { const: 'FeatureCollection' },
    features: { type: 'array', items: { type: 'object' } },
    truncated: { type: 'boolean', description: 'More images match than `limit`; zoom in or narrow the time window' }
  }
};

function searchQuery(context: IRequestContext, limit: number): ISearchQuery {
  const q = context.query;
  return {
    bbox: q.bbox as BBox | undefined,
    from: q.from as Date | undefined,
    to: q.to as Date | undefined,
    minGsd: q.minGsd as number | undefined,
    maxGsd: q.maxGsd as number | undefined,
    crs: q.crs as number | undefined,
    project: context.project,
    limit,
    cursor: (q.cursor as string | undefined) ?? null
  };
}

/** Just what a map needs to draw, label and open an image. */
function footprintFeature(image: CatalogImage) {
  return {
    type: 'Feature' as const,
    id: image.id,
    geometry: image.footprint ?? image.location,
    properties: {
      id: image.id,
      key: image.key,
      captureTime: image.captureTime?.toISOString() ?? null,
      gsd: image.gsd ? Math.max(image.gsd.x, image.gsd.y) : null,
      epsg: image.crs.epsg,
      width: image.width,
      height: image.height,
      bands: image.bands,
      dataType: image.dataType,
      nodata: image.nodata,
      overviews: image.overviews,
      isCog: image.isCog,
      quarantined: false
    }
  };
}

/**
 * SQL for the view box `bbox` with its four numbers at parameters $first..$first+3: one envelope,
 * or two when it crosses the antimeridian (minLon > maxLon).
 */
export function envelopeSql(bbox: BBox, first: number): string {
  const [a, b, c, d] = [first, first + 1, first + 2, first + 3].map(i => `$${i}::float8`);
  return bbox[0] <= bbox[2]
    ? `ST_MakeEnvelope(${a}, ${b}, ${c}, ${d}, 4326)`
    : `ST_Collect(ST_MakeEnvelope(${a}, ${b}, 180, ${d}, 4326), ST_MakeEnvelope(-180, ${b}, ${c}, ${d}, 4326))`;
}

/** The store and key an image's bytes are read from: the workspace store, another bucket, or a file. */
export function imageObject(workspace: Workspace, key: string): { store: IObjectStore; key: string } {
  if (key.startsWith('s3://')) {
    const rest = key.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const source = bucketSource(rest.slice(0, slash), '', workspace.objects, workspace.config);
    return { store: source.store, key: rest.slice(slash + 1) };
  }
  if (key.startsWith('file://')) {
    const file = fileURLToPath(key);
    return { store: new FolderSource(path.dirname(file)), key: path.basename(file) };
  }
  return { store: workspace.objects, key };
}

/**
 * One byte range from a `Range` header, for an object of `size` bytes; null for a whole-object
 * read. Several ranges are served as the one range that covers them all (RFC 9110 lets a server
 * coalesce), which is what tile readers asking for neighbouring tiles want anyway.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) {
    return null;
  }
  const m = /^bytes=(.+)$/.exec(header.trim());
  if (!m) {
    throw new RangeNotSatisfiableError(`unsupported Range ${JSON.stringify(header)}: use bytes=start-end`, { range: header });
  }
  let start = Infinity;
  let end = -1;
  for (const part of m[1].split(',')) {
    const r = /^\s*(\d*)-(\d*)\s*$/.exec(part);
    if (!r || (r[1] === '' && r[2] === '')) {
      throw new RangeNotSatisfiableError(`malformed Range ${JSON.stringify(header)}`, { range: header });
    }
    let s: number;
    let e: number;
    if (r[1] === '') {
      // suffix: the last N bytes
      s = Math.max(0, size - Number(r[2]));
      e = size - 1;
    } else {
      s = Number(r[1]);
      e = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
      if (r[2] !== '' && Number(r[2]) < s) {
        throw new RangeNotSatisfiableError(`malformed Range ${JSON.stringify(header)}: end before start`, { range: header });
      }
    }
    if (s >= size) {
      continue;
    }
    start = Math.min(start, s);
    end = Math.max(end, e);
  }
  if (end < start) {
    throw new RangeNotSatisfiableError(`Range ${JSON.stringify(header)} lies beyond the object's ${size} bytes`, { range: header, size });
  }
  return { start, end };
}

/** How long a presigned redirect stays valid: long enough to read a COG's tiles, short enough to leak little. */
export const PRESIGN_SECONDS = 300;

export function registerCatalogRoutes(router: Router): Router {
  router.add({
    method: 'GET',
    path: '/api/catalog/images',
    operationId: 'searchImages',
    summary: 'Images matching place, time, GSD and CRS, ordered by capture time; paged by cursor',
    tags: ['catalog'],
    query: {
      ...SEARCH_QUERY,
      limit: { type: 'integer', description: 'Page size, 1 to 10000 (default 100)', minimum: 1, maximum: 10_000 },
      cursor: { type: 'string', description: '`nextCursor` of the previous page' }
    },
    responses: {
      '200': {
        description: 'One page of images',
        schema: { type: 'object', properties: { images: { type: 'array', items: IMAGE_SCHEMA }, nextCursor: { type: ['string', 'null'] } } }
      }
    },
    handler: async context => {
      const page = await context.workspace.catalog.search(searchQuery(context, (context.query.limit as number | undefined) ?? 100));
      return { json: { images: page.images, nextCursor: page.nextCursor } };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/catalog/images/{id}',
    operationId: 'getImage',
    summary: "One image's metadata",
    tags: ['catalog'],
    responses: { '200': { description: 'The image', schema: IMAGE_SCHEMA }, '404': { description: 'No such image in the project' } },
    handler: async context => ({ json: await projectImage(context) })
  });

  router.add({
    method: 'GET',
    path: '/api/catalog/footprints',
    operationId: 'footprints',
    summary: 'Image footprints (EPSG:4326) for a map view and time window, as a GeoJSON FeatureCollection',
    tags: ['catalog'],
    query: {
      ...SEARCH_QUERY,
      limit: { type: 'integer', description: 'At most this many features, 1 to 10000 (default 5000)', minimum: 1, maximum: 10_000 }
    },
    responses: { '200': { description: 'Footprints with the properties a map needs', content: { 'application/geo+json': { schema: FEATURE_COLLECTION_SCHEMA } } } },
    handler: async context => {
      const limit = (context.query.limit as number | undefined) ?? 5000;
      const page = await context.workspace.catalog.search(searchQuery(context, limit));
      return {
        json: { type: 'FeatureCollection', features: page.images.map(footprintFeature), truncated: page.nextCursor !== null },
        headers: { 'Content-Type': 'application/geo+json' }
      };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/catalog/dates',
    operationId: 'captureDates',
    summary: 'The capture dates (UTC days) of the images in a place and time window, with counts',
    tags: ['catalog'],
    query: { bbox: SEARCH_QUERY.bbox, from: SEARCH_QUERY.from, to: SEARCH_QUERY.to },
    responses: {
      '200': {
        description: 'Dates, oldest first',
        schema: { type: 'object', properties: { dates: { type: 'array', items: { type: 'object', properties: { date: { type: 'string', format: 'date' }, count: { type: 'integer' } } } } } }
      }
    },
    handler: async context => {
      const params: unknown[] = [context.project];
      const where = ['project = $1', 'deleted_at IS NULL', 'capture_time IS NOT NULL'];
      const bbox = context.query.bbox as BBox | undefined;
      if (bbox) {
        params.push(...bbox);
        const envelope = envelopeSql(bbox, 2);
        where.push(`(ST_Intersects(footprint, ${envelope}) OR ST_Intersects(location, ${envelope}))`);
      }
      if (context.query.from) {
        params.push(context.query.from);
        where.push(`capture_time >= $${params.length}`);
      }
      if (context.query.to) {
        params.push(context.query.to);
        where.push(`capture_time <= $${params.length}`);
      }
      const rows = await context.workspace.db.query<{ date: string; count: number }>(
        `SELECT to_char(capture_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS date, count(*)::int AS count
         FROM image_metadata WHERE ${where.join(' AND ')} GROUP BY 1 ORDER BY 1`,
        params
      );
      return { json: { dates: rows } };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/catalog/quarantine',
    operationId: 'quarantine',
    summary: 'Files that could not be indexed, with the reason, newest first',
    tags: ['catalog'],
    query: {
      all: { type: 'boolean', description: 'Also entries since resolved' },
      limit: { type: 'integer', description: 'At most this many (default 1000)', minimum: 1, maximum: 10_000 }
    },
    responses: { '200': { description: 'Quarantine entries', schema: { type: 'object', properties: { entries: { type: 'array', items: { type: 'object' } } } } } },
    handler: async context => {
      const list = await context.workspace.catalog.quarantine({
        project: context.project,
        includeResolved: !!context.query.all,
        limit: context.query.limit as number | undefined
      });
      return { json: { entries: list.entries } };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/catalog/images/{id}/data',
    operationId: 'readImage',
    summary: "The image file's bytes; honours Range (206) so COG readers fetch only the tiles they need",
    tags: ['catalog', 'objects'],
    query: { redirect: { type: 'boolean', description: `On S3: answer 307 to a presigned URL valid ${PRESIGN_SECONDS} s instead of streaming through the service` } },
    headers: { Range: { description: 'bytes=start-end (one range; several are served as the range covering them)' } },
    responses: {
      '200': { description: 'The whole file', content: { 'image/tiff': { schema: { type: 'string', format: 'binary' } } } },
      '206': { description: 'The requested range', content: { 'image/tiff': { schema: { type: 'string', format: 'binary' } } } },
      '307': { description: 'Presigned S3 URL (with ?redirect=true on S3 stores)' },
      '416': { description: 'The range lies beyond the file' }
    },
    handler: async context => {
      const image = await projectImage(context);
      const { store, key } = imageObject(context.workspace, image.key);
      await sendObject(context, store, key, image.format === 'JPEG' ? 'image/jpeg' : image.format === 'PNG' ? 'image/png' : 'image/tiff');
    }
  });
  return router;
}

/**
 * Answers with an object's bytes: the whole object (200), one byte range (206, `Range`, with
 * `If-Range`), or with `?redirect=true` on S3 a presigned URL (307). Used for catalog images and
 * inference outputs alike.
 */
export async function sendObject(context: IRequestContext, store: IObjectStore, key: string, contentType: string): Promise<void> {
  const { request, response } = context;
  if (context.query.redirect && store instanceof S3ObjectStore) {
    const url = await store.client.presignedGetObject(store.bucket, key, PRESIGN_SECONDS);
    response.writeHead(307, { Location: url, 'Cache-Control': 'no-store' });
    response.end();
    return;
  }
  const info = await store.head(key);
  const etag = info.etag.startsWith('W/') || info.etag.startsWith('"') ? info.etag : `"${info.etag}"`;
  const headers: Record<string, string | number> = {
    'Content-Type': contentType,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': info.lastModified.toUTCString(),
    'Cache-Control': 'private, max-age=60'
  };
  let range: { start: number; end: number } | null;
  try {
    range = parseRange(request.headers.range, info.size);
  } catch (error) {
    response.setHeader('Content-Range', `bytes */${info.size}`);
    throw error;
  }
  // If-Range with a different validator: the file changed, send it whole.
  const ifRange = request.headers['if-range'];
  if (range && ifRange && ifRange !== etag && ifRange !== headers['Last-Modified']) {
    range = null;
  }
  if (!range) {
    response.writeHead(200, { ...headers, 'Content-Length': info.size });
    response.end(request.method === 'HEAD' ? undefined : await store.get(key));
    return;
  }
  const length = range.end - range.start + 1;
  const body = request.method === 'HEAD' ? undefined : await store.get(key, { offset: range.start, length });
  response.writeHead(206, { ...headers, 'Content-Length': length, 'Content-Range': `bytes ${range.start}-${range.end}/${info.size}` });
  response.end(body);
}

/** The image of the path's id, only when it belongs to the checked project (another project's is a 404). */
async function projectImage(context: IRequestContext): Promise<CatalogImage> {
  const image = await context.workspace.catalog.get(context.params.id);
  if (image.project !== context.project) {
    throw new NotFoundError(`no image ${context.params.id} in project ${context.project}`, { id: context.params.id, project: context.project });
  }
  return image;
}
