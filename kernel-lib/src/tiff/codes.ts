// Numeric codes of TIFF 6.0, BigTIFF, GeoTIFF 1.1, EXIF 2.32 and GDAL's private tags, named once
// for both sides: the COG writer (raster/) and the header reader (catalog/extract/). Reading meets
// more tags than writing produces, so most of these are the reader's.

export const TiffTag = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  PhotometricInterpretation: 262,
  ImageDescription: 270,
  Make: 271,
  Model: 272,
  StripOffsets: 273,
  Orientation: 274,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  PlanarConfiguration: 284,
  Software: 305,
  DateTime: 306,
  Artist: 315,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  ExtraSamples: 338,
  SampleFormat: 339,
  Copyright: 33432,
  ModelPixelScale: 33550,
  ModelTiepoint: 33922,
  ModelTransformation: 34264,
  ExifIFD: 34665,
  GeoKeyDirectory: 34735,
  GeoDoubleParams: 34736,
  GeoAsciiParams: 34737,
  GpsIFD: 34853,
  GdalMetadata: 42112,
  GdalNodata: 42113
} as const;

export const ExifTag = {
  ExifVersion: 36864,
  ExposureTime: 33434,
  FNumber: 33437,
  IsoSpeed: 34855,
  DateTimeOriginal: 36867,
  DateTimeDigitized: 36868,
  OffsetTime: 36880,
  OffsetTimeOriginal: 36881,
  SubSecTimeOriginal: 37521,
  FocalLength: 37386,
  PixelXDimension: 40962,
  PixelYDimension: 40963,
  BodySerialNumber: 42033,
  LensModel: 42036
} as const;

export const GpsTag = {
  GPSVersionID: 0,
  GPSLatitudeRef: 1,
  GPSLatitude: 2,
  GPSLongitudeRef: 3,
  GPSLongitude: 4,
  GPSAltitudeRef: 5,
  GPSAltitude: 6,
  GPSTimeStamp: 7,
  GPSImgDirection: 17,
  GPSMapDatum: 18,
  GPSDateStamp: 29
} as const;

/** Field types: the code and the bytes one value takes. */
export const FieldType = {
  BYTE: 1,
  ASCII: 2,
  SHORT: 3,
  LONG: 4,
  RATIONAL: 5,
  SBYTE: 6,
  UNDEFINED: 7,
  SSHORT: 8,
  SLONG: 9,
  SRATIONAL: 10,
  FLOAT: 11,
  DOUBLE: 12,
  IFD: 13,
  LONG8: 16,
  SLONG8: 17,
  IFD8: 18
} as const;

export type FieldType = (typeof FieldType)[keyof typeof FieldType];

export const FIELD_TYPE_SIZE: Readonly<Record<number, number>> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8
};

/** NewSubfileType bits. */
export const SubfileType = { reducedImage: 1, page: 2, mask: 4 } as const;

/** Codes the writer writes; the reader turns codes into names with the tables below. */
export const CompressionCode = { none: 1, deflate: 8 } as const;
export const PhotometricCode = { minIsBlack: 1, rgb: 2 } as const;
export const PredictorCode = {
  none: 1,
  horizontal: 2,
  floatingPoint: 3
} as const;
export const SampleFormatCode = { uint: 1, float: 3 } as const;

/** Compression names as users and GDAL's COMPRESSION metadata spell them. */
export const COMPRESSION_NAMES: Readonly<Record<number, string>> = {
  1: 'none',
  2: 'ccittrle',
  3: 'ccittfax3',
  4: 'ccittfax4',
  5: 'lzw',
  6: 'ojpeg',
  7: 'jpeg',
  8: 'deflate',
  32773: 'packbits',
  32946: 'deflate',
  34712: 'jpeg2000',
  34887: 'lerc',
  34925: 'lzma',
  50000: 'zstd',
  50001: 'webp',
  50002: 'jxl',
  52546: 'jxl'
};

export const PHOTOMETRIC_NAMES: Readonly<Record<number, string>> = {
  0: 'miniswhite',
  1: 'minisblack',
  2: 'rgb',
  3: 'palette',
  4: 'mask',
  5: 'separated',
  6: 'ycbcr',
  8: 'cielab'
};

export const GeoKey = {
  GTModelType: 1024,
  GTRasterType: 1025,
  GTCitation: 1026,
  GeographicType: 2048,
  GeogCitation: 2049,
  GeogGeodeticDatum: 2050,
  GeogPrimeMeridian: 2051,
  GeogLinearUnits: 2052,
  GeogAngularUnits: 2054,
  GeogEllipsoid: 2056,
  GeogSemiMajorAxis: 2057,
  GeogSemiMinorAxis: 2058,
  GeogInvFlattening: 2059,
  GeogPrimeMeridianLong: 2061,
  ProjectedCSType: 3072,
  PCSCitation: 3073,
  Projection: 3074,
  ProjCoordTrans: 3075,
  ProjLinearUnits: 3076,
  ProjLinearUnitSize: 3077,
  ProjStdParallel1: 3078,
  ProjStdParallel2: 3079,
  ProjNatOriginLong: 3080,
  ProjNatOriginLat: 3081,
  ProjFalseEasting: 3082,
  ProjFalseNorthing: 3083,
  ProjFalseOriginLong: 3084,
  ProjFalseOriginLat: 3085,
  ProjFalseOriginEasting: 3086,
  ProjFalseOriginNorthing: 3087,
  ProjCenterLong: 3088,
  ProjCenterLat: 3089,
  ProjScaleAtNatOrigin: 3092,
  ProjScaleAtCenter: 3093,
  ProjAzimuthAngle: 3094,
  ProjStraightVertPoleLong: 3095,
  VerticalCSType: 4096
} as const;

/** EPSG's code for the degree, GeogAngularUnits' value for geographic CRSs. */
export const AngularUnitDegree = 9102;

/** GeoTIFF's "user-defined" code: the CRS is spelled out by the other keys. */
export const USER_DEFINED = 32767;

export const ModelType = {
  projected: 1,
  geographic: 2,
  geocentric: 3
} as const;
export const RasterType = { pixelIsArea: 1, pixelIsPoint: 2 } as const;
