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
import type { IImageMetadata } from './types';

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

/**
 * Indexes one listed object (the caller has checked it is not unchanged). Never throws for a bad
 * file: it is quarantined. Throws only when the database itself cannot be written.
 */
export async function indexObject(
  db: IQueryable,
  project: string,
  source: ICatalogSource,
  info: IObjectInfo,
  options: IIndexerOptions = {}
): Promise<{ outcome: IndexOutcome; id?: number; error?: Error }> {
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
      await withRetry(() => softDelete(db, project, [key]), options.attempts ?? 4);
      return { outcome: 'vanished' };
    }
    if (isTransient(error)) {
      return { outcome: 'failed', error: error as Error };
    }
    await withRetry(() => quarantine(db, project, key, info, error), options.attempts ?? 4);
    return { outcome: 'quarantined', error: error as Error };
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
    const error = new InvalidRasterError(`${key}: ${reason}`, { key, code: 'not-placeable', reason, problems });
    await withRetry(() => quarantine(db, project, key, info, error), options.attempts ?? 4);
    return { outcome: 'quarantined', error };
  }
  const rejected = options.judge?.(key, metadata);
  if (rejected) {
    await withRetry(() => quarantine(db, project, key, info, rejected), options.attempts ?? 4);
    return { outcome: 'quarantined', error: rejected };
  }
  const id = await withRetry(() => upsertImage(db, project, key, info, metadata), options.attempts ?? 4);
  return { outcome: 'indexed', id: id ?? undefined };
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

/**
 * Inserts or updates the row for (project, key, version). An older read (by the object's
 * modification time) never overwrites a newer one. Clears a soft delete, resolves the key's open
 * quarantine entries and retires other versions of the key — all in one statement.
 */
export async function upsertImage(
  db: IQueryable,
  project: string,
  key: string,
  info: IObjectInfo,
  m: IImageMetadata
): Promise<number | null> {
  // A GPS position off the Earth is kept in `extra` (the extractor lists it among the problems),
  // not in the gps columns.
  const gps = m.gps && Math.abs(m.gps.lat) <= 90 && Math.abs(m.gps.lon) <= 180 ? m.gps : null;
  const footprint = m.footprint && m.footprint.type !== 'Point' ? JSON.stringify(m.footprint) : null;
  const location =
    m.footprint?.type === 'Point'
      ? JSON.stringify(m.footprint)
      : !m.footprint && gps
        ? JSON.stringify({ type: 'Point', coordinates: [gps.lon, gps.lat] })
        : null;
  const rows = await db.query<{ id: string }>(
    `WITH up AS (
       INSERT INTO image_metadata (project, object_key, etag, version_id, size, modified_at, format, width, height,
         bands, data_type, nodata, compression, tiled, overviews, is_cog, crs_epsg, crs_wkt, transform, gsd_x, gsd_y,
         footprint, location, centroid, capture_time, capture_time_source, gps_lat, gps_lon, gps_alt, sha256, extra)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19::float8[], $20, $21,
         -- Valid by construction, so intersections in pairs.discover never fail on one bad ring.
         ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON($22::text), 4326)), 3)),
         ST_SetSRID(ST_GeomFromGeoJSON($23::text), 4326),
         CASE WHEN $24::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($24::float8, $25::float8), 4326) END,
         $26, $27, $28, $29, $30, $31, $32::jsonb)
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
       RETURNING id
     ),
     resolved AS (
       UPDATE quarantine SET resolved = true, last_seen = now()
       WHERE project = $1 AND object_key = $2 AND NOT resolved AND EXISTS (SELECT 1 FROM up)
     ),
     retired AS (
       UPDATE image_metadata SET deleted_at = now()
       WHERE project = $1 AND object_key = $2 AND deleted_at IS NULL
         AND coalesce(version_id, '') <> coalesce($4::text, '') AND EXISTS (SELECT 1 FROM up)
     )
     SELECT id::text AS id FROM up`,
    [
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
      m.transform,
      m.gsd?.x ?? null,
      m.gsd?.y ?? null,
      footprint,
      location,
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
    ]
  );
  return rows.length ? Number(rows[0].id) : null;
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
