// One root error for everything changelab raises, with a shallow tree under it. Each error carries
// the context a user needs to act (the key, the project, the offending value) and the driver error
// as `cause` where one was translated at the boundary.

export interface IErrorContext {
  [key: string]: unknown;
}

export class ChangelabError extends Error {
  readonly context: IErrorContext;
  constructor(message: string, context: IErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.context = context;
  }
}

/** Configuration that cannot be used: a bad value, a missing key, an unsafe default in production. */
export class ConfigError extends ChangelabError {}
/** Something named by the user (an object key, an image id, a run) does not exist. */
export class NotFoundError extends ChangelabError {}
/** The object store failed or refused a request. */
export class StorageError extends ChangelabError {}
/** The metadata database failed or refused a request. */
export class DatabaseError extends ChangelabError {}
/** A file is not a raster we can read (corrupt, truncated, unsupported). */
export class InvalidRasterError extends ChangelabError {}
/** Data did not meet an expectation suite. */
export class ValidationFailedError extends ChangelabError {}
/** The caller may not do this (role or project isolation). */
export class AccessDeniedError extends ChangelabError {}
/** A service changelab depends on (database, S3, Redis) cannot be reached. */
export class ServiceUnavailableError extends ChangelabError {}
