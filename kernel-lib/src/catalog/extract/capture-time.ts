// When an image was captured: EXIF-style date strings and, failing those, a date in the file
// name (20240315, 2024-03-15, 2024_03_15T101500, 20240315_101500). EXIF times carry no zone
// unless an OffsetTime tag says so; they are read as UTC, the convention our writer follows.
import type { CaptureTimeSource } from '../types';
import type { IExifSummary } from './exif';

export interface ICaptureTime {
  captureTime: Date | null;
  captureTimeSource: CaptureTimeSource | null;
}

/** The catalog's order of trust: TIFF DateTime, EXIF DateTimeOriginal, the file name. */
export function captureTimeOf(
  exif: IExifSummary | null,
  key: string
): ICaptureTime {
  const tiff = exif?.dateTime
    ? parseExifDateTime(exif.dateTime, exif.offsetTime)
    : null;
  if (tiff) {
    return { captureTime: tiff, captureTimeSource: 'tiff-datetime' };
  }
  const original = exif?.dateTimeOriginal
    ? parseExifDateTime(
        exif.dateTimeOriginal,
        exif.offsetTimeOriginal,
        exif.subSecTimeOriginal
      )
    : null;
  if (original) {
    return {
      captureTime: original,
      captureTimeSource: 'exif-datetime-original'
    };
  }
  const named = captureTimeFromName(key);
  if (named) {
    return { captureTime: named, captureTimeSource: 'filename' };
  }
  return { captureTime: null, captureTimeSource: null };
}

/** "YYYY:MM:DD HH:MM:SS" (also with '-' in the date or 'T' between); null when blank or invalid. */
export function parseExifDateTime(
  text: string,
  offset?: string | null,
  subSeconds?: string | null
): Date | null {
  const match =
    /^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(
      text.trim()
    );
  if (!match) {
    return null;
  }
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  const millis =
    subSeconds && /^\d+$/.test(subSeconds.trim())
      ? Math.round(Number(`0.${subSeconds.trim()}`) * 1000)
      : 0;
  const date = utcDate(year, month, day, hour, minute, second, millis);
  if (!date) {
    return null;
  }
  const zone = offset ? /^([+-])(\d{2}):(\d{2})$/.exec(offset.trim()) : null;
  if (zone) {
    const minutes =
      (Number(zone[2]) * 60 + Number(zone[3])) * (zone[1] === '-' ? -1 : 1);
    return new Date(date.getTime() - minutes * 60_000);
  }
  return date;
}

// A date (same separator, or none, between its parts), then optionally a time of day; digits on
// either side mean the number is something else (a frame counter, a longer id).
const NAME_PATTERN =
  /(?<!\d)((?:18|19|20)\d{2})([-_.]?)(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?:[T_\- ]?([01]\d|2[0-3])([-_:.]?)([0-5]\d)\6([0-5]\d))?(?!\d)/;

export function captureTimeFromName(key: string): Date | null {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const match = NAME_PATTERN.exec(name);
  if (!match) {
    return null;
  }
  const [, year, , month, day, hour, , minute, second] = match;
  return utcDate(
    Number(year),
    Number(month),
    Number(day),
    Number(hour ?? 0),
    Number(minute ?? 0),
    Number(second ?? 0),
    0
  );
}

function utcDate(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis: number
): Date | null {
  if (
    year < 1800 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    hour > 23 ||
    minute > 59 ||
    second > 60
  ) {
    return null;
  }
  const date = new Date(
    Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), millis)
  );
  // Date.UTC rolls 31 April over to 1 May; a real date survives the round trip.
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
    ? date
    : null;
}
