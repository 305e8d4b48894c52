// The training step as one ONNX model: batch, parameters and optimizer state in; loss, updated
// parameters and updated state out. onnxruntime-node has no training API, so a step is exactly one
// InferenceSession.run, and TrainingSession keeps the values between steps.

import * as ort from 'onnxruntime-node';

import { ChangelabError } from '../errors';
import { gradients } from './autodiff';
import { createRandom, type Seed } from '../synth/random';
import { Graph, GraphError, Tensor, arrayFor, type TypedArray } from './onnx/graph';
import * as op from './onnx/ops';
import { emitOptimizerUpdate, type OptimizerOptions } from './optim';

/** onnxruntime refused a model or failed a step; the cause holds its own message. */
export class TrainingRuntimeError extends ChangelabError {}

export interface ITrainingStepOptions {
  graph: Graph;
  /** Scalar loss built in `graph`. */
  loss: Tensor;
  optimizer: OptimizerOptions;
  /** Parameters to train (default: all of the graph's); the others are fed unchanged. */
  trainable?: readonly Tensor[];
  /** Extra values to return each step (logits for metrics, batch statistics). */
  outputs?: Readonly<Record<string, Tensor>>;
  /**
   * Parameters that are not trained but change each step (batch norm's running statistics): the
   * session feeds `buffer` and keeps `next` for the following step.
   */
  buffers?: readonly IBufferUpdate[];
  /** Also return each trainable parameter's gradient as output `grad:<name>` (checks, logging). */
  returnGradients?: boolean;
  /**
   * Clip gradients by their global L2 norm before the update, as torch.nn.utils.clip_grad_norm_
   * (scale max / (norm + 1e-6) when below 1). The norm before clipping is output `grad_norm`.
   */
  gradClip?: number;
  /**
   * Accumulate gradients over this many steps (each scaled by 1 / k, as Lightning does): the step
   * takes a boolean input `apply`; the parameters and optimizer state change only when it is true,
   * and running statistics change every step, as in PyTorch.
   */
  accumulate?: number;
}

/** A non-trained parameter (running statistics) and the value it takes after this step. */
export interface IBufferUpdate {
  buffer: Tensor;
  next: Tensor;
}

export interface ITrainingStepModel {
  bytes: Uint8Array;
  inputNames: string[];
  outputNames: string[];
  /** Batch inputs the caller feeds each step. */
  batchNames: string[];
  trainable: { name: string; output: string }[];
  /** Buffers (running statistics): input name and the output holding its next value. */
  buffers: { name: string; output: string }[];
  /** Optimizer state (and gradient accumulators): input name, output name, shape. */
  states: { name: string; output: string; shape: readonly number[] }[];
  lossName: string;
  /** Inputs named `random:*` (dropout masks): uniform [0, 1) values the session draws each step. */
  randomNames: string[];
  /** Whether the step takes the boolean `apply` input (gradient accumulation). */
  accumulates: boolean;
}

/** Names fed by the session itself; the scalar learning rate and the 1-based step count. */
export const LR_INPUT = 'lr';
export const STEP_INPUT = 'step';
/** Boolean scalar of an accumulating step: true on the micro-step that applies the update. */
export const APPLY_INPUT = 'apply';
/** Prefix of inputs the session fills with seeded uniform noise each step (see randomFeeds). */
export const RANDOM_PREFIX = 'random:';
const LOSS_OUTPUT = 'loss';
const nextName = (name: string) => `${name}.next`;

