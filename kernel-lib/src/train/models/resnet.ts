// A stronger Siamese change network than the FC models: a ResNet-18-style encoder (He et al. 2016:
// a 7x7 stride-2 stem, 3x3 stride-2 max pooling, four stages of two basic residual blocks, batch
// norm, strided downsampling with 1x1 projections) shared between the two dates, and a U-Net-style
// decoder fed with difference skips |f(before) - f(after)| at every scale (/32 to /2): upsample x2
// (nearest), concatenate the skip, two conv-BN-ReLU blocks; then upsample to full resolution and a
// conv-BN-ReLU block and a 3x3 head give the change logit. `width` is the first stage's channels
// (ResNet-18's is 64); stages have width, 2, 4 and 8 times it. Parameter names are those of the
// PyTorch module in test/kernel-lib/train/oracle/siam_resnet.py (torchvision's names for the
// encoder), whose state_dict moves weights both ways; initialisation is PyTorch's default.

import { Graph, GraphError, type Tensor, type TypedArray } from '../onnx/graph';
import * as op from '../onnx/ops';
import type { IChangeModel, IChangeModelInput, IChangeModelOptions } from './fc';
import { LayerContext, batchNorm2d, conv2d, dropout2d, type ModelMode } from './layers';

/** H and W must be multiples of this (five 2x reductions). */
export const RESNET_FACTOR = 32;

/** nn.Conv2d(bias=False): the convolutions followed by batch norm. */
function conv(ctx: LayerContext, name: string, x: Tensor, out: number, kernel: number, stride = 1): Tensor {
  const w = ctx.weight(`${name}.weight`, [out, x.shape[1], kernel, kernel]);
  return op.conv(x, w, undefined, { strides: stride, pads: (kernel - 1) / 2 });
}

/** torchvision's BasicBlock: conv-BN-ReLU, conv-BN, plus the input (projected when the shape changes), ReLU. */
function basicBlock(ctx: LayerContext, name: string, x: Tensor, out: number, stride: number): Tensor {
  let h = op.relu(batchNorm2d(ctx, `${name}.bn1`, conv(ctx, `${name}.conv1`, x, out, 3, stride)));
  h = batchNorm2d(ctx, `${name}.bn2`, conv(ctx, `${name}.conv2`, h, out, 3));
  const shortcut = stride !== 1 || x.shape[1] !== out ? batchNorm2d(ctx, `${name}.downsample.1`, conv(ctx, `${name}.downsample.0`, x, out, 1, stride)) : x;
  return op.relu(op.add(h, shortcut));
}

/** The encoder's features at /2 (stem), /4, /8, /16 and /32. */
function encode(ctx: LayerContext, x: Tensor, width: number): Tensor[] {
  const stem = op.relu(batchNorm2d(ctx, 'encoder.bn1', conv(ctx, 'encoder.conv1', x, width, 7, 2)));
  const features = [stem];
  let h = op.maxPool(stem, { kernel: 3, strides: 2, pads: 1 });
  for (let stage = 1; stage <= 4; stage++) {
    const out = width * 2 ** (stage - 1);
    h = basicBlock(ctx, `encoder.layer${stage}.0`, h, out, stage === 1 ? 1 : 2);
    h = basicBlock(ctx, `encoder.layer${stage}.1`, h, out, 1);
    features.push(h);
  }
  return features;
}

export function buildSiamResNetDiff(o: Required<IChangeModelOptions>, input: IChangeModelInput, mode: ModelMode, values?: Readonly<Record<string, TypedArray>>): IChangeModel {
  if (input.height % RESNET_FACTOR !== 0 || input.width % RESNET_FACTOR !== 0) {
    throw new GraphError(`image size ${input.height}x${input.width} must be a multiple of ${RESNET_FACTOR} for ${o.kind}`, { ...input });
  }
  const graph = new Graph();
  const ctx = new LayerContext(graph, mode, o.seed, values);
  const shape = [input.batch, o.bands, input.height, input.width];
  const before = graph.input('before', shape);
  const after = graph.input('after', shape);
  const f1 = encode(ctx, before, o.width);
  const f2 = encode(ctx, after, o.width);
  const diff = f1.map((f, i) => op.abs(op.sub(f, f2[i])));

  // conv-BN-ReLU (then Dropout2d in training), as <prefix>.conv<j> and <prefix>.bn<j>.
  const block = (prefix: string, j: number, x: Tensor, out: number): Tensor =>
    dropout2d(ctx, op.relu(batchNorm2d(ctx, `${prefix}.bn${j}`, conv(ctx, `${prefix}.conv${j}`, x, out, 3))), o.dropout);
  const up = (x: Tensor): Tensor => op.resize(x, { scales: [2, 2], mode: 'nearest' });
  // From the /32 difference up: each decoder stage takes the next finer difference skip and has
  // that skip's channel count.
  let h = diff[4];
  for (let i = 0; i < 4; i++) {
    const skip = diff[3 - i];
    const out = skip.shape[1];
    h = op.concat([up(h), skip], 1);
    h = block(`decoder.${i}`, 1, h, out);
    h = block(`decoder.${i}`, 2, h, out);
  }
  h = block('head', 1, up(h), o.width);
  const logits = conv2d(ctx, 'head.conv2', h, o.classes);
  return { options: o, mode, graph, before, after, logits, trainable: ctx.trainable, buffers: ctx.buffers, bufferUpdates: ctx.updates };
}
