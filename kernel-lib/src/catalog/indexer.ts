// Indexing one object: skip it when the catalog already holds this ETag / version, else read its
// header (the extractor), then upsert its row or record it in quarantine. Every write is an
// idempotent upsert keyed by (project, key, version), so replays, races between bucket events and
// reconcile scans, and restarts after a crash never duplicate a row.
import {
  ChangelabError,
  DatabaseError,
  InvalidRasterError,
  NotFoundError,
  ServiceUnavailableError,
  StorageError
} from '../errors';
import type { IQueryable } from '../db/database';
import type { IObjectInfo } from '../objects/store';
import { extractMetadata, objectByteSource } from './extract';
import type { ICatalogSource } from './sources';
import type { Geometry4326, IImageMetadata } from './types';

export type ExtractOptions = Parameters<typeof extractMetadata>[2];

/** What happened to one object. */
export type IndexOutcome =
  | 'indexed' // new or changed: extracted and upserted
  | 'unchanged' // the catalog already holds this ETag / version
  | 'quarantined' // could not be indexed; recorded with its reason
  | 'still-quarantined' // already in quarantine with this ETag: not read again
  | 'vanished' // removed while we looked at it (treated as a delete)
  | 'failed'; // a transient error outlasted the retries; the next scan tries again

export interface IKnownState {
  /** Live row's ETag and version, keyed by catalog key. */
  images: Map<string, { etag: string; versionId: string | null }>;
  /** ETags in open quarantine, keyed by catalog key. */
  quarantined: Map<string, Set<string>>;
}

export interface IIndexerOptions {
  extract?: ExtractOptions;
  /** Longest time one extraction may take before the file is quarantined. Default 120 s. */
  timeoutMs?: number;
  /** Attempts for transient storage / database errors. Default 4. */
  attempts?: number;
  /**
   * Judges each readable, placeable image before its row is written (the ingest quality gate); an
   * error returned quarantines the file with it instead.
   */
  judge?: (key: string, metadata: IImageMetadata) => Error | undefined;
}

/** Errors worth retrying: the store or the database was briefly unavailable. */
export function isTransient(error: unknown): boolean {
  return error instanceof ServiceUnavailableError || error instanceof DatabaseError || error instanceof StorageError;
}

export const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

/** Retries `work` on transient errors with exponential backoff (250 ms, 500 ms, 1 s, ...). */
export async function withRetry<T>(work: () => Promise<T>, attempts = 4, baseMs = 250): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransient(error)) {
        throw error;
      }
      await sleep(baseMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2));
    }
  }
}

const catalogKey = (source: ICatalogSource, info: IObjectInfo) => source.keyPrefix + info.key;

/** Looks up what the catalog holds for these keys (one query per table). */
export async function knownState(db: IQueryable, project: string, keys: string[]): Promise<IKnownState> {
  const state: IKnownState = { images: new Map(), quarantined: new Map() };
  if (keys.length === 0) {
    return state;
  }
  const images = await db.query<{ object_key: string; etag: string; version_id: string | null }>(
    `SELECT object_key, etag, version_id FROM image_metadata
     WHERE project = $1 AND object_key = ANY($2::text[]) AND deleted_at IS NULL`,
    [project, keys]
  );
  for (const r of images) {
    state.images.set(r.object_key, { etag: r.etag, versionId: r.version_id });
  }
  const quarantined = await db.query<{ object_key: string; etag: string }>(
    `SELECT object_key, etag FROM quarantine WHERE project = $1 AND object_key = ANY($2::text[]) AND NOT resolved`,
    [project, keys]
  );
  for (const r of quarantined) {
    const set = state.quarantined.get(r.object_key) ?? new Set<string>();
    set.add(r.etag);
    state.quarantined.set(r.object_key, set);
  }
  return state;
}

const stateReaders = new WeakMap<IQueryable, GroupWriter<{ project: string; key: string }, IKnownState>>();

/**
 * What the catalog holds for one key. Concurrent lookups on one database share one query (the
 * watcher asks for every event of a burst), as `upsertImage` shares its writes.
 */
