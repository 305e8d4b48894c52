// An inference-only ONNX graph of the FC change networks (FC-EF, FC-Siam-conc, FC-Siam-diff), the
// same function as train/models/fc.ts's exportInference but shaped for ONNX Runtime's CPU kernels
// (other models are exported as they are):
// batch norm (running statistics) is folded into the preceding convolution, and the decoder's
// stride-1 3x3 transposed convolutions become ordinary convolutions with the kernel flipped and
// its in/out channels swapped (the identity conv_transpose(x, W, pad 1) = conv(x, flip(W)^T, pad 1)).
// ONNX Runtime's ConvTranspose runs as GEMM + col2im, about twice the time of its fused Conv + ReLU,
// so this graph runs the same model faster. Tests compare it with the exported training model.
import { Graph, GraphError, type Tensor, type TypedArray } from '../train/onnx/graph';
import * as op from '../train/onnx/ops';
import { exportInference, resolveOptions, type IChangeModelOptions } from '../train/models/fc';
import { BN_EPSILON } from '../train/models/layers';

const LEVELS = 4;

export function exportFastInference(options: IChangeModelOptions, values: Readonly<Record<string, TypedArray>>, input: { batch: number; height: number; width: number }): Uint8Array {
  const o = resolveOptions(options);
  if (o.kind === 'siam-resnet18-diff') {
    return exportInference(options, values, input); // only the FC networks have a faster form here
  }
  if (input.height % 16 !== 0 || input.width % 16 !== 0) {
    throw new GraphError(`window size ${input.height}x${input.width} must be a multiple of 16`, { ...input });
  }
  const value = (name: string): Float32Array => {
    const v = values[name];
    if (!v) {
      throw new GraphError(`no value given for ${name}`, { name });
    }
    return v as Float32Array;
  };
  const graph = new Graph();
  const shape = [input.batch, o.bands, input.height, input.width];
  const before = graph.input('before', shape);
  const after = graph.input('after', shape);
  const used = new Set<string>();
  const created = new Map<string, [Tensor, Tensor]>();

  /** Conv weight [out, in, 3, 3] and bias of layer `name` with its batch norm folded in (when it has one). */
  const folded = (name: string, transposed: boolean, withBn: boolean): [Tensor, Tensor] => {
    const key = `${name}`;
    const existing = created.get(key);
    if (existing) {
      return existing; // the Siamese encoders share weights
    }
    const weight = value(`conv${name}.weight`);
    const bias = value(`conv${name}.bias`);
    used.add(`conv${name}.weight`).add(`conv${name}.bias`);
    const out = bias.length;
    const inChannels = weight.length / (out * 9);
    const w2 = new Float32Array(weight.length);
    for (let oc = 0; oc < out; oc++) {
      for (let ic = 0; ic < inChannels; ic++) {
        for (let k = 0; k < 9; k++) {
          // ConvTranspose weight is [in, out, kh, kw]; as a conv it is [out, in] with the kernel flipped.
          w2[(oc * inChannels + ic) * 9 + k] = transposed ? weight[(ic * out + oc) * 9 + (8 - k)] : weight[(oc * inChannels + ic) * 9 + k];
        }
      }
    }
    const b2 = Float32Array.from(bias);
    if (withBn) {
      const gamma = value(`bn${name}.weight`);
      const beta = value(`bn${name}.bias`);
      const mean = value(`bn${name}.running_mean`);
      const variance = value(`bn${name}.running_var`);
      for (const s of ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']) {
        used.add(`bn${name}.${s}`);
      }
      for (let oc = 0; oc < out; oc++) {
        const scale = gamma[oc] / Math.sqrt(variance[oc] + BN_EPSILON);
        for (let i = 0; i < inChannels * 9; i++) {
          w2[oc * inChannels * 9 + i] *= scale;
        }
        b2[oc] = (bias[oc] - mean[oc]) * scale + beta[oc];
      }
    }
    const tensors: [Tensor, Tensor] = [graph.parameter(`conv${name}.weight`, [out, inChannels, 3, 3], w2), graph.parameter(`conv${name}.bias`, [out], b2)];
    created.set(key, tensors);
    return tensors;
  };
  const block = (name: string, x: Tensor, transposed = false, last = false): Tensor => {
    const [wt, bt] = folded(name, transposed, !last);
    const y = op.conv(x, wt, bt, { pads: 1 });
    return last ? y : op.relu(y);
  };
  const encode = (x: Tensor): { skips: Tensor[]; bottom: Tensor } => {
    const skips: Tensor[] = [];
    let h = x;
    const depth = [2, 2, 3, 3];
    for (let level = 0; level < LEVELS; level++) {
      for (let j = 1; j <= depth[level]; j++) {
        h = block(`${level + 1}${j}`, h);
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
    bottom = e2.bottom;
  }
  let h = bottom;
  for (let level = LEVELS - 1; level >= 0; level--) {
    const name = `upconv${level + 1}`;
    const channels = h.shape[1];
    const up = graph.parameter(`${name}.weight`, [channels, channels, 3, 3], value(`${name}.weight`));
    const upBias = graph.parameter(`${name}.bias`, [channels], value(`${name}.bias`));
    used.add(`${name}.weight`).add(`${name}.bias`);
    h = op.convTranspose(h, up, upBias, { strides: 2, pads: 1, outputPadding: 1 });
    h = op.concat([h, ...skipsOf(level)], 1);
    const depth = level < 2 ? 2 : 3;
    for (let j = depth; j >= 1; j--) {
      h = block(`${level + 1}${j}d`, h, true, level === 0 && j === 1);
    }
  }
  const unused = Object.keys(values).filter(k => !used.has(k));
  if (unused.length > 0) {
    throw new GraphError(`values for parameters the ${o.kind} model does not have: ${unused.slice(0, 5).join(', ')}`, { unused });
  }
  return graph.export({
    outputs: { logits: h },
    parameters: 'initializers',
    name: o.kind,
    docString: `changelab ${o.kind} inference graph (batch norm folded, decoder as convolutions), bands ${o.bands}, width ${o.width}`
  }).bytes;
}
