// The catalog's metadata extraction: one object's header bytes in, one `image_metadata` row out.
// Format readers (TIFF/BigTIFF, JPEG, PNG) report what the header says; this module turns that
// into the CRS, footprint, GSD and capture time the same way for every format. Files that no
// reader could use throw InvalidRasterError with a reason; readable files with findings the
// ingest suite should judge (no georeference, unknown CRS, GPS out of range) return metadata
// with those findings in `extra.problems`.
import type { IByteSource, IImageMetadata } from '../types';
import { createHash } from 'node:crypto';

import { StorageError } from '../../errors';
import { cachedByteSource, fileByteSource, withBlockCache } from './byte-source';
import { captureTimeOf } from './capture-time';
import { SHA256_CHUNK_BYTES, sha256Of } from './checksum';
import { resolveCrs } from './crs';
import { gpsOnEarth } from './exif';
import { placeImage, type IPlacement } from './footprint';
import { HeaderReader } from './header-reader';
import type { IImageHeader } from './image-header';
import { invalidRaster } from './invalid-raster';
import { isJpeg, readJpeg } from './jpeg';
import { isPng, readPng } from './png';
import { readTiff } from './tiff';
import {
  DEFAULT_TIFF_LIMITS,
  tiffSignature,
  type ITiffLimits
} from './tiff-ifd';
import { DEFAULT_IMAGE_LIMITS, type IImageLimits } from './tiff-image';

export type IExtractLimits = ITiffLimits & IImageLimits;

export interface IExtractOptions {
  /** Compute the object's sha256 (reads the whole object, streamed). Default true. */
  sha256?: boolean;
  /** Objects larger than this get `sha256: null`. Default 2 GiB. */
  sha256MaxBytes?: number;
  /** Most header bytes read per file before it is refused. Default 16 MiB. */
  headerByteBudget?: number;
  /** Footprint vertices per image edge for projected CRSs. Default 16. */
  footprintPointsPerEdge?: number;
  /** Structural limits (IFDs, tags, pixels, tiles). */
  limits?: Partial<IExtractLimits>;
  /** Cancels between reads. */
  signal?: AbortSignal;
}

/** The object being described: where it is and which version of it. */
export interface IObjectIdentity {
  key: string;
  size: number;
  etag: string;
  versionId?: string | null;
}

export const DEFAULT_EXTRACT_LIMITS: IExtractLimits = {
  ...DEFAULT_TIFF_LIMITS,
  ...DEFAULT_IMAGE_LIMITS
};
const DEFAULT_SHA256_MAX = 2 * 1024 ** 3;
const DEFAULT_HEADER_BUDGET = 16 * 1024 ** 2;

