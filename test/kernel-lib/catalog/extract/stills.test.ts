// Drone stills: JPEG (EXIF in APP1) and PNG (EXIF in eXIf) without georeference still get a row,
// placed by their EXIF GPS as a point. GDAL writes and reads JPEG EXIF, so it is the oracle for
// JPEG; for big-endian EXIF and PNG the EXIF is built here by a small encoder of the test's own.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  captureTimeFromName,
  extractFileMetadata
} from '../../../../kernel-lib/src/catalog/extract';
import {
  exifDegrees,
  gdalinfo,
  requireGdal,
  scratch
} from '../../raster/gdal-oracle';

const space = scratch();
let rgb = '';
beforeAll(() => {
  requireGdal();
  rgb = space.file('rgb.tif');
  execFileSync('gdal_create', [
    '-q',
    '-of',
    'GTiff',
    '-outsize',
    '160',
    '120',
    '-bands',
    '3',
    '-burn',
    '90',
    rgb
  ]);
});
afterAll(() => space.dispose());

interface IEntry {
  tag: number;
  /** 1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL (values as numerator, denominator pairs). */
  type: 1 | 2 | 3 | 4 | 5;
  values: number[] | string;
}

/** An EXIF TIFF structure: IFD0 pointing to an EXIF IFD and a GPS IFD, in either byte order. */
function exifTiff(
  bigEndian: boolean,
  ifd0: IEntry[],
  exif: IEntry[],
  gps: IEntry[]
): Buffer {
  const size = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 4 } as const; // RATIONAL counted per LONG half
  const ifdLength = (entries: IEntry[]) => 2 + 12 * entries.length + 4;
  const withPointers = [
    ...ifd0,
    { tag: 34665, type: 4, values: [0] },
    { tag: 34853, type: 4, values: [0] }
  ] as IEntry[];
  const ifds = [withPointers, exif, gps];
  const starts: number[] = [];
  let cursor = 8;
  for (const ifd of ifds) {
    starts.push(cursor);
    cursor += ifdLength(ifd);
  }
  withPointers[withPointers.length - 2].values = [starts[1]];
  withPointers[withPointers.length - 1].values = [starts[2]];
  const out = Buffer.alloc(4096);
  const u16 = (v: number, at: number) =>
    bigEndian ? out.writeUInt16BE(v, at) : out.writeUInt16LE(v, at);
  const u32 = (v: number, at: number) =>
    bigEndian ? out.writeUInt32BE(v, at) : out.writeUInt32LE(v, at);
  out.write(bigEndian ? 'MM' : 'II', 0, 'latin1');
  u16(42, 2);
  u32(8, 4);
  let data = cursor;
  ifds.forEach((ifd, index) => {
    const sorted = [...ifd].sort((a, b) => a.tag - b.tag);
    let at = starts[index];
    u16(sorted.length, at);
    at += 2;
    for (const entry of sorted) {
      const raw =
        typeof entry.values === 'string'
          ? [...Buffer.from(`${entry.values}\0`, 'latin1')]
          : entry.values;
      const count = entry.type === 5 ? raw.length / 2 : raw.length;
      const bytes = raw.length * size[entry.type];
      u16(entry.tag, at);
      u16(entry.type, at + 2);
      u32(count, at + 4);
      const target = bytes <= 4 ? at + 8 : data;
      if (bytes > 4) {
        u32(data, at + 8);
        data += bytes + (bytes % 2);
      }
      raw.forEach((v, i) => {
        const pos = target + i * size[entry.type];
        if (size[entry.type] === 1) {
          out.writeUInt8(v, pos);
        } else if (size[entry.type] === 2) {
          u16(v, pos);
        } else {
          u32(v, pos);
        }
      });
      at += 12;
    }
    u32(0, at);
  });
  return out.subarray(0, data);
}

/** Degrees as EXIF's degree, minute, second rationals (seconds to 1/1000). */
function dms(degrees: number): number[] {
  const abs = Math.abs(degrees);
  const d = Math.floor(abs);
  const m = Math.floor((abs - d) * 60);
  const s = Math.round(((abs - d) * 60 - m) * 60 * 1000);
  return [d, 1, m, 1, s, 1000];
}

function jpegWithApp1(jpeg: Buffer, tiff: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const marker = Buffer.from([
    0xff,
    0xe1,
    (body.length + 2) >> 8,
    (body.length + 2) & 0xff
  ]);
  return Buffer.concat([jpeg.subarray(0, 2), marker, body, jpeg.subarray(2)]);
}

