// A synthetic change-detection pair: the same place at two dates as RGB COGs, and the
// ground-truth mask of buildings added or removed between them. Everything follows from the seed.
// Between the dates the season, sun and exposure change too, and the second image is shifted by
// a fraction of a pixel, so a model cannot find the change by plain differencing.

import { ConfigError } from '../errors';
import {
  writeGeoTiff,
  type GeoTransform,
  type ICrs,
  type IGpsPosition,
  type IRaster
} from '../raster';
import {
  georeferenceScene,
  isSyntheticCrs,
  SYNTHETIC_CRSS,
  type ILatLon,
  type SyntheticCrs
} from './georef';
import { lookFor, type ILook } from './illumination';
import { layoutScene } from './layout';
import { createRandom, seedToUint32, type IRandom, type Seed } from './random';
import { renderChangeMask, renderImage } from './render';
import type { IView } from './view';

export interface ISyntheticPairOptions {
  seed: Seed;
  /** Pixels. Default 512. */
  width?: number;
  /** Pixels. Default: the width. */
  height?: number;
  /** Ground sample distance in metres. Default 0.5; aerial and drone imagery is 0.25 to 2. */
  gsd?: number;
  /** Default 5186 (Korea 2000 / Central Belt 2010). */
  crs?: SyntheticCrs;
  /** Scene centre, WGS 84. Default: central Seoul. */
  origin?: ILatLon;
  beforeDate?: Date;
  afterDate?: Date;
  /** Largest shift of the after image against the before image, in pixels. Default 0.5. */
  misregistration?: number;
  /** Share of buildings demolished, and of new ones built, between the dates. Default 0.15. */
  changeRate?: number;
  /** Write EXIF GPS tags as a drone would. Default true. */
  gps?: boolean;
  /** COG tile size. Default 256. */
  tileSize?: number;
  /**
   * zlib level of the COGs. Default 1: DEFLATE dominates generation time, and level 6 (GDAL's
   * default) makes these noisy images only about 7% smaller for twice the time.
   */
  deflateLevel?: number;
}

export interface ISyntheticPairMeta {
  seed: string;
  width: number;
  height: number;
  /** Metres per pixel. */
  gsd: number;
  crs: ICrs;
  transform: GeoTransform;
  /** Pixel size in CRS units (degrees for EPSG:4326). */
  pixelSize: [number, number];
  centre: ILatLon;
  beforeDate: string;
  afterDate: string;
  /** Shift of the after image against the before image and the mask, in pixels. */
  misregistration: { dx: number; dy: number };
  looks: { before: ILook; after: ILook };
  gps: { before: IGpsPosition; after: IGpsPosition } | null;
  buildings: { before: number; after: number; added: number; removed: number };
  /** Pixels set in the mask. */
  changedPixels: number;
}

export interface ISyntheticPair {
  /** COG bytes, RGB uint8. */
  before: Buffer;
  after: Buffer;
  /** COG bytes, uint8 0/1 on the before image's grid. */
  mask: Buffer;
  /** The same images as pixels, for tests and benchmarks that compare against what was read. */
  rasters: { before: IByteRaster; after: IByteRaster; mask: IByteRaster };
  meta: ISyntheticPairMeta;
}

/** An 8-bit raster, as every synthetic image is. */
export interface IByteRaster extends IRaster {
  dataType: 'uint8';
  data: Uint8Array;
}

export const DEFAULT_ORIGIN: ILatLon = { lat: 37.5665, lon: 126.978 };
const DEFAULT_BEFORE = new Date('2023-05-12T02:30:00Z');
const DEFAULT_AFTER = new Date('2024-10-08T03:10:00Z');