/** Builds forward + loss + backward + update into the graph and exports the step model. */
export function buildTrainingStep(options: ITrainingStepOptions): ITrainingStepModel {
  const { graph, loss } = options;
  const buffers = options.buffers ?? [];
  const bufferNames = new Set(buffers.map(b => b.buffer.name));
  const trainable = options.trainable ?? graph.parameters.map(p => p.tensor).filter(t => !bufferNames.has(t.name));
  if (trainable.some(t => bufferNames.has(t.name))) {
    throw new GraphError('a buffer cannot also be trained', { buffers: [...bufferNames] });
  }
  if (trainable.length === 0) {
    throw new GraphError('nothing to train: the graph has no parameters');
  }
  const dtype = trainable[0].dtype;
  const raw = gradients(loss, trainable);
  const lr = graph.input(LR_INPUT, [], dtype);
  const step = graph.input(STEP_INPUT, [], dtype);
  const k = options.accumulate ?? 1;
  if (!Number.isInteger(k) || k < 1) {
    throw new GraphError(`accumulate must be a positive integer, got ${k}`, { accumulate: k });
  }
  const extra: Record<string, Tensor> = {};
  const accumulators: { input: Tensor; output: Tensor }[] = [];
  let grads = raw;
  let apply: Tensor | undefined;
  if (k > 1) {
    apply = graph.input(APPLY_INPUT, [], 'bool');
    grads = raw.map((g, i) => {
      const acc = graph.input(`${trainable[i].name}.grad_acc`, trainable[i].shape, dtype);
      const total = op.add(acc, op.mul(g, 1 / k));
      accumulators.push({ input: acc, output: op.where(apply as Tensor, 0, total) });
      return total;
    });
  }
  if (options.gradClip !== undefined) {
    if (!(options.gradClip > 0)) {
      throw new GraphError(`gradClip must be > 0, got ${options.gradClip}`, { gradClip: options.gradClip });
    }
    const squares = grads.map(g => op.reduceSum(op.mul(g, g)));
    const norm = op.sqrt(squares.reduce((a, b) => op.add(a, b)));
    const coef = op.div(options.gradClip, op.add(norm, 1e-6));
    const scale = op.where(op.greater(coef, 1), 1, coef);
    grads = grads.map(g => op.mul(g, scale));
    extra.grad_norm = norm;
  }
  const update = emitOptimizerUpdate(graph, options.optimizer, trainable, grads, lr, step);
  // With accumulation, parameters and state keep their values until the applying micro-step.
  const gate = (next: Tensor, current: Tensor) => (apply ? op.where(apply, next, current) : next);

  const outputs: Record<string, Tensor> = { [LOSS_OUTPUT]: loss, ...extra };
  trainable.forEach((p, i) => (outputs[nextName(p.name)] = gate(update.updated[i], p)));
  for (const s of update.states) {
    outputs[nextName(s.input.name)] = gate(s.output, s.input);
  }
  for (const a of accumulators) {
    outputs[nextName(a.input.name)] = a.output;
  }
  for (const b of buffers) {
    outputs[nextName(b.buffer.name)] = b.next;
  }
  if (options.returnGradients) {
    trainable.forEach((p, i) => (outputs[`grad:${p.name}`] = grads[i]));
  }
  for (const [name, t] of Object.entries(options.outputs ?? {})) {
    if (name in outputs) {
      throw new GraphError(`output name ${name} is taken`, { name });
    }
    outputs[name] = t;
  }
  const model = graph.export({ outputs, parameters: 'inputs', name: 'training_step' });
  const states = [...update.states, ...accumulators];
  const fedBySession = new Set([LR_INPUT, STEP_INPUT, APPLY_INPUT, ...graph.parameters.map(p => p.tensor.name), ...states.map(s => s.input.name)]);
  return {
    bytes: model.bytes,
    inputNames: model.inputNames,
    outputNames: model.outputNames,
    batchNames: model.inputNames.filter(n => !fedBySession.has(n) && !n.startsWith(RANDOM_PREFIX)),
    trainable: trainable.map(p => ({ name: p.name, output: nextName(p.name) })),
    buffers: buffers.map(b => ({ name: b.buffer.name, output: nextName(b.buffer.name) })),
    states: states.map(s => ({ name: s.input.name, output: nextName(s.input.name), shape: s.input.shape })),
    lossName: LOSS_OUTPUT,
    randomNames: model.inputNames.filter(n => n.startsWith(RANDOM_PREFIX)),
    accumulates: k > 1
  };
}

export type BatchValue = ort.Tensor | TypedArray;

export interface IStepResult {
  loss: number;
  /** The extra outputs asked for in ITrainingStepOptions.outputs. */
  outputs: Record<string, ort.Tensor>;
}

export interface ITrainingSessionOptions extends ITrainingStepOptions {
  /** Initial learning rate; `step({lr})` overrides it per step (schedules). */
  lr: number;
  session?: ort.InferenceSession.SessionOptions;
  /** Seeds the `random:*` inputs (dropout masks); with the step count it fixes every draw. */
  randomSeed?: Seed;
}

/**
 * The `random:*` inputs of a step: uniform [0, 1) drawn from (seed, input name, step), so a
 * step's noise depends only on its number, never on the session's history. That is what lets a
 * checkpoint resume bit for bit (ONNX RandomUniform's generator restarts with each session).
 */
export function randomFeeds(names: readonly string[], shapes: ReadonlyMap<string, readonly number[]>, seed: Seed, step: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of names) {
    const shape = shapes.get(name) ?? [];
    const random = createRandom(`${seed}/${name}/${step}`);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      data[i] = random.next();
    }
    feeds[name] = new ort.Tensor('float32', data, shape);
  }
  return feeds;
}