export function knownStateOf(db: IQueryable, project: string, key: string): Promise<IKnownState> {
  let reader = stateReaders.get(db);
  if (!reader) {
    reader = new GroupWriter(
      async items => {
        const byProject = new Map<string, string[]>();
        for (const item of items) {
          const keys = byProject.get(item.project);
          if (keys) {
            keys.push(item.key);
          } else {
            byProject.set(item.project, [item.key]);
          }
        }
        const states = new Map<string, IKnownState>();
        for (const [p, keys] of byProject) {
          states.set(p, await knownState(db, p, keys));
        }
        return items.map(item => states.get(item.project)!);
      },
      1000,
      undefined, // reads never conflict
      false
    );
    stateReaders.set(db, reader);
  }
  return reader.submit({ project, key });
}

export function isUnchanged(state: IKnownState, key: string, info: IObjectInfo): 'unchanged' | 'still-quarantined' | null {
  const row = state.images.get(key);
  // S3 listings carry no version id while HEAD does (on versioned buckets): compare versions only
  // when both sides know one, so a scan and an event never see the same object as two.
  const sameVersion = !row?.versionId || !info.versionId || row.versionId === info.versionId;
  if (row && row.etag === info.etag && sameVersion) {
    return 'unchanged';
  }
  if (state.quarantined.get(key)?.has(info.etag)) {
    return 'still-quarantined';
  }
  return null;
}

/** What reading one object decided, before anything is written. */
export type ReadResult =
  | { kind: 'image'; metadata: IImageMetadata }
  | { kind: 'bad'; error: Error }
  | { kind: 'vanished' }
  | { kind: 'failed'; error: Error };

/**
 * Reads one listed object's header and decides what to write: an image row, a quarantine entry
 * (unreadable, not placeable, or refused by `judge`), a delete, or nothing yet (a transient error
 * outlasted the retries). Never throws for a bad file.
 */
export async function readObject(
  source: ICatalogSource,
  info: IObjectInfo,
  options: IIndexerOptions = {}
): Promise<ReadResult> {
  const key = catalogKey(source, info);
  let metadata: IImageMetadata;
  try {
    metadata = await withRetry(
      () =>
        withTimeout(
          extractMetadata(
            objectByteSource(source.store, info),
            { key: info.key, size: info.size, etag: info.etag, versionId: info.versionId ?? undefined },
            options.extract
          ),
          options.timeoutMs ?? 120_000,
          key
        ),
      options.attempts ?? 4
    );
  } catch (error) {
    if (error instanceof NotFoundError) {
      return { kind: 'vanished' };
    }
    if (isTransient(error)) {
      return { kind: 'failed', error: error as Error };
    }
    return { kind: 'bad', error: error as Error };
  }
  const tiff = metadata.format === 'GTiff' || metadata.format === 'BigTIFF';
  if (!metadata.footprint || (tiff && metadata.footprint.type === 'Point')) {
    // Readable, but not placeable as a raster: no georeference or an unknown CRS. JPEG / PNG drone
    // stills with EXIF GPS are indexed with a point location; a TIFF without georeference is
    // quarantined even when it carries GPS (the rule: such a GeoTIFF is broken, and it
    // cannot be paired or chipped). Multispectral TIFF stills would need this relaxed.
    const problems = Array.isArray(metadata.extra.problems) ? (metadata.extra.problems as unknown[]).map(String) : [];
    const reason =
      problems.find(p => /georeference|CRS|geotransform/i.test(p)) ??
      problems[0] ??
      'the image cannot be placed on a map: no georeference and no GPS position';
    return { kind: 'bad', error: new InvalidRasterError(`${key}: ${reason}`, { key, code: 'not-placeable', reason, problems }) };
  }
  const rejected = options.judge?.(key, metadata);
  if (rejected) {
    return { kind: 'bad', error: rejected };
  }
  return { kind: 'image', metadata };
}

