// JPEG stills (drone photos): walks the marker segments from the start of the file, reading
// each segment's 4-byte header and jumping over its body, up to the frame header (SOF) for the
// size, precision and components. EXIF sits in an APP1 segment before it, as a TIFF structure.
import { exifIn, type IExifSummary } from './exif';
import { Bytes, type HeaderReader } from './header-reader';
import { stillHeader, type IImageHeader } from './image-header';
import { invalidRaster } from './invalid-raster';
import type { ITiffLimits } from './tiff-ifd';

/** Marker segments read before giving up on finding the frame header. */
const MAX_SEGMENTS = 4096;

const SOF_MARKERS = new Set([
  0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf
]);
const SOF_NAMES: Record<number, string> = {
  0xc0: 'baseline',
  0xc1: 'extended',
  0xc2: 'progressive',
  0xc3: 'lossless'
};

export function isJpeg(head: Uint8Array): boolean {
  return (
    head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff
  );
}

export async function readJpeg(
  reader: HeaderReader,
  limits: ITiffLimits
): Promise<IImageHeader> {
  let pos = 2;
  let exif: IExifSummary | null = null;
  const problems: string[] = [];
  const extra: Record<string, unknown> = {};
  for (let segments = 0; ; segments++) {
    if (segments >= MAX_SEGMENTS) {
      throw invalidRaster(
        reader.key,
        'limit-exceeded',
        `no JPEG frame header within the first ${MAX_SEGMENTS} segments`
      );
    }
    if (pos + 4 > reader.size) {
      throw invalidRaster(
        reader.key,
        'truncated',
        `file is truncated: the JPEG ends at byte ${reader.size} before its frame header (SOF)`
      );
    }
    const head = new Bytes(await reader.bytes(pos, 4, 'a JPEG marker'), false);
    if (head.u8(0) !== 0xff) {
      throw invalidRaster(
        reader.key,
        'corrupt',
        `expected a JPEG marker at byte ${pos}, found 0x${head.u8(0).toString(16).padStart(2, '0')}`
      );
    }
    const marker = head.u8(1);
    if (marker === 0xff) {
      pos += 1; // fill byte before a marker
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      pos += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) {
      throw invalidRaster(
        reader.key,
        'corrupt',
        `the JPEG reaches its ${marker === 0xda ? 'scan data' : 'end'} without a frame header (SOF)`
      );
    }
    const length = head.u16(2);
    if (length < 2) {
      throw invalidRaster(
        reader.key,
        'corrupt',
        `JPEG segment 0x${marker.toString(16)} at byte ${pos} declares length ${length}`
      );
    }
    const body = pos + 4;
    const end = pos + 2 + length;
    if (marker === 0xe1 && length >= 8 && exif === null) {
      const id = await reader.bytes(body, 6, 'an APP1 identifier');
      if (Buffer.from(id).toString('latin1') === 'Exif\0\0') {
        exif = await exifIn(
          reader,
          limits,
          body + 6,
          Math.min(end, reader.size),
          problems
        );
      }
    } else if (SOF_MARKERS.has(marker)) {
      const frame = new Bytes(
        await reader.bytes(body, 6, 'the JPEG frame header'),
        false
      );
      const precision = frame.u8(0);
      const height = frame.u16(1);
      const width = frame.u16(3);
      const components = frame.u8(5);
      if (width === 0 || height === 0 || components === 0) {
        throw invalidRaster(
          reader.key,
          'unsupported',
          `the JPEG frame header declares ${width} x ${height} pixels and ${components} components`
        );
      }
      extra.jpegProcess =
        SOF_NAMES[marker] ?? `SOF${(marker - 0xc0).toString()}`;
      extra.bitsPerSample = precision;
      return stillHeader(
        {
          format: 'JPEG',
          width,
          height,
          bands: components,
          dataType: precision > 8 ? 'uint16' : 'uint8',
          compression: 'jpeg'
        },
        exif,
        extra,
        problems
      );
    }
    pos = end;
  }
}
