// The Trainer of the Lightning-style API: it takes a task (what to train) and data, and handles
// the rest: device and session settings, the loop over epochs and batches with validation,
// learning-rate schedules, gradient clipping and accumulation, callbacks, loggers, checkpoints that
// resume bit for bit, and running the ONNX sessions in a worker thread so the kernel stays live.

import { ConfigError } from '../errors';
import { type Seed } from '../synth/random';
import { EarlyStopping, ModelCheckpoint, ProgressBar, type ICallback, type IProgressBarOptions } from './callbacks';
import { loadCheckpoint, saveCheckpoint, CheckpointError, CHECKPOINT_FORMAT, type ICheckpoint, type ITrainerPosition } from './checkpoint';
import { ChangeLoader, type IAugmentOptions, type IChangeBatch, type IChangeSource, type ILoaderOptions } from './data/loader';
import { type ITrainLogger, type RunStatus } from './logger';
import { type IChangeModelInput } from './models/fc';
import { RANDOM_PREFIX, buildTrainingStep } from './step';
import * as op from './onnx/ops';
import { LocalRunner, WorkerRunner, assertCudaAvailable, cudaAvailable, type IRunnerSettings, type ISessionPlan, type IStepRunner, type ITensorValue } from './runner';
import { learningRate } from './schedule';
import { ChangeTask, type Stage } from './task';

export type Accelerator = 'auto' | 'cpu' | 'gpu';
export type Precision = '32' | '16-mixed' | 'bf16-mixed';

export interface ITrainerOptions {
  /** 'auto' (default): CUDA when its execution provider is installed, else the CPU. */
  accelerator?: Accelerator;
  /** CPU: 1. GPU: a count (ids 0..n-1) or the ids; only one device is supported for now. */
  devices?: number | number[];
  /** With accelerator 'gpu': train on the CPU (with a warning) when CUDA is missing, instead of failing. */
  fallback?: 'cpu';
  /** '32' only, for now ('16-mixed' / 'bf16-mixed' refuse with a message). */
  precision?: Precision;
  /** Default 10 when maxSteps is not given either. */
  maxEpochs?: number;
  /** Stop after this many optimizer steps. */
  maxSteps?: number;
  /** Clip gradients to this global L2 norm (torch.nn.utils.clip_grad_norm_). */
  gradClip?: number;
  /** Accumulate gradients over this many batches per optimizer step. Default 1. */
  accumulateGrad?: number;
  callbacks?: ICallback[];
  logger?: ITrainLogger | ITrainLogger[] | false;
  /** Seeds shuffling, augmentation and dropout. Default 'changelab'. */
  seed?: Seed;
  /** One inter-op thread and sequential execution; with a fixed thread count results repeat bit for bit. */
  deterministic?: boolean;
  /** ONNX Runtime intra-op threads (default: its own choice, one per core). */
  threads?: number;
  /** Let ONNX Runtime's threads busy-wait between ops (default false; see IRunnerSettings.spinning). */
  spinning?: boolean;
  /** Run the sessions in a worker thread (default true); false runs them in this thread. */
  worker?: boolean;
  /** The default progress bar; false leaves it out. */
  progressBar?: boolean | IProgressBarOptions;
  /** Log `train/loss_step` every n optimizer steps. Default 10. */
  logEveryNSteps?: number;
  /** Finalize the loggers when fit ends (default true); train() finalizes after testing and export. */
  finalizeLoggers?: boolean;
  /** Aborting it cancels fit after the current batch. */
  signal?: AbortSignal;
}

/** A Trainer setting that cannot be used (unknown value, unsupported combination). */
export class TrainerConfigError extends ConfigError {}

