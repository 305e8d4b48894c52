// The fully convolutional change-detection networks of Daudt, Le Saux and Boulch, "Fully
// Convolutional Siamese Networks for Change Detection" (ICIP 2018): FC-EF (early fusion of the
// two dates), FC-Siam-conc and FC-Siam-diff (a shared encoder per date, skips concatenated or
// differenced). Layer names and order follow the authors' PyTorch code, so parameter names are
// those of its state_dict and weights move between the two without renaming.

import { type Seed } from '../../synth/random';
import { Graph, GraphError, Tensor, type TypedArray } from '../onnx/graph';
import * as op from '../onnx/ops';
import { type IBufferUpdate } from '../step';
import { LayerContext, batchNorm2d, conv2d, convTranspose2d, dropout2d, type ModelMode } from './layers';
import { buildSiamResNetDiff } from './resnet';

/**
 * The FC networks of Daudt et al. 2018, and 'siam-resnet18-diff': a ResNet-18-style Siamese
 * encoder with difference skips into a U-Net-style decoder (models/resnet.ts).
 */
export type ChangeModelKind = 'fc-ef' | 'fc-siam-conc' | 'fc-siam-diff' | 'siam-resnet18-diff';

/** Every model buildChangeModel builds. */
export const CHANGE_MODELS: readonly ChangeModelKind[] = ['fc-ef', 'fc-siam-conc', 'fc-siam-diff', 'siam-resnet18-diff'];

export interface IChangeModelOptions {
  kind: ChangeModelKind;
  /** Bands per date (3 for RGB, 4 for RGBN). */
  bands?: number;
  /** Channels of the first level; levels have width, 2, 4 and 8 times it (FC paper: 16, ResNet-18: 64). */
  width?: number;
  /** Output channels: 1 gives the change logit (for bceWithLogits / diceLoss). */
  classes?: number;
  /** Dropout2d probability after each conv-BN-ReLU block in training (the paper: 0.2). */
  dropout?: number;
  /** Seeds the default initialisation and the dropout masks. */
  seed?: Seed;
}

export interface IChangeModelInput {
  batch: number;
  height: number;
  width: number;
}

export interface IChangeModel {
  options: Required<IChangeModelOptions>;
  mode: ModelMode;
  graph: Graph;
  /** The two dates, [N, bands, H, W] each. */
  before: Tensor;
  after: Tensor;
  /** [N, classes, H, W] */
  logits: Tensor;
  /** Parameters the optimizer updates (weights, biases, batch-norm scales and shifts). */
  trainable: Tensor[];
  /** Running statistics: fed and updated each training step, never trained. */
  buffers: Tensor[];
  /** Each buffer's value after a training step (empty in evaluation mode). */
  bufferUpdates: IBufferUpdate[];
}

const LEVELS = 4;

export function resolveOptions(options: IChangeModelOptions): Required<IChangeModelOptions> {
  const resolved = { bands: 3, width: 16, classes: 1, dropout: 0.2, seed: 'changelab', ...options };
  if (!CHANGE_MODELS.includes(resolved.kind)) {
    throw new GraphError(`unknown change model ${resolved.kind} (${CHANGE_MODELS.join(', ')})`, { kind: resolved.kind });
  }
  for (const key of ['bands', 'width', 'classes'] as const) {
    if (!Number.isInteger(resolved[key]) || resolved[key] < 1) {
      throw new GraphError(`${key} must be a positive integer, got ${resolved[key]}`, { [key]: resolved[key] });
    }
  }
  return resolved;
}

/**
 * Builds one of the change networks into a new graph ('siam-resnet18-diff': see models/resnet.ts). Parameters get PyTorch's default initialisation
 * (Conv2d / ConvTranspose2d weights and biases uniform in +-1/sqrt(fan_in), BatchNorm2d scale 1,
 * shift 0, running mean 0, running variance 1) unless `values` gives them by state_dict name.
 * H and W must be multiples of 16 (four 2x poolings), where the authors' replication padding is a no-op.
 */