/** Writes what `readObject` decided. Throws only when the database itself cannot be written. */
export async function writeObject(
  db: IQueryable,
  project: string,
  source: ICatalogSource,
  info: IObjectInfo,
  read: ReadResult,
  options: IIndexerOptions = {}
): Promise<{ outcome: IndexOutcome; id?: number; error?: Error }> {
  const key = catalogKey(source, info);
  switch (read.kind) {
    case 'vanished':
      await withRetry(() => softDelete(db, project, [key]), options.attempts ?? 4);
      return { outcome: 'vanished' };
    case 'failed':
      return { outcome: 'failed', error: read.error };
    case 'bad':
      await withRetry(() => quarantine(db, project, key, info, read.error), options.attempts ?? 4);
      return { outcome: 'quarantined', error: read.error };
    case 'image': {
      const id = await withRetry(() => upsertImage(db, project, key, info, read.metadata), options.attempts ?? 4);
      return { outcome: 'indexed', id: id ?? undefined };
    }
  }
}

class ExtractionTimeout extends InvalidRasterError {}

async function withTimeout<T>(work: Promise<T>, ms: number, key: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ExtractionTimeout(`reading the header of ${key} took longer than ${ms / 1000} s`, { key })),
      ms
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** JSON that PostgreSQL's jsonb accepts: no NUL characters, no NaN / Infinity. */
function jsonb(value: unknown): string {
  return JSON.stringify(value ?? {}, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)).replace(
    /\\u0000/g,
    ''
  );
}

/** One image row's values, in the order of `UPSERT_COLUMNS`. */
type ImageRowValues = unknown[];

/** The unnest() arrays of a batched upsert: column, SQL array type. */
const UPSERT_COLUMNS: [string, string][] = [
  ['project', 'text'],
  ['object_key', 'text'],
  ['etag', 'text'],
  ['version_id', 'text'],
  ['size', 'bigint'],
  ['modified_at', 'timestamptz'],
  ['format', 'text'],
  ['width', 'int'],
  ['height', 'int'],
  ['bands', 'int'],
  ['data_type', 'text'],
  ['nodata', 'float8'],
  ['compression', 'text'],
  ['tiled', 'bool'],
  ['overviews', 'int'],
  ['is_cog', 'bool'],
  ['crs_epsg', 'int'],
  ['crs_wkt', 'text'],
  ['transform', 'text'], // a float8[] literal per row: unnest would flatten a 2-D array
  ['gsd_x', 'numeric'],
  ['gsd_y', 'numeric'],
  ['footprint', 'bytea'], // WKB: PostGIS parses GeoJSON ~100x slower (0.4 ms a 69-vertex footprint)
  ['location', 'bytea'],
  ['footprint_simple', 'bool'],
  ['centroid_lon', 'float8'],
  ['centroid_lat', 'float8'],
  ['capture_time', 'timestamptz'],
  ['capture_time_source', 'text'],
  ['gps_lat', 'float8'],
  ['gps_lon', 'float8'],
  ['gps_alt', 'float8'],
  ['sha256', 'text'],
  ['extra', 'text']
];

/**
 * Inserts or updates many (project, key, version) rows in one statement; an older read (by the
 * object's modification time) never overwrites a newer one. Clears soft deletes, resolves the
 * keys' open quarantine entries and retires other versions of the keys. Each key appears at most
 * once per call. Returns the row ids by input position (null where a newer row was kept).
 */
