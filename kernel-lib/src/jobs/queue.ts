// Background jobs (ingest, inference, transfers) behind one interface: run in this process by
// default, or on BullMQ queues in Redis so that `changelab worker` processes on many machines share
// the work. Handlers are registered by name; job data and results are JSON.

export type JobHandler<D = unknown, R = unknown> = (data: D, job: IJobContext) => Promise<R>;

export interface IJobContext {
  id: string;
  name: string;
  /** Reports progress in [0, 1]. */
  progress(fraction: number): Promise<void>;
}

export interface IJobQueue {
  readonly kind: 'in-process' | 'redis';
  /** Registers the handler for jobs named `name` (and, for Redis, starts consuming them here). */
  register<D, R>(name: string, handler: JobHandler<D, R>, options?: { concurrency?: number }): void;
  /** Queues a job and returns its id. */
  enqueue<D>(name: string, data: D, options?: { attempts?: number }): Promise<string>;
  /** Waits for a job to finish and returns its result, or throws its error. */
  wait<R = unknown>(id: string, timeoutMs?: number): Promise<R>;
  close(): Promise<void>;
}
