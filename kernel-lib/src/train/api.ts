// The one-call notebook API: `train({dataset, model, epochs, gpu})` builds the task, the loaders,
// the Trainer and its callbacks (best checkpoint by val/iou, optional early stopping, live curves),
// trains, tests the best checkpoint, exports it as a plain ONNX model, logs everything to the
// loggers (the workspace's run store and MLflow when configured) and returns the run.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { type IDatasetRef } from '../dataset/manifest';
import { type IDisplayable, type IDisplayBundle } from '../display';
import { type Seed } from '../synth/random';
import { EarlyStopping, LearningRateMonitor, ModelCheckpoint, type ICallback, type IProgressBarOptions } from './callbacks';
import { historyCard, curvesBundle, LiveCurves } from './curves';
import { datasetSplits, syntheticChangeData, type IAugmentOptions, type IChangeSource, type ISyntheticDataOptions } from './data/loader';
import { type ITrainLogger } from './logger';
import { exportInference, type ChangeModelKind } from './models/fc';
import { type LrSchedule } from './schedule';
import { ChangeTask, type IChangeTaskOptions } from './task';
import { Trainer, TrainerConfigError, taskFromCheckpoint, type FitStatus, type IPrediction, type Precision } from './trainer';

export type TrainDataset = string | IDatasetRef | { train: IChangeSource; val?: IChangeSource; test?: IChangeSource } | ({ synthetic: true } & ISyntheticDataOptions);

export interface ITrainOptions extends Omit<IChangeTaskOptions, 'schedule'> {
  /** A dataset folder (manifest.json), a checked-out dataset version, sources, or `{synthetic: true}`. */
  dataset: TrainDataset;
  /** 'fc-siam-diff' (default), 'fc-siam-conc', 'fc-ef' or 'siam-resnet18-diff' (chips a multiple of 32). */
  model?: ChangeModelKind;
  /** Default 10. */
  epochs?: number;
  maxSteps?: number;
  /** Default 8. */
  batchSize?: number;
  /** true or a device id: CUDA. */
  gpu?: boolean | number;
  fallback?: 'cpu';
  precision?: Precision;
  /** 'cosine' over the whole run, 'step' (x0.1 every third of it), or a schedule. Default constant. */
  schedule?: 'constant' | 'cosine' | 'step' | LrSchedule;
  augment?: IAugmentOptions | boolean;
  gradClip?: number;
  accumulateGrad?: number;
  seed?: Seed;
  threads?: number;
  /** Metric for the best checkpoint. Default 'val/iou' (max). */
  monitor?: string;
  /** Stop after this many epochs without improvement of `monitor`. Default: no early stopping. */
  earlyStopping?: number;
  /** Where checkpoints and the exported model go. Default `.changelab/runs/<time>` under the working folder. */
  dir?: string;
  /** Tracking loggers (e.g. `loggersFromConfig(workspace)`); each gets params, metrics, artifacts, dataset. */
  loggers?: ITrainLogger[];
  /** Register the exported model under this name (with `alias`) in the loggers' registries. */
  registerAs?: string;
  alias?: string;
  /** Live curves in notebooks. Default true. */
  display?: boolean;
  /** The progress bar (a bar in notebooks, a line per epoch elsewhere); false: none. */
  progressBar?: boolean | IProgressBarOptions;
  callbacks?: ICallback[];
  signal?: AbortSignal;
  /** Continue from this checkpoint (same model, batch size and chip size). */
  resume?: string;
}

function scheduleFor(s: ITrainOptions['schedule'], totalSteps: number): LrSchedule {
  if (s === undefined || s === 'constant') {
    return { type: 'constant' };
  }
  if (s === 'cosine') {
    return { type: 'cosine', tMax: Math.max(1, totalSteps) };
  }
  if (s === 'step') {
    return { type: 'step', stepSize: Math.max(1, Math.ceil(totalSteps / 3)), gamma: 0.1 };
  }
  return s;
}

