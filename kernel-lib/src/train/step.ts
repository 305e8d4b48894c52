// The training step as one ONNX model: batch, parameters and optimizer state in; loss, updated
// parameters and updated state out. onnxruntime-node has no training API, so a step is exactly one
// InferenceSession.run, and TrainingSession keeps the values between steps.

import * as ort from 'onnxruntime-node';

import { ChangelabError } from '../errors';
import { gradients } from './autodiff';
import { Graph, GraphError, Tensor, arrayFor, type TypedArray } from './onnx/graph';
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
  /** Optimizer state: input name, output name, shape. */
  states: { name: string; output: string; shape: readonly number[] }[];
  lossName: string;
}

/** Names fed by the session itself; the scalar learning rate and the 1-based step count. */
export const LR_INPUT = 'lr';
export const STEP_INPUT = 'step';
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
  const grads = gradients(loss, trainable);
  const lr = graph.input(LR_INPUT, [], dtype);
  const step = graph.input(STEP_INPUT, [], dtype);
  const update = emitOptimizerUpdate(graph, options.optimizer, trainable, grads, lr, step);

  const outputs: Record<string, Tensor> = { [LOSS_OUTPUT]: loss };
  trainable.forEach((p, i) => (outputs[nextName(p.name)] = update.updated[i]));
  for (const s of update.states) {
    outputs[nextName(s.input.name)] = s.output;
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
  const fedBySession = new Set([LR_INPUT, STEP_INPUT, ...graph.parameters.map(p => p.tensor.name), ...update.states.map(s => s.input.name)]);
  return {
    bytes: model.bytes,
    inputNames: model.inputNames,
    outputNames: model.outputNames,
    batchNames: model.inputNames.filter(n => !fedBySession.has(n)),
    trainable: trainable.map(p => ({ name: p.name, output: nextName(p.name) })),
    buffers: buffers.map(b => ({ name: b.buffer.name, output: nextName(b.buffer.name) })),
    states: update.states.map(s => ({ name: s.input.name, output: nextName(s.input.name), shape: s.input.shape })),
    lossName: LOSS_OUTPUT
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
}

type OrtDType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8';

/** A training step model loaded in onnxruntime, holding parameters and optimizer state between steps. */
export class TrainingSession {
  private values = new Map<string, ort.Tensor>();
  private stepCount = 0;

  private constructor(
    readonly model: ITrainingStepModel,
    private readonly session: ort.InferenceSession,
    private readonly graph: Graph,
    public lr: number
  ) {}

  static async create(options: ITrainingSessionOptions): Promise<TrainingSession> {
    const model = buildTrainingStep(options);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model.bytes, { graphOptimizationLevel: 'all', ...options.session });
    } catch (cause) {
      throw new TrainingRuntimeError(`onnxruntime could not load the training step: ${String(cause)}`, {}, { cause });
    }
    const ts = new TrainingSession(model, session, options.graph, options.lr);
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
  async step(batch: Readonly<Record<string, BatchValue>>, options: { lr?: number } = {}): Promise<IStepResult> {
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
    feeds[STEP_INPUT] = scalarTensor(dtype, this.stepCount + 1);
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
