// Public surface of the synthetic data generator (re-exported by the package as `synth`):
// seeded before/after aerial scenes with a change mask, written as COGs, and bad files for
// exercising ingest and validation.

export {
  generatePair,
  DEFAULT_ORIGIN,
  type ISyntheticPair,
  type IByteRaster,
  type ISyntheticPairMeta,
  type ISyntheticPairOptions
} from './pair';
export {
  generateBadFiles,
  type IBadFile,
  type IBadFileOptions,
  type BadFileKind
} from './bad-files';
export {
  writeSyntheticSet,
  KOREAN_SITES,
  type ISyntheticSetOptions,
  type ISyntheticSetManifest,
  type ISyntheticSetFile,
  type SyntheticFileRole
} from './synthetic-set';
export {
  georeferenceScene,
  metresPerDegreeLatitude,
  metresPerDegreeLongitude,
  SYNTHETIC_CRSS,
  type SyntheticCrs,
  type ILatLon,
  type ISceneGeoreference
} from './georef';
export { createRandom, type IRandom, type Seed } from './random';
export type { ILook, Season } from './illumination';
