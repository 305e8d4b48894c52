// Pair discovery: two images of the same place at two dates, the raw material of change detection.
// Overlap is the intersection's area over the smaller footprint's, both measured on the spheroid
// (geography), so it is in square metres whatever CRS the images came in and at any latitude.
import type { IQueryable } from '../db/database';
import { card, type IDisplayBundle, type IDisplayable } from '../display';
import { formatTime, IMAGE_COLUMNS, rowToImage, type CatalogImage, type IImageRow } from './images';
import { SearchArgumentError } from './search';

export interface IPairQuery {
  /** Smallest overlap fraction (of the smaller footprint), 0..1. Default 0.5. */
  minOverlap?: number;
  /** Fewest days between the two captures. Default 1. */
  minDaysApart?: number;
  /** Largest coarser-GSD / finer-GSD ratio. Default: no limit. */
  maxGsdRatio?: number;
  /** Default: the workspace's project. */
  project?: string;
  /** Default 100. */
  limit?: number;
}

export interface IPair {
  before: CatalogImage;
  after: CatalogImage;
  /** Area of the intersection over the smaller footprint's area. */
  overlap: number;
  daysApart: number;
  /** Coarser GSD over finer GSD (>= 1); null when a GSD is unknown. */
  gsdRatio: number | null;
}

export class PairList implements IDisplayable {
  constructor(readonly pairs: IPair[]) {}

  toDisplay(): IDisplayBundle {
    return card({
      kind: 'table',
      title: `${this.pairs.length} candidate pair${this.pairs.length === 1 ? '' : 's'}`,
      table: {
        columns: ['before', 'after', 'captured before', 'captured after', 'overlap', 'days apart', 'GSD ratio'],
        rows: this.pairs.map(p => [
          p.before.key,
          p.after.key,
          formatTime(p.before.captureTime),
          formatTime(p.after.captureTime),
          Number(p.overlap.toFixed(4)),
          Number(p.daysApart.toFixed(1)),
          p.gsdRatio === null ? null : Number(p.gsdRatio.toFixed(3))
        ])
      },
      data: { pairs: this.pairs.map(p => ({ before: p.before.id, after: p.after.id, overlap: p.overlap, daysApart: p.daysApart, gsdRatio: p.gsdRatio })) }
    });
  }
}

export async function discoverPairs(db: IQueryable, project: string, q: IPairQuery = {}): Promise<PairList> {
  const minOverlap = q.minOverlap ?? 0.5;
  const minDaysApart = q.minDaysApart ?? 1;
  const limit = q.limit ?? 100;
  if (!(minOverlap >= 0 && minOverlap <= 1)) {
    throw new SearchArgumentError(`minOverlap must be between 0 and 1, not ${minOverlap}`, { minOverlap });
  }
  if (!(minDaysApart >= 0)) {
    throw new SearchArgumentError(`minDaysApart must be >= 0, not ${minDaysApart}`, { minDaysApart });
  }
  if (q.maxGsdRatio !== undefined && !(q.maxGsdRatio >= 1)) {
    throw new SearchArgumentError(`maxGsdRatio must be >= 1, not ${q.maxGsdRatio}`, { maxGsdRatio: q.maxGsdRatio });
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new SearchArgumentError(`limit must be an integer from 1 to 10000, not ${limit}`, { limit });
  }
  const rows = await db.query<{ before_id: string; after_id: string; overlap: number; days_apart: number; gsd_ratio: number | null }>(
    `WITH candidates AS (
       SELECT a.id AS before_id, b.id AS after_id,
              extract(epoch FROM b.capture_time - a.capture_time)::float8 / 86400 AS days_apart,
              (greatest(a.gsd, b.gsd) / nullif(least(a.gsd, b.gsd), 0))::float8 AS gsd_ratio,
              ST_Area(ST_Intersection(a.footprint, b.footprint)::geography)
                / nullif(least(ST_Area(a.footprint::geography), ST_Area(b.footprint::geography)), 0) AS overlap
       FROM image_metadata a
       JOIN image_metadata b
         ON b.project = a.project AND ST_Intersects(a.footprint, b.footprint) AND b.id <> a.id
       WHERE a.project = $1 AND a.deleted_at IS NULL AND b.deleted_at IS NULL
         AND a.capture_time IS NOT NULL AND b.capture_time IS NOT NULL
         AND (b.capture_time > a.capture_time OR (b.capture_time = a.capture_time AND b.id > a.id))
         AND b.capture_time - a.capture_time >= make_interval(secs => $2::float8 * 86400)
         AND ($3::float8 IS NULL OR greatest(a.gsd, b.gsd) <= $3::float8 * least(a.gsd, b.gsd))
     )
     SELECT before_id::text, after_id::text, overlap::float8 AS overlap, days_apart, gsd_ratio
     FROM candidates WHERE overlap >= $4::float8
     ORDER BY overlap DESC, days_apart DESC, before_id, after_id
     LIMIT $5::int`,
    [q.project ?? project, minDaysApart, q.maxGsdRatio ?? null, minOverlap, limit]
  );
  if (rows.length === 0) {
    return new PairList([]);
  }
  const ids = [...new Set(rows.flatMap(r => [r.before_id, r.after_id]))];
  const images = new Map(
    (await db.query<IImageRow>(`SELECT ${IMAGE_COLUMNS} FROM image_metadata WHERE id = ANY($1::bigint[])`, [ids])).map(r => [
      r.id,
      rowToImage(r)
    ])
  );
  return new PairList(
    rows.map(r => ({
      before: images.get(r.before_id)!,
      after: images.get(r.after_id)!,
      overlap: Math.min(1, r.overlap),
      daysApart: r.days_apart,
      gsdRatio: r.gsd_ratio
    }))
  );
}
