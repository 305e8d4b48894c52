// The workspace's own ITrainLogger: the run lives in the catalog database and its artifacts in the
// object store (`runs/<id>/...`), so every run is kept even with no tracking server. Calls are
// applied in the order they were made, even when a caller does not await each one.
import type { IDatasetRef } from '../dataset/manifest';
import type { ITrainLogger, RunStatus } from '../train/logger';
import { MAX_PARAM_VALUE, newRunId, RunStore, type IRunStoreSource } from './store';
import type { IModelVersionInfo, IRunArtifact } from './types';

export interface IRunOptions {
  /** Groups runs (MLflow's experiment). Default "default". */
  experiment?: string;
  /** Default: `run-<first 8 hex digits of the id>`. */
  runName?: string;
  /** Free-form tags stored with the run. */
  tags?: Record<string, string>;
}

/** Applies async calls one after another, in call order; a failed call does not stop later ones. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Parameter values as strings, the way both stores keep them (long values cut to MLflow's limit). */
export function paramStrings(params: Record<string, string | number | boolean>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const s = String(v);
    out[k] = s.length > MAX_PARAM_VALUE ? s.slice(0, MAX_PARAM_VALUE) : s;
  }
  return out;
}

export class WorkspaceLogger implements ITrainLogger {
  readonly name = 'workspace';
  /** Fixed at construction, so other loggers can tag their runs with it before this one starts. */
  readonly runId: string;
  readonly experiment: string;
  readonly runName: string;
  private readonly store: RunStore;
  private readonly queue = new SerialQueue();
  private started: Promise<void> | undefined;

  constructor(source: IRunStoreSource, private readonly options: IRunOptions = {}) {
    this.store = new RunStore(source);
    this.runId = newRunId();
    this.experiment = options.experiment ?? 'default';
    this.runName = options.runName ?? `run-${this.runId.slice(0, 8)}`;
  }

  /** Creates the run row; called by the first logging call, or earlier by hand. */
  start(): Promise<void> {
    // A failed start (database unreachable) is tried again by the next call.
    this.started ??= this.store
      .createRun({ id: this.runId, experiment: this.experiment, name: this.runName, tags: this.options.tags })
      .catch(error => {
        this.started = undefined;
        throw error;
      });
    return this.started;
  }

  private do<T>(work: () => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      await this.start();
      return work();
    });
  }

  logHyperparams(params: Record<string, string | number | boolean>): Promise<void> {
    return this.do(() => this.store.logParams(this.runId, paramStrings(params)));
  }

  logMetrics(metrics: Record<string, number>, step: number): Promise<void> {
    const timestamp = Date.now();
    const entries = Object.entries(metrics).map(([key, value]) => ({ key, value, step, timestamp }));
    return this.do(() => this.store.logMetrics(this.runId, entries));
  }

  async logArtifact(localPath: string, artifactPath: string): Promise<void> {
    await this.logArtifactFiles(localPath, artifactPath);
  }

  /** As `logArtifact`, returning what was stored (object keys, sizes, sha256). */
  logArtifactFiles(localPath: string, artifactPath: string): Promise<IRunArtifact[]> {
    return this.do(() => this.store.logArtifact(this.runId, localPath, artifactPath));
  }

  logDataset(dataset: IDatasetRef): Promise<void> {
    return this.do(() => this.store.setDataset(this.runId, dataset));
  }

  async registerModel(name: string, artifactPath: string, alias?: string): Promise<{ version: string }> {
    const v = await this.registerModelVersion(name, artifactPath, alias);
    return { version: String(v.version) };
  }

  registerModelVersion(name: string, artifactPath: string, alias?: string): Promise<IModelVersionInfo> {
    return this.do(() => this.store.registerModel(this.runId, name, artifactPath, alias));
  }

  /** Records where else this run was logged, e.g. `link('mlflow', {runId, experimentId, url})`. */
  link(backend: string, info: Record<string, unknown>): Promise<void> {
    return this.do(() => this.store.link(this.runId, backend, info));
  }

  finalize(status: RunStatus): Promise<void> {
    return this.do(() => this.store.finish(this.runId, status));
  }
}

/** A logger that keeps the run in `workspace` (its database and object store). */
export function workspaceLogger(workspace: IRunStoreSource, options: IRunOptions = {}): WorkspaceLogger {
  return new WorkspaceLogger(workspace, options);
}
