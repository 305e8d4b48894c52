// Numeric codes from the TIFF 6.0, GeoTIFF 1.1, EXIF 2.3 and GDAL specifications, named once so
// the writer reads as the spec does.

export const Tag = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  PhotometricInterpretation: 262,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  PlanarConfiguration: 284,
  Software: 305,
  DateTime: 306,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  ExtraSamples: 338,
  SampleFormat: 339,
  ModelPixelScale: 33550,
  ModelTiepoint: 33922,
  ModelTransformation: 34264,
  ExifIFD: 34665,
  GeoKeyDirectory: 34735,
  GeoAsciiParams: 34737,
  GpsIFD: 34853,
  GdalNodata: 42113
} as const;

export const ExifTag = {
  ExifVersion: 36864,
  DateTimeOriginal: 36867,
  DateTimeDigitized: 36868
} as const;

export const GpsTag = {
  GPSVersionID: 0,
  GPSLatitudeRef: 1,
  GPSLatitude: 2,
  GPSLongitudeRef: 3,
  GPSLongitude: 4,
  GPSAltitudeRef: 5,
  GPSAltitude: 6
} as const;

export const GeoKey = {
  GTModelType: 1024,
  GTRasterType: 1025,
  GeographicType: 2048,
  GeogAngularUnits: 2054,
  ProjectedCSType: 3072
} as const;

export const CompressionCode = { none: 1, deflate: 8 } as const;
export const PhotometricCode = { minIsBlack: 1, rgb: 2 } as const;
export const PredictorCode = {
  none: 1,
  horizontal: 2,
  floatingPoint: 3
} as const;
export const SampleFormatCode = { uint: 1, float: 3 } as const;
export const ModelTypeCode = { projected: 1, geographic: 2 } as const;
export const RasterTypeCode = { pixelIsArea: 1 } as const;
export const AngularUnitDegree = 9102;
