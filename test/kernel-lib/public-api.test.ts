// Pins the kernel library's public surface (what notebooks import), so a change to it is a
// conscious one: update this list in the same commit that changes the exports.
import { describe, expect, it } from 'vitest';
import * as changelab from '../../kernel-lib/src/index';

describe('public API of the changelab kernel library', () => {
  it('exports exactly these names', () => {
    expect(Object.keys(changelab).sort()).toEqual([
      'AccessDeniedError', 'ChangelabError', 'ConfigError', 'Database', 'DatabaseError', 'ENVIRONMENT_KEYS',
      'InProcessJobQueue', 'InvalidRasterError', 'LocalObjectStore', 'MIME_PREFIX', 'MapLayerError', 'MapView', 'NotFoundError',
      'RedisJobQueue', 'S3ObjectStore', 'ServiceUnavailableError', 'StorageError', 'ValidationFailedError',
      'Workspace', 'card', 'catalog', 'connect', 'dataset', 'ensureEmbeddedDatabase', 'infer', 'inference', 'listMigrations', 'loadConfig', 'map', 'migrate',
      'mimeType', 'progress', 'raster', 'serve', 'show', 'stopEmbeddedDatabase', 'synth', 'tracking', 'train', 'training',
      'validate', 'validation'
    ]);
    expect(Object.keys(changelab.training).sort()).toEqual([
      'APPLY_INPUT', 'BN_EPSILON', 'BN_MOMENTUM', 'CHANGE_MODELS', 'CHECKPOINT_FORMAT', 'ChangeLoader', 'ChangeMetrics', 'ChangeTask',
      'CheckpointError', 'ChipFolderSource', 'DeviceUnavailableError', 'EarlyStopping', 'GRADIENT_RULES', 'Graph',
      'GraphError', 'IR_VERSION', 'LR_INPUT', 'LearningRateMonitor', 'LiveCurves', 'LocalRunner', 'MemoryChangeSource',
      'ModelCheckpoint', 'Node', 'OPSET', 'ProgressBar', 'RANDOM_PREFIX', 'STEP_INPUT', 'Tensor', 'Trainer',
      'TrainerConfigError', 'TrainingRun', 'TrainingRuntimeError', 'TrainingSession', 'WorkerRunner',
      'assertCudaAvailable', 'bceWithLogits', 'buildChangeModel', 'buildTrainingStep', 'changeMetrics',
      'convWeightGradient', 'convWeightGradientPatches', 'convWeightGradientSwapped', 'cudaAvailable', 'cudaProviderInstalled', 'curvesBundle',
      'curvesSvg', 'datasetSplits', 'decodeChip', 'defaultBias', 'defaultWeight', 'diceLoss', 'emitOptimizerUpdate',
      'encodeModel', 'exportInference', 'fanIn', 'gradients', 'historyCard', 'learningRate', 'loadCheckpoint', 'ops',
      'parameterValues', 'randomFeeds', 'readManifest', 'saveCheckpoint', 'stateNames', 'syntheticChangeData',
      'taskFromCheckpoint', 'train', 'unbroadcast', 'uniform'
    ]);
    expect(Object.keys(changelab.inference).sort()).toEqual([
      'CONFUSION_CLASSES', 'CogStreamWriter', 'INFER_JOB', 'InferenceCancelledError', 'InferenceRuntimeError', 'Polygonizer',
      'alignTo', 'changePolygonsGeoJson', 'changePolygonsGeoPackage', 'infer', 'openRaster', 'openRasterBytes', 'planWindows',
      'polygonizeMask', 'prepareModel', 'registerInferJob', 'runEngine', 'runInferJob', 'toChangePolygons'
    ]);
    expect(Object.keys(changelab.catalog).sort()).toEqual([
      'Catalog', 'CatalogImage', 'CatalogWatcher', 'ImagePage', 'IngestSummary', 'PairList', 'QuarantineList',
      'SearchArgumentError'
    ]);
    expect(Object.keys(changelab.raster).sort()).toEqual([
      'crsKind', 'encodeGeoTiff', 'halveRaster', 'overviewLevelCount', 'writeGeoTiff', 'writeGeoTiffFile'
    ]);
    expect(Object.keys(changelab.tracking).sort()).toEqual([
      'MLFLOW_LIMITS', 'MlflowError', 'MlflowLogger', 'RunConflictError', 'RunDetail', 'RunList', 'WorkspaceLogger',
      'getModelVersion', 'getRun', 'isValidMlflowKey', 'listRuns', 'loggersFromConfig', 'runArtifactKey', 'workspaceLogger'
    ]);
    expect(Object.keys(changelab.synth).sort()).toEqual([
      'DEFAULT_ORIGIN', 'KOREAN_SITES', 'SYNTHETIC_CRSS', 'createRandom', 'generateBadFiles', 'generatePair',
      'georeferenceScene', 'metresPerDegreeLatitude', 'metresPerDegreeLongitude', 'writeSyntheticSet'
    ]);
    expect(Object.keys(changelab.validation).sort()).toEqual([
      'ExpectationSuite', 'IngestGate', 'RunList', 'SuiteError', 'ValidationResult', 'expectationDefinition',
      'expectationTypes', 'failureLine', 'getRun', 'imageRow', 'ingest', 'isValidFootprint', 'listRuns', 'loadSuite',
      'saveRun', 'unreadableRow', 'validate', 'validateRows', 'validateTable'
    ]);
    expect(Object.keys(changelab.dataset).sort()).toEqual([
      'DATASETS_DIR', 'DEFAULT_FRACTIONS', 'DatasetDiff', 'DatasetRepository', 'DatasetStatusList', 'MANIFEST_FILE',
      'TransferSummary', 'VersionList', 'build', 'checkout', 'commit', 'datasetsForRun', 'diff', 'formatDvcFile',
      'imagesForRun', 'list', 'log', 'open', 'parseDvcFile', 'parseTree', 'pull', 'push', 'recordUse', 'ref',
      'runsForImage', 'runsForVersion', 'setRemote', 'status', 'treeBytes', 'treeMd5'
    ]);
  });

  it('roots every error class at ChangelabError', () => {
    for (const E of [
      changelab.ConfigError, changelab.NotFoundError, changelab.StorageError, changelab.DatabaseError,
      changelab.InvalidRasterError, changelab.ValidationFailedError, changelab.AccessDeniedError,
      changelab.ServiceUnavailableError
    ]) {
      const e = new E('message', { key: 'k' });
      expect(e).toBeInstanceOf(changelab.ChangelabError);
      expect(e.name).toBe(E.name);
      expect(e.context).toEqual({ key: 'k' });
    }
  });
});
