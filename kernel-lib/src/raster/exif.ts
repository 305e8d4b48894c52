// Capture metadata the way drone cameras store it: TIFF DateTime, an EXIF IFD with
// DateTimeOriginal and a GPS IFD with latitude, longitude and altitude. The ingest pipeline reads
// these to date and place images that arrive without a sidecar.

import { ExifTag, FieldType, GpsTag } from '../tiff/codes';
import type { IIfdEntry } from './ifd';
import type { IGpsPosition } from './types';

/** EXIF/TIFF date format "YYYY:MM:DD HH:MM:SS", in UTC because the format carries no zone. */
export function formatExifDateTime(date: Date): string {
  if (Number.isNaN(date.getTime())) {
    throw new RangeError('dateTime is an invalid Date');
  }
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${pad(date.getUTCFullYear(), 4)}:${pad(date.getUTCMonth() + 1)}:${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
  );
}

export function exifIfdEntries(dateTime: Date): IIfdEntry[] {
  const stamp = formatExifDateTime(dateTime);
  return [
    {
      tag: ExifTag.ExifVersion,
      type: FieldType.UNDEFINED,
      value: Buffer.from('0231', 'latin1')
    },
    { tag: ExifTag.DateTimeOriginal, type: FieldType.ASCII, value: stamp },
    { tag: ExifTag.DateTimeDigitized, type: FieldType.ASCII, value: stamp }
  ];
}

/** Fraction of an arc-second kept in GPS rationals: 1e-4" is about 3 mm on the ground. */
const ARCSEC_DENOMINATOR = 10000;

export function gpsIfdEntries(gps: IGpsPosition): IIfdEntry[] {
  const entries: IIfdEntry[] = [
    { tag: GpsTag.GPSVersionID, type: FieldType.BYTE, value: [2, 3, 0, 0] },
    {
      tag: GpsTag.GPSLatitudeRef,
      type: FieldType.ASCII,
      value: gps.lat < 0 ? 'S' : 'N'
    },
    {
      tag: GpsTag.GPSLatitude,
      type: FieldType.RATIONAL,
      value: degreesToRational(gps.lat)
    },
    {
      tag: GpsTag.GPSLongitudeRef,
      type: FieldType.ASCII,
      value: gps.lon < 0 ? 'W' : 'E'
    },
    {
      tag: GpsTag.GPSLongitude,
      type: FieldType.RATIONAL,
      value: degreesToRational(gps.lon)
    }
  ];
  if (gps.alt !== undefined) {
    entries.push(
      {
        tag: GpsTag.GPSAltitudeRef,
        type: FieldType.BYTE,
        value: [gps.alt < 0 ? 1 : 0]
      },
      {
        tag: GpsTag.GPSAltitude,
        type: FieldType.RATIONAL,
        value: [Math.round(Math.abs(gps.alt) * 100), 100]
      }
    );
  }
  return entries;
}

/** Degrees as EXIF's three rationals: degrees, minutes, seconds (the sign goes in the Ref tag). */
function degreesToRational(degrees: number): number[] {
  if (!Number.isFinite(degrees)) {
    throw new RangeError(
      `GPS coordinate must be a finite number, got ${degrees}`
    );
  }
  const units = Math.round(Math.abs(degrees) * 3600 * ARCSEC_DENOMINATOR);
  const perDegree = 3600 * ARCSEC_DENOMINATOR;
  const perMinute = 60 * ARCSEC_DENOMINATOR;
  const whole = Math.floor(units / perDegree);
  const minutes = Math.floor((units % perDegree) / perMinute);
  const seconds = units % perMinute;
  return [whole, 1, minutes, 1, seconds, ARCSEC_DENOMINATOR];
}
