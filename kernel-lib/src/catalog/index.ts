// The catalog's public surface: images in PostGIS, search, pairs, quarantine and the watcher.
export { Catalog, QuarantineList, type IQuarantineEntry, type IQuarantineQuery } from './catalog';
export { CatalogImage, type IImage } from './images';
export { IngestSummary, type IIngestOptions, type IIngestProgress } from './ingest';
export type { IndexOutcome } from './indexer';
export { ImagePage, SearchArgumentError, type BBox, type ISearchQuery } from './search';
export { PairList, type IPair, type IPairQuery } from './pairs';
export { CatalogWatcher, type IWatchEvent, type IWatchOptions, type IWatchStats } from './watch';
export type {
  IByteSource,
  IImageMetadata,
  ICrsInfo,
  Geometry4326,
  ImageFormat,
  RasterDataType,
  CaptureTimeSource
} from './types';
