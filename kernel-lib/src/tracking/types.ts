// Shapes of tracked runs as the workspace stores them and the panels read them.
import type { IDatasetRef } from '../dataset/manifest';
import type { RunStatus } from '../train/logger';

export type RunState = 'RUNNING' | RunStatus;

export interface IMetricPoint {
  step: number;
  value: number;
  /** When it was logged (milliseconds precision). */
  timestamp: Date;
}

export interface IRunArtifact {
  /** Relative to the run, e.g. `model/model.onnx`. */
  path: string;
  /** Key in the workspace object store (`runs/<id>/<path>`). */
  key: string;
  size: number;
  sha256: string;
  loggedAt: Date;
}

/** The dataset version a run trained on, as stored on the run (`path` may be unknown for old runs). */
export type RunDataset = Omit<IDatasetRef, 'path'> & { path: string | null };

/** Where else a run was logged: `{mlflow: {runId, experimentId, url}}`. */
export interface IRunLinks {
  mlflow?: { runId: string; experimentId: string; url: string };
  [backend: string]: unknown;
}

/** One run in a listing: identity, state, dataset and the last value of each metric. */
export interface IRunSummary {
  id: string;
  project: string;
  experiment: string;
  name: string;
  status: RunState;
  startedAt: Date;
  endedAt: Date | null;
  dataset: RunDataset | null;
  /** Last logged value of each metric (highest step, then latest logged). */
  latestMetrics: Record<string, number>;
  links: IRunLinks;
}

export interface IModelVersionInfo {
  name: string;
  version: number;
  run: string;
  artifactPath: string;
  aliases: string[];
  createdAt: Date;
}

/** A run with everything logged to it: what `getRun` returns and the run panel draws. */
export interface IRunDetail extends IRunSummary {
  params: Record<string, string>;
  /** Full history of every metric, in step order (then logging order). */
  metrics: Record<string, IMetricPoint[]>;
  artifacts: IRunArtifact[];
  /** Model versions registered from this run. */
  models: IModelVersionInfo[];
  tags: Record<string, string>;
}

export interface IRunQuery {
  /** Only runs of this experiment. */
  experiment?: string;
  /** Only runs trained on this dataset (name, optionally at rev). */
  dataset?: { name: string; rev?: string };
  status?: RunState;
  /** Default: the workspace's project. */
  project?: string;
  /** Newest first; default 100, at most 10000. */
  limit?: number;
}
