// Pins the public surface of metadata extraction, so a change to it is a conscious one.
import { describe, expect, it } from 'vitest';

import * as extract from '../../../../kernel-lib/src/catalog/extract';

describe('public API of catalog/extract', () => {
  it('exports exactly these names', () => {
    expect(Object.keys(extract).sort()).toEqual([
      'DEFAULT_EXTRACT_LIMITS',
      'cachedByteSource',
      'captureTimeFromName',
      'extractFileMetadata',
      'extractMetadata',
      'fileByteSource',
      'objectByteSource',
      'parseExifDateTime',
      'sha256Of',
      'withBlockCache'
    ]);
  });
});
