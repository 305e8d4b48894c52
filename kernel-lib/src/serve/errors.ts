// How errors become HTTP answers: one table from error class to status (titiler's pattern), so
// library code never builds responses. The body is `{error: {type, message}}`; a 500 hides the
// details of errors that are not ours and logs them instead.
import { SearchArgumentError } from '../catalog/search';
import {
  AccessDeniedError,
  ChangelabError,
  ConfigError,
  InvalidRasterError,
  NotFoundError,
  ServiceUnavailableError,
  StorageError,
  ValidationFailedError
} from '../errors';
import { BadRequestError, RangeNotSatisfiableError } from './router';

/** Error class to HTTP status; the first class an error is an instance of wins. */
export const ERROR_STATUS: ReadonlyArray<[abstract new (...args: never[]) => Error, number]> = [
  [BadRequestError, 400],
  [SearchArgumentError, 400],
  [AccessDeniedError, 403],
  [NotFoundError, 404],
  [RangeNotSatisfiableError, 416],
  [ValidationFailedError, 422],
  [InvalidRasterError, 422],
  [StorageError, 502],
  [ServiceUnavailableError, 503],
  [ConfigError, 500],
  [ChangelabError, 500]
];

export function statusOf(error: unknown): number {
  for (const [type, status] of ERROR_STATUS) {
    if (error instanceof type) {
      return status;
    }
  }
  return 500;
}

/** The JSON body for an error; unexpected errors say only that something went wrong. */
export function errorBody(error: unknown): { error: { type: string; message: string } } {
  if (error instanceof ChangelabError) {
    return { error: { type: error.name, message: error.message } };
  }
  return { error: { type: 'InternalError', message: 'internal error in the changelab service; see its log' } };
}