async function upsertImages(db: IQueryable, rows: ImageRowValues[]): Promise<(number | null)[]> {
  const arrays = UPSERT_COLUMNS.map((_, c) => rows.map(r => r[c]));
  const input = UPSERT_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
  const names = UPSERT_COLUMNS.map(([name]) => name).join(', ');
  const result = await db.query<{ id: string; project: string; object_key: string }>(
    `WITH input AS (
       SELECT * FROM unnest(${input}) AS t(${names})
     ),
     up AS (
       INSERT INTO image_metadata (project, object_key, etag, version_id, size, modified_at, format, width, height,
         bands, data_type, nodata, compression, tiled, overviews, is_cog, crs_epsg, crs_wkt, transform, gsd_x, gsd_y,
         footprint, location, centroid, capture_time, capture_time_source, gps_lat, gps_lon, gps_alt, sha256, extra)
       SELECT project, object_key, etag, version_id, size, modified_at, format, width, height, bands, data_type, nodata,
         compression, tiled, overviews, is_cog, crs_epsg, crs_wkt, transform::float8[], gsd_x, gsd_y,
         -- Valid, so intersections in pairs.discover never fail on one bad ring.
         -- ST_MakeValid (GEOS) cost more than the rest of the row; footprints are simple rings by
         -- construction, so only those that isSimpleFootprint cannot vouch for go through it.
         CASE WHEN footprint_simple THEN ST_Multi(ST_GeomFromWKB(footprint, 4326))
              ELSE ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB(footprint, 4326)), 3)) END,
         ST_GeomFromWKB(location, 4326),
         CASE WHEN centroid_lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(centroid_lon, centroid_lat), 4326) END,
         capture_time, capture_time_source, gps_lat, gps_lon, gps_alt, sha256, extra::jsonb
       FROM input
       ON CONFLICT (project, object_key, (coalesce(version_id, ''))) DO UPDATE SET
         etag = EXCLUDED.etag, size = EXCLUDED.size, modified_at = EXCLUDED.modified_at, format = EXCLUDED.format,
         width = EXCLUDED.width, height = EXCLUDED.height, bands = EXCLUDED.bands, data_type = EXCLUDED.data_type,
         nodata = EXCLUDED.nodata, compression = EXCLUDED.compression, tiled = EXCLUDED.tiled,
         overviews = EXCLUDED.overviews, is_cog = EXCLUDED.is_cog, crs_epsg = EXCLUDED.crs_epsg,
         crs_wkt = EXCLUDED.crs_wkt, transform = EXCLUDED.transform, gsd_x = EXCLUDED.gsd_x, gsd_y = EXCLUDED.gsd_y,
         footprint = EXCLUDED.footprint, location = EXCLUDED.location, centroid = EXCLUDED.centroid,
         capture_time = EXCLUDED.capture_time, capture_time_source = EXCLUDED.capture_time_source,
         gps_lat = EXCLUDED.gps_lat, gps_lon = EXCLUDED.gps_lon, gps_alt = EXCLUDED.gps_alt,
         sha256 = EXCLUDED.sha256, extra = EXCLUDED.extra, indexed_at = now(), deleted_at = NULL
       WHERE image_metadata.modified_at IS NULL OR EXCLUDED.modified_at IS NULL
          OR EXCLUDED.modified_at >= image_metadata.modified_at
       RETURNING id, project, object_key, version_id
     ),
     resolved AS (
       UPDATE quarantine q SET resolved = true, last_seen = now()
       FROM up WHERE q.project = up.project AND q.object_key = up.object_key AND NOT q.resolved
     ),
     retired AS (
       UPDATE image_metadata m SET deleted_at = now()
       FROM up WHERE m.project = up.project AND m.object_key = up.object_key AND m.deleted_at IS NULL
         AND coalesce(m.version_id, '') <> coalesce(up.version_id, '')
     )
     SELECT id::text AS id, project, object_key FROM up`,
    arrays
  );
  const ids = new Map(result.map(r => [`${r.project}\0${r.object_key}`, Number(r.id)]));
  return rows.map(r => ids.get(`${r[0]}\0${r[1]}`) ?? null);
}

/**
 * Group commit: writes that arrive while a statement runs go together into the next one, so a lone
 * write is not delayed and a burst of them costs a few statements (and commits) instead of one each.
 * Items with the same `slot` never share a statement (ON CONFLICT cannot touch a row twice); without
 * `slot`, none conflict. A failed batch of writes is retried one item at a time so that one bad row
 * fails alone — unless `split` is false (reads) or the database is unreachable, where that would
 * only multiply the failing statements: then the whole batch fails.
 */