function pngWithExif(png: Buffer, tiff: Buffer): Buffer {
  const chunk = Buffer.alloc(12 + tiff.length);
  chunk.writeUInt32BE(tiff.length, 0);
  chunk.write('eXIf', 4, 'latin1');
  tiff.copy(chunk, 8);
  chunk.writeUInt32BE(
    crc32(chunk.subarray(4, 8 + tiff.length)),
    8 + tiff.length
  );
  const ihdrEnd = 8 + 25;
  return Buffer.concat([
    png.subarray(0, ihdrEnd),
    chunk,
    png.subarray(ihdrEnd)
  ]);
}

function gdalStill(
  format: 'JPEG' | 'PNG',
  name: string,
  ...options: string[]
): string {
  const path = space.file(name);
  execFileSync('gdal_translate', ['-q', '-of', format, ...options, rgb, path]);
  return path;
}

describe('JPEG stills', () => {
  it('a JPEG written by GDAL with EXIF GPS: the GPS, size and bands GDAL reads, as a point', async () => {
    const path = gdalStill(
      'JPEG',
      'gdal-drone.jpg',
      '-mo',
      'EXIF_GPSLatitude=(36) (21) (1.44)',
      '-mo',
      'EXIF_GPSLatitudeRef=N',
      '-mo',
      'EXIF_GPSLongitude=(127) (23) (4.2)',
      '-mo',
      'EXIF_GPSLongitudeRef=E',
      '-mo',
      'EXIF_GPSAltitude=(152.25)',
      '-mo',
      'EXIF_GPSAltitudeRef=00',
      '-mo',
      'EXIF_DateTimeOriginal=2024:03:15 10:15:00'
    );
    const gdal = gdalinfo(path);
    const ours = await extractFileMetadata(path, {
      key: 'flights/gdal-drone.jpg'
    });
    expect(ours.format).toBe('JPEG');
    expect([ours.width, ours.height]).toEqual(gdal.size);
    expect(ours.bands).toBe(gdal.bands.length);
    expect(ours.dataType).toBe('uint8');
    expect(ours.compression).toBe('jpeg');
    const lat = exifDegrees(gdal.metadata[''].EXIF_GPSLatitude);
    const lon = exifDegrees(gdal.metadata[''].EXIF_GPSLongitude);
    expect(ours.gps!.lat).toBeCloseTo(lat, 10);
    expect(ours.gps!.lon).toBeCloseTo(lon, 10);
    // GDAL stores 152.25 as the nearest rational it finds, within 1e-5.
    expect(ours.gps!.alt).toBeCloseTo(152.25, 4);
    expect(ours.footprint).toEqual({
      type: 'Point',
      coordinates: [ours.gps!.lon, ours.gps!.lat]
    });
    expect(ours.centroid).toEqual([ours.gps!.lon, ours.gps!.lat]);
    expect(ours.crs).toBeNull();
    expect(ours.transform).toBeNull();
    expect(ours.gsd).toBeNull();
    expect(ours.isCog).toBe(false);
    expect(ours.cogProblems).toEqual([]);
    expect(ours.captureTime?.toISOString()).toBe('2024-03-15T10:15:00.000Z');
    expect(ours.captureTimeSource).toBe('exif-datetime-original');
    expect(ours.sha256).toBe(sha256(path));
  });

  it('big-endian EXIF, southern and western hemispheres, altitude below sea level, a UTC offset', async () => {
    const tiff = exifTiff(
      true,
      [
        { tag: 271, type: 2, values: 'DJI' },
        { tag: 272, type: 2, values: 'FC6310' }
      ],
      [
        { tag: 36867, type: 2, values: '2023:11:02 14:30:05' },
        { tag: 36881, type: 2, values: '+09:00' }
      ],
      [
        { tag: 1, type: 2, values: 'S' },
        { tag: 2, type: 5, values: dms(33.8568) },
        { tag: 3, type: 2, values: 'W' },
        { tag: 4, type: 5, values: dms(70.6483) },
        { tag: 5, type: 1, values: [1] },
        { tag: 6, type: 5, values: [1250, 100] }
      ]
    );
    const path = space.file(
      'south-west.jpg',
      jpegWithApp1(readFileSync(gdalStill('JPEG', 'plain.jpg')), tiff)
    );
    const gdal = gdalinfo(path); // GDAL's reading of the same bytes
    const ours = await extractFileMetadata(path, { sha256: false });
    expect(gdal.metadata[''].EXIF_GPSLatitudeRef).toBe('S');
    expect(ours.gps!.lat).toBeCloseTo(
      -exifDegrees(gdal.metadata[''].EXIF_GPSLatitude),
      10
    );
    expect(ours.gps!.lon).toBeCloseTo(
      -exifDegrees(gdal.metadata[''].EXIF_GPSLongitude),
      10
    );
    expect(ours.gps!.lat).toBeCloseTo(-33.8568, 6);
    expect(ours.gps!.lon).toBeCloseTo(-70.6483, 6);
    expect(ours.gps!.alt).toBeCloseTo(-12.5, 10);
    expect(ours.footprint).toEqual({
      type: 'Point',
      coordinates: [ours.gps!.lon, ours.gps!.lat]
    });
    expect(ours.captureTime?.toISOString()).toBe('2023-11-02T05:30:05.000Z');
    expect(ours.extra).toMatchObject({ Make: 'DJI', Model: 'FC6310' });
  });

  it('a JPEG without EXIF: a row with no place and no time', async () => {
    const ours = await extractFileMetadata(gdalStill('JPEG', 'no-exif.jpg'), {
      key: 'no-exif.jpg',
      sha256: false
    });
    expect(ours.footprint).toBeNull();
    expect(ours.gps).toBeNull();
    expect(ours.captureTime).toBeNull();
    expect(ours.captureTimeSource).toBeNull();
  });
});

