// Experiment tracking: training runs kept in the workspace (catalog database + object store) and,
// when `mlflowUrl` / CHANGELAB_MLFLOW_URL is set, also logged to an MLflow tracking server.
import type { Config } from '../config';
import type { ITrainLogger } from '../train/logger';
import { MlflowLogger, type IMlflowLoggerOptions } from './mlflow';
import type { IRunStoreSource } from './store';
import { workspaceLogger, type IRunOptions, type WorkspaceLogger } from './workspace-logger';

export { MlflowLogger, MlflowError, MLFLOW_LIMITS, isValidMlflowKey, type IMlflowLoggerOptions, type IMlflowRunInfo } from './mlflow';
export { WorkspaceLogger, workspaceLogger, type IRunOptions } from './workspace-logger';
export { RunConflictError, runArtifactKey, type IRunStoreSource } from './store';
export { RunList, RunDetail, listRuns, getRun, getModelVersion } from './runs';
export type {
  IMetricPoint,
  IModelVersionInfo,
  IRunArtifact,
  IRunDetail,
  IRunLinks,
  IRunQuery,
  IRunSummary,
  RunDataset,
  RunState
} from './types';

export interface ILoggersFromConfigOptions extends IRunOptions {
  /** Extra settings for the MLflow logger (retries, warning sink, ...). */
  mlflow?: Omit<IMlflowLoggerOptions, 'trackingUri' | 'experiment' | 'runName' | 'onStart'>;
}

/**
 * The loggers a Trainer should use in `workspace`: always the workspace's own run store, plus
 * MLflow when the configuration names a tracking server. The MLflow run is tagged with the
 * workspace run id (`changelab.run_id`) and the workspace run links back to the MLflow run.
 */
export function loggersFromConfig(
  workspace: IRunStoreSource & { readonly config: Pick<Config, 'mlflowUrl'> },
  options: ILoggersFromConfigOptions = {}
): [WorkspaceLogger, ...ITrainLogger[]] {
  const local = workspaceLogger(workspace, options);
  const url = workspace.config.mlflowUrl;
  if (!url) {
    return [local];
  }
  const remote = new MlflowLogger({
    ...options.mlflow,
    trackingUri: url,
    experiment: local.experiment,
    runName: local.runName,
    tags: { ...options.tags, ...options.mlflow?.tags, 'changelab.run_id': local.runId, 'changelab.project': workspace.project },
    onStart: run => local.link('mlflow', { runId: run.runId, experimentId: run.experimentId, url: run.url })
  });
  return [local, remote];
}