class GroupWriter<T, R> {
  private readonly queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
    private readonly slot?: (item: T) => string,
    private readonly split = true
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running) {
      return;
    }
    this.running = true;
    try {
      while (this.queue.length) {
        const batch: typeof this.queue = [];
        const slots = new Set<string>();
        for (let i = 0; i < this.queue.length && batch.length < this.maxBatch; ) {
          const slot = this.slot?.(this.queue[i].item);
          if (slot !== undefined && slots.has(slot)) {
            i++;
            continue;
          }
          if (slot !== undefined) {
            slots.add(slot);
          }
          batch.push(...this.queue.splice(i, 1));
        }
        try {
          const results = await this.write(batch.map(b => b.item));
          batch.forEach((b, i) => b.resolve(results[i]));
        } catch (error) {
          if (batch.length === 1 || !this.split || error instanceof ServiceUnavailableError) {
            batch.forEach(b => b.reject(error));
            continue;
          }
          // One bad row must not fail the others: write them one at a time to find it.
          for (const b of batch) {
            try {
              b.resolve((await this.write([b.item]))[0]);
            } catch (single) {
              b.reject(single);
            }
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}

const imageWriters = new WeakMap<IQueryable, GroupWriter<ImageRowValues, number | null>>();

/**
 * Inserts or updates the row for (project, key, version) — batched with concurrent calls on the
 * same database (see `GroupWriter`). An older read (by the object's modification time) never
 * overwrites a newer one. Clears a soft delete, resolves the key's open quarantine entries and
 * retires other versions of the key, in the same statement.
 */
export async function upsertImage(
  db: IQueryable,
  project: string,
  key: string,
  info: IObjectInfo,
  m: IImageMetadata
): Promise<number | null> {
  let writer = imageWriters.get(db);
  if (!writer) {
    writer = new GroupWriter(rows => upsertImages(db, rows), 256, row => `${row[0]}\0${row[1]}`);
    imageWriters.set(db, writer);
  }
  return writer.submit(imageRowValues(project, key, info, m));
}

/**
 * Whether a footprint is certainly a valid (OGC) polygon or multipolygon, judged conservatively:
 * finite coordinates; each polygon one closed ring of at least four distinct-step vertices whose
 * non-adjacent edges never meet and whose adjacent edges never fold back; polygons of a
 * multipolygon with disjoint bounding boxes. Anything else (holes, near-collinear doubt) answers
 * false and the database repairs it with ST_MakeValid, as it did for every footprint before.
 */
export function isSimpleFootprint(geometry: Geometry4326): boolean {
  if (geometry.type === 'Point') {
    return false;
  }
  const polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  const boxes: number[][] = [];
  for (const polygon of polygons) {
    if (polygon.length !== 1 || !isSimpleRing(polygon[0])) {
      return false;
    }
    const ring = polygon[0];
    const box = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of ring) {
      box[0] = Math.min(box[0], x);
      box[1] = Math.min(box[1], y);
      box[2] = Math.max(box[2], x);
      box[3] = Math.max(box[3], y);
    }
    if (boxes.some(b => b[0] <= box[2] && box[0] <= b[2] && b[1] <= box[3] && box[1] <= b[3])) {
      return false;
    }
    boxes.push(box);
  }
  return polygons.length > 0;
}

/** Sign of the turn a -> b -> c: > 0 left, < 0 right, 0 collinear. */
const turn = (a: number[], b: number[], c: number[]) => (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);

function isSimpleRing(ring: number[][]): boolean {
  const n = ring.length - 1; // edges; the last vertex repeats the first
  if (n < 3 || n > 4096) {
    return false;
  }
  for (const p of ring) {
    if (p.length < 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
      return false;
    }
  }
  if (ring[0][0] !== ring[n][0] || ring[0][1] !== ring[n][1]) {
    return false;
  }
  let area = 0;
  for (let i = 0; i < n; i++) {
    const a = ring[i];
    const b = ring[i + 1];
    const c = ring[(i + 2) % n];
    if (a[0] === b[0] && a[1] === b[1]) {
      return false; // a repeated vertex
    }
    // Adjacent edges meet only at their shared vertex unless one folds back along the other.
    if (turn(a, b, c) === 0 && (c[0] - b[0]) * (b[0] - a[0]) + (c[1] - b[1]) * (b[1] - a[1]) <= 0) {
      return false;
    }
    area += a[0] * b[1] - b[0] * a[1];
  }
  if (!(Math.abs(area) > 0)) {
    return false;
  }
  for (let i = 0; i < n; i++) {
    const a = ring[i];
    const b = ring[i + 1];
    const minX = Math.min(a[0], b[0]);
    const maxX = Math.max(a[0], b[0]);
    const minY = Math.min(a[1], b[1]);
    const maxY = Math.max(a[1], b[1]);
    for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) {
        continue; // the first and last edges share the closing vertex
      }
      const c = ring[j];
      const d = ring[j + 1];
      if (Math.max(c[0], d[0]) < minX || Math.min(c[0], d[0]) > maxX || Math.max(c[1], d[1]) < minY || Math.min(c[1], d[1]) > maxY) {
        continue;
      }
      const d1 = turn(a, b, c);
      const d2 = turn(a, b, d);
      const d3 = turn(c, d, a);
      const d4 = turn(c, d, b);
      // Proper crossings, touches and collinear overlaps all count as meeting (0 is doubt).
      if (d1 * d2 <= 0 && d3 * d4 <= 0) {
        return false;
      }
    }
  }
  return true;
}

