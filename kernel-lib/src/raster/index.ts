// Public surface of the raster module (re-exported by the package as `raster`): our own
// Cloud-Optimized GeoTIFF writer and the shapes it takes.

export {
  writeGeoTiff,
  writeGeoTiffFile,
  encodeGeoTiff,
  type IEncodedGeoTiff
} from './geotiff-writer';
export { crsKind } from './geokeys';
export { halveRaster, overviewLevelCount } from './overviews';
export type {
  IRaster,
  RasterDataType,
  PixelArray,
  GeoTransform,
  ICrs,
  CrsKind,
  IGpsPosition,
  Compression,
  IGeoTiffWriteOptions
} from './types';
