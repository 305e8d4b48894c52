// Shapes shared by the catalog: what metadata extraction produces for one object, and how the
// catalog reads bytes without downloading whole files.
import type { IObjectInfo } from '../objects/store';

/** Reads byte ranges of one object: HTTP range requests on S3, positioned reads on local files. */
export interface IByteSource {
  /** The object's key (or path), for messages. */
  readonly key: string;
  /** Total size in bytes. */
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export type RasterDataType =
  | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64' | 'complex';

export type ImageFormat = 'GTiff' | 'BigTIFF' | 'JPEG' | 'PNG';

export type CaptureTimeSource = 'tiff-datetime' | 'exif-datetime-original' | 'filename';

export interface ICrsInfo {
  /** EPSG code when the file's CRS is (or matches) one. */
  epsg: number | null;
  /** Human-readable name, e.g. "Korea 2000 / Central Belt 2010". */
  name: string | null;
  /** WKT (or PROJJSON as a string) when there is no EPSG code. */
  wkt: string | null;
  /** True for geographic (degree) CRSs. */
  geographic: boolean;
}

/** GeoJSON geometry in EPSG:4326 (lon, lat). */
export type Geometry4326 =
  | { type: 'Polygon'; coordinates: number[][][] }
  | { type: 'MultiPolygon'; coordinates: number[][][][] }
  | { type: 'Point'; coordinates: number[] };

/** Everything we index about one image, read from its header only. */
export interface IImageMetadata {
  key: string;
  size: number;
  etag: string;
  versionId: string | null;
  format: ImageFormat;
  width: number;
  height: number;
  bands: number;
  dataType: RasterDataType;
  nodata: number | null;
  /** TIFF compression name ('deflate', 'lzw', 'jpeg', 'none', ...); 'jpeg'/'png' for stills. */
  compression: string | null;
  tiled: boolean;
  blockSize: [number, number] | null;
  overviews: number;
  /** Valid Cloud-Optimized GeoTIFF layout (tiled, overviews, IFDs before data, ...). */
  isCog: boolean;
  /** Why it is not a valid COG, when it is not (empty when it is, or for stills). */
  cogProblems: string[];
  crs: ICrsInfo | null;
  /** GDAL-order geotransform [originX, pixelW, rotX, originY, rotY, pixelH]; null without georeference. */
  transform: [number, number, number, number, number, number] | null;
  /** Ground sample distance in metres along x and y (geographic CRSs: at the image's latitude). */
  gsd: { x: number; y: number } | null;
  /** Footprint in EPSG:4326, densified edges; a MultiPolygon when it crosses the antimeridian; a Point for stills with only EXIF GPS. */
  footprint: Geometry4326 | null;
  /** [lon, lat] */
  centroid: [number, number] | null;
  captureTime: Date | null;
  captureTimeSource: CaptureTimeSource | null;
  gps: { lat: number; lon: number; alt: number | null } | null;
  /** Hex sha256 of the whole object, streamed; null when skipped (size above the configured limit). */
  sha256: string | null;
  /** Everything else worth keeping (tags, GDAL metadata, EXIF camera fields), JSON-safe. */
  extra: Record<string, unknown>;
}

export type { IObjectInfo };
