// Shapes shared by the raster writer and its callers (the synthetic data generator, change maps).
// Pixel data is pixel-interleaved and row-major, the same order as a PlanarConfiguration=1 TIFF,
// so a raster goes to tiles without reshuffling bands.

export type RasterDataType = 'uint8' | 'uint16' | 'float32';

export type PixelArray = Uint8Array | Uint16Array | Float32Array;

/** An in-memory image: `data[(row * width + col) * bands + band]`. */
export interface IRaster {
  width: number;
  height: number;
  bands: number;
  dataType: RasterDataType;
  data: PixelArray;
}

/**
 * GDAL-order affine transform `[x0, xPixel, xRotation, y0, yRotation, yPixel]`:
 * `X = x0 + col * xPixel + row * xRotation`, `Y = y0 + col * yRotation + row * yPixel`,
 * for the pixel's top-left corner (PixelIsArea).
 */
export type GeoTransform = readonly [
  number,
  number,
  number,
  number,
  number,
  number
];

/**
 * A coordinate reference system named by its EPSG code. `kind` says whether the code is a
 * geographic (lat/lon) or projected CRS; when left out it is looked up in a short list of
 * geographic codes and otherwise taken as projected.
 */
export interface ICrs {
  epsg: number;
  kind?: CrsKind;
}

export type CrsKind = 'projected' | 'geographic';

/** Where a camera was, as drones record it in EXIF GPS tags (WGS 84 degrees, metres). */
export interface IGpsPosition {
  lat: number;
  lon: number;
  /** Altitude above sea level in metres; negative values are written with GPSAltitudeRef=1. */
  alt?: number;
}

export type Compression = 'deflate' | 'none';

export interface IGeoTiffWriteOptions {
  /** The CRS, or `null` to write an image without any georeference (a plain TIFF). */
  crs: ICrs | null;
  /** Pixel-to-CRS transform, or `null` together with `crs: null`. */
  transform: GeoTransform | null;
  /** Written as GDAL_NODATA and left out of overview averages. */
  nodata?: number;
  /** Tile width and height in pixels; a multiple of 16 as TIFF requires. Default 256. */
  tileSize?: number;
  /** Internal overviews, halving until the image fits in one tile. Default true. */
  overviews?: boolean;
  /** Default 'deflate'. */
  compression?: Compression;
  /**
   * Horizontal differencing before DEFLATE: predictor 2 for integers, 3 (floating point) for
   * float32, as GDAL's PREDICTOR=YES picks. Default true when compressing.
   */
  predictor?: boolean;
  /** zlib level 1..9. Default 6. */
  deflateLevel?: number;
  /** Force BigTIFF (true) or classic TIFF (false); default: BigTIFF only when the file needs it. */
  bigTiff?: boolean;
  /** Capture time: TIFF DateTime and EXIF DateTimeOriginal, written in UTC. */
  dateTime?: Date;
  /**
   * Camera position, written as an EXIF GPS IFD. Values are written as given, unchecked: judging
   * them is the ingest suite's job, and the bad-file generator relies on writing a wrong one.
   * In a BigTIFF the EXIF and GPS IFDs are BigTIFF IFDs, as the format requires; GDAL 3.6
   * reads EXIF from classic TIFFs only (libtiff and geotiff.js read both).
   */
  gps?: IGpsPosition;
  /** TIFF Software tag. Default 'changelab'. */
  software?: string;
}
