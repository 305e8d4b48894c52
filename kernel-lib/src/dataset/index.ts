// Public surface of dataset versions (re-exported by the package as `dataset`): build a dataset of
// chips, commit / push / pull / checkout it in DVC's formats with MinIO (or a folder) as the remote,
// and record which version each training run used. Each call opens the workspace folder (see
// `IOpenOptions.root`); `dataset.open()` gives the same calls on one DatasetRepository.
import type { IQueryable } from '../db/database';
import { connect, type Workspace } from '../workspace';
import * as lineage from './lineage';
import type { IDatasetRef } from './manifest';
import {
  DatasetRepository,
  type ICheckoutOptions,
  type ICommitOptions,
  type IOpenOptions,
  type IRemoteOptions,
  type ITransferOptions
} from './repository';

export {
  DatasetRepository,
  DATASETS_DIR,
  type ICheckoutOptions,
  type ICommitOptions,
  type IOpenOptions,
  type IRemoteOptions,
  type ITransferOptions
} from './repository';
export { DatasetDiff, DatasetStatusList, TransferSummary, VersionList, type IDatasetStatus, type IDatasetVersion, type IFileChanges } from './views';
export { treeMd5, treeBytes, parseTree, type ITreeEntry } from './dvc-tree';
export { parseDvcFile, formatDvcFile, type IDvcFile, type IDvcOut } from './dvc-file';
export type { IDatasetUse } from './lineage';
export { build, type IBuildOptions, type ISyntheticSource } from './build';
export { DEFAULT_FRACTIONS, type SplitFractions } from './splits';
export {
  MANIFEST_FILE,
  type DatasetSplit,
  type IChipWindow,
  type IDatasetChip,
  type IDatasetImage,
  type IDatasetManifest,
  type IDatasetRef
} from './manifest';

/** Opens the dataset workspace (initialising git and DVC's files when needed). */
export const open = (options: IOpenOptions = {}) => DatasetRepository.open(options);

const using = async <T>(options: IOpenOptions, work: (repo: DatasetRepository) => Promise<T>): Promise<T> => work(await open(options));

/** Names of the datasets in the workspace (`datasets/*.dvc`). */
export const list = (options: IOpenOptions = {}) => using(options, async r => r.list());
/** Hash, cache and git-commit `datasets/<name>/` as a new version. */
export const commit = (name: string, message: string, options: ICommitOptions & IOpenOptions = {}) => using(options, r => r.commit(name, message, options));
/** Upload what the remote lacks. */
export const push = (options: ITransferOptions & IOpenOptions = {}) => using(options, r => r.push(options));
/** Download what the cache lacks and check the data out. */
export const pull = (options: ITransferOptions & IOpenOptions & { force?: boolean } = {}) => using(options, r => r.pull(options));
/** Restore datasets to a git rev or tag (or to the current .dvc files without one). */
export const checkout = (rev?: string, options: ICheckoutOptions & IOpenOptions = {}) => using(options, r => r.checkout(rev, options));
/** Versions (git history of the .dvc files), newest first. */
export const log = (name?: string, options: IOpenOptions = {}) => using(options, r => r.log(name));
/** Files added / deleted / modified between two revs, or a rev and the workspace. */
export const diff = (revA: string, revB?: string, options: IOpenOptions & { name?: string; remote?: string } = {}) =>
  using(options, r => r.diff(revA, revB, options));
/** Workspace and cache (and with `remote`, the remote) against the .dvc files. */
export const status = (options: IOpenOptions & { remote?: string | boolean; name?: string } = {}) => using(options, r => r.status(options));
/** The committed version checked out now, for a run to record. */
export const ref = (name: string, options: IOpenOptions = {}) => using(options, r => r.ref(name));
/** Adds or changes a DVC remote (s3://bucket/prefix with an endpoint, or a folder). */
export const setRemote = (name: string, url: string, options: IRemoteOptions & IOpenOptions = {}) =>
  using(options, async r => r.setRemote(name, url, options));

// ---- lineage ---------------------------------------------------------------------------------

/** Where lineage is stored: a connected workspace, or a database and project. Default: `connect()`. */
export type LineageTarget = Workspace | { db: IQueryable; project: string };

async function withLineage<T>(target: LineageTarget | undefined, work: (db: IQueryable, project: string) => Promise<T>): Promise<T> {
  if (target) {
    return work(target.db, target.project);
  }
  const workspace = await connect();
  try {
    return await work(workspace.db, workspace.project);
  } finally {
    await workspace.close();
  }
}

/** Records that a training run used this dataset version (the Trainer calls it). */
export const recordUse = (runId: string, datasetRef: IDatasetRef, target?: LineageTarget) =>
  withLineage(target, (db, project) => lineage.recordUse(db, project, runId, datasetRef));
/** Catalog image ids behind every dataset a run trained on. */
export const imagesForRun = (runId: string, target?: LineageTarget) => withLineage(target, db => lineage.imagesForRun(db, runId));
/** Runs whose datasets were built from this catalog image. */
export const runsForImage = (imageId: number, target?: LineageTarget) =>
  withLineage(target, (db, project) => lineage.runsForImage(db, imageId, project));
/** Runs that used one version (a .dir md5) of a dataset. */
export const runsForVersion = (name: string, md5: string, target?: LineageTarget) =>
  withLineage(target, (db, project) => lineage.runsForVersion(db, name, md5, project));
/** The dataset versions a run used. */
export const datasetsForRun = (runId: string, target?: LineageTarget) => withLineage(target, db => lineage.datasetsForRun(db, runId));