/** Data for fit / validate / test / predict: sources (wrapped in loaders with `batchSize`) or loaders. */
export interface ITrainerData {
  train?: IChangeSource | ChangeLoader;
  val?: IChangeSource | ChangeLoader;
  test?: IChangeSource | ChangeLoader;
  /** Batch size for sources given without a loader. Default 8. */
  batchSize?: number;
  /** Augmentation of training sources given without a loader. Default true (flips, rot90, jitter). */
  augment?: IAugmentOptions | boolean;
  normalize?: ILoaderOptions['normalize'];
}

export type FitStatus = 'finished' | 'stopped' | 'cancelled' | 'failed';

export interface IFitResult {
  status: FitStatus;
  position: ITrainerPosition;
  /** One row per epoch: epoch, step, train/*, val/*. */
  history: Record<string, number>[];
  bestModelPath?: string;
}

export interface IPrediction {
  id: string;
  /** Change probability per pixel, [H * W]. */
  probability: Float32Array;
}

interface IDims {
  batch: number;
  height: number;
  width: number;
  bands: number;
}

const TRAIN = 'train';
const f32 = (data: Float32Array, dims: number[]): ITensorValue => ({ dtype: 'float32', dims, data });
const scalar = (v: number): ITensorValue => f32(Float32Array.of(v), []);

export class Trainer {
  readonly options: ITrainerOptions;
  readonly callbacks: ICallback[];
  readonly loggers: ITrainLogger[];
  position: ITrainerPosition = { epoch: 0, batchInEpoch: 0, globalStep: 0, microStep: 0 };
  history: Record<string, number>[] = [];
  /** The latest value of everything logged (Lightning's callback_metrics). */
  callbackMetrics: Record<string, number> = {};
  /** Set by a callback (EarlyStopping) to end fit after the current epoch. */
  shouldStop = false;
  readonly maxEpochs: number | undefined;
  readonly seed: string;
  /** The device the sessions run on, once fit or evaluation started. */
  device: IRunnerSettings['device'] | undefined;

  private runner: IStepRunner | undefined;
  private task: ChangeTask | undefined;
  private dims: IDims | undefined;
  private trainPlan: { plan: ISessionPlan; paramNames: string[] } | undefined;
  private readonly loaded = new Set<string>();
  private cancelled = false;
  private epochState = { lossSum: 0, samples: 0 };
  private readonly loggerWarnings = new Set<string>();

