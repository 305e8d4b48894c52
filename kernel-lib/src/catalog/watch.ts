// Real-time indexing. S3: MinIO bucket notifications (ListenBucketNotification) for uploads and
// deletes; a local folder: filesystem events. Both with a reconcile scan at start and on an
// interval, which catches whatever happened while no watcher ran (or while events were lost).
// Exactly-once comes from the indexer, not from the events: every write is an idempotent upsert
// keyed by (project, key, version), work on one key is serialized, and an event re-reads the
// object's current state (head) rather than trusting what the event says.
import * as fs from 'fs';
import Redis from 'ioredis';
import { NotificationConfig, QueueConfig } from 'minio';
import * as path from 'path';
import type { Database } from '../db/database';
import { NotFoundError, ServiceUnavailableError } from '../errors';
import { S3ObjectStore } from '../objects/s3';
import {
  isUnchanged,
  keysUnder,
  knownStateOf,
  readObject,
  softDelete,
  withRetry,
  writeObject,
  type IIndexerOptions,
  type IndexOutcome
} from './indexer';
import { reconcile, type IngestSummary } from './ingest';
import type { ICatalogSource } from './sources';

export interface IWatchOptions extends IIndexerOptions {
  /** An S3 bucket (default: the workspace's; needs an S3 store). */
  bucket?: string;
  /** Only keys under this prefix. */
  prefix?: string;
  /** A local folder to watch instead of the object store. */
  path?: string;
  /** Default: the workspace's project. */
  project?: string;
  /**
   * Where bucket events come from. Default 'listen': MinIO's ListenBucketNotification. Or a Redis
   * list that MinIO's Redis notification target (format `access`) appends to: the watcher adds a
   * queue configuration for `arn` to the bucket and reads the list as a shared log, so any number
   * of watchers see every event. Some MinIO builds never flush the listen stream until several
   * events have piled up (the pinned test build does not: its response writer wrapper hides
   * http.Flusher); the Redis target has no such delay.
   */
  events?: 'listen' | IRedisEvents;
  /** Time between reconcile scans. Default 5 minutes. */
  reconcileIntervalMs?: number;
  /** Header reads in flight at once. Default 8. */
  concurrency?: number;
  /** Each object handled: indexed, unchanged, quarantined, deleted ('vanished'), failed. */
  onEvent?: (event: IWatchEvent) => void;
  /** Problems the watcher survives (lost notification stream, failed scan); default: console.error. */
  onError?: (error: Error) => void;
}

/** A Redis list that MinIO's Redis notification target writes bucket events to. */
export interface IRedisEvents {
  /** redis://host:port of the Redis server MinIO's target writes to. */
  redis: string;
  /** The target's key (MINIO_NOTIFY_REDIS_KEY_<ID>). */
  list: string;
  /** The target's ARN, e.g. arn:minio:sqs::CHANGELAB:redis. */
  arn: string;
  /** How often the list is checked for new entries. Default 50 ms. */
  pollMs?: number;
}

/** Entries kept in the event list when it is trimmed (watchers further behind reconcile). */
const LIST_KEEP = 20_000;
const LIST_MAX = 40_000;
const READ_BATCH = 1_000;
/**
 * One atomic step of reading the event list as a log. Trims it to its last LIST_KEEP entries once
 * it holds more than LIST_MAX, counting what was dropped in `<list>:trimmed` so that positions
 * stay absolute; returns {dropped so far, length, up to READ_BATCH entries from position ARGV[3]}
 * (none for a negative position: the caller only wants the end).
 */
const READ_SCRIPT = `local trimmed = tonumber(redis.call('GET', KEYS[2]) or '0')
local n = redis.call('LLEN', KEYS[1])
if n > tonumber(ARGV[1]) then
  local drop = n - tonumber(ARGV[2])
  redis.call('LTRIM', KEYS[1], drop, -1)
  redis.call('INCRBY', KEYS[2], drop)
  trimmed = trimmed + drop
  n = n - drop
end
local pos = tonumber(ARGV[3])
if pos < 0 then return {trimmed, n, {}} end
local from = math.max(pos - trimmed, 0)
return {trimmed, n, redis.call('LRANGE', KEYS[1], from, from + tonumber(ARGV[4]) - 1)}`;

