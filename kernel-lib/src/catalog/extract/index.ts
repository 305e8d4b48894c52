// Public surface of metadata extraction: byte sources over object stores and files, the entry
// point that reads one object's header into an `image_metadata` row, and its options.
export {
  extractMetadata,
  extractFileMetadata,
  DEFAULT_EXTRACT_LIMITS,
  type IExtractOptions,
  type IExtractLimits,
  type IObjectIdentity
} from './extract';
export {
  objectByteSource,
  fileByteSource,
  cachedByteSource,
  withBlockCache,
  type ICountingByteSource,
  type IFileByteSource,
  type IByteSourceStats,
  type IBlockCacheOptions
} from './byte-source';
export { sha256Of, type ISha256Options } from './checksum';
export { captureTimeFromName, parseExifDateTime } from './capture-time';
export type { InvalidRasterCode } from './invalid-raster';