  constructor(options: ITrainerOptions = {}) {
    this.options = options;
    const precision = options.precision ?? '32';
    if (precision !== '32') {
      if (precision === '16-mixed' || precision === 'bf16-mixed') {
        throw new TrainerConfigError(
          `precision '${precision}' is not implemented yet: training graphs are float32 only (an fp16 compute graph with fp32 master weights and loss scaling is planned). Use precision: '32'.`,
          { precision }
        );
      }
      throw new TrainerConfigError(`unknown precision ${String(precision)} ('32', '16-mixed' or 'bf16-mixed')`, { precision });
    }
    if (!['auto', 'cpu', 'gpu', undefined].includes(options.accelerator)) {
      throw new TrainerConfigError(`unknown accelerator ${String(options.accelerator)} ('auto', 'cpu' or 'gpu')`, { accelerator: options.accelerator });
    }
    const count = Array.isArray(options.devices) ? options.devices.length : (options.devices ?? 1);
    if (count !== 1) {
      throw new TrainerConfigError(
        `devices: ${JSON.stringify(options.devices)} asks for data parallelism over ${count} devices, which is not implemented yet; use one device`,
        { devices: options.devices }
      );
    }
    for (const key of ['maxEpochs', 'maxSteps', 'accumulateGrad', 'threads', 'logEveryNSteps'] as const) {
      const v = options[key];
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
        throw new TrainerConfigError(`${key} must be a positive integer, got ${v}`, { [key]: v });
      }
    }
    this.maxEpochs = options.maxEpochs ?? (options.maxSteps === undefined ? 10 : undefined);
    this.seed = String(options.seed ?? 'changelab');
    const callbacks = [...(options.callbacks ?? [])];
    if (options.progressBar !== false && !callbacks.some(c => c instanceof ProgressBar)) {
      callbacks.push(new ProgressBar(typeof options.progressBar === 'object' ? options.progressBar : {}));
    }
    const names = new Set<string>();
    for (const c of callbacks) {
      if (names.has(c.name)) {
        throw new TrainerConfigError(`two callbacks are named ${c.name}; give each a unique name`, { name: c.name });
      }
      names.add(c.name);
    }
    this.callbacks = callbacks;
    this.loggers = options.logger === false || options.logger === undefined ? [] : Array.isArray(options.logger) ? options.logger : [options.logger];
    options.signal?.addEventListener('abort', () => this.cancel());
  }

  get optimizerName(): string {
    const t = this.task?.hparams.optimizer ?? 'adam';
    return { adam: 'Adam', adamw: 'AdamW', sgd: 'SGD' }[t];
  }

  /** The ModelCheckpoint callback, if one was given. */
  get checkpointCallback(): ModelCheckpoint | undefined {
    return this.callbacks.find((c): c is ModelCheckpoint => c instanceof ModelCheckpoint);
  }

  get earlyStopping(): EarlyStopping | undefined {
    return this.callbacks.find((c): c is EarlyStopping => c instanceof EarlyStopping);
  }

  /** Asks fit to stop after the current batch (the step in flight completes). */
  cancel(): void {
    this.cancelled = true;
  }

  // ---- devices and sessions -------------------------------------------------------------------

  private resolveDevice(): IRunnerSettings['device'] {
    const o = this.options;
    const id = Array.isArray(o.devices) ? o.devices[0] : 0;
    const accelerator = o.accelerator ?? 'auto';
    if (accelerator === 'cpu') {
      return 'cpu';
    }
    if (accelerator === 'auto') {
      return cudaAvailable() ? { cuda: id } : 'cpu';
    }
    try {
      assertCudaAvailable(id);
      return { cuda: id };
    } catch (e) {
      if (o.fallback === 'cpu') {
        console.warn(`changelab: ${(e as Error).message.split('. ')[0]}; training on the CPU (fallback: 'cpu')`);
        return 'cpu';
      }
      throw e;
    }
  }

  private settings(device: IRunnerSettings['device']): IRunnerSettings {
    return {
      device,
      intraOpThreads: this.options.threads,
      interOpThreads: this.options.deterministic ? 1 : undefined,
      spinning: this.options.spinning
    };
  }

  private async openRunner(): Promise<IStepRunner> {
    const device = this.resolveDevice();
    const make = (d: IRunnerSettings['device']) => (this.options.worker === false ? new LocalRunner(this.settings(d)) : new WorkerRunner(this.settings(d)));
    this.device = device;
    return make(device);
  }

  /** Loads a session into the runner and remembers it (evaluation sessions are made once per batch size). */
  private async load(id: string, plan: ISessionPlan): Promise<void> {
    const runner = this.runner as IStepRunner;
    await runner.load(id, plan);
    this.loaded.add(id);
  }

  /** Builds the graphs for `task` and these dimensions (reusing the open runner when they match). */
  private async prepare(task: ChangeTask, dims: IDims, withTraining: boolean): Promise<void> {
    if (task.hparams.bands !== dims.bands) {
      throw new TrainerConfigError(`the data has ${dims.bands} bands, the task's model ${task.hparams.bands}`, { data: dims.bands, model: task.hparams.bands });
    }
    const same = this.runner && this.task === task && this.dims && this.dims.batch === dims.batch && this.dims.height === dims.height && this.dims.width === dims.width;
    if (!same) {
      await this.close();
      this.runner = await this.openRunner();
      this.task = task;
      this.dims = dims;
      const model = task.configureModel(this.input(dims.batch), 'eval');
      await this.runner.setValues(Object.fromEntries(model.graph.parameters.map(p => [p.tensor.name, f32(p.value as Float32Array, [...p.tensor.shape])])));
    }
    if (withTraining && !this.trainPlan) {
      const { model, loss } = task.sharedStep('train', this.input(dims.batch));
      const opt = task.configureOptimizers();
      const step = buildTrainingStep({
        graph: model.graph,
        loss,
        optimizer: opt.optimizer,
        trainable: model.trainable,
        buffers: model.bufferUpdates,
        outputs: { logits: model.logits },
        gradClip: this.options.gradClip,
        accumulate: this.options.accumulateGrad
      });
      const plan: ISessionPlan = {
        bytes: step.bytes,
        updates: [...step.trainable, ...step.states, ...step.buffers].map(({ name, output }) => ({ name, output })),
        random: model.graph.inputs.filter(t => t.name.startsWith(RANDOM_PREFIX)).map(t => [t.name, [...t.shape]])
      };
      this.trainPlan = { plan, paramNames: model.graph.parameters.map(p => p.tensor.name) };
      // Optimizer state (and gradient accumulators) start at zero, as in PyTorch.
      await (this.runner as IStepRunner).setValues(Object.fromEntries(step.states.map(s => [s.name, f32(new Float32Array(s.shape.reduce((a, b) => a * b, 1)), [...s.shape])])));
      await this.load(TRAIN, plan);
    }
  }

  private input(batch: number): IChangeModelInput {
    const d = this.dims as IDims;
    return { batch, height: d.height, width: d.width };
  }

  /** The evaluation (loss + logits) or prediction (probabilities) session for `count` samples. */
  private async evalSession(kind: 'eval' | 'predict', count: number): Promise<string> {
    const id = `${kind}:${count}`;
    if (!this.loaded.has(id)) {
      const task = this.task as ChangeTask;
      let bytes: Uint8Array;
      if (kind === 'eval') {
        const { model, loss } = task.sharedStep('val', this.input(count));
        bytes = model.graph.export({ outputs: { loss, logits: model.logits }, parameters: 'inputs', name: 'evaluation' }).bytes;
      } else {
        const model = task.configureModel(this.input(count), 'eval');
        bytes = model.graph.export({ outputs: { probability: op.sigmoid(model.logits) }, parameters: 'inputs', name: 'prediction' }).bytes;
      }
      await this.load(id, { bytes, updates: [], random: [] });
    }
    return id;
  }

  private loaderFor(data: IChangeSource | ChangeLoader, stage: Stage | 'predict', d: ITrainerData): ChangeLoader {
    if (data instanceof ChangeLoader) {
      return data;
    }
    const train = stage === 'train';
    return new ChangeLoader(data, {
      batchSize: d.batchSize ?? 8,
      shuffle: train,
      augment: train ? (d.augment ?? true) : false,
      dropLast: train,
      seed: `${this.seed}/data`,
      normalize: d.normalize
    });
  }

  private dimsOf(loader: ChangeLoader, batch = loader.batchSize): IDims {
    const s = loader.source;
    return { batch, height: s.height, width: s.width, bands: s.bands };
  }

  // ---- logging --------------------------------------------------------------------------------

  async logMetrics(metrics: Record<string, number>, step: number): Promise<void> {
    Object.assign(this.callbackMetrics, metrics);
    await Promise.all(this.loggers.map(l => this.guard(l, () => l.logMetrics(metrics, step))));
  }

  async logArtifact(localPath: string, artifactPath: string): Promise<void> {
    await Promise.all(this.loggers.map(l => this.guard(l, () => l.logArtifact(localPath, artifactPath))));
  }

  /** A logger that fails (a tracking server gone) warns once and does not stop training. */
  private async guard(logger: ITrainLogger, call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (e) {
      if (!this.loggerWarnings.has(logger.name)) {
        this.loggerWarnings.add(logger.name);
        console.warn(`changelab: logger ${logger.name} failed (${(e as Error).message}); training goes on`);
      }
    }
  }

  async finalizeLoggers(status: RunStatus): Promise<void> {
    await Promise.all(this.loggers.map(l => this.guard(l, () => l.finalize(status))));
  }

  // ---- fit ------------------------------------------------------------------------------------

  /** Trains `task` on `data.train`, validating on `data.val` after each epoch. */
  async fit(task: ChangeTask, data: ITrainerData, options: { ckptPath?: string } = {}): Promise<IFitResult> {
    if (!data.train) {
      throw new TrainerConfigError('fit needs data.train');
    }
    const trainLoader = this.loaderFor(data.train, 'train', data);
    const valLoader = data.val && this.loaderFor(data.val, 'val', data);
    if (trainLoader.batchesPerEpoch === 0) {
      throw new TrainerConfigError(`the training data has ${trainLoader.source.length} samples, fewer than one batch of ${trainLoader.batchSize}`, {
        samples: trainLoader.source.length,
        batchSize: trainLoader.batchSize
      });
    }
    const checkpoint = options.ckptPath ? await loadCheckpoint(options.ckptPath) : undefined;
    this.cancelled = false;
    this.shouldStop = false;
    this.trainPlan = undefined;
    this.loaded.clear();
    await this.close();
    let status: FitStatus = 'failed';
    try {
      await this.prepare(task, this.dimsOf(trainLoader), true);
      if (checkpoint) {
        await this.restore(task, checkpoint, trainLoader);
      } else {
        this.position = { epoch: 0, batchInEpoch: 0, globalStep: 0, microStep: 0 };
        this.history = [];
        this.epochState = { lossSum: 0, samples: 0 };
        task.metrics.train.reset();
      }
      await Promise.all(this.loggers.map(l => l.logHyperparams(this.hyperparameters(task, trainLoader))));
      for (const c of this.callbacks) {
        await c.onFitStart?.(this);
      }
      status = await this.loop(task, trainLoader, valLoader);
      await this.syncTask();
    } catch (e) {
      status = this.cancelled ? 'cancelled' : 'failed';
      for (const c of this.callbacks) {
        await c.onFitEnd?.(this, status);
      }
      await this.finalizeLoggers(status === 'cancelled' ? 'KILLED' : 'FAILED');
      if (status === 'cancelled') {
        return { status, position: { ...this.position }, history: this.history };
      }
      throw e;
    }
    for (const c of this.callbacks) {
      await c.onFitEnd?.(this, status);
    }
    if (this.options.finalizeLoggers !== false || status === 'cancelled') {
      await this.finalizeLoggers(status === 'cancelled' ? 'KILLED' : 'FINISHED');
    }
    return { status, position: { ...this.position }, history: this.history, bestModelPath: this.checkpointCallback?.bestModelPath };
  }

  private hyperparameters(task: ChangeTask, loader: ChangeLoader): Record<string, string | number | boolean> {
    const h: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(task.hparams)) {
      h[k] = typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean);
    }
    return {
      ...h,
      batchSize: loader.batchSize,
      chip: loader.source.height,
      trainSamples: loader.source.length,
      maxEpochs: this.maxEpochs ?? -1,
      maxSteps: this.options.maxSteps ?? -1,
      accumulateGrad: this.options.accumulateGrad ?? 1,
      gradClip: this.options.gradClip ?? 0,
      seed: this.seed,
      precision: this.options.precision ?? '32',
      device: this.device === 'cpu' || this.device === undefined ? 'cpu' : `cuda:${this.device.cuda}`
    };
  }

  private reachedMaxSteps(): boolean {
    return this.options.maxSteps !== undefined && this.position.globalStep >= this.options.maxSteps;
  }

  private async loop(task: ChangeTask, train: ChangeLoader, val: ChangeLoader | undefined): Promise<FitStatus> {
    const runner = this.runner as IStepRunner;
    const opt = task.configureOptimizers();
    const k = this.options.accumulateGrad ?? 1;
    const perEpoch = train.batchesPerEpoch;
    const logEvery = this.options.logEveryNSteps ?? 10;
    const fetch = ['loss', 'logits', ...(this.options.gradClip !== undefined ? ['grad_norm'] : [])];
    while ((this.maxEpochs === undefined || this.position.epoch < this.maxEpochs) && !this.shouldStop) {
      if (this.reachedMaxSteps()) {
        return 'finished';
      }
      const epoch = this.position.epoch;
      const batches = train.batches(epoch, this.position.batchInEpoch);
      // The next batch is read and augmented while the worker runs the current step.
      let next = batches.next();
      while (true) {
        const item = await next;
        if (item.done) {
          break;
        }
        next = batches.next();
        const b = item.value;
        const inEpoch = this.position.batchInEpoch;
        const applied = (inEpoch + 1) % k === 0 || inEpoch + 1 === perEpoch;
        const lr = learningRate(opt.lr, this.position.globalStep, opt.schedule);
        const mask = (b.mask as Float32Array).slice();
        const feeds: Record<string, ITensorValue> = {
          ...this.batchFeeds(b),
          lr: scalar(lr),
          step: scalar(this.position.globalStep + 1)
        };
        if (k > 1) {
          feeds.apply = { dtype: 'bool', dims: [], data: Uint8Array.of(applied ? 1 : 0) };
        }
        const out = await runner.run(TRAIN, feeds, fetch, { seed: this.seed, step: this.position.microStep + 1 });
        const loss = (out.loss.data as Float32Array)[0];
        this.position.microStep++;
        this.position.batchInEpoch++;
        if (applied) {
          this.position.globalStep++;
        }
        this.epochState.lossSum += loss * b.count;
        this.epochState.samples += b.count;
        const logged = task.stepEnd('train', { loss, logits: out.logits.data as Float32Array, mask, count: b.count });
        if (applied && this.position.globalStep % logEvery === 0) {
          const m: Record<string, number> = { 'train/loss_step': logged['train/loss'] };
          if (out.grad_norm) {
            m['train/grad_norm'] = (out.grad_norm.data as Float32Array)[0];
          }
          await this.logMetrics(m, this.position.globalStep);
        }
        for (const c of this.callbacks) {
          await c.onTrainBatchEnd?.(this, { loss, lr, globalStep: this.position.globalStep, epoch, batchInEpoch: this.position.batchInEpoch, batchesPerEpoch: perEpoch, applied });
        }
        if (this.cancelled) {
          await batches.return(undefined);
          return 'cancelled';
        }
        if (this.reachedMaxSteps()) {
          await batches.return(undefined);
          return 'finished';
        }
      }
      await this.endEpoch(task, val);
      if (this.cancelled) {
        return 'cancelled';
      }
    }
    return this.shouldStop ? 'stopped' : 'finished';
  }

  private async endEpoch(task: ChangeTask, val: ChangeLoader | undefined): Promise<void> {
    const row: Record<string, number> = {
      epoch: this.position.epoch,
      step: this.position.globalStep,
      'train/loss': this.epochState.lossSum / Math.max(1, this.epochState.samples),
      ...task.epochMetrics('train')
    };
    if (val && val.source.length > 0) {
      Object.assign(row, await this.evaluate('val', val));
    }
    this.history.push(row);
    this.position = { ...this.position, epoch: this.position.epoch + 1, batchInEpoch: 0 };
    this.epochState = { lossSum: 0, samples: 0 };
    task.metrics.train.reset();
    const { epoch: _e, step: _s, ...metrics } = row;
    await this.logMetrics({ ...metrics, epoch: row.epoch }, this.position.globalStep);
    for (const c of this.callbacks) {
      await c.onEpochEnd?.(this, row);
    }
  }

  private batchFeeds(b: IChangeBatch): Record<string, ITensorValue> {
    const dims = [b.count, b.bands, b.height, b.width];
    const feeds: Record<string, ITensorValue> = { before: f32(b.before, dims), after: f32(b.after, dims) };
    if (b.mask) {
      feeds.mask = f32(b.mask, [b.count, 1, b.height, b.width]);
    }
    return feeds;
  }

  /** Loss and metrics of a stage over a whole loader (the model in evaluation mode). */
  private async evaluate(stage: 'val' | 'test', loader: ChangeLoader): Promise<Record<string, number>> {
    const task = this.task as ChangeTask;
    task.metrics[stage].reset();
    let lossSum = 0;
    let samples = 0;
    for await (const b of loader.batches(0)) {
      if (!b.mask) {
        throw new TrainerConfigError(`${stage} data ${loader.source.name} has no labels`, { source: loader.source.name });
      }
      const mask = b.mask.slice();
      const id = await this.evalSession('eval', b.count);
      const out = await (this.runner as IStepRunner).run(id, this.batchFeeds(b), ['loss', 'logits']);
      const loss = (out.loss.data as Float32Array)[0];
      lossSum += loss * b.count;
      samples += b.count;
      task.stepEnd(stage, { loss, logits: out.logits.data as Float32Array, mask, count: b.count });
    }
    return { [`${stage}/loss`]: lossSum / Math.max(1, samples), ...task.epochMetrics(stage) };
  }

  private async openFor(task: ChangeTask, loader: ChangeLoader): Promise<void> {
    await this.prepare(task, this.dimsOf(loader), false);
  }

  /** Validation loss and metrics of `task` (its current weights) on `data.val`. */
  async validate(task: ChangeTask, data: ITrainerData): Promise<Record<string, number>> {
    if (!data.val) {
      throw new TrainerConfigError('validate needs data.val');
    }
    const loader = this.loaderFor(data.val, 'val', data);
    await this.openFor(task, loader);
    const m = await this.evaluate('val', loader);
    await this.logMetrics(m, this.position.globalStep);
    return m;
  }

  /** Test loss and metrics of `task` on `data.test`. */
  async test(task: ChangeTask, data: ITrainerData): Promise<Record<string, number>> {
    if (!data.test) {
      throw new TrainerConfigError('test needs data.test');
    }
    const loader = this.loaderFor(data.test, 'test', data);
    await this.openFor(task, loader);
    const m = await this.evaluate('test', loader);
    await this.logMetrics(m, this.position.globalStep);
    return m;
  }

  /** Change probabilities per sample of a source (labels, if any, are ignored). */
  async predict(task: ChangeTask, data: IChangeSource | ChangeLoader, options: { batchSize?: number } = {}): Promise<IPrediction[]> {
    const loader = this.loaderFor(data, 'predict', { batchSize: options.batchSize });
    await this.openFor(task, loader);
    const out: IPrediction[] = [];
    const plane = loader.source.height * loader.source.width;
    for await (const b of loader.batches(0)) {
      const id = await this.evalSession('predict', b.count);
      const feeds = this.batchFeeds(b);
      delete feeds.mask;
      const r = await (this.runner as IStepRunner).run(id, feeds, ['probability']);
      const p = r.probability.data as Float32Array;
      b.ids.forEach((sample, i) => out.push({ id: sample, probability: p.slice(i * plane, (i + 1) * plane) }));
    }
    return out;
  }

  // ---- checkpoints ----------------------------------------------------------------------------

  /** Copies the trained parameters (and running statistics) into `task.values`. */
  private async syncTask(): Promise<void> {
    if (!this.runner || !this.task || !this.trainPlan) {
      return;
    }
    const values = await this.runner.getValues(this.trainPlan.paramNames);
    this.task.values = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.data as Float32Array]));
  }

  /** Saves everything needed to resume: weights, optimizer state, position, RNG draws, callbacks. */
  async saveCheckpoint(file: string): Promise<void> {
    if (!this.runner || !this.task || !this.trainPlan || !this.dims) {
      throw new CheckpointError('nothing to save: fit has not started');
    }
    const task = this.task;
    const checkpoint: ICheckpoint = {
      format: CHECKPOINT_FORMAT,
      created: new Date().toISOString(),
      hparams: task.hparams,
      input: { ...this.dims },
      trainer: { position: { ...this.position }, seed: this.seed, accumulate: this.options.accumulateGrad ?? 1, gradClip: this.options.gradClip ?? null },
      epochState: { ...this.epochState, confusion: { train: task.metrics.train.confusion } },
      history: this.history,
      callbacks: Object.fromEntries(this.callbacks.filter(c => c.stateDict).map(c => [c.name, c.stateDict?.()])),
      tensors: await this.runner.getValues(),
      trainingGraph: this.trainPlan.plan.bytes
    };
    await saveCheckpoint(file, checkpoint);
  }

  private async restore(task: ChangeTask, ckpt: ICheckpoint, loader: ChangeLoader): Promise<void> {
    for (const key of ['model', 'bands', 'width', 'loss', 'optimizer'] as const) {
      if (ckpt.hparams[key] !== task.hparams[key]) {
        throw new CheckpointError(`the checkpoint was trained with ${key} ${ckpt.hparams[key]}, the task has ${task.hparams[key]}`, { key });
      }
    }
    const d = this.dimsOf(loader);
    if (ckpt.input.batch !== d.batch || ckpt.input.height !== d.height || ckpt.input.width !== d.width) {
      throw new CheckpointError(
        `the checkpoint was trained on batches of ${ckpt.input.batch} x ${ckpt.input.height}x${ckpt.input.width}, this data gives ${d.batch} x ${d.height}x${d.width}`,
        { checkpoint: ckpt.input, data: d }
      );
    }
    if (ckpt.trainer.accumulate !== (this.options.accumulateGrad ?? 1)) {
      throw new CheckpointError(`the checkpoint accumulated ${ckpt.trainer.accumulate} batches per step, this trainer ${this.options.accumulateGrad ?? 1}`);
    }
    await (this.runner as IStepRunner).setValues(ckpt.tensors);
    this.position = { ...ckpt.trainer.position };
    this.history = ckpt.history.map(r => ({ ...r }));
    this.epochState = { lossSum: ckpt.epochState.lossSum, samples: ckpt.epochState.samples };
    const confusion = ckpt.epochState.confusion.train;
    if (confusion) {
      task.metrics.train.restore(confusion);
    } else {
      task.metrics.train.reset();
    }
    if (ckpt.trainer.seed !== this.seed) {
      console.warn(`changelab: the checkpoint used seed ${ckpt.trainer.seed}, this trainer ${this.seed}; the rest of the run draws from the new seed`);
    }
    for (const c of this.callbacks) {
      const state = ckpt.callbacks[c.name];
      if (state !== undefined) {
        c.loadStateDict?.(state);
      }
    }
  }

  /** Releases the sessions (and the worker thread). */
  async close(): Promise<void> {
    const runner = this.runner;
    this.runner = undefined;
    this.task = undefined;
    this.dims = undefined;
    this.trainPlan = undefined;
    this.loaded.clear();
    await runner?.close();
  }
}

/** A task with the hyper-parameters and trained weights of a checkpoint (for predict or export). */
export async function taskFromCheckpoint(file: string): Promise<ChangeTask> {
  const ckpt = await loadCheckpoint(file);
  const task = new ChangeTask(ckpt.hparams);
  const model = task.configureModel({ batch: 1, height: ckpt.input.height, width: ckpt.input.width }, 'eval');
  task.values = Object.fromEntries(
    model.graph.parameters.map(p => {
      const t = ckpt.tensors[p.tensor.name];
      if (!t) {
        throw new CheckpointError(`${file} has no value for ${p.tensor.name}`, { file, name: p.tensor.name });
      }
      return [p.tensor.name, t.data as Float32Array];
    })
  );
  return task;
}
