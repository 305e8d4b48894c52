// Optimizer updates emitted into the training graph, so that forward, backward and the update run
// in one session.run. Each rule matches PyTorch's torch.optim step for the same hyper-parameters;
// learning rate and step count are graph inputs, so schedules change them without rebuilding.

import { Graph, GraphError, Tensor } from './onnx/graph';
import * as op from './onnx/ops';

export interface ISgdOptions {
  type: 'sgd';
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient, as torch.optim.SGD. */
  weightDecay?: number;
}

export interface IAdamOptions {
  /** 'adam' adds weight decay to the gradient (L2); 'adamw' decays the weights directly. */
  type: 'adam' | 'adamw';
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

export type OptimizerOptions = ISgdOptions | IAdamOptions;

/** One optimizer state tensor: fed as `input`, its next value comes out as `output`. */
export interface IStateSlot {
  input: Tensor;
  output: Tensor;
}

export interface IOptimizerUpdate {
  /** Updated value per parameter, in the order given. */
  updated: Tensor[];
  states: IStateSlot[];
}

/** Names of the optimizer's state for a parameter, as in PyTorch's state_dict. */
export function stateNames(options: OptimizerOptions): string[] {
  if (options.type === 'sgd') {
    return options.momentum ? ['momentum_buffer'] : [];
  }
  return ['exp_avg', 'exp_avg_sq'];
}

/**
 * Emits the update of each parameter given its gradient. `lr` and `step` (1 on the first step)
 * are scalar graph inputs of the parameters' type.
 */
export function emitOptimizerUpdate(
  graph: Graph,
  options: OptimizerOptions,
  params: readonly Tensor[],
  grads: readonly Tensor[],
  lr: Tensor,
  step: Tensor
): IOptimizerUpdate {
  const updated: Tensor[] = [];
  const states: IStateSlot[] = [];
  const state = (p: Tensor, which: string) => graph.input(`${p.name}.${which}`, p.shape, p.dtype);

  if (options.type === 'sgd') {
    const mu = options.momentum ?? 0;
    const wd = options.weightDecay ?? 0;
    if (options.nesterov && mu <= 0) {
      throw new GraphError('Nesterov momentum needs momentum > 0', { momentum: mu });
    }
    params.forEach((p, i) => {
      let g = wd ? op.add(grads[i], op.mul(p, wd)) : grads[i];
      if (mu) {
        // PyTorch starts the buffer at the first gradient; a zero buffer gives the same value
        // (mu * 0 + g) because we do not support dampening.
        const buf = state(p, 'momentum_buffer');
        const next = op.add(op.mul(buf, mu), g);
        states.push({ input: buf, output: next });
        g = options.nesterov ? op.add(g, op.mul(next, mu)) : next;
      }
      updated.push(op.sub(p, op.mul(g, lr)));
    });
    return { updated, states };
  }

  const [b1, b2] = options.betas ?? [0.9, 0.999];
  const eps = options.eps ?? 1e-8;
  const wd = options.weightDecay ?? (options.type === 'adamw' ? 0.01 : 0);
  // Bias corrections as torch.optim.Adam: step_size = lr / (1 - b1^t), denom = sqrt(v) / sqrt(1 - b2^t) + eps.
  const dtype = lr.dtype;
  const bc1 = op.sub(1, op.pow(graph.scalar(b1, dtype), step));
  const bc2sqrt = op.sqrt(op.sub(1, op.pow(graph.scalar(b2, dtype), step)));
  const stepSize = op.div(lr, bc1);
  params.forEach((p, i) => {
    let g = grads[i];
    let base = p;
    if (wd && options.type === 'adam') {
      g = op.add(g, op.mul(p, wd));
    } else if (wd) {
      base = op.mul(p, op.sub(1, op.mul(lr, wd)));
    }
    const m = state(p, 'exp_avg');
    const v = state(p, 'exp_avg_sq');
    const mNext = op.add(op.mul(m, b1), op.mul(g, 1 - b1));
    const vNext = op.add(op.mul(v, b2), op.mul(op.mul(g, g), 1 - b2));
    states.push({ input: m, output: mNext }, { input: v, output: vNext });
    const denom = op.add(op.div(op.sqrt(vNext), bc2sqrt), eps);
    updated.push(op.sub(base, op.mul(stepSize, op.div(mNext, denom))));
  });
  return { updated, states };
}
