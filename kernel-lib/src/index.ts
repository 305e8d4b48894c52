// The public surface of the changelab kernel library, imported in notebooks through tslab
// (`import * as changelab from 'changelab'`). A test pins this list: change it consciously.
export { connect, Workspace, type IWorkspaceStatus } from './workspace';
export { loadConfig, ENVIRONMENT_KEYS, type Config, type ConfigInput, type ILoadConfigOptions } from './config';
export {
  ChangelabError,
  ConfigError,
  NotFoundError,
  StorageError,
  DatabaseError,
  InvalidRasterError,
  ValidationFailedError,
  AccessDeniedError,
  ServiceUnavailableError
} from './errors';
export {
  card,
  show,
  progress,
  mimeType,
  MIME_PREFIX,
  type ICardPayload,
  type IDisplayBundle,
  type IDisplayable,
  type DisplayKind,
  type IProgress,
  type IProgressOptions
} from './display';
export { Database, type IQueryable, type DatabaseKind } from './db/database';
export { migrate, listMigrations } from './db/migrations';
export { ensureEmbeddedDatabase, stopEmbeddedDatabase } from './db/embedded';
export type { IObjectStore, IObjectInfo, IByteRange } from './objects/store';
export { LocalObjectStore } from './objects/local';
export { S3ObjectStore, type IS3Settings } from './objects/s3';
export type { IJobQueue, IJobContext, JobHandler } from './jobs/queue';
export { InProcessJobQueue } from './jobs/in-process';
export { RedisJobQueue } from './jobs/redis';
export { serve, type IServeOptions, type IService } from './serve';
export { map, MapView, MapLayerError, type IMapOptions, type MapLayerInput } from './map';
export * as catalog from './catalog';
export * as dataset from './dataset';
export * as inference from './infer';
export { infer } from './infer';
export * as raster from './raster';
export * as synth from './synth';
export * as tracking from './tracking';
export * as training from './train';
export { train } from './train/api';
export * as validation from './validate';
export { validate } from './validate';