export interface IWatchEvent {
  /** Catalog key. */
  key: string;
  outcome: IndexOutcome;
  /** What triggered it: a bucket / filesystem event or a reconcile scan. */
  via: 'event' | 'reconcile';
  id?: number;
  error?: Error;
}

export interface IWatchStats {
  /** Notifications / filesystem events received. */
  events: number;
  /** Reconcile scans completed. */
  reconciles: number;
  indexed: number;
  quarantined: number;
  deleted: number;
  failed: number;
  /** Errors survived (streams restarted, scans retried). */
  errors: number;
}

/** Runs work on one key at a time, in arrival order; different keys run concurrently. */
class KeySerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) {
        this.tails.delete(key);
      }
    });
    return next;
  }
}

/**
 * The form-decoded key ('+' for spaces, %XX escapes), as S3 event *targets* (webhooks, queues)
 * send keys. MinIO's ListenBucketNotification sends them raw (probed: "in/ü +%41 x.tif" arrives
 * as is), so the watcher checks the raw key and, when it differs, this decoded one too.
 */
export function decodeEventKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, '%20'));
  } catch {
    return raw;
  }
}

const EVENTS = ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'];

function copyRule(target: QueueConfig, rule: { Id?: string; Event: string[]; Filter?: { Name: string; Value: string }[] }) {
  if (rule.Id) {
    target.setId(rule.Id);
  }
  rule.Event.forEach(e => target.addEvent(e));
  for (const f of rule.Filter ?? []) {
    if (f.Name === 'prefix') {
      target.addFilterPrefix(f.Value);
    } else if (f.Name === 'suffix') {
      target.addFilterSuffix(f.Value);
    }
  }
}

export class CatalogWatcher {
  readonly stats: IWatchStats = { events: 0, reconciles: 0, indexed: 0, quarantined: 0, deleted: 0, failed: 0, errors: 0 };
  /** Resolves when the first reconcile scan has finished. */
  readonly ready: Promise<IngestSummary>;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly keys = new KeySerializer();
  private readonly scheduled = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private scan: Promise<IngestSummary> | undefined;
  private stopListening: () => void = () => undefined;
  private readonly concurrency: number;
  private readonly intervalMs: number;

  constructor(
    private readonly db: Database,
    private readonly project: string,
    private readonly source: ICatalogSource,
    private readonly options: IWatchOptions = {}
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.intervalMs = options.reconcileIntervalMs ?? 300_000;
    // Listen first, then scan: whatever lands between the two is seen by one or the other.
    this.ready = this.listen().then(() => this.reconcileNow());
    this.ready.catch(() => undefined);
  }

  /** Runs a reconcile scan now (or joins the one running). */
  reconcileNow(): Promise<IngestSummary> {
    this.scan ??= (async () => {
      clearTimeout(this.timer);
      try {
        const summary = await reconcile(this.db, this.project, this.source, {
          ...this.options,
          concurrency: this.concurrency,
          progress: false,
          onProgress: undefined,
          signal: this.abort.signal,
          serialize: (key, work) => this.keys.run(key, work),
          onObject: (key, outcome, detail) => this.emit({ key, outcome, via: 'reconcile', ...detail })
        });
        this.stats.reconciles++;
        this.schedule(this.intervalMs);
        return summary;
      } catch (error) {
        this.fail(error);
        // Transient (database or store away): try again soon, backing off up to the interval.
        this.schedule(Math.min(this.intervalMs, 5_000));
        throw error;
      } finally {
        this.scan = undefined;
      }
    })();
    return this.scan;
  }

