// The catalog of a workspace (`workspace.catalog`): ingest imagery from the object store or a folder,
// search it, discover before/after pairs, list the quarantine, and keep it current with `watch`.
import type { Config } from '../config';
import type { Database } from '../db/database';
import { card, type IDisplayBundle, type IDisplayable } from '../display';
import { NotFoundError } from '../errors';
import type { IObjectStore } from '../objects/store';
import { IMAGE_COLUMNS, rowToImage, type CatalogImage, type IImageRow } from './images';
import { reconcile, type IIngestOptions, type IngestSummary } from './ingest';
import { discoverPairs, type IPairQuery, type PairList } from './pairs';
import { searchImages, type ImagePage, type ISearchQuery } from './search';
import { bucketSource, resolveSource, type ICatalogSource } from './sources';
import { CatalogWatcher, type IWatchOptions } from './watch';

export interface IQuarantineEntry {
  id: number;
  project: string;
  key: string;
  etag: string;
  versionId: string | null;
  reason: string;
  detail: Record<string, unknown>;
  firstSeen: Date;
  lastSeen: Date;
  resolved: boolean;
}

export interface IQuarantineQuery {
  project?: string;
  /** Also entries whose object was since replaced by a good file or removed. Default false. */
  includeResolved?: boolean;
  /** Default 1000. */
  limit?: number;
}

export class QuarantineList implements IDisplayable {
  constructor(readonly entries: IQuarantineEntry[]) {}

  toDisplay(): IDisplayBundle {
    const open = this.entries.filter(e => !e.resolved).length;
    return card({
      kind: 'table',
      title: `quarantine: ${open} file${open === 1 ? '' : 's'} could not be indexed`,
      status: open ? 'warning' : 'ok',
      table: {
        columns: ['key', 'reason', 'first seen', 'last seen', 'resolved'],
        rows: this.entries.map(e => [e.key, e.reason, e.firstSeen.toISOString(), e.lastSeen.toISOString(), e.resolved])
      }
    });
  }
}

export class Catalog {
  /** `catalog.pairs.discover({...})`: before/after pairs of the same place. */
  readonly pairs: { discover: (query?: IPairQuery) => Promise<PairList> };

  constructor(
    private readonly db: Database,
    private readonly objects: IObjectStore,
    private readonly config: Config
  ) {
    this.pairs = { discover: query => discoverPairs(this.db, this.config.project, query) };
  }

  /**
   * Indexes every object under `uriOrPrefix`: a key prefix in the workspace store ('' for all),
   * `s3://bucket/prefix`, or a local file or folder (absolute, `./...` or `file://...`).
   * Unchanged objects (same ETag / version) are skipped, failures quarantined with their reason,
   * rows of removed objects soft-deleted.
   */
  ingest(uriOrPrefix = '', options: IIngestOptions = {}): Promise<IngestSummary> {
    const source = resolveSource(uriOrPrefix, this.objects, this.config);
    return reconcile(this.db, options.project ?? this.config.project, source, options);
  }

  /** Images matching place, time, GSD and CRS, ordered by (capture time, id); paged by cursor. */
  search(query: ISearchQuery = {}): Promise<ImagePage> {
    return searchImages(this.db, this.config.project, query);
  }

  /** Every page of a search, one image at a time. */
  async *iterate(query: Omit<ISearchQuery, 'cursor'> = {}): AsyncIterable<CatalogImage> {
    let cursor: string | null = null;
    do {
      const page: ImagePage = await this.search({ ...query, cursor });
      yield* page.images;
      cursor = page.nextCursor;
    } while (cursor);
  }

  /** One image by id; NotFoundError when there is none (or it was deleted, unless asked for). */
  async get(id: number | string, options: { includeDeleted?: boolean } = {}): Promise<CatalogImage> {
    const numeric = String(id);
    if (!/^\d{1,18}$/.test(numeric)) {
      throw new NotFoundError(`no image ${JSON.stringify(id)}: image ids are positive integers`, { id });
    }
    const [row] = await this.db.query<IImageRow>(
      `SELECT ${IMAGE_COLUMNS} FROM image_metadata WHERE id = $1::bigint ${options.includeDeleted ? '' : 'AND deleted_at IS NULL'}`,
      [numeric]
    );
    if (!row) {
      throw new NotFoundError(`no image ${id} in the catalog`, { id });
    }
    return rowToImage(row);
  }

  /** One image by its catalog key (store key, s3:// or file:// URI); NotFoundError when none is live. */
  async getByKey(key: string, options: { project?: string } = {}): Promise<CatalogImage> {
    const [row] = await this.db.query<IImageRow>(
      `SELECT ${IMAGE_COLUMNS} FROM image_metadata
       WHERE project = $1 AND object_key = $2 AND deleted_at IS NULL ORDER BY indexed_at DESC LIMIT 1`,
      [options.project ?? this.config.project, key]
    );
    if (!row) {
      throw new NotFoundError(`no image with key ${JSON.stringify(key)} in the catalog`, { key });
    }
    return rowToImage(row);
  }

  /** Files that could not be indexed, newest first. */
  async quarantine(query: IQuarantineQuery = {}): Promise<QuarantineList> {
    const rows = await this.db.query<{
      id: string;
      project: string;
      object_key: string;
      etag: string;
      version_id: string | null;
      reason: string;
      detail: Record<string, unknown>;
      first_seen: Date;
      last_seen: Date;
      resolved: boolean;
    }>(
      `SELECT id::text, project, object_key, etag, version_id, reason, detail, first_seen, last_seen, resolved
       FROM quarantine WHERE project = $1 ${query.includeResolved ? '' : 'AND NOT resolved'}
       ORDER BY last_seen DESC, id DESC LIMIT $2::int`,
      [query.project ?? this.config.project, query.limit ?? 1000]
    );
    return new QuarantineList(
      rows.map(r => ({
        id: Number(r.id),
        project: r.project,
        key: r.object_key,
        etag: r.etag,
        versionId: r.version_id,
        reason: r.reason,
        detail: r.detail,
        firstSeen: r.first_seen,
        lastSeen: r.last_seen,
        resolved: r.resolved
      }))
    );
  }

  /**
   * Keeps the catalog current: indexes uploads as they land and reflects deletes, from bucket
   * notifications (S3) or filesystem events (local folder), plus reconcile scans. Returns once
   * listening; `watcher.ready` resolves after the first scan; `await watcher.stop()` ends it.
   */
  watch(options: IWatchOptions = {}): CatalogWatcher {
    let source: ICatalogSource;
    if (options.path) {
      source = resolveSource(options.path, this.objects, this.config);
    } else if (options.bucket) {
      source = bucketSource(options.bucket, options.prefix ?? '', this.objects, this.config);
    } else {
      source = resolveSource(options.prefix ?? '', this.objects, this.config);
    }
    if (options.path && options.prefix) {
      source = { ...source, listPrefix: source.listPrefix + options.prefix };
    }
    return new CatalogWatcher(this.db, options.project ?? this.config.project, source, options);
  }
}