/** A geometry as little-endian ISO WKB (2-D), what ST_GeomFromWKB reads. */
export function wkb(geometry: Geometry4326): Buffer {
  const rings = (polygon: number[][][]) => 4 + polygon.reduce((n, ring) => n + 4 + 16 * ring.length, 0);
  const size =
    geometry.type === 'Point'
      ? 21
      : geometry.type === 'Polygon'
        ? 5 + rings(geometry.coordinates)
        : 9 + geometry.coordinates.reduce((n, polygon) => n + 5 + rings(polygon), 0);
  const out = Buffer.alloc(size);
  let at = 0;
  const u8 = (v: number) => (at = out.writeUInt8(v, at));
  const u32 = (v: number) => (at = out.writeUInt32LE(v, at));
  const xy = (p: number[]) => {
    at = out.writeDoubleLE(p[0], at);
    at = out.writeDoubleLE(p[1], at);
  };
  const polygon = (coordinates: number[][][]) => {
    u8(1);
    u32(3);
    u32(coordinates.length);
    for (const ring of coordinates) {
      u32(ring.length);
      ring.forEach(xy);
    }
  };
  if (geometry.type === 'Point') {
    u8(1);
    u32(1);
    xy(geometry.coordinates);
  } else if (geometry.type === 'Polygon') {
    polygon(geometry.coordinates);
  } else {
    u8(1);
    u32(6);
    u32(geometry.coordinates.length);
    geometry.coordinates.forEach(polygon);
  }
  return out;
}

function imageRowValues(project: string, key: string, info: IObjectInfo, m: IImageMetadata): ImageRowValues {
  // A GPS position off the Earth is kept in `extra` (the extractor lists it among the problems),
  // not in the gps columns.
  const gps = m.gps && Math.abs(m.gps.lat) <= 90 && Math.abs(m.gps.lon) <= 180 ? m.gps : null;
  const footprint = m.footprint && m.footprint.type !== 'Point' ? wkb(m.footprint) : null;
  const location =
    m.footprint?.type === 'Point'
      ? wkb(m.footprint)
      : !m.footprint && gps
        ? wkb({ type: 'Point', coordinates: [gps.lon, gps.lat] })
        : null;
  return [
    project,
    key,
    info.etag,
    info.versionId ?? null,
    info.size,
    info.lastModified,
    m.format,
    m.width,
    m.height,
    m.bands,
    m.dataType,
    m.nodata,
    m.compression,
    m.tiled,
    m.overviews,
    m.isCog,
    m.crs?.epsg ?? null,
    m.crs && m.crs.epsg === null ? m.crs.wkt : null,
    m.transform ? `{${m.transform.map(String).join(',')}}` : null,
    m.gsd?.x ?? null,
    m.gsd?.y ?? null,
    footprint,
    location,
    m.footprint && m.footprint.type !== 'Point' ? isSimpleFootprint(m.footprint) : false,
    m.centroid?.[0] ?? (location ? gps?.lon ?? null : null),
    m.centroid?.[1] ?? (location ? gps?.lat ?? null : null),
    m.captureTime,
    m.captureTimeSource,
    gps?.lat ?? null,
    gps?.lon ?? null,
    gps?.alt ?? null,
    m.sha256,
    jsonb({
      ...m.extra,
      crsName: m.crs?.name ?? undefined,
      blockSize: m.blockSize ?? undefined,
      cogProblems: m.cogProblems,
      gps: m.gps && !gps ? m.gps : undefined
    })
  ];
}