async function resolveDataset(dataset: TrainDataset): Promise<{ train: IChangeSource; val?: IChangeSource; test?: IChangeSource; ref?: IDatasetRef; name: string }> {
  if (typeof dataset === 'string') {
    const s = await datasetSplits(dataset);
    return { ...s, name: s.train.manifest.name };
  }
  if ('synthetic' in dataset) {
    const s = syntheticChangeData(dataset);
    return { ...s, name: 'synthetic' };
  }
  if ('rev' in dataset && 'path' in dataset) {
    const s = await datasetSplits(dataset.path);
    return { ...s, ref: dataset, name: dataset.name };
  }
  if ('train' in dataset) {
    return { ...dataset, name: dataset.train.name.replace(/\/train$/, '') };
  }
  throw new TrainerConfigError('dataset must be a folder, a dataset version, {train, val, test} sources or {synthetic: true}');
}

/** A finished (or stopped) training run. */
export class TrainingRun implements IDisplayable {
  constructor(
    readonly status: FitStatus,
    /** One row per epoch: train/* and val/* metrics. */
    readonly history: Record<string, number>[],
    /** Test metrics of the best checkpoint (empty without a test split). */
    readonly testMetrics: Record<string, number>,
    readonly bestCheckpoint: string | undefined,
    readonly lastCheckpoint: string,
    /** The exported inference model (inputs before/after [1, bands, H, W], output logits). */
    readonly modelPath: string,
    readonly task: ChangeTask,
    readonly trainer: Trainer,
    readonly dataset: string,
    /** Run ids by logger name (workspace, mlflow). */
    readonly runIds: Record<string, string | undefined>,
    /** The dataset version trained on (lineage), when `dataset` was a version (`dataset.ref(name)`). */
    readonly datasetRef?: IDatasetRef
  ) {}

  /**
   * The git rev of the dataset version this run trained on: `dataset.checkout(run.datasetRev)`
   * restores those exact chips. Undefined for folders, sources and synthetic data.
   */
  get datasetRev(): string | undefined {
    return this.datasetRef?.rev;
  }

  /** The `.dvc` out md5 (`<hash>.dir`) of the dataset version trained on. */
  get datasetMd5(): string | undefined {
    return this.datasetRef?.md5;
  }

  /** The last epoch's metrics and the test metrics. */
  get metrics(): Record<string, number> {
    return { ...(this.history[this.history.length - 1] ?? {}), ...this.testMetrics };
  }

  /** Change probabilities of the trained model (best checkpoint) for a source's samples. */
  predict(source: IChangeSource, options: { batchSize?: number } = {}): Promise<IPrediction[]> {
    return this.trainer.predict(this.task, source, options);
  }

  /** The chart of the curves as a display bundle. */
  curves(): IDisplayBundle {
    return curvesBundle(this.history);
  }

  toDisplay(): IDisplayBundle {
    const summary = [
      `${this.task.hparams.model} on ${this.dataset}${this.datasetRef ? ` (version ${this.datasetRef.rev.slice(0, 7)}, ${this.datasetRef.md5})` : ''}: ${this.status} after ${this.history.length} epochs`,
      ...Object.entries(this.testMetrics).map(([k, v]) => `${k} ${v.toFixed(4)}`)
    ].join('  ');
    return historyCard('Training run', this.history, this.status === 'failed' ? 'error' : 'ok', summary);
  }

  /** Releases the sessions and the worker thread. */
  close(): Promise<void> {
    return this.trainer.close();
  }
}

