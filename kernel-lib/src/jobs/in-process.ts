// Jobs run inside this process with bounded concurrency per job name: the embedded default.
import * as crypto from 'crypto';
import { ChangelabError, NotFoundError } from '../errors';
import type { IJobQueue, JobHandler } from './queue';

interface IEntry {
  name: string;
  data: unknown;
  attempts: number;
  result: Promise<unknown>;
}

export class InProcessJobQueue implements IJobQueue {
  readonly kind = 'in-process' as const;
  private readonly handlers = new Map<string, { handler: JobHandler; concurrency: number; running: number; waiting: (() => void)[] }>();
  private readonly jobs = new Map<string, IEntry>();

  register<D, R>(name: string, handler: JobHandler<D, R>, options: { concurrency?: number } = {}): void {
    this.handlers.set(name, {
      handler: handler as JobHandler,
      concurrency: Math.max(1, options.concurrency ?? 1),
      running: 0,
      waiting: []
    });
  }

  async enqueue<D>(name: string, data: D, options: { attempts?: number } = {}): Promise<string> {
    const slot = this.handlers.get(name);
    if (!slot) {
      throw new NotFoundError(`no handler registered for jobs named ${name}`, { name });
    }
    const id = crypto.randomUUID();
    const attempts = Math.max(1, options.attempts ?? 1);
    const result = (async () => {
      while (slot.running >= slot.concurrency) {
        await new Promise<void>(resolve => slot.waiting.push(resolve));
      }
      slot.running++;
      try {
        let lastError: unknown;
        for (let attempt = 1; attempt <= attempts; attempt++) {
          try {
            return await slot.handler(data, { id, name, progress: async () => undefined });
          } catch (error) {
            lastError = error;
          }
        }
        throw lastError;
      } finally {
        slot.running--;
        slot.waiting.shift()?.();
      }
    })();
    result.catch(() => undefined); // reported through wait()
    this.jobs.set(id, { name, data, attempts, result });
    return id;
  }

  async wait<R>(id: string, timeoutMs = 0): Promise<R> {
    const entry = this.jobs.get(id);
    if (!entry) {
      throw new NotFoundError(`no job ${id}`, { id });
    }
    if (timeoutMs <= 0) {
      return (await entry.result) as R;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ChangelabError(`job ${id} did not finish within ${timeoutMs} ms`, { id })), timeoutMs);
    });
    try {
      return (await Promise.race([entry.result, timeout])) as R;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.jobs.values()].map(j => j.result));
  }
}