export async function extractMetadata(
  source: IByteSource,
  object: IObjectIdentity,
  options: IExtractOptions = {}
): Promise<IImageMetadata> {
  const { key } = object;
  if (source.size === 0) {
    throw invalidRaster(
      key,
      'empty',
      'the object is empty (0 bytes): the upload wrote no data'
    );
  }
  const limits: IExtractLimits = {
    ...DEFAULT_EXTRACT_LIMITS,
    ...options.limits
  };
  const hashed =
    options.sha256 !== false && source.size <= (options.sha256MaxBytes ?? DEFAULT_SHA256_MAX);
  // The checksum reads the whole object anyway: when it fits in one checksum chunk, read it in one
  // request up front and parse the header from those bytes (one GET per object instead of two;
  // memory stays within the chunk the streamed checksum holds).
  const whole =
    hashed && source.size <= WHOLE_READ_MAX_BYTES
      ? await readWhole(source, options.signal)
      : null;
  const cached = whole
    ? cachedByteSource(key, whole.length, async (offset, length) =>
        whole.subarray(offset, offset + length)
      )
    : withBlockCache(source);
  const reader = new HeaderReader(
    cached,
    options.headerByteBudget ?? DEFAULT_HEADER_BUDGET,
    options.signal
  );
  const head = await reader.bytes(
    0,
    Math.min(16, source.size),
    'the file signature'
  );
  let header: IImageHeader;
  if (tiffSignature(head)) {
    header = await readTiff(reader, limits);
  } else if (isJpeg(head)) {
    header = await readJpeg(reader, limits);
  } else if (isPng(head)) {
    header = await readPng(reader, limits);
  } else {
    throw unsupportedFormat(key, head);
  }

  const problems = [...header.problems];
  const crs = resolveCrs(header.geoKeys);
  problems.push(...(crs?.problems ?? []));
  const transform = header.georeference?.transform ?? null;
  let placement: IPlacement = {
    footprint: null,
    centroid: null,
    gsd: null,
    problems: []
  };
  if (transform && crs?.proj4) {
    placement = placeImage(
      transform,
      header.width,
      header.height,
      crs.proj4,
      crs.info.geographic,
      options.footprintPointsPerEdge ?? 16
    );
    problems.push(...placement.problems);
  } else if (header.format === 'GTiff' || header.format === 'BigTIFF') {
    if (transform && !crs) {
      problems.push(
        'no CRS: the image has a geotransform but no GeoKeys naming its coordinate system'
      );
    } else if (crs && !transform && !header.georeference?.problem) {
      problems.push(
        'no geotransform: the image names a CRS but not where its pixels are'
      );
    } else if (!crs && !transform && !header.georeference?.problem) {
      problems.push(
        'no georeference: no CRS and no geotransform, so the image cannot be placed on a map'
      );
    }
  }

  const gps = header.exif?.gps ?? null;
  let footprintSource: string | null = placement.footprint
    ? 'geotransform'
    : null;
  if (gps && !gpsOnEarth(gps)) {
    problems.push(
      `EXIF GPS position (${gps.lat}, ${gps.lon}) is outside -90..90, -180..180`
    );
  } else if (gps && !placement.footprint) {
    placement = {
      ...placement,
      footprint: { type: 'Point', coordinates: [gps.lon, gps.lat] },
      centroid: [gps.lon, gps.lat]
    };
    footprintSource = 'exif-gps';
  }

  const sha256 = !hashed
    ? null
    : whole
      ? createHash('sha256').update(whole).digest('hex')
      : await sha256Of(cached, { signal: options.signal });

  return {
    key,
    size: object.size,
    etag: object.etag,
    versionId: object.versionId ?? null,
    format: header.format,
    width: header.width,
    height: header.height,
    bands: header.bands,
    dataType: header.dataType,
    nodata: header.nodata,
    compression: header.compression,
    tiled: header.tiled,
    blockSize: header.blockSize,
    overviews: header.overviews,
    isCog: header.isCog,
    cogProblems: header.cogProblems,
    crs: crs?.info ?? null,
    transform,
    gsd: placement.gsd,
    footprint: placement.footprint,
    centroid: placement.centroid,
    ...captureTimeOf(header.exif, key),
    gps,
    sha256,
    extra: {
      ...header.extra,
      ...(footprintSource ? { footprintSource } : {}),
      ...(crs?.proj4 && crs.info.epsg === null ? { crsProj4: crs.proj4 } : {}),
      ...(crs?.notes.length ? { crsNotes: crs.notes } : {}),
      ...(problems.length ? { problems } : {})
    }
  };
}

/** Objects up to this size are read whole when their checksum is wanted (the checksum's chunk). */
const WHOLE_READ_MAX_BYTES = SHA256_CHUNK_BYTES;

async function readWhole(
  source: IByteSource,
  signal?: AbortSignal
): Promise<Uint8Array> {
  signal?.throwIfAborted();
  const bytes = await source.read(0, source.size);
  if (bytes.length !== source.size) {
    throw new StorageError(
      `${source.key}: read ${bytes.length} bytes of a ${source.size}-byte object; was it replaced while being read?`,
      { key: source.key, size: source.size, received: bytes.length }
    );
  }
  return bytes;
}

/** Convenience for local files: key defaults to the path, ETag is weak (size + mtime). */
export async function extractFileMetadata(
  path: string,
  options: IExtractOptions & { key?: string } = {}
): Promise<IImageMetadata> {
  const source = await fileByteSource(path);
  try {
    return await extractMetadata(
      source,
      {
        key: options.key ?? path,
        size: source.size,
        etag: `W/"${source.size.toString(16)}-${source.modified.getTime().toString(16)}"`
      },
      options
    );
  } finally {
    await source.close();
  }
}

// Signatures of files that are often uploaded by mistake, named in the message.
const LOOKALIKES: Array<[RegExp, string]> = [
  [/^\s*</, 'text or XML/HTML (an error page saved in place of the image?)'],
  [/^PK\x03\x04/, 'a ZIP archive'],
  [/^\x00\x00\x00\x0cjP {2}/, 'JPEG 2000'],
  [/^GIF8/, 'a GIF'],
  [/^%PDF/, 'a PDF'],
  [/^RIFF....WEBP/s, 'a WebP image']
];

function unsupportedFormat(key: string, head: Uint8Array) {
  const first = Array.from(head.subarray(0, 4), byte =>
    byte.toString(16).padStart(2, '0')
  ).join(' ');
  const text = Buffer.from(head).toString('latin1');
  const lookalike = LOOKALIKES.find(([pattern]) => pattern.test(text));
  return invalidRaster(
    key,
    'unsupported-format',
    `starts with bytes ${first}, not a TIFF, BigTIFF, JPEG or PNG signature${lookalike ? `; it looks like ${lookalike[1]}` : ''}`,
    { magic: first }
  );
}
