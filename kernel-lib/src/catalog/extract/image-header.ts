// What a format reader (TIFF, JPEG, PNG) learns from a file's header, before the CRS, footprint
// and capture time are worked out from it the same way for every format.
import type { ImageFormat, RasterDataType } from '../types';
import type { IExifSummary } from './exif';
import type { IGeoKeys } from './geokeys';
import type { GeoTransformResult } from './geotransform';

export interface IImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
  bands: number;
  dataType: RasterDataType;
  nodata: number | null;
  compression: string | null;
  tiled: boolean;
  blockSize: [number, number] | null;
  overviews: number;
  isCog: boolean;
  cogProblems: string[];
  /** GeoTIFF only. */
  geoKeys: IGeoKeys | null;
  georeference: GeoTransformResult | null;
  exif: IExifSummary | null;
  /** Format-specific facts for `extra`, JSON-safe. */
  extra: Record<string, unknown>;
  /** Non-fatal findings (unreadable EXIF, a bad nodata value) for `extra.problems`. */
  problems: string[];
}
