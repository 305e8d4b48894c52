// Learning-rate schedules as pure functions of the optimizer step, since the training graph takes
// the learning rate as an input each step: no scheduler state to save, a resumed run recomputes it.
// Formulas follow torch.optim.lr_scheduler (StepLR, CosineAnnealingLR (closed form), a linear
// warm-up as LinearLR from `warmupStartFactor`), stepped per optimizer step, not per epoch.

import { GraphError } from './onnx/graph';

export type LrSchedule =
  | { type: 'constant' }
  | { type: 'step'; stepSize: number; gamma?: number }
  | { type: 'cosine'; tMax: number; etaMin?: number }
  | { type: 'poly'; totalSteps: number; power?: number };

export interface IScheduleOptions {
  schedule?: LrSchedule;
  /** Linear warm-up over this many optimizer steps before the schedule starts. */
  warmupSteps?: number;
  /** The warm-up's first factor of the base rate (LinearLR's start_factor). Default 1/3 as PyTorch. */
  warmupStartFactor?: number;
}

/** The learning rate at optimizer step `t` (0 for the first update). */
export function learningRate(base: number, t: number, options: IScheduleOptions = {}): number {
  const warmup = options.warmupSteps ?? 0;
  if (t < warmup) {
    const f = options.warmupStartFactor ?? 1 / 3;
    return base * (f + ((1 - f) * t) / warmup);
  }
  const s = options.schedule ?? { type: 'constant' };
  const u = t - warmup;
  switch (s.type) {
    case 'constant':
      return base;
    case 'step':
      if (!(s.stepSize > 0)) {
        throw new GraphError(`step schedule needs stepSize > 0, got ${s.stepSize}`);
      }
      return base * (s.gamma ?? 0.1) ** Math.floor(u / s.stepSize);
    case 'cosine': {
      if (!(s.tMax > 0)) {
        throw new GraphError(`cosine schedule needs tMax > 0, got ${s.tMax}`);
      }
      const etaMin = s.etaMin ?? 0;
      // Periodic past tMax, as PyTorch's CosineAnnealingLR (set tMax to the run's length).
      return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * u) / s.tMax))) / 2;
    }
    case 'poly':
      return base * Math.max(0, 1 - Math.min(u, s.totalSteps) / s.totalSteps) ** (s.power ?? 1);
    default:
      throw new GraphError(`unknown schedule ${(s as { type: string }).type}`);
  }
}