/** Trains a change-detection model in one call; see ITrainOptions. */
export async function train(options: ITrainOptions): Promise<TrainingRun> {
  const data = await resolveDataset(options.dataset);
  const epochs = options.epochs ?? 10;
  const batchSize = options.batchSize ?? 8;
  const stepsPerEpoch = Math.floor(data.train.length / batchSize / (options.accumulateGrad ?? 1));
  const totalSteps = options.maxSteps ?? epochs * Math.max(1, stepsPerEpoch);
  const task = new ChangeTask({ ...options, model: options.model ?? 'fc-siam-diff', bands: options.bands ?? data.train.bands, schedule: scheduleFor(options.schedule, totalSteps) });
  const dir = options.dir ?? path.join(process.cwd(), '.changelab', 'runs', new Date().toISOString().replace(/[:.]/g, '-'));
  await fsp.mkdir(dir, { recursive: true });
  const hasVal = data.val !== undefined && data.val.length > 0;
  const monitor = options.monitor ?? (hasVal ? 'val/iou' : 'train/loss');
  const checkpoint = new ModelCheckpoint({ dirpath: path.join(dir, 'checkpoints'), monitor, saveTopK: 1, saveLast: true });
  const callbacks: ICallback[] = [checkpoint, new LearningRateMonitor(), ...(options.callbacks ?? [])];
  if (options.earlyStopping !== undefined) {
    callbacks.push(new EarlyStopping({ monitor, patience: options.earlyStopping }));
  }
  if (options.display !== false) {
    const curves = new LiveCurves(`Training ${task.hparams.model} on ${data.name}`);
    if (curves.active) {
      callbacks.push(curves);
    }
  }
  const loggers = options.loggers ?? [];
  const trainer = new Trainer({
    accelerator: options.gpu === undefined || options.gpu === false ? 'cpu' : 'gpu',
    devices: typeof options.gpu === 'number' ? [options.gpu] : 1,
    fallback: options.fallback,
    precision: options.precision,
    maxEpochs: options.maxSteps === undefined ? epochs : undefined,
    maxSteps: options.maxSteps,
    gradClip: options.gradClip,
    accumulateGrad: options.accumulateGrad,
    seed: options.seed,
    threads: options.threads,
    callbacks,
    progressBar: options.progressBar,
    logger: loggers,
    finalizeLoggers: false,
    signal: options.signal
  });
  if (data.ref) {
    await Promise.all(loggers.map(l => l.logDataset(data.ref as IDatasetRef)));
  }
  const fitData = { train: data.train, val: hasVal ? data.val : undefined, batchSize, augment: options.augment ?? true };
  let result;
  try {
    result = await trainer.fit(task, fitData, { ckptPath: options.resume });
  } catch (e) {
    await trainer.close();
    throw e;
  }
  // A cancelled fit has finalized its loggers (KILLED): keep its weights, log nothing more.
  const cancelled = result.status === 'cancelled';
  try {
    const last = path.join(dir, 'checkpoints', 'last.ckpt');
    // Saved again: fit may have stopped mid-epoch (maxSteps, cancel) after the epoch's last.ckpt.
    await trainer.saveCheckpoint(last);
    // The sessions hold the last weights; closing them makes test and predict use task.values.
    await trainer.close();
    // Test and export the best checkpoint's weights (the last ones when nothing was monitored).
    const best = checkpoint.bestModelPath;
    if (best && !cancelled) {
      task.values = (await taskFromCheckpoint(best)).values;
    }
    const testMetrics = data.test && data.test.length > 0 && !cancelled ? await trainer.test(task, { test: data.test, batchSize }) : {};
    const modelPath = path.join(dir, 'model.onnx');
    const s = data.train;
    await fsp.writeFile(modelPath, exportInference(task.modelOptions, task.values, { batch: 1, height: s.height, width: s.width }));
    if (cancelled) {
      return new TrainingRun(result.status, result.history, testMetrics, best, last, modelPath, task, trainer, data.name, Object.fromEntries(loggers.map(l => [l.name, l.runId])), data.ref);
    }
    await trainer.logArtifact(modelPath, 'model/model.onnx');
    await trainer.logArtifact(last, 'checkpoints/last.ckpt');
    if (options.registerAs) {
      for (const l of loggers) {
        await l.registerModel(options.registerAs, 'model/model.onnx', options.alias).catch(e => console.warn(`changelab: ${l.name} could not register the model: ${(e as Error).message}`));
      }
    }
    await trainer.finalizeLoggers('FINISHED');
    return new TrainingRun(result.status, result.history, testMetrics, best, last, modelPath, task, trainer, data.name, Object.fromEntries(loggers.map(l => [l.name, l.runId])), data.ref);
  } catch (e) {
    await trainer.finalizeLoggers('FAILED');
    await trainer.close();
    throw e;
  }
}
