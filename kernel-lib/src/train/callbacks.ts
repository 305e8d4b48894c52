// Trainer callbacks, as Lightning's: hooks called at fixed points of fit, with state saved in
// checkpoints (stateDict / loadStateDict). ModelCheckpoint keeps the top-k checkpoints by a
// monitored metric, EarlyStopping stops when it stops improving, LearningRateMonitor logs the
// rate each step, ProgressBar shows the epoch's progress (a notebook bar, or plain lines).

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { progress, type IProgress } from '../display';
import { GraphError } from './onnx/graph';
import type { Trainer } from './trainer';

export interface ITrainBatchEnd {
  loss: number;
  lr: number;
  /** Optimizer steps so far (after this batch). */
  globalStep: number;
  epoch: number;
  batchInEpoch: number;
  batchesPerEpoch: number;
  /** Whether this batch applied an optimizer update (always, without accumulation). */
  applied: boolean;
}

export interface ICallback {
  /** Key of the callback's state in checkpoints; unique per trainer. */
  readonly name: string;
  onFitStart?(trainer: Trainer): void | Promise<void>;
  onTrainBatchEnd?(trainer: Trainer, batch: ITrainBatchEnd): void | Promise<void>;
  /** After the epoch's training and validation; `metrics` is the epoch's row of the history. */
  onEpochEnd?(trainer: Trainer, metrics: Record<string, number>): void | Promise<void>;
  onFitEnd?(trainer: Trainer, status: 'finished' | 'stopped' | 'cancelled' | 'failed'): void | Promise<void>;
  stateDict?(): unknown;
  loadStateDict?(state: unknown): void;
}

export type MonitorMode = 'min' | 'max';

const better = (mode: MonitorMode, a: number, b: number, minDelta = 0) => (mode === 'min' ? a < b - minDelta : a > b + minDelta);

export interface IModelCheckpointOptions {
  /** Folder of the checkpoint files. */
  dirpath: string;
  /** Metric to rank checkpoints by; default 'val/loss'. */
  monitor?: string;
  /** Default 'min' for a loss, 'max' otherwise. */
  mode?: MonitorMode;
  /** Checkpoints kept; -1 keeps every one, 0 none (only `last`). Default 1. */
  saveTopK?: number;
  /** Also keep `last.ckpt`, overwritten each epoch. Default false. */
  saveLast?: boolean;
  /** File name pattern: {epoch}, {step} and metric names ({val/iou}). Default 'epoch={epoch}-step={step}'. */
  filename?: string;
}

interface ISavedCheckpoint {
  path: string;
  score: number;
}

/** Saves checkpoints at epoch ends and keeps the best `saveTopK` by `monitor`. */
export class ModelCheckpoint implements ICallback {
  readonly name = 'ModelCheckpoint';
  readonly dirpath: string;
  readonly monitor: string;
  readonly mode: MonitorMode;
  readonly saveTopK: number;
  private kept: ISavedCheckpoint[] = [];
  lastModelPath: string | undefined;

  constructor(private readonly options: IModelCheckpointOptions) {
    this.dirpath = options.dirpath;
    this.monitor = options.monitor ?? 'val/loss';
    this.mode = options.mode ?? (this.monitor.endsWith('loss') ? 'min' : 'max');
    this.saveTopK = options.saveTopK ?? 1;
    if (!Number.isInteger(this.saveTopK) || this.saveTopK < -1) {
      throw new GraphError(`saveTopK must be -1, 0 or a positive integer, got ${this.saveTopK}`);
    }
  }

  /** The best checkpoint so far (by `monitor`), or undefined before the first. */
  get bestModelPath(): string | undefined {
    return this.kept[0]?.path;
  }

  get bestModelScore(): number | undefined {
    return this.kept[0]?.score;
  }

  /** Kept checkpoints, best first. */
  get bestK(): readonly ISavedCheckpoint[] {
    return this.kept;
  }

  private fileName(metrics: Record<string, number>, epoch: number, step: number): string {
    const pattern = this.options.filename ?? 'epoch={epoch}-step={step}';
    return `${pattern.replace(/\{([^}]+)\}/g, (_, key: string) => {
      if (key === 'epoch') {
        return String(epoch);
      }
      if (key === 'step') {
        return String(step);
      }
      const v = metrics[key];
      return v === undefined ? 'na' : v.toFixed(4);
    }).replace(/[\\/]/g, '_')}.ckpt`;
  }

  async onEpochEnd(trainer: Trainer, metrics: Record<string, number>): Promise<void> {
    const epoch = trainer.position.epoch - 1;
    const step = trainer.position.globalStep;
    const score = metrics[this.monitor];
    if (this.saveTopK !== 0 && score !== undefined && Number.isFinite(score)) {
      const full = this.saveTopK !== -1 && this.kept.length >= this.saveTopK;
      const worst = this.kept[this.kept.length - 1];
      if (!full || better(this.mode, score, worst.score)) {
        const file = path.join(this.dirpath, this.fileName(metrics, epoch, step));
        this.kept.push({ path: file, score });
        this.kept.sort((a, b) => (better(this.mode, a.score, b.score) ? -1 : better(this.mode, b.score, a.score) ? 1 : 0));
        const dropped = this.saveTopK === -1 ? [] : this.kept.splice(this.saveTopK);
        // Saved after the ranking is updated, so the file itself records it.
        await trainer.saveCheckpoint(file);
        for (const d of dropped) {
          if (d.path !== file) {
            await fsp.rm(d.path, { force: true });
          }
        }
        await trainer.logArtifact(file, `checkpoints/${path.basename(file)}`);
      }
    }
    if (this.options.saveLast) {
      this.lastModelPath = path.join(this.dirpath, 'last.ckpt');
      await trainer.saveCheckpoint(this.lastModelPath);
    }
  }

