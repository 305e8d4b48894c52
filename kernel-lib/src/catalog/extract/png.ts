// PNG stills: the IHDR chunk for size and samples, and an eXIf chunk (a TIFF structure) for
// capture time and GPS. Chunks are skipped by their length; the walk stops at the first image
// data (IDAT), because eXIf belongs before it and reading on would mean reading the whole file.
import { Bytes, type HeaderReader } from './header-reader';
import { stillHeader, type IImageHeader } from './image-header';
import { invalidRaster } from './invalid-raster';
import { exifIn, type IExifSummary } from './exif';
import type { ITiffLimits } from './tiff-ifd';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const MAX_CHUNKS = 4096;

/** Colour type -> bands, as GDAL exposes them (a palette image is one band with a colour table). */
const BANDS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const COLOUR: Record<number, string> = {
  0: 'gray',
  2: 'rgb',
  3: 'palette',
  4: 'gray+alpha',
  6: 'rgba'
};

export function isPng(head: Uint8Array): boolean {
  return head.length >= 8 && SIGNATURE.every((byte, i) => head[i] === byte);
}

export async function readPng(
  reader: HeaderReader,
  limits: ITiffLimits
): Promise<IImageHeader> {
  const problems: string[] = [];
  if (reader.size < 8 + 25) {
    throw invalidRaster(
      reader.key,
      'truncated',
      `file is truncated: ${reader.size} bytes cannot hold a PNG header`
    );
  }
  const ihdr = new Bytes(
    await reader.bytes(8, 25, 'the PNG IHDR chunk'),
    false
  );
  const type = Buffer.from(ihdr.bytes.subarray(4, 8)).toString('latin1');
  if (type !== 'IHDR' || ihdr.u32(0) !== 13) {
    throw invalidRaster(
      reader.key,
      'corrupt',
      `a PNG must start with an IHDR chunk, found "${type}"`
    );
  }
  const width = ihdr.u32(8);
  const height = ihdr.u32(12);
  const bitDepth = ihdr.u8(16);
  const colourType = ihdr.u8(17);
  if (
    width === 0 ||
    height === 0 ||
    width > 2 ** 31 - 1 ||
    height > 2 ** 31 - 1 ||
    BANDS[colourType] === undefined
  ) {
    throw invalidRaster(
      reader.key,
      'corrupt',
      `the PNG header declares ${width} x ${height} pixels of colour type ${colourType}`
    );
  }

  let exif: IExifSummary | null = null;
  let pos = 8 + 25;
  for (let chunks = 0; chunks < MAX_CHUNKS; chunks++) {
    if (pos + 8 > reader.size) {
      throw invalidRaster(
        reader.key,
        'truncated',
        `file is truncated: the PNG ends at byte ${reader.size} before its image data`
      );
    }
    const head = new Bytes(
      await reader.bytes(pos, 8, 'a PNG chunk header'),
      false
    );
    const length = head.u32(0);
    const name = Buffer.from(head.bytes.subarray(4, 8)).toString('latin1');
    if (name === 'IDAT' || name === 'IEND') {
      break;
    }
    if (name === 'eXIf' && exif === null) {
      exif = await exifIn(
        reader,
        limits,
        pos + 8,
        Math.min(pos + 8 + length, reader.size),
        problems
      );
    }
    pos += 12 + length;
  }
  return stillHeader(
    {
      format: 'PNG',
      width,
      height,
      bands: BANDS[colourType],
      dataType: bitDepth === 16 ? 'uint16' : 'uint8',
      compression: 'png'
    },
    exif,
    { colourType: COLOUR[colourType], bitsPerSample: bitDepth },
    problems
  );
}
