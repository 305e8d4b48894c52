// Ingest and reconcile: list a prefix, skip what the catalog already holds (same ETag / version),
// read the rest with bounded concurrency, and soft-delete rows whose objects are gone. The listing
// is consumed in batches, so memory stays bounded by the batch and the number of reads in flight
// (plus the set of listed keys, needed to find deletions).
import type { Database } from '../db/database';
import { card, progress, type IDisplayBundle, type IDisplayable, type IProgressOptions } from '../display';
import type { IObjectInfo } from '../objects/store';
import {
  isUnchanged,
  keysUnder,
  knownState,
  knownStateOf,
  readObject,
  softDelete,
  withRetry,
  writeObject,
  type IIndexerOptions,
  type IndexOutcome
} from './indexer';
import type { ICatalogSource } from './sources';
// The ingest quality gate (validation): the only hook validation has in ingest.
import { gateJudge, type IngestGate } from '../validate/gate';

export interface IIngestProgress {
  /** Objects handled so far. */
  done: number;
  /** Objects listed so far; final once `listing` is false. */
  listed: number;
  listing: boolean;
  indexed: number;
  unchanged: number;
  quarantined: number;
}

export interface IIngestOptions extends IIndexerOptions {
  /** Default: the workspace's project. */
  project?: string;
  /** Header reads in flight at once. Default 8. */
  concurrency?: number;
  /** Soft-delete catalog rows under the prefix whose objects are gone. Default true. */
  deletes?: boolean;
  /** Called as objects are handled (at most every `progressIntervalMs`, and at the end). */
  onProgress?: (p: IIngestProgress) => void;
  /** Progress bar: 'auto' (default) shows it in a notebook or on a terminal; false for none. */
  progress?: IProgressOptions['mode'] | false;
  /** Per-object hook (the watcher reports events through it). */
  onObject?: (key: string, outcome: IndexOutcome, detail: { id?: number; error?: Error }) => void;
  /**
   * Runs each object's work; the watcher passes a per-key serializer so a scan and a bucket event
   * never work on the same key at once. Default: run directly.
   */
  serialize?: <T>(key: string, work: () => Promise<T>) => Promise<T>;
  /** Stops listing (work in flight finishes; no deletes are inferred from a partial listing). */
  signal?: AbortSignal;
  /**
   * Quality gate: each extracted image is judged by an ingest suite before it is inserted; a file
   * failing an expectation is quarantined with the expectations it failed (see validate/gate.ts).
   */
  gate?: IngestGate;
}

/** What one ingest or reconcile scan did. */
export class IngestSummary implements IDisplayable {
  listed = 0;
  indexed = 0;
  unchanged = 0;
  /** Newly quarantined in this run. */
  quarantined = 0;
  /** Already in quarantine with the same ETag: not read again. */
  stillQuarantined = 0;
  /** Rows soft-deleted because their objects are gone. */
  deleted = 0;
  /** Transient errors that outlasted the retries; the next run tries these again. */
  failed = 0;
  seconds = 0;
  /** Up to 100 of this run's quarantined keys with their reasons. */
  problems: { key: string; reason: string }[] = [];
  /** Up to 100 of this run's failures. */
  errors: { key: string; message: string }[] = [];

  constructor(readonly source: string) {}

  toDisplay(): IDisplayBundle {
    const status = this.failed > 0 ? 'error' : this.quarantined + this.stillQuarantined > 0 ? 'warning' : 'ok';
    return card({
      kind: 'table',
      title: `ingest ${this.source || '(all objects)'}`,
      status,
      summary: `${this.indexed} indexed, ${this.unchanged} unchanged, ${this.quarantined} quarantined, ${this.deleted} deleted in ${this.seconds.toFixed(1)} s`,
      items: [
        { label: 'listed', value: this.listed },
        { label: 'indexed', value: this.indexed },
        { label: 'unchanged', value: this.unchanged },
        { label: 'quarantined', value: this.quarantined },
        { label: 'already quarantined', value: this.stillQuarantined },
        { label: 'deleted', value: this.deleted },
        { label: 'failed (will retry)', value: this.failed },
        { label: 'seconds', value: Number(this.seconds.toFixed(2)) }
      ],
      table: this.problems.length
        ? { columns: ['quarantined key', 'reason'], rows: this.problems.map(p => [p.key, p.reason]) }
        : undefined,
      data: { errors: this.errors }
    });
  }

  /** One line for terminals and logs. */
  toString(): string {
    return (
      `${this.indexed} indexed, ${this.unchanged} unchanged, ${this.quarantined} quarantined` +
      `${this.stillQuarantined ? ` (+${this.stillQuarantined} already)` : ''}, ${this.deleted} deleted` +
      `${this.failed ? `, ${this.failed} failed` : ''} of ${this.listed} listed in ${this.seconds.toFixed(1)} s`
    );
  }
}

const BATCH = 256;
/**
 * Objects in flight per header read allowed at once: an object whose header is read waits for its
 * row to be written in a batch with others (indexer.ts), and meanwhile the next reads go on.
 */
const WRITES_PER_READ = 16;

