// Pins the training module's public surface: changing it should be a conscious decision.

import { expect, it } from 'vitest';

import * as train from '../../../kernel-lib/src/train';

it('exports exactly the training API', () => {
  expect(Object.keys(train).sort()).toEqual(
    [
      'BN_EPSILON',
      'BN_MOMENTUM',
      'ChangeMetrics',
      'GRADIENT_RULES',
      'Graph',
      'GraphError',
      'IR_VERSION',
      'LR_INPUT',
      'Node',
      'OPSET',
      'STEP_INPUT',
      'Tensor',
      'TrainingRuntimeError',
      'TrainingSession',
      'bceWithLogits',
      'buildChangeModel',
      'buildTrainingStep',
      'changeMetrics',
      'convWeightGradient',
      'convWeightGradientPatches',
      'convWeightGradientSwapped',
      'defaultBias',
      'defaultWeight',
      'diceLoss',
      'emitOptimizerUpdate',
      'encodeModel',
      'exportInference',
      'fanIn',
      'gradients',
      'ops',
      'parameterValues',
      'stateNames',
      'unbroadcast',
      'uniform'
    ].sort()
  );
});