  stateDict(): unknown {
    return { kept: this.kept, monitor: this.monitor, mode: this.mode };
  }

  loadStateDict(state: unknown): void {
    const s = state as { kept: ISavedCheckpoint[] };
    this.kept = s.kept.map(k => ({ ...k }));
  }
}

export interface IEarlyStoppingOptions {
  monitor?: string;
  mode?: MonitorMode;
  /** Epochs without improvement before stopping. Default 3. */
  patience?: number;
  /** Smallest change that counts as an improvement. Default 0. */
  minDelta?: number;
}

/** Stops fit when `monitor` has not improved for `patience` epochs. */
export class EarlyStopping implements ICallback {
  readonly name = 'EarlyStopping';
  readonly monitor: string;
  readonly mode: MonitorMode;
  best: number | undefined;
  wait = 0;
  stoppedEpoch: number | undefined;

  constructor(private readonly options: IEarlyStoppingOptions = {}) {
    this.monitor = options.monitor ?? 'val/loss';
    this.mode = options.mode ?? (this.monitor.endsWith('loss') ? 'min' : 'max');
  }

  onEpochEnd(trainer: Trainer, metrics: Record<string, number>): void {
    const v = metrics[this.monitor];
    if (v === undefined) {
      throw new GraphError(`EarlyStopping monitors ${this.monitor}, which was not logged (logged: ${Object.keys(metrics).join(', ')})`, { monitor: this.monitor });
    }
    if (this.best === undefined || better(this.mode, v, this.best, this.options.minDelta ?? 0)) {
      this.best = v;
      this.wait = 0;
      return;
    }
    this.wait++;
    if (this.wait >= (this.options.patience ?? 3)) {
      this.stoppedEpoch = trainer.position.epoch - 1;
      trainer.shouldStop = true;
    }
  }

  stateDict(): unknown {
    return { best: this.best, wait: this.wait };
  }

  loadStateDict(state: unknown): void {
    const s = state as { best?: number; wait: number };
    this.best = s.best;
    this.wait = s.wait;
  }
}

/** Logs the learning rate as `lr-<Optimizer>` at every optimizer step. */
export class LearningRateMonitor implements ICallback {
  readonly name = 'LearningRateMonitor';

  async onTrainBatchEnd(trainer: Trainer, b: ITrainBatchEnd): Promise<void> {
    if (b.applied) {
      await trainer.logMetrics({ [`lr-${trainer.optimizerName}`]: b.lr }, b.globalStep);
    }
  }
}

/** Whether this process is a tslab kernel that can display (display.ts explains the lookup). */
export function inNotebook(): boolean {
  return Object.entries(require.cache).some(
    ([file, mod]) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file) && typeof (mod?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData === 'function'
  );
}

export interface IProgressBarOptions {
  /** 'auto': a bar in notebooks, a line per epoch elsewhere. */
  mode?: 'auto' | 'notebook' | 'lines' | 'none';
  /** Where lines go. Default console.log. */
  print?: (line: string) => void;
}

/** Fit progress: one updating bar in a notebook; one plain line per epoch in a terminal or log. */
export class ProgressBar implements ICallback {
  readonly name = 'ProgressBar';
  private bar: IProgress | undefined;
  private readonly mode: 'notebook' | 'lines' | 'none';

  constructor(private readonly options: IProgressBarOptions = {}) {
    const m = options.mode ?? 'auto';
    this.mode = m === 'auto' ? (inNotebook() ? 'notebook' : 'lines') : m;
  }

  onTrainBatchEnd(trainer: Trainer, b: ITrainBatchEnd): void {
    if (this.mode !== 'notebook') {
      return;
    }
    this.bar ??= progress('Training', { mode: 'notebook' });
    const done = b.epoch * b.batchesPerEpoch + b.batchInEpoch;
    const total = trainer.maxEpochs ? trainer.maxEpochs * b.batchesPerEpoch : null;
    this.bar.update(done, total, `epoch ${b.epoch + 1}${trainer.maxEpochs ? `/${trainer.maxEpochs}` : ''}, loss ${b.loss.toFixed(4)}`);
  }

  onEpochEnd(_trainer: Trainer, metrics: Record<string, number>): void {
    if (this.mode !== 'lines') {
      return;
    }
    const summary = Object.entries(metrics)
      .filter(([k]) => k !== 'epoch' && k !== 'step')
      .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
      .join('  ');
    (this.options.print ?? console.log)(`epoch ${metrics.epoch} step ${metrics.step}  ${summary}`);
  }

  onFitEnd(trainer: Trainer, status: string): void {
    this.bar?.finish(`${status} after ${trainer.position.globalStep} steps`, status === 'finished' || status === 'stopped' ? 'ok' : 'warning');
    this.bar = undefined;
  }
}
