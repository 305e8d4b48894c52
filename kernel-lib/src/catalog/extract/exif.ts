// Capture metadata from EXIF: the TIFF DateTime, the EXIF IFD's DateTimeOriginal (with its UTC
// offset when the camera wrote one) and the GPS IFD's position. The same IFDs appear in
// GeoTIFFs, in a JPEG's APP1 segment and in a PNG's eXIf chunk. EXIF is optional decoration:
// a broken EXIF block is reported as a problem, never a reason to refuse the image.
import { InvalidRasterError } from '../../errors';
import type { HeaderReader } from './header-reader';
import { TiffReader, type IIfd, type ITiffLimits } from './tiff-ifd';
import { ExifTag, GpsTag, TiffTag } from '../../tiff/codes';

export interface IGpsFix {
  lat: number;
  lon: number;
  alt: number | null;
}

export interface IExifSummary {
  /** TIFF DateTime (IFD0), as written. */
  dateTime: string | null;
  /** The EXIF IFD's OffsetTime (applies to DateTime), e.g. "+09:00". */
  offsetTime: string | null;
  dateTimeOriginal: string | null;
  offsetTimeOriginal: string | null;
  subSecTimeOriginal: string | null;
  gps: IGpsFix | null;
  /** Camera and GPS fields worth keeping in `extra`, JSON-safe. */
  fields: Record<string, string | number>;
  problems: string[];
}

export async function readExif(
  tiff: TiffReader,
  ifd0: IIfd
): Promise<IExifSummary> {
  const summary: IExifSummary = {
    dateTime: null,
    offsetTime: null,
    dateTimeOriginal: null,
    offsetTimeOriginal: null,
    subSecTimeOriginal: null,
    gps: null,
    fields: {},
    problems: []
  };
  const text = async (ifd: IIfd, tag: number, name: string) => {
    const entry = ifd.entries.get(tag);
    return entry ? (await tiff.text(entry, name)).trim() || null : null;
  };
  const keep = async (ifd: IIfd, tag: number, name: string) => {
    const entry = ifd.entries.get(tag);
    if (!entry) {
      return;
    }
    try {
      if (entry.type === 2) {
        const value = (await tiff.text(entry, name)).trim();
        if (value) {
          summary.fields[name] = value.slice(0, 256);
        }
      } else if (entry.count >= 1 && entry.count <= 4) {
        const values = await tiff.numbers(entry, name);
        if (values.every(Number.isFinite)) {
          summary.fields[name] =
            values.length === 1 ? values[0] : values.join(' ');
        }
      }
    } catch (error) {
      summary.problems.push(
        `EXIF ${name} could not be read: ${recoverable(error)}`
      );
    }
  };

  try {
    summary.dateTime = await text(ifd0, TiffTag.DateTime, 'DateTime');
    await keep(ifd0, TiffTag.Make, 'Make');
    await keep(ifd0, TiffTag.Model, 'Model');
    await keep(ifd0, TiffTag.Orientation, 'Orientation');
  } catch (error) {
    summary.problems.push(
      `TIFF DateTime could not be read: ${recoverable(error)}`
    );
  }

  const exifPointer = ifd0.entries.get(TiffTag.ExifIFD);
  if (exifPointer) {
    try {
      const [offset] = await tiff.numbers(
        exifPointer,
        'the EXIF IFD pointer',
        0,
        1
      );
      const exif = await tiff.readIfd(offset, -1, 'the EXIF IFD');
      summary.dateTimeOriginal = await text(
        exif,
        ExifTag.DateTimeOriginal,
        'DateTimeOriginal'
      );
      summary.offsetTime = await text(exif, ExifTag.OffsetTime, 'OffsetTime');
      summary.offsetTimeOriginal = await text(
        exif,
        ExifTag.OffsetTimeOriginal,
        'OffsetTimeOriginal'
      );
      summary.subSecTimeOriginal = await text(
        exif,
        ExifTag.SubSecTimeOriginal,
        'SubSecTimeOriginal'
      );
      await keep(exif, ExifTag.ExposureTime, 'ExposureTime');
      await keep(exif, ExifTag.FNumber, 'FNumber');
      await keep(exif, ExifTag.IsoSpeed, 'ISOSpeedRatings');
      await keep(exif, ExifTag.FocalLength, 'FocalLength');
      await keep(exif, ExifTag.LensModel, 'LensModel');
      await keep(exif, ExifTag.BodySerialNumber, 'BodySerialNumber');
    } catch (error) {
      summary.problems.push(
        `the EXIF IFD could not be read: ${recoverable(error)}`
      );
    }
  }

  const gpsPointer = ifd0.entries.get(TiffTag.GpsIFD);
  if (gpsPointer) {
    try {
      const [offset] = await tiff.numbers(
        gpsPointer,
        'the GPS IFD pointer',
        0,
        1
      );
      const gps = await tiff.readIfd(offset, -1, 'the GPS IFD');
      summary.gps = await readGps(tiff, gps, summary.problems);
      await keep(gps, GpsTag.GPSMapDatum, 'GPSMapDatum');
      await keep(gps, GpsTag.GPSDateStamp, 'GPSDateStamp');
      await keep(gps, GpsTag.GPSImgDirection, 'GPSImgDirection');
    } catch (error) {
      summary.problems.push(
        `the GPS IFD could not be read: ${recoverable(error)}`
      );
    }
  }
  return summary;
}