describe('PNG stills', () => {
  it('EXIF in an eXIf chunk: GPS as a point, TIFF DateTime first', async () => {
    const tiff = exifTiff(
      false,
      [{ tag: 306, type: 2, values: '2022:07:01 08:00:00' }],
      [{ tag: 36867, type: 2, values: '2022:07:01 07:59:58' }],
      [
        { tag: 1, type: 2, values: 'N' },
        { tag: 2, type: 5, values: dms(37.5665) },
        { tag: 3, type: 2, values: 'E' },
        { tag: 4, type: 5, values: dms(126.978) },
        { tag: 6, type: 5, values: [8840, 100] }
      ]
    );
    const png = readFileSync(gdalStill('PNG', 'plain.png'));
    const path = space.file('drone.png', pngWithExif(png, tiff));
    const gdal = gdalinfo(path);
    const ours = await extractFileMetadata(path, { sha256: false });
    expect(ours.format).toBe('PNG');
    expect([ours.width, ours.height]).toEqual(gdal.size);
    expect(ours.bands).toBe(gdal.bands.length);
    expect(ours.gps!.lat).toBeCloseTo(37.5665, 6);
    expect(ours.gps!.lon).toBeCloseTo(126.978, 6);
    expect(ours.gps!.alt).toBeCloseTo(88.4, 10);
    expect(ours.footprint).toEqual({
      type: 'Point',
      coordinates: [ours.gps!.lon, ours.gps!.lat]
    });
    expect(ours.captureTime?.toISOString()).toBe('2022-07-01T08:00:00.000Z');
    expect(ours.captureTimeSource).toBe('tiff-datetime');
  });

  it('no EXIF: capture time from the file name', async () => {
    const path = gdalStill('PNG', 'DJI_20240315_101500_0001.png');
    const ours = await extractFileMetadata(path, {
      key: 'flights/DJI_20240315_101500_0001.png',
      sha256: false
    });
    expect(ours.captureTime?.toISOString()).toBe('2024-03-15T10:15:00.000Z');
    expect(ours.captureTimeSource).toBe('filename');
    expect(ours.footprint).toBeNull();
  });

  it('GDAL PNGs of 16-bit gray: the size, band and type GDAL reports', async () => {
    const path = gdalStill('PNG', 'gray16.png', '-ot', 'UInt16', '-b', '1');
    const gdal = gdalinfo(path);
    const ours = await extractFileMetadata(path, { sha256: false });
    expect([ours.width, ours.height, ours.bands, ours.dataType]).toEqual([
      ...gdal.size,
      gdal.bands.length,
      'uint16'
    ]);
  });
});

describe('capture time from file names', () => {
  it.each([
    ['ortho_20240315.tif', '2024-03-15T00:00:00.000Z'],
    ['site/2024-03-15/tile.tif', null], // only the file name counts, not its folder
    ['seoul-2024-03-15.tif', '2024-03-15T00:00:00.000Z'],
    ['2024_03_15T101500_rgb.tif', '2024-03-15T10:15:00.000Z'],
    ['flight 2023.11.02 14-30-05.jpg', '2023-11-02T14:30:05.000Z'],
    ['IMG_20231102143005.jpg', '2023-11-02T14:30:05.000Z'],
    ['frame_120240315.tif', null], // nine digits: not a date
    ['2024-02-30.tif', null], // no 30 February
    ['2024-0315.tif', null], // mixed separators
    ['scene.tif', null]
  ])('%s -> %s', (key, expected) => {
    expect(captureTimeFromName(key)?.toISOString() ?? null).toBe(expected);
  });
});

function sha256(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0];
}