/** A user-facing reason and a JSON detail for a file that could not be indexed. */
export function describeFailure(error: unknown): { reason: string; detail: Record<string, unknown> } {
  if (error instanceof ChangelabError) {
    const reason = typeof error.context.reason === 'string' ? error.context.reason : error.message;
    return { reason, detail: { error: error.name, message: error.message, context: error.context } };
  }
  const e = error as Error;
  return {
    reason: `could not be read: ${e?.message ?? String(error)}`,
    detail: { error: e?.name ?? 'Error', message: e?.message ?? String(error), stack: e?.stack?.split('\n').slice(0, 6) }
  };
}

/** Records a failed object (one row per key + ETag; seen again, it updates last_seen). */
export async function quarantine(db: IQueryable, project: string, key: string, info: IObjectInfo, error: unknown) {
  const { reason, detail } = describeFailure(error);
  // The key's live row described a file that was replaced by this bad one: retire it.
  await db.query(
    `WITH q AS (
       INSERT INTO quarantine (project, object_key, etag, version_id, reason, detail)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb)
       ON CONFLICT (project, object_key, etag) DO UPDATE SET
         last_seen = now(), reason = EXCLUDED.reason, detail = EXCLUDED.detail, resolved = false
       RETURNING 1
     )
     UPDATE image_metadata SET deleted_at = now()
     WHERE project = $1 AND object_key = $2 AND deleted_at IS NULL AND etag <> $3 AND EXISTS (SELECT 1 FROM q)`,
    [project, key, info.etag, info.versionId ?? null, reason, jsonb({ ...detail, size: info.size })]
  );
}

/** Marks the keys' rows deleted and their open quarantine entries resolved; returns rows deleted. */
export async function softDelete(db: IQueryable, project: string, keys: string[], before: Date | null = null): Promise<number> {
  if (keys.length === 0) {
    return 0;
  }
  // With `before`, rows (re)indexed since then are left alone: they are newer than the listing.
  const rows = await db.query<{ n: number }>(
    `WITH d AS (
       UPDATE image_metadata SET deleted_at = now()
       WHERE project = $1 AND object_key = ANY($2::text[]) AND deleted_at IS NULL
         AND ($3::timestamptz IS NULL OR indexed_at < $3::timestamptz)
       RETURNING 1
     ),
     q AS (
       UPDATE quarantine SET resolved = true, last_seen = now()
       WHERE project = $1 AND object_key = ANY($2::text[]) AND NOT resolved
         AND ($3::timestamptz IS NULL OR last_seen < $3::timestamptz)
     )
     SELECT count(*)::int AS n FROM d`,
    [project, keys, before]
  );
  return rows[0].n;
}

/**
 * Catalog keys under a source's prefix that are live or in open quarantine. Keys of the
 * workspace store never contain '://', which sets them apart from s3:// and file:// keys.
 */
export async function keysUnder(
  db: IQueryable,
  project: string,
  source: ICatalogSource,
  before: Date | null = null
): Promise<string[]> {
  const prefix = source.keyPrefix + source.listPrefix;
  const foreign = source.keyPrefix === '' ? `AND strpos(object_key, '://') = 0` : '';
  const rows = await db.query<{ object_key: string }>(
    `SELECT object_key FROM image_metadata
       WHERE project = $1 AND deleted_at IS NULL AND starts_with(object_key, $2) ${foreign}
         AND ($3::timestamptz IS NULL OR indexed_at < $3::timestamptz)
     UNION
     SELECT object_key FROM quarantine
       WHERE project = $1 AND NOT resolved AND starts_with(object_key, $2) ${foreign}
         AND ($3::timestamptz IS NULL OR last_seen < $3::timestamptz)`,
    [project, prefix, before]
  );
  return rows.map(r => r.object_key);
}