/**
 * Latitude and longitude are three RATIONALs (degrees, minutes, seconds) with the hemisphere in
 * a separate Ref tag; altitude is one RATIONAL with Ref 1 meaning below sea level.
 */
async function readGps(
  tiff: TiffReader,
  gps: IIfd,
  problems: string[]
): Promise<IGpsFix | null> {
  const degrees = async (
    tag: number,
    refTag: number,
    name: string,
    negative: string
  ) => {
    const entry = gps.entries.get(tag);
    if (!entry || entry.count < 1) {
      return null;
    }
    const parts = await tiff.numbers(entry, name, 0, Math.min(entry.count, 3));
    if (!parts.every(Number.isFinite)) {
      problems.push(`EXIF ${name} has a zero denominator`);
      return null;
    }
    const value = parts[0] + (parts[1] ?? 0) / 60 + (parts[2] ?? 0) / 3600;
    const refEntry = gps.entries.get(refTag);
    const ref = refEntry
      ? (await tiff.text(refEntry, `${name}Ref`)).trim().toUpperCase()
      : '';
    return ref.startsWith(negative) ? -value : value;
  };
  const lat = await degrees(
    GpsTag.GPSLatitude,
    GpsTag.GPSLatitudeRef,
    'GPSLatitude',
    'S'
  );
  const lon = await degrees(
    GpsTag.GPSLongitude,
    GpsTag.GPSLongitudeRef,
    'GPSLongitude',
    'W'
  );
  if (lat === null || lon === null) {
    return null;
  }
  let alt: number | null = null;
  const altitude = gps.entries.get(GpsTag.GPSAltitude);
  if (altitude && altitude.count >= 1) {
    const [value] = await tiff.numbers(altitude, 'GPSAltitude', 0, 1);
    const ref = gps.entries.get(GpsTag.GPSAltitudeRef);
    const below = ref
      ? (await tiff.numbers(ref, 'GPSAltitudeRef', 0, 1))[0] === 1
      : false;
    alt = Number.isFinite(value) ? (below ? -value : value) : null;
  }
  return { lat, lon, alt };
}

/** A GPS fix usable as a point on the map (the validation layer judges the rest). */
export function gpsOnEarth(gps: IGpsFix): boolean {
  return Math.abs(gps.lat) <= 90 && Math.abs(gps.lon) <= 180;
}

/**
 * The reason of a damaged-file error, which callers record as a problem and move on from; any
 * other error (storage failure, cancellation) is not about the file, and is thrown on.
 */
export function recoverable(error: unknown): string {
  if (!(error instanceof InvalidRasterError)) {
    throw error;
  }
  return reasonOf(error);
}

export function reasonOf(error: unknown): string {
  const context = (error as { context?: { reason?: unknown } }).context;
  return typeof context?.reason === 'string'
    ? context.reason
    : (error as Error).message;
}

/** EXIF inside a container (JPEG APP1, PNG eXIf): offsets count from the embedded TIFF header. */
export async function exifIn(
  reader: HeaderReader,
  limits: ITiffLimits,
  base: number,
  end: number,
  problems: string[]
): Promise<IExifSummary | null> {
  try {
    const tiff = await TiffReader.open(reader, limits, base, end);
    const ifd0 = await tiff.readIfd(tiff.header.firstIfd, 0);
    return await readExif(tiff, ifd0);
  } catch (error) {
    problems.push(`EXIF could not be read: ${recoverable(error)}`);
    return null;
  }
}
