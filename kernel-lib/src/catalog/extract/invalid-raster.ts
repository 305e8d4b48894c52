// Why a file cannot be indexed, in words a user can act on. Each rejection carries a code the
// catalog's quarantine table can group by, the reason text, and the object key.
import { InvalidRasterError } from '../../errors';

export type InvalidRasterCode =
  /** The object has no bytes. */
  | 'empty'
  /** Not a TIFF, BigTIFF, JPEG or PNG. */
  | 'unsupported-format'
  /** The bytes end before the structure they declare (an interrupted upload). */
  | 'truncated'
  /** The structure contradicts itself: a missing required tag, a count that does not match. */
  | 'corrupt'
  /** An IFD chain that points back into itself. */
  | 'ifd-loop'
  /** Declared dimensions no real image has, or that would exhaust a reader's memory. */
  | 'absurd-dimensions'
  /** A header larger than the extractor's limits (tags, IFDs, bytes read). */
  | 'limit-exceeded'
  /** A valid file using a feature we do not read (e.g. 64-bit integer samples). */
  | 'unsupported';

export function invalidRaster(
  key: string,
  code: InvalidRasterCode,
  reason: string,
  context: Record<string, unknown> = {}
): InvalidRasterError {
  return new InvalidRasterError(`${key}: ${reason}`, {
    key,
    code,
    reason,
    ...context
  });
}