/** At most `limit` of its tasks run at once; the rest wait in order. */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    while (this.active >= this.limit) {
      await new Promise<void>(resolve => this.waiting.push(resolve));
    }
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Lists `source`, indexes what is new or changed and soft-deletes what is gone. */
export async function reconcile(
  db: Database,
  project: string,
  source: ICatalogSource,
  options: IIngestOptions = {}
): Promise<IngestSummary> {
  const started = performance.now();
  const label = source.keyPrefix + source.listPrefix;
  const summary = new IngestSummary(label);
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const reads = new Slots(concurrency);
  const readOptions = { ...options, judge: options.gate ? gateJudge(options.gate) : options.judge };
  const serialize = options.serialize ?? (<T>(_key: string, work: () => Promise<T>) => work());
  const bar = options.progress === false ? undefined : progress(`ingest ${label || '(all)'}`, { mode: options.progress });
  // Rows indexed after this moment were written by someone else (a bucket event) and may be
  // missing from our listing only because they are newer than it: never delete those.
  const [{ now: scanStart }] = await withRetry(() =>
    db.query<{ now: Date }>(
      // Ingesting into a project creates it, as connect() does for the configured one.
      `WITH p AS (INSERT INTO projects (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING) SELECT now() AS now`,
      [project]
    )
  );
  const listed = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let done = 0;
  let listing = true;
  let lastReport = 0;

  const report = (force = false) => {
    const now = Date.now();
    if (!force && now - lastReport < 200) {
      return;
    }
    lastReport = now;
    const p: IIngestProgress = {
      done,
      listed: summary.listed,
      listing,
      indexed: summary.indexed,
      unchanged: summary.unchanged,
      quarantined: summary.quarantined + summary.stillQuarantined
    };
    options.onProgress?.(p);
    bar?.update(done, listing ? null : summary.listed, `${p.indexed} indexed, ${p.unchanged} unchanged, ${p.quarantined} quarantined`);
  };

  const record = (key: string, outcome: IndexOutcome, detail: { id?: number; error?: Error }) => {
    done++;
    switch (outcome) {
      case 'indexed':
        summary.indexed++;
        break;
      case 'unchanged':
        summary.unchanged++;
        break;
      case 'still-quarantined':
        summary.stillQuarantined++;
        break;
      case 'quarantined':
        summary.quarantined++;
        if (summary.problems.length < 100) {
          summary.problems.push({ key, reason: reasonOf(detail.error) });
        }
        break;
      case 'vanished':
        summary.deleted++;
        break;
      case 'failed':
        summary.failed++;
        if (summary.errors.length < 100) {
          summary.errors.push({ key, message: detail.error?.message ?? 'unknown error' });
        }
        break;
    }
    options.onObject?.(key, outcome, detail);
    report();
  };

  const handleBatch = async (batch: IObjectInfo[]) => {
    const keys = batch.map(info => source.keyPrefix + info.key);
    const state = await withRetry(() => knownState(db, project, keys), options.attempts);
    for (const info of batch) {
      const key = source.keyPrefix + info.key;
      const same = isUnchanged(state, key, info);
      if (same) {
        record(key, same, {});
        continue;
      }
      while (inFlight.size >= concurrency * WRITES_PER_READ) {
        await Promise.race(inFlight);
      }
      const task = serialize(key, async () => {
        if (options.serialize) {
          // A watcher's event may have indexed this key while the scan waited for it.
          const now = isUnchanged(await withRetry(() => knownStateOf(db, project, key), options.attempts), key, info);
          if (now) {
            return { outcome: now };
          }
        }
        const read = await reads.run(() => readObject(source, info, readOptions));
        return writeObject(db, project, source, info, read, options);
      })
        .then(
          result => record(key, result.outcome, result),
          error => record(key, 'failed', { error: error as Error })
        )
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
  };

  try {
    let batch: IObjectInfo[] = [];
    for await (const info of source.store.list(source.listPrefix)) {
      if (options.signal?.aborted) {
        break;
      }
      summary.listed++;
      listed.add(source.keyPrefix + info.key);
      batch.push(info);
      if (batch.length >= BATCH) {
        await handleBatch(batch);
        batch = [];
      }
    }
    await handleBatch(batch);
    listing = false;
    await Promise.all(inFlight);

    if ((options.deletes ?? true) && !options.signal?.aborted) {
      const known = await withRetry(() => keysUnder(db, project, source, scanStart), options.attempts);
      const gone = known.filter(k => !listed.has(k));
      for (let i = 0; i < gone.length; i += 1000) {
        const chunk = gone.slice(i, i + 1000);
        summary.deleted += await withRetry(() => softDelete(db, project, chunk, scanStart), options.attempts);
        for (const key of chunk) {
          options.onObject?.(key, 'vanished', {});
        }
      }
    }
  } catch (error) {
    await Promise.allSettled(inFlight);
    summary.seconds = (performance.now() - started) / 1000;
    bar?.finish(`stopped: ${(error as Error).message}`, 'error');
    throw error;
  }
  summary.seconds = (performance.now() - started) / 1000;
  report(true);
  bar?.finish(summary.toString(), summary.failed ? 'error' : summary.quarantined + summary.stillQuarantined ? 'warning' : 'ok');
  return summary;
}

function reasonOf(error: Error | undefined): string {
  const reason = (error as { context?: { reason?: unknown } } | undefined)?.context?.reason;
  return typeof reason === 'string' ? reason : error?.message ?? 'unknown';
}