export function buildChangeModel(
  options: IChangeModelOptions,
  input: IChangeModelInput,
  mode: ModelMode = 'train',
  values?: Readonly<Record<string, TypedArray>>
): IChangeModel {
  const o = resolveOptions(options);
  if (o.kind === 'siam-resnet18-diff') {
    return buildSiamResNetDiff(o, input, mode, values);
  }
  const factor = 2 ** LEVELS;
  if (input.height % factor !== 0 || input.width % factor !== 0) {
    throw new GraphError(`image size ${input.height}x${input.width} must be a multiple of ${factor}`, { ...input });
  }
  const graph = new Graph();
  const ctx = new LayerContext(graph, mode, o.seed, values);
  const shape = [input.batch, o.bands, input.height, input.width];
  const before = graph.input('before', shape);
  const after = graph.input('after', shape);
  const w = [o.width, 2 * o.width, 4 * o.width, 8 * o.width];

  const block = (name: string, x: Tensor, out: number, transposed = false): Tensor => {
    const y = transposed ? convTranspose2d(ctx, `conv${name}`, x, out) : conv2d(ctx, `conv${name}`, x, out);
    return dropout2d(ctx, op.relu(batchNorm2d(ctx, `bn${name}`, y)), o.dropout);
  };
  // Encoder: levels of 2, 2, 3, 3 conv blocks, each level's last output kept for the skip.
  const encode = (x: Tensor): { skips: Tensor[]; bottom: Tensor } => {
    const skips: Tensor[] = [];
    let h = x;
    const depth = [2, 2, 3, 3];
    for (let level = 0; level < LEVELS; level++) {
      for (let j = 1; j <= depth[level]; j++) {
        h = block(`${level + 1}${j}`, h, w[level]);
      }
      skips.push(h);
      h = op.maxPool(h, { kernel: 2, strides: 2 });
    }
    return { skips, bottom: h };
  };

  let skipsOf: (level: number) => Tensor[];
  let bottom: Tensor;
  if (o.kind === 'fc-ef') {
    const e = encode(op.concat([before, after], 1));
    skipsOf = level => [e.skips[level]];
    bottom = e.bottom;
  } else {
    const e1 = encode(before);
    const e2 = encode(after);
    skipsOf = o.kind === 'fc-siam-conc' ? level => [e1.skips[level], e2.skips[level]] : level => [op.abs(op.sub(e1.skips[level], e2.skips[level]))];
    // The authors' decoder starts from the second date's bottleneck.
    bottom = e2.bottom;
  }

  // Decoder: ConvTranspose up, skip joined on channels, then stride-1 ConvTranspose blocks
  // (as in the authors' code) down to the next level's width; the last layer has no BN/ReLU.
  let h = bottom;
  for (let level = LEVELS - 1; level >= 0; level--) {
    const c = w[level];
    h = convTranspose2d(ctx, `upconv${level + 1}`, h, h.shape[1], { stride: 2, padding: 1, outputPadding: 1 });
    h = op.concat([h, ...skipsOf(level)], 1);
    const depth = level < 2 ? 2 : 3;
    for (let j = depth; j >= 1; j--) {
      const out = j > 1 ? c : level > 0 ? w[level - 1] : o.classes;
      const name = `${level + 1}${j}d`;
      if (level === 0 && j === 1) {
        h = convTranspose2d(ctx, `conv${name}`, h, out);
      } else {
        h = block(name, h, out, true);
      }
    }
  }
  return { options: o, mode, graph, before, after, logits: h, trainable: ctx.trainable, buffers: ctx.buffers, bufferUpdates: ctx.updates };
}

/** The model's parameter and buffer values by state_dict name (e.g. after training). */
export function parameterValues(model: IChangeModel): Record<string, TypedArray> {
  return Object.fromEntries(model.graph.parameters.map(p => [p.tensor.name, p.value]));
}

/**
 * The inference graph as a plain ONNX model (opset 17, standard ops only): inputs `before` and
 * `after` [N, bands, H, W], output `logits`; batch norm uses the running statistics, dropout is
 * off, and every parameter is an initializer. Any ONNX Runtime (Node, Python, web) runs it.
 */
export function exportInference(
  options: IChangeModelOptions,
  values: Readonly<Record<string, TypedArray>>,
  input: IChangeModelInput
): Uint8Array {
  const model = buildChangeModel(options, input, 'eval', values);
  const unused = Object.keys(values).filter(k => !model.graph.parameters.some(p => p.tensor.name === k));
  if (unused.length > 0) {
    throw new GraphError(`values for parameters the ${model.options.kind} model does not have: ${unused.slice(0, 5).join(', ')}`, { unused });
  }
  return model.graph.export({
    outputs: { logits: model.logits },
    parameters: 'initializers',
    name: model.options.kind,
    docString: `changelab ${model.options.kind} (${model.options.kind === 'siam-resnet18-diff' ? 'ResNet-18-style Siamese encoder, difference skips' : 'Daudt et al. 2018'}), bands ${model.options.bands}, width ${model.options.width}`
  }).bytes;
}
