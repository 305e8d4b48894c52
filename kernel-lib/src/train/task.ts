// The base task of the Lightning-style API (torchgeo's trainers are the model): what to train is
// split into configureModel / configureLosses / configureMetrics / configureOptimizers, and one
// shared step serves the train, val and test stages. Graphs are built here, in the caller's thread;
// the Trainer runs them. Subclass ChangeTask and override a configure* method to change one part.

import { type Seed } from '../synth/random';
import { bceWithLogits, diceLoss } from './losses';
import { ChangeMetrics } from './metrics';
import { buildChangeModel, type ChangeModelKind, type IChangeModel, type IChangeModelInput } from './models/fc';
import { type ModelMode } from './models/layers';
import { GraphError, Tensor, type TypedArray } from './onnx/graph';
import * as op from './onnx/ops';
import { type OptimizerOptions } from './optim';
import { type IScheduleOptions, type LrSchedule } from './schedule';

export type Stage = 'train' | 'val' | 'test';
export type LossKind = 'bce' | 'dice' | 'bce+dice';
export type OptimizerKind = 'adam' | 'adamw' | 'sgd';

/** Hyper-parameters of a change-detection task; all of them are saved with checkpoints and runs. */
export interface IChangeTaskOptions {
  model?: ChangeModelKind;
  /** Bands per date. Default 3. */
  bands?: number;
  /** Width of the first level (FC paper: 16; ResNet-18: 64). Default 16. */
  width?: number;
  dropout?: number;
  /** Seeds the initial weights. Default 'changelab'. */
  modelSeed?: Seed;
  loss?: LossKind;
  /** BCE's weight of change pixels (pos_weight). */
  posWeight?: number;
  optimizer?: OptimizerKind;
  lr?: number;
  weightDecay?: number;
  /** SGD momentum (default 0.9 for 'sgd'). */
  momentum?: number;
  nesterov?: boolean;
  schedule?: LrSchedule;
  warmupSteps?: number;
  /** Probability above which a pixel counts as change, for the metrics. Default 0.5. */
  threshold?: number;
}

export type ChangeTaskHparams = Required<Omit<IChangeTaskOptions, 'schedule'>> & { schedule: LrSchedule };

export interface IOptimizerConfig {
  optimizer: OptimizerOptions;
  lr: number;
  schedule: IScheduleOptions;
}

/** What a stage's graph gives back per batch. */
export interface IStepOutputs {
  loss: number;
  /** [N, 1, H, W] logits of the first `count` samples (padding dropped). */
  logits: Float32Array;
  mask?: Float32Array;
  count: number;
}

/** Change detection on bi-temporal chips: FC models or siam-resnet18-diff, BCE / Dice losses, torchmetrics' change metrics. */
export class ChangeTask {
  readonly hparams: ChangeTaskHparams;
  /** Trained values by parameter name (set by Trainer.fit or a checkpoint); empty: initial weights. */
  values: Record<string, TypedArray> = {};
  /** Metrics per stage, each a clone of configureMetrics(); keys are logged with the stage as prefix. */
  readonly metrics: Record<Stage, ChangeMetrics>;

