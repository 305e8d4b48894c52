// Training on ONNX Runtime: a graph builder that writes standard ONNX, reverse-mode autodiff that
// emits gradients as more ONNX, losses, optimizers, and the one-run-per-step training session.

export { Graph, Tensor, Node, GraphError, OPSET, IR_VERSION, type Shape, type DType, type IParameter, type IExportOptions, type IExportedModel, type TypedArray } from './onnx/graph';
export * as ops from './onnx/ops';
export { encodeModel } from './onnx/proto';
export { gradients, unbroadcast, convWeightGradient, convWeightGradientPatches, convWeightGradientSwapped, GRADIENT_RULES, type GradientRule, type IGradientContext } from './autodiff';
export { bceWithLogits, diceLoss, type IBceOptions, type IDiceOptions, type Reduction } from './losses';
export { emitOptimizerUpdate, stateNames, type OptimizerOptions, type ISgdOptions, type IAdamOptions, type IOptimizerUpdate } from './optim';
export { buildTrainingStep, TrainingSession, TrainingRuntimeError, LR_INPUT, STEP_INPUT, type ITrainingStepOptions, type ITrainingStepModel, type ITrainingSessionOptions, type IStepResult, type BatchValue, type IBufferUpdate } from './step';
export { defaultWeight, defaultBias, uniform, fanIn } from './init';
export { ChangeMetrics, changeMetrics, type IConfusion, type IChangeMetricValues, type IMetricUpdateOptions } from './metrics';
export { buildChangeModel, exportInference, parameterValues, type ChangeModelKind, type IChangeModel, type IChangeModelOptions, type IChangeModelInput } from './models/fc';
export { BN_MOMENTUM, BN_EPSILON, type ModelMode } from './models/layers';
