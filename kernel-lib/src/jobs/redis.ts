// Jobs on BullMQ queues in Redis: any process that registers a handler consumes that queue, so
// workers scale out across machines; jobs survive a killed worker (BullMQ re-delivers stalled jobs).
import { Job, Queue, Worker } from 'bullmq';
import { ChangelabError, NotFoundError, ServiceUnavailableError } from '../errors';
import type { IJobQueue, JobHandler } from './queue';

function connectionOptions(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null
  };
}

export class RedisJobQueue implements IJobQueue {
  readonly kind = 'redis' as const;
  private readonly connection: ReturnType<typeof connectionOptions>;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];

  /** `prefix` namespaces the keys (one per project or test run). */
  constructor(url: string, private readonly prefix = 'changelab') {
    this.connection = connectionOptions(url);
  }

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix });
      this.queues.set(name, q);
    }
    return q;
  }

  register<D, R>(name: string, handler: JobHandler<D, R>, options: { concurrency?: number } = {}): void {
    const worker = new Worker(
      name,
      async (job: Job) =>
        handler(job.data as D, {
          id: String(job.id),
          name,
          progress: fraction => job.updateProgress(Math.round(fraction * 100))
        }),
      { connection: this.connection, prefix: this.prefix, concurrency: options.concurrency ?? 1 }
    );
    worker.on('error', () => undefined); // connection hiccups are retried by BullMQ
    this.workers.push(worker);
  }

  async enqueue<D>(name: string, data: D, options: { attempts?: number } = {}): Promise<string> {
    try {
      const job = await this.queue(name).add(name, data, {
        attempts: options.attempts ?? 1,
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 }
      });
      return `${name}:${job.id}`;
    } catch (cause) {
      throw new ServiceUnavailableError(`cannot queue job ${name} in Redis: ${(cause as Error).message}`, { name }, { cause });
    }
  }

  /**
   * Polls the job's state rather than waiting for a QueueEvents notification: QueueEvents starts
   * reading its stream only some time after it reports ready, so a job finishing in that gap
   * would be waited for forever (seen in our tests under load).
   */
  async wait<R>(id: string, timeoutMs = 0): Promise<R> {
    const split = id.lastIndexOf(':');
    const queue = this.queue(id.slice(0, split));
    const jobId = id.slice(split + 1);
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      // State first, then the job's fields: read the other way round, a job finishing in between
      // would report 'completed' with the return value it had before.
      const state = await queue.getJobState(jobId);
      if (state === 'unknown') {
        throw new NotFoundError(`no job ${id}`, { id });
      }
      if (state === 'completed' || state === 'failed') {
        const job = await Job.fromId(queue, jobId);
        if (!job) {
          throw new NotFoundError(`job ${id} was removed`, { id });
        }
        if (state === 'failed') {
          throw new ChangelabError(`job ${id} failed: ${job.failedReason}`, { id });
        }
        return job.returnvalue as R;
      }
      if (Date.now() + delay > deadline) {
        throw new ChangelabError(`job ${id} did not finish within ${timeoutMs} ms (state: ${state})`, { id, state });
      }
      await new Promise(resolve => setTimeout(resolve, delay));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(w => w.close()));
    await Promise.all([...this.queues.values()].map(q => q.close()));
  }
}
