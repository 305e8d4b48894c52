// What a format reader (TIFF, JPEG, PNG) learns from a file's header, before the CRS, footprint
// and capture time are worked out from it the same way for every format.
import type { IImageMetadata } from '../types';
import type { IExifSummary } from './exif';
import type { IGeoKeys } from './geokeys';
import type { GeoTransformResult } from './geotransform';

/** The image's structure, as it goes into `IImageMetadata`, and what the later steps work from. */
export interface IImageHeader
  extends Pick<
    IImageMetadata,
    | 'format'
    | 'width'
    | 'height'
    | 'bands'
    | 'dataType'
    | 'nodata'
    | 'compression'
    | 'tiled'
    | 'blockSize'
    | 'overviews'
    | 'isCog'
    | 'cogProblems'
  > {
  /** GeoTIFF only. */
  geoKeys: IGeoKeys | null;
  georeference: GeoTransformResult | null;
  exif: IExifSummary | null;
  /** Format-specific facts for `extra`, JSON-safe. */
  extra: Record<string, unknown>;
  /** Non-fatal findings (unreadable EXIF, a bad nodata value) for `extra.problems`. */
  problems: string[];
}

/**
 * A still (JPEG, PNG): one untiled image without overviews or georeference, placed only by its
 * EXIF GPS when it has one; EXIF camera fields and findings join the format's own.
 */
export function stillHeader(
  image: Pick<IImageHeader, 'format' | 'width' | 'height' | 'bands' | 'dataType' | 'compression'>,
  exif: IExifSummary | null,
  extra: Record<string, unknown>,
  problems: string[]
): IImageHeader {
  return {
    ...image,
    nodata: null,
    tiled: false,
    blockSize: null,
    overviews: 0,
    isCog: false,
    cogProblems: [],
    geoKeys: null,
    georeference: null,
    exif,
    extra: { ...extra, ...(exif ? exif.fields : {}) },
    problems: [...problems, ...(exif?.problems ?? [])]
  };
}
