// Deliberately bad inputs for the ingest pipeline and its expectation suite, each with the reason
// a user should see. Two kinds: corrupt files no reader can use, and readable files that break the
// team's data policy (the report's "is every TIF readable?", "resolution <= 1.0 m?", "GPS valid?").

import {
  encodeHeader,
  encodeIfd,
  ifdByteLength,
  type IIfdEntry
} from '../raster/ifd';
import { georeferenceEntries } from '../raster/geokeys';
import { FieldType, TiffTag } from '../tiff/codes';
import { writeGeoTiff, type GeoTransform } from '../raster';
import { generatePair } from './pair';
import type { Seed } from './random';

export type BadFileKind =
  | 'truncated'
  | 'bad-magic'
  | 'no-georeference'
  | 'absurd-dimensions'
  | 'gsd-too-coarse'
  | 'gps-out-of-range';

export interface IBadFile {
  /** A file name for it, e.g. "truncated.tif". */
  name: string;
  kind: BadFileKind;
  /** 'corrupt': unusable as a georeferenced raster; 'policy': valid, but breaks the ingest rules. */
  severity: 'corrupt' | 'policy';
  reason: string;
  bytes: Buffer;
}

export interface IBadFileOptions {
  seed?: Seed;
  /** Side of the (small) images the files are made from. Default 128. */
  size?: number;
}

export function generateBadFiles(options: IBadFileOptions = {}): IBadFile[] {
  const seed = options.seed ?? 'bad-files';
  const size = options.size ?? 128;
  const good = generatePair({ seed, width: size, gsd: 0.5 });
  const { crs, transform } = good.meta;
  const image = good.rasters.before;
  const captured = new Date(good.meta.beforeDate);
  const files: IBadFile[] = [];

  const cut = Math.floor(good.before.length * 0.6);
  files.push({
    name: 'truncated.tif',
    kind: 'truncated',
    severity: 'corrupt',
    reason: `file ends after ${cut} of ${good.before.length} bytes, inside the tile data (an interrupted upload)`,
    bytes: Buffer.from(good.before.subarray(0, cut))
  });

  const renamed = Buffer.from(good.before);
  renamed.write('XX', 0, 'latin1');
  files.push({
    name: 'bad-magic.tif',
    kind: 'bad-magic',
    severity: 'corrupt',
    reason:
      'starts with bytes 58 58 2a 00, not a TIFF signature ("II*\\0" or "MM\\0*")',
    bytes: renamed
  });

  files.push({
    name: 'no-georeference.tif',
    kind: 'no-georeference',
    severity: 'corrupt',
    reason:
      'a TIFF with no CRS and no geotransform: it cannot be placed on a map',
    bytes: writeGeoTiff(image, {
      crs: null,
      transform: null,
      dateTime: captured,
      gps: good.meta.gps?.before
    })
  });

  files.push(
    absurdDimensions(crs.epsg, [transform[0], 0.5, 0, transform[3], 0, -0.5])
  );

  const coarse = generatePair({
    seed,
    width: size,
    gsd: 5,
    misregistration: 0
  });
  files.push({
    name: 'gsd-5m.tif',
    kind: 'gsd-too-coarse',
    severity: 'policy',
    reason:
      'ground sample distance is 5 m, coarser than the 1.0 m limit for training imagery',
    bytes: coarse.before
  });

  files.push({
    name: 'gps-out-of-range.tif',
    kind: 'gps-out-of-range',
    severity: 'policy',
    reason: 'EXIF GPSLatitude is 123 degrees, outside -90..90',
    bytes: writeGeoTiff(image, {
      crs,
      transform,
      dateTime: captured,
      gps: { lat: 123, lon: 127.0, alt: 240 }
    })
  });
  return files;
}

/**
 * A GeoTIFF whose header declares 10^7 x 10^7 pixels (100 TB as uint8) in one uncompressed strip
 * backed by 64 bytes. A reader that trusts the header and allocates the image runs out of memory.
 */
function absurdDimensions(epsg: number, transform: GeoTransform): IBadFile {
  const side = 10_000_000;
  const format = { bigTiff: false };
  const ifdOffset = 8;
  const entries = (dataOffset: number): IIfdEntry[] => [
    { tag: TiffTag.ImageWidth, type: FieldType.LONG, value: [side] },
    { tag: TiffTag.ImageLength, type: FieldType.LONG, value: [side] },
    { tag: TiffTag.BitsPerSample, type: FieldType.SHORT, value: [8] },
    { tag: TiffTag.Compression, type: FieldType.SHORT, value: [1] },
    { tag: TiffTag.PhotometricInterpretation, type: FieldType.SHORT, value: [1] },
    { tag: TiffTag.StripOffsets, type: FieldType.LONG, value: [dataOffset] },
    { tag: TiffTag.SamplesPerPixel, type: FieldType.SHORT, value: [1] },
    { tag: TiffTag.RowsPerStrip, type: FieldType.LONG, value: [side] },
    { tag: TiffTag.StripByteCounts, type: FieldType.LONG, value: [64] },
    { tag: TiffTag.PlanarConfiguration, type: FieldType.SHORT, value: [1] },
    ...georeferenceEntries({ epsg }, transform)
  ];
  const dataOffset = ifdOffset + ifdByteLength(entries(0), format);
  const bytes = Buffer.concat([
    encodeHeader(format, ifdOffset),
    encodeIfd(entries(dataOffset), format, ifdOffset, 0),
    Buffer.alloc(64)
  ]);
  return {
    name: 'absurd-dimensions.tif',
    kind: 'absurd-dimensions',
    severity: 'corrupt',
    reason: `header declares ${side} x ${side} pixels (10^14 bytes) but the file holds ${bytes.length} bytes`,
    bytes
  };
}
