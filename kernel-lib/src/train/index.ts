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
export { buildChangeModel, exportInference, parameterValues, CHANGE_MODELS, type ChangeModelKind, type IChangeModel, type IChangeModelOptions, type IChangeModelInput } from './models/fc';
export { BN_MOMENTUM, BN_EPSILON, type ModelMode } from './models/layers';
export { Trainer, TrainerConfigError, taskFromCheckpoint, type ITrainerOptions, type ITrainerData, type IFitResult, type IPrediction, type FitStatus, type Accelerator, type Precision } from './trainer';
export { ChangeTask, type IChangeTaskOptions, type ChangeTaskHparams, type IOptimizerConfig, type IStepOutputs, type Stage, type LossKind, type OptimizerKind } from './task';
export { ModelCheckpoint, EarlyStopping, LearningRateMonitor, ProgressBar, type ICallback, type ITrainBatchEnd, type IModelCheckpointOptions, type IEarlyStoppingOptions, type IProgressBarOptions, type MonitorMode } from './callbacks';
export { saveCheckpoint, loadCheckpoint, CheckpointError, CHECKPOINT_FORMAT, type ICheckpoint, type ICheckpointState, type ITrainerPosition } from './checkpoint';
export { learningRate, type LrSchedule, type IScheduleOptions } from './schedule';
export { LocalRunner, WorkerRunner, DeviceUnavailableError, cudaAvailable, cudaProviderInstalled, assertCudaAvailable, type IStepRunner, type IRunnerSettings, type ISessionPlan, type ITensorValue } from './runner';
export { ChangeLoader, ChipFolderSource, MemoryChangeSource, syntheticChangeData, datasetSplits, readManifest, type IChangeSource, type IChangeSample, type IChangeBatch, type ILoaderOptions, type IAugmentOptions, type ISyntheticDataOptions } from './data/loader';
export { decodeChip, type IChipPixels } from './data/decode';
export { type ITrainLogger, type RunStatus } from './logger';
export { APPLY_INPUT, RANDOM_PREFIX, randomFeeds } from './step';
export { train, TrainingRun, type ITrainOptions, type TrainDataset } from './api';
export { LiveCurves, curvesSvg, curvesBundle, historyCard } from './curves';