  /** Stops listening and scanning, and waits for work in flight. */
  async stop(): Promise<void> {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.timer);
    for (const t of this.debounce.values()) {
      clearTimeout(t);
    }
    this.debounce.clear();
    this.stopListening();
    await Promise.allSettled([this.scan, ...this.inFlight]);
  }

  get running(): boolean {
    return !this.stopped;
  }

  private schedule(ms: number) {
    if (this.stopped) {
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reconcileNow().catch(() => undefined), ms);
  }

  private emit(event: IWatchEvent) {
    if (event.outcome === 'indexed') {
      this.stats.indexed++;
    } else if (event.outcome === 'quarantined') {
      this.stats.quarantined++;
    } else if (event.outcome === 'vanished') {
      this.stats.deleted++;
    } else if (event.outcome === 'failed') {
      this.stats.failed++;
    }
    try {
      this.options.onEvent?.(event);
    } catch {
      // a listener's bug must not stop the watcher
    }
  }

  private fail(error: unknown) {
    this.stats.errors++;
    const e = error instanceof Error ? error : new Error(String(error));
    if (this.options.onError) {
      this.options.onError(e);
    } else {
      console.error(`changelab watch: ${e.message}`);
    }
  }

  /** Starts listening; resolves once events are being received (or the first attempt failed). */
  private async listen(): Promise<void> {
    if (this.source.folder) {
      this.listenFolder(this.source.folder);
    } else if (this.source.store instanceof S3ObjectStore) {
      const events = this.options.events ?? 'listen';
      if (events === 'listen') {
        this.listenBucket(this.source.store);
      } else {
        await this.readEventList(this.source.store, events);
      }
    }
  }

  /** An object key from an event target: form-encoded, unlike the listen API's raw keys. */
  private eventKey(bucket: string, record: unknown) {
    const r = record as { s3?: { bucket?: { name?: unknown }; object?: { key?: unknown } } } | null;
    const raw = r?.s3?.object?.key;
    if (r?.s3?.bucket?.name !== bucket || typeof raw !== 'string') {
      return;
    }
    const key = decodeEventKey(raw);
    if (key.startsWith(this.source.listPrefix)) {
      this.stats.events++;
      this.changed(key);
    }
  }

  /** Makes the bucket send its created / removed events to the target, keeping other configurations. */
  private async subscribe(store: S3ObjectStore, arn: string) {
    const current = (await store.client.getBucketNotification(store.bucket)) as unknown as Record<
      'QueueConfiguration' | 'TopicConfiguration' | 'CloudFunctionConfiguration',
      { Id?: string; Queue?: string; Topic?: string; CloudFunction?: string; Event: string[]; Filter?: { Name: string; Value: string }[] }[]
    >;
    const prefix = this.source.listPrefix;
    const covers = (current.QueueConfiguration ?? []).some(
      q =>
        q.Queue === arn &&
        EVENTS.every(e => q.Event.includes(e)) &&
        (q.Filter ?? []).every(f => f.Name === 'prefix' && prefix.startsWith(f.Value))
    );
    if (covers) {
      return;
    }
    // PutBucketNotification replaces the whole configuration: write back what was there.
    const config = new NotificationConfig();
    for (const q of current.QueueConfiguration ?? []) {
      if (q.Queue === arn) {
        continue; // replaced by ours below (MinIO refuses overlapping rules for one target)
      }
      const c = new QueueConfig(q.Queue!);
      copyRule(c, q);
      config.add(c);
    }
    for (const kind of ['TopicConfiguration', 'CloudFunctionConfiguration'] as const) {
      if ((current[kind] ?? []).length) {
        throw new ServiceUnavailableError(`bucket ${store.bucket} has ${kind} entries that the watcher cannot preserve; add ${arn} to its notifications by hand`, { bucket: store.bucket });
      }
    }
    const ours = new QueueConfig(arn);
    ours.setId(`changelab-watch`);
    EVENTS.forEach(e => ours.addEvent(e));
    if (prefix) {
      ours.addFilterPrefix(prefix);
    }
    config.add(ours);
    await store.client.setBucketNotification(store.bucket, config);
  }

  private readEventList(store: S3ObjectStore, events: IRedisEvents): Promise<void> {
    let listening!: () => void;
    const started = new Promise<void>(resolve => (listening = resolve));
    const redis = new Redis(events.redis, { maxRetriesPerRequest: 2, lazyConnect: true });
    redis.on('error', () => undefined); // reported through the loop below
    const trimmedKey = `${events.list}:trimmed`;
    const pollMs = events.pollMs ?? 50;
    let wake: (() => void) | undefined;
    const loop = async () => {
      let position: number | undefined; // absolute index of the next entry to read
      let backoff = 1_000;
      while (!this.stopped) {
        try {
          if (position === undefined) {
            await redis.connect().catch(error => {
              if (redis.status !== 'ready') {
                throw error;
              }
            });
            await this.subscribe(store, events.arn);
          }
          const [trimmed, length, entries] = (await redis.eval(
            READ_SCRIPT, 2, events.list, trimmedKey, LIST_MAX, LIST_KEEP, position ?? -1, READ_BATCH
          )) as [number, number, string[]];
          if (position === undefined) {
            // Events from before the watcher started are the first reconcile scan's business.
            position = trimmed + length;
            listening();
            continue;
          }
          if (position < trimmed) {
            this.fail(new ServiceUnavailableError(`the event list ${events.list} was trimmed past this watcher's position; reconciling`, { list: events.list }));
            void this.reconcileNow().catch(() => undefined);
            position = trimmed;
          }
          if (entries.length > 0) {
            position += entries.length;
            for (const entry of entries) {
              let parsed: unknown;
              try {
                parsed = JSON.parse(entry);
              } catch {
                continue; // not an access-format event
              }
              for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
                for (const record of (item as { Event?: unknown[] })?.Event ?? []) {
                  this.eventKey(store.bucket, record);
                }
              }
            }
            backoff = 1_000;
            continue;
          }
          backoff = 1_000;
        } catch (error) {
          const e = error as Error;
          this.fail(new ServiceUnavailableError(`reading bucket events from ${events.list} at ${events.redis} failed: ${e.message}; retrying`, { list: events.list }, { cause: e }));
          if (position !== undefined) {
            void this.reconcileNow().catch(() => undefined);
          }
          listening(); // the first scan need not wait for Redis; this loop keeps trying
          await new Promise<void>(resolve => {
            wake = resolve;
            setTimeout(resolve, backoff);
          });
          backoff = Math.min(backoff * 2, 30_000);
          continue;
        }
        await new Promise<void>(resolve => {
          wake = resolve;
          setTimeout(resolve, pollMs);
        });
      }
    };
    const running = loop().finally(() => {
      redis.disconnect();
      listening();
    });
    this.inFlight.add(running);
    this.stopListening = () => wake?.();
    return started;
  }

  private listenBucket(store: S3ObjectStore) {
    let backoff = 1_000;
    let poller: ReturnType<S3ObjectStore['client']['listenBucketNotification']> | undefined;
    const start = () => {
      if (this.stopped) {
        return;
      }
      const current = store.client.listenBucketNotification(store.bucket, this.source.listPrefix, '', EVENTS);
      poller = current;
      current.on('notification', (record: unknown) => {
        const raw = (record as { s3?: { object?: { key?: unknown } } } | null)?.s3?.object?.key;
        if (typeof raw === 'string' && !this.stopped) {
          backoff = 1_000;
          this.stats.events++;
          this.changed(raw);
          const decoded = decodeEventKey(raw);
          if (decoded !== raw) {
            this.changed(decoded);
          }
        }
      });
      current.on('error', (cause: unknown) => {
        const error = cause instanceof Error ? cause : new Error(String(cause));
        current.stop();
        current.removeAllListeners('notification');
        if (this.stopped) {
          return;
        }
        this.fail(
          new ServiceUnavailableError(`bucket notifications from ${store.location} stopped: ${error.message}; reconnecting`, { bucket: store.bucket }, { cause: error })
        );
        setTimeout(() => {
          start();
          // Events may have been missed while the stream was down.
          void this.reconcileNow().catch(() => undefined);
        }, backoff);
        backoff = Math.min(backoff * 2, 30_000);
      });
    };
    start();
    this.stopListening = () => {
      poller?.stop();
      poller?.removeAllListeners('notification');
      poller?.on('error', () => undefined);
    };
  }

  private listenFolder(folder: string) {
    let watcher: fs.FSWatcher | undefined;
    let backoff = 1_000;
    const start = () => {
      if (this.stopped) {
        return;
      }
      try {
        watcher = fs.watch(folder, { recursive: true, encoding: 'utf8' }, (_type, filename) => {
          if (!filename || this.stopped) {
            return;
          }
          const key = filename.split(path.sep).join('/');
          if (key === '.tmp' || key.startsWith('.tmp/')) {
            return; // LocalObjectStore's temporary files; the rename into place is the event we want
          }
          const prefix = this.source.listPrefix;
          if (!key.startsWith(prefix) && !prefix.startsWith(key + '/')) {
            return;
          }
          this.stats.events++;
          // A write shows as several events; act once it settles.
          clearTimeout(this.debounce.get(key));
          this.debounce.set(
            key,
            setTimeout(() => {
              this.debounce.delete(key);
              this.changed(key);
            }, 100)
          );
        });
        watcher.on('error', error => {
          watcher?.close();
          if (this.stopped) {
            return;
          }
          this.fail(new ServiceUnavailableError(`watching ${folder} failed: ${error.message}; restarting`, { folder }, { cause: error }));
          setTimeout(() => {
            start();
            void this.reconcileNow().catch(() => undefined);
          }, backoff);
          backoff = Math.min(backoff * 2, 30_000);
        });
      } catch (error) {
        this.fail(error);
        setTimeout(start, backoff);
        backoff = Math.min(backoff * 2, 30_000);
      }
    };
    start();
    this.stopListening = () => watcher?.close();
  }

  /** An event for a store key: check it soon (once, however many events arrive meanwhile). */
  private changed(storeKey: string) {
    if (this.scheduled.has(storeKey)) {
      return;
    }
    this.scheduled.add(storeKey);
    const key = this.source.keyPrefix + storeKey;
    const task = this.keys
      .run(key, async () => {
        this.scheduled.delete(storeKey);
        if (this.stopped) {
          return;
        }
        await this.check(storeKey, key);
      })
      .catch(error => {
        this.fail(error);
        this.emit({ key, outcome: 'failed', via: 'event', error: error as Error });
      })
      .finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }

  /**
   * Brings one key's row up to date with the store. The object is read in one of `concurrency`
   * slots; its row is written after the slot is freed, batched with the writes of other events.
   */
  private async check(storeKey: string, key: string) {
    let info;
    let read;
    await this.acquire();
    try {
      try {
        info = await withRetry(() => this.source.store.head(storeKey), this.options.attempts);
      } catch (error) {
        if (!(error instanceof NotFoundError)) {
          throw error;
        }
        info = null;
      }
      if (info) {
        const state = await withRetry(() => knownStateOf(this.db, this.project, key), this.options.attempts);
        const same = isUnchanged(state, key, info);
        if (same) {
          this.emit({ key, outcome: same, via: 'event' });
          return;
        }
        read = await readObject(this.source, info, this.options);
      }
    } finally {
      this.release();
    }
    if (!info || !read) {
      await this.gone(storeKey, key);
      return;
    }
    const result = await writeObject(this.db, this.project, this.source, info, read, this.options);
    this.emit({ key, via: 'event', ...result });
  }

  /** The key is no object now: delete its row, and everything under it if it was a folder. */
  private async gone(storeKey: string, key: string) {
    const folder = this.source.folder;
    if (folder) {
      const stat = await fs.promises.stat(path.join(folder, storeKey)).catch(() => null);
      if (stat?.isDirectory()) {
        // A folder moved in whole: its files may not raise events of their own.
        await reconcile(this.db, this.project, { ...this.source, listPrefix: storeKey + '/' }, {
          ...this.options,
          progress: false,
          onProgress: undefined,
          deletes: false,
          serialize: (k, work) => this.keys.run(k, work),
          onObject: (k, outcome, detail) => this.emit({ key: k, outcome, via: 'event', ...detail })
        }).catch(error => this.fail(error));
        return;
      }
    }
    const under = folder
      ? await withRetry(() => keysUnder(this.db, this.project, { ...this.source, listPrefix: storeKey + '/' }), this.options.attempts)
      : [];
    const deleted = await withRetry(() => softDelete(this.db, this.project, [key, ...under]), this.options.attempts);
    this.emit({ key, outcome: 'vanished', via: 'event' });
    if (deleted > 1) {
      for (const k of under) {
        this.emit({ key: k, outcome: 'vanished', via: 'event' });
      }
    }
  }

  private async acquire() {
    while (this.active >= this.concurrency) {
      await new Promise<void>(resolve => this.waiting.push(resolve));
    }
    this.active++;
  }

  private release() {
    this.active--;
    this.waiting.shift()?.();
  }
}