  constructor(options: IChangeTaskOptions = {}) {
    const optimizer = options.optimizer ?? 'adam';
    this.hparams = {
      model: options.model ?? 'fc-siam-diff',
      bands: options.bands ?? 3,
      width: options.width ?? 16,
      dropout: options.dropout ?? 0.2,
      modelSeed: options.modelSeed ?? 'changelab',
      loss: options.loss ?? 'bce',
      posWeight: options.posWeight ?? 1,
      optimizer,
      lr: options.lr ?? (optimizer === 'sgd' ? 0.01 : 1e-3),
      weightDecay: options.weightDecay ?? (optimizer === 'adamw' ? 0.01 : 0),
      momentum: options.momentum ?? (optimizer === 'sgd' ? 0.9 : 0),
      nesterov: options.nesterov ?? false,
      schedule: options.schedule ?? { type: 'constant' },
      warmupSteps: options.warmupSteps ?? 0,
      threshold: options.threshold ?? 0.5
    };
    if (!['bce', 'dice', 'bce+dice'].includes(this.hparams.loss)) {
      throw new GraphError(`unknown loss ${this.hparams.loss} (bce, dice or bce+dice)`, { loss: this.hparams.loss });
    }
    if (!['adam', 'adamw', 'sgd'].includes(optimizer)) {
      throw new GraphError(`unknown optimizer ${optimizer} (adam, adamw or sgd)`, { optimizer });
    }
    if (!(this.hparams.lr > 0)) {
      throw new GraphError(`lr must be > 0, got ${this.hparams.lr}`, { lr: this.hparams.lr });
    }
    const metric = this.configureMetrics();
    this.metrics = { train: metric.clone(), val: metric.clone(), test: metric.clone() };
  }

  /** The network, built for a batch size and chip size, in training or evaluation mode. */
  configureModel(input: IChangeModelInput, mode: ModelMode): IChangeModel {
    const h = this.hparams;
    const values = Object.keys(this.values).length > 0 ? this.values : undefined;
    return buildChangeModel({ kind: h.model, bands: h.bands, width: h.width, dropout: h.dropout, seed: h.modelSeed }, input, mode, values);
  }

  /** The scalar loss of the logits against the 0/1 target (same shape). */
  configureLosses(logits: Tensor, target: Tensor): Tensor {
    const h = this.hparams;
    const bce = () => bceWithLogits(logits, target, { posWeight: h.posWeight });
    switch (h.loss) {
      case 'bce':
        return bce();
      case 'dice':
        return diceLoss(logits, target);
      default:
        return op.add(bce(), diceLoss(logits, target));
    }
  }

  configureMetrics(): ChangeMetrics {
    return new ChangeMetrics(this.hparams.threshold);
  }

  configureOptimizers(): IOptimizerConfig {
    const h = this.hparams;
    const optimizer: OptimizerOptions =
      h.optimizer === 'sgd'
        ? { type: 'sgd', momentum: h.momentum, nesterov: h.nesterov, weightDecay: h.weightDecay }
        : { type: h.optimizer, weightDecay: h.weightDecay };
    return { optimizer, lr: h.lr, schedule: { schedule: h.schedule, warmupSteps: h.warmupSteps } };
  }

  /**
   * The step shared by every stage: builds the stage's graph (the model in training mode for
   * 'train', evaluation mode otherwise, and the loss), the Trainer runs it, and `stepEnd` turns
   * its outputs into metric updates and logged values.
   */
  sharedStep(stage: Stage, input: IChangeModelInput): { model: IChangeModel; target: Tensor; loss: Tensor } {
    const model = this.configureModel(input, stage === 'train' ? 'train' : 'eval');
    const target = model.graph.input('mask', [input.batch, model.options.classes, input.height, input.width]);
    return { model, target, loss: this.configureLosses(model.logits, target) };
  }

  /** Updates the stage's metrics with a batch; returns what to log for this step. */
  stepEnd(stage: Stage, out: IStepOutputs): Record<string, number> {
    if (out.mask) {
      this.metrics[stage].update(out.logits, out.mask);
    }
    return { [`${stage}/loss`]: out.loss };
  }

  /** The stage's epoch metrics (`val/iou`, `val/f1`, ...). */
  epochMetrics(stage: Stage): Record<string, number> {
    return Object.fromEntries(Object.entries(this.metrics[stage].compute()).map(([k, v]) => [`${stage}/${k}`, v]));
  }

  /** Model options as buildChangeModel / exportInference take them. */
  get modelOptions() {
    const h = this.hparams;
    return { kind: h.model, bands: h.bands, width: h.width, dropout: h.dropout, seed: h.modelSeed };
  }
}
