// Jobs on BullMQ queues in Redis: any process that registers a handler consumes that queue, so
// workers scale out across machines; jobs survive a killed worker (BullMQ re-delivers stalled jobs).
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
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
  private readonly events = new Map<string, QueueEvents>();
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

  private queueEvents(name: string): QueueEvents {
    let e = this.events.get(name);
    if (!e) {
      e = new QueueEvents(name, { connection: this.connection, prefix: this.prefix });
      this.events.set(name, e);
    }
    return e;
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
    this.queueEvents(name); // subscribe before the job can finish, so wait() never misses it
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

  async wait<R>(id: string, timeoutMs = 0): Promise<R> {
    const split = id.lastIndexOf(':');
    const name = id.slice(0, split);
    const job = await Job.fromId(this.queue(name), id.slice(split + 1));
    if (!job) {
      throw new NotFoundError(`no job ${id}`, { id });
    }
    try {
      return (await job.waitUntilFinished(this.queueEvents(name), timeoutMs > 0 ? timeoutMs : undefined)) as R;
    } catch (cause) {
      throw new ChangelabError(`job ${id} failed: ${(cause as Error).message}`, { id }, { cause });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(w => w.close()));
    await Promise.all([...this.events.values()].map(e => e.close()));
    await Promise.all([...this.queues.values()].map(q => q.close()));
  }
}