export function generatePair(options: ISyntheticPairOptions): ISyntheticPair {
  const settings = resolve(options);
  const { width, height, gsd, origin } = settings;
  const seed = String(options.seed);
  const random = createRandom(seed);
  const layout = layoutScene(
    random.fork('layout'),
    width * gsd,
    height * gsd,
    settings.changeRate
  );
  const looks = {
    before: lookFor(
      settings.beforeDate,
      origin.lat,
      random.fork('look/before')
    ),
    after: lookFor(settings.afterDate, origin.lat, random.fork('look/after'))
  };
  const misregistration = drawShift(
    random.fork('misregistration'),
    settings.misregistration
  );
  const nominal: IView = { width, height, gsd, shiftX: 0, shiftY: 0 };
  const shifted: IView = {
    ...nominal,
    shiftX: misregistration.dx,
    shiftY: misregistration.dy
  };
  const worldSeed = seedToUint32(`${seed}/world`);

  const beforePixels = renderImage({
    layout,
    buildings: layout.before,
    demolished: [],
    view: nominal,
    look: looks.before,
    worldSeed,
    captureSeed: seedToUint32(`${seed}/capture/before`)
  });
  const afterPixels = renderImage({
    layout,
    buildings: layout.after,
    demolished: layout.removed,
    view: shifted,
    look: looks.after,
    worldSeed,
    captureSeed: seedToUint32(`${seed}/capture/after`)
  });
  const maskPixels = renderChangeMask(
    [...layout.added, ...layout.removed],
    nominal
  );

  const { crs, transform, pixelSize } = georeferenceScene(
    settings.crs,
    origin,
    width,
    height,
    gsd
  );
  const gpsRandom = random.fork('gps');
  const gps = settings.gps
    ? {
        before: dronePosition(gpsRandom, origin, gsd),
        after: dronePosition(gpsRandom, origin, gsd)
      }
    : null;
  const byteRaster = (bands: number, data: Uint8Array): IByteRaster => ({
    width,
    height,
    bands,
    dataType: 'uint8',
    data
  });
  const rasters = {
    before: byteRaster(3, beforePixels),
    after: byteRaster(3, afterPixels),
    mask: byteRaster(1, maskPixels)
  };
  const common = {
    crs,
    transform,
    tileSize: settings.tileSize,
    deflateLevel: settings.deflateLevel,
    software: 'changelab synth'
  };
  return {
    before: writeGeoTiff(rasters.before, {
      ...common,
      dateTime: settings.beforeDate,
      gps: gps?.before
    }),
    after: writeGeoTiff(rasters.after, {
      ...common,
      dateTime: settings.afterDate,
      gps: gps?.after
    }),
    mask: writeGeoTiff(rasters.mask, common),
    rasters,
    meta: {
      seed,
      width,
      height,
      gsd,
      crs,
      transform,
      pixelSize,
      centre: origin,
      beforeDate: settings.beforeDate.toISOString(),
      afterDate: settings.afterDate.toISOString(),
      misregistration,
      looks,
      gps,
      buildings: {
        before: layout.before.length,
        after: layout.after.length,
        added: layout.added.length,
        removed: layout.removed.length
      },
      changedPixels: countSet(maskPixels)
    }
  };
}

function countSet(mask: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < mask.length; i++) {
    count += mask[i];
  }
  return count;
}

/** A shift of at least 40% of the maximum, in a random direction, so every pair is misaligned. */
function drawShift(
  random: IRandom,
  maximum: number
): { dx: number; dy: number } {
  const angle = random.range(0, 2 * Math.PI);
  const size = maximum * random.range(0.4, 1);
  const round = (v: number) => Math.round(v * 1000) / 1000 + 0; // + 0 turns -0 into 0
  return {
    dx: round(size * Math.cos(angle)),
    dy: round(size * Math.sin(angle))
  };
}

/**
 * Where the camera was: over the scene centre within consumer-GNSS error (a few metres), at a
 * flying height that gives this GSD with a typical drone camera (about 400 x GSD above ground).
 */
function dronePosition(
  random: IRandom,
  centre: ILatLon,
  gsd: number
): IGpsPosition {
  const metresPerDegree = 111320;
  return {
    lat: centre.lat + random.normal(0, 3) / metresPerDegree,
    lon:
      centre.lon +
      random.normal(0, 3) /
        (metresPerDegree * Math.cos((centre.lat * Math.PI) / 180)),
    alt: Math.round((40 + 400 * gsd + random.normal(0, 2)) * 10) / 10
  };
}

function resolve(options: ISyntheticPairOptions) {
  const width = options.width ?? 512;
  const height = options.height ?? width;
  const gsd = options.gsd ?? 0.5;
  const crs = options.crs ?? 5186;
  const origin = options.origin ?? DEFAULT_ORIGIN;
  const beforeDate = options.beforeDate ?? DEFAULT_BEFORE;
  const afterDate = options.afterDate ?? DEFAULT_AFTER;
  const misregistration = options.misregistration ?? 0.5;
  const changeRate = options.changeRate ?? 0.15;
  const fail = (message: string, context: Record<string, unknown>) => {
    throw new ConfigError(message, context);
  };
  for (const [name, value] of Object.entries({ width, height })) {
    if (!Number.isInteger(value) || value < 16 || value > 16384) {
      fail(`${name} must be an integer from 16 to 16384 pixels, got ${value}`, {
        [name]: value
      });
    }
  }
  if (!(gsd > 0 && gsd <= 100)) {
    fail(`gsd must be in metres, above 0 and at most 100, got ${gsd}`, { gsd });
  }
  if (!isSyntheticCrs(crs)) {
    fail(
      `crs must be one of ${SYNTHETIC_CRSS.join(', ')}, got ${String(crs)}`,
      { crs }
    );
  }
  if (!(Math.abs(origin.lat) < 85 && Math.abs(origin.lon) <= 180)) {
    fail(`origin must be a WGS 84 position, got ${origin.lat}, ${origin.lon}`, {
      origin
    });
  }
  for (const [name, date] of Object.entries({ beforeDate, afterDate })) {
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
      fail(`${name} must be a valid Date`, { [name]: date });
    }
  }
  if (!(misregistration >= 0 && misregistration <= 5)) {
    fail(`misregistration must be 0 to 5 pixels, got ${misregistration}`, {
      misregistration
    });
  }
  if (!(changeRate > 0 && changeRate <= 1)) {
    fail(`changeRate must be above 0 and at most 1, got ${changeRate}`, {
      changeRate
    });
  }
  return {
    width,
    height,
    gsd,
    crs,
    origin,
    beforeDate,
    afterDate,
    misregistration,
    changeRate,
    gps: options.gps ?? true,
    tileSize: options.tileSize,
    deflateLevel: options.deflateLevel ?? 1
  };
}
