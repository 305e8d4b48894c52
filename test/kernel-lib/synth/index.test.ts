// Pins the synthetic data generator's public surface: changing it should be a conscious decision.

import { expect, it } from 'vitest';

import * as synth from '../../../kernel-lib/src/synth';

it('exports exactly the synth API', () => {
  expect(Object.keys(synth).sort()).toEqual(
    [
      'DEFAULT_ORIGIN',
      'KOREAN_SITES',
      'SYNTHETIC_CRSS',
      'createRandom',
      'generateBadFiles',
      'generatePair',
      'georeferenceScene',
      'metresPerDegreeLatitude',
      'metresPerDegreeLongitude',
      'writeSyntheticSet'
    ].sort()
  );
});
