// What a Trainer tells a tracking backend (Lightning's Logger, reduced to what changelab needs).
// Implementations: the workspace's own run store (training runs in the catalog database and
// artifact store) and MLflow's REST API. A Trainer may hold several; each call goes to all.
import type { IDatasetRef } from '../dataset/manifest';

export type RunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export interface ITrainLogger {
  readonly name: string;
  /** The backend's run id, once the run was started. */
  readonly runId?: string;
  /** Once, before the first step: hyper-parameters and settings. */
  logHyperparams(params: Record<string, string | number | boolean>): Promise<void>;
  /** Scalar metrics at a global step (`train/loss`, `val/iou`, `lr-Adam`, ...). */
  logMetrics(metrics: Record<string, number>, step: number): Promise<void>;
  /** A local file stored with the run under `artifactPath` (e.g. `model/model.onnx`, `checkpoints/epoch=3.ckpt`). */
  logArtifact(localPath: string, artifactPath: string): Promise<void>;
  /** The dataset version the run trained on (lineage). */
  logDataset(dataset: IDatasetRef): Promise<void>;
  /** Registers the run's exported ONNX model (logged at `artifactPath`) under `name`, optionally with an alias. */
  registerModel(name: string, artifactPath: string, alias?: string): Promise<{ version: string }>;
  /** Once, at the end (also on failure or cancellation). */
  finalize(status: RunStatus): Promise<void>;
}