type OrtDType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8';

/** A training step model loaded in onnxruntime, holding parameters and optimizer state between steps. */
export class TrainingSession {
  private values = new Map<string, ort.Tensor>();
  private stepCount = 0;
  /** Updates applied (differs from stepCount with gradient accumulation); Adam's step number. */
  private updates = 0;

  private constructor(
    readonly model: ITrainingStepModel,
    private readonly session: ort.InferenceSession,
    private readonly graph: Graph,
    public lr: number,
    private readonly randomSeed: Seed
  ) {}

  static async create(options: ITrainingSessionOptions): Promise<TrainingSession> {
    const model = buildTrainingStep(options);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model.bytes, { graphOptimizationLevel: 'all', ...options.session });
    } catch (cause) {
      throw new TrainingRuntimeError(`onnxruntime could not load the training step: ${String(cause)}`, {}, { cause });
    }
    const ts = new TrainingSession(model, session, options.graph, options.lr, options.randomSeed ?? 'changelab');
    for (const p of options.graph.parameters) {
      ts.values.set(p.tensor.name, new ort.Tensor(p.tensor.dtype as OrtDType, p.value as never, p.tensor.shape));
    }
    const dtype = options.graph.parameters[0].tensor.dtype;
    for (const s of model.states) {
      ts.values.set(s.name, new ort.Tensor(dtype as OrtDType, arrayFor(dtype, s.shape.reduce((a, b) => a * b, 1)) as never, s.shape));
    }
    return ts;
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** Runs one training step on a batch (names as the graph's inputs). Blocks while ORT computes. */
  async step(batch: Readonly<Record<string, BatchValue>>, options: { lr?: number; apply?: boolean } = {}): Promise<IStepResult> {
    const dtype = this.graph.parameters[0].tensor.dtype as OrtDType;
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.model.batchNames) {
      const v = batch[name];
      if (v === undefined) {
        throw new GraphError(`the batch has no ${name}`, { name, expected: this.model.batchNames });
      }
      const input = this.graph.inputs.find(t => t.name === name) as Tensor;
      feeds[name] = v instanceof ort.Tensor ? v : new ort.Tensor(input.dtype as OrtDType, v as never, input.shape);
    }
    for (const [name, t] of this.values) {
      feeds[name] = t;
    }
    const lr = options.lr ?? this.lr;
    feeds[LR_INPUT] = scalarTensor(dtype, lr);
    feeds[STEP_INPUT] = scalarTensor(dtype, this.updates + 1);
    const apply = !this.model.accumulates || options.apply !== false;
    if (this.model.accumulates) {
      feeds[APPLY_INPUT] = new ort.Tensor('bool', Uint8Array.from([apply ? 1 : 0]) as never, []);
    }
    const shapes = new Map(this.graph.inputs.map(t => [t.name, t.shape] as const));
    Object.assign(feeds, randomFeeds(this.model.randomNames, shapes, this.randomSeed, this.stepCount + 1));
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run(feeds);
    } catch (cause) {
      throw new TrainingRuntimeError(`training step ${this.stepCount + 1} failed: ${String(cause)}`, { step: this.stepCount + 1 }, { cause });
    }
    for (const p of this.model.trainable) {
      this.values.set(p.name, out[p.output] as ort.Tensor);
    }
    for (const s of [...this.model.states, ...this.model.buffers]) {
      this.values.set(s.name, out[s.output] as ort.Tensor);
    }
    this.stepCount++;
    if (apply) {
      this.updates++;
    }
    const outputs: Record<string, ort.Tensor> = {};
    for (const name of this.model.outputNames) {
      if (name !== this.model.lossName && !name.endsWith('.next')) {
        outputs[name] = out[name] as ort.Tensor;
      }
    }
    return { loss: Number((out[this.model.lossName] as ort.Tensor).data[0]), outputs };
  }

  /** Current value of a parameter or optimizer state (`conv1.weight.exp_avg`). */
  value(name: string): TypedArray {
    const t = this.values.get(name);
    if (!t) {
      throw new GraphError(`no parameter or state named ${name}`, { name });
    }
    return t.data as TypedArray;
  }

  /** Writes the current parameter values back into the graph (for export or a checkpoint). */
  syncParameters(): void {
    for (const p of this.graph.parameters) {
      p.value = this.value(p.tensor.name);
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function scalarTensor(dtype: OrtDType, v: number): ort.Tensor {
  return new ort.Tensor(dtype, (dtype === 'float64' ? Float64Array : Float32Array).from([v]) as never, []);
}
