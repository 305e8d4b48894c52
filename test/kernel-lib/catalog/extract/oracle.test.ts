// The oracle test: for images in several CRSs and layouts, what we read from the header equals
// what GDAL (gdalinfo -json, GDAL's COG validator, PROJ's geod) reports for the same file.
// Tolerances: geotransforms are the file's own doubles (relative 1e-12); corners 1e-6 degrees
// (gdalinfo prints them rounded to 1e-7, and proj4js and PROJ differ by less than 1e-8 degrees
// for these projections); GSD relative 1e-6 (the geodesic over one pixel, by PROJ's geod,
// against our local radii of curvature; over one pixel they differ by far less).
import { execFileSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { extractFileMetadata } from '../../../../kernel-lib/src/catalog/extract';
import type { IImageMetadata } from '../../../../kernel-lib/src/catalog/types';
import {
  epsgOf,
  exifDegrees,
  gdalinfo,
  requireGdal,
  scratch,
  validateCog,
  type IGdalInfo
} from '../../raster/gdal-oracle';
import { buildOracleFixtures, type IFixture } from './fixtures';

const GDAL_TYPES: Record<string, string> = {
  Byte: 'uint8',
  Int8: 'int8',
  UInt16: 'uint16',
  Int16: 'int16',
  UInt32: 'uint32',
  Int32: 'int32',
  Float32: 'float32',
  Float64: 'float64',
  CInt16: 'complex',
  CInt32: 'complex',
  CFloat32: 'complex',
  CFloat64: 'complex'
};

interface IGdalInfoExtended extends IGdalInfo {
  wgs84Extent?: { type: 'Polygon'; coordinates: number[][][] };
}

const space = scratch();
let fixtures: IFixture[] = [];
const results = new Map<
  string,
  { ours: IImageMetadata; gdal: IGdalInfoExtended }
>();

beforeAll(async () => {
  requireGdal();
  fixtures = buildOracleFixtures(space);
  for (const fixture of fixtures) {
    results.set(fixture.name, {
      ours: await extractFileMetadata(fixture.path, {
        key: fixture.name,
        sha256: false
      }),
      gdal: gdalinfo(fixture.path) as IGdalInfoExtended
    });
  }
}, 300_000);
afterAll(() => space.dispose());

function each(
  check: (name: string, ours: IImageMetadata, gdal: IGdalInfoExtended) => void
) {
  expect(results.size).toBeGreaterThanOrEqual(30);
  for (const [name, { ours, gdal }] of results) {
    try {
      check(name, ours, gdal);
    } catch (error) {
      (error as Error).message = `${name}: ${(error as Error).message}`;
      throw error;
    }
  }
}

/** Longitude difference folded into [-180, 180). */
function lonDelta(a: number, b: number): number {
  return ((((a - b + 180) % 360) + 360) % 360) - 180;
}

function vertices(ours: IImageMetadata): number[][] {
  const geometry = ours.footprint!;
  if (geometry.type === 'Polygon') {
    return geometry.coordinates[0];
  }
  if (geometry.type === 'MultiPolygon') {
    return geometry.coordinates.flatMap(polygon => polygon[0]);
  }
  return [geometry.coordinates];
}

/** Length of one CRS unit in metres, from the axis unit of GDAL's WKT2. */
function unitMetres(wkt: string): number {
  const units = [...wkt.matchAll(/LENGTHUNIT\["[^"]*",([0-9.eE+-]+)/g)];
  return Number(units[units.length - 1][1]);
}

/**
 * Geodesic distance in metres on the CRS's ellipsoid, by PROJ's geod (package proj-bin, installed
 * by scripts/install-system.sh): independent of our radius-of-curvature computation.
 */
function geodesic(
  wkt: string,
  lat1: number,
  lon1: number,
  lat2: number,
  lon2: number
): number {
  const [, a, rf] = /ELLIPSOID\["[^"]*",([0-9.eE+-]+),([0-9.eE+-]+)/.exec(wkt)!;
  const out = execFileSync(
    'geod',
    [`+a=${a}`, `+rf=${rf}`, '-I', '+units=m', '-f', '%.12f', '-F', '%.9f'],
    { input: `${lat1} ${lon1} ${lat2} ${lon2}\n`, encoding: 'utf8' }
  );
  return Number(out.trim().split(/\s+/)[2]);
}

describe('extraction agrees with gdalinfo', () => {
  it('on size, bands, data type and block size', () => {
    each((_name, ours, gdal) => {
      expect([ours.width, ours.height]).toEqual(gdal.size);
      expect(ours.bands).toBe(gdal.bands.length);
      expect(ours.dataType).toBe(GDAL_TYPES[gdal.bands[0].type]);
      expect(ours.blockSize).toEqual(gdal.bands[0].block);
      expect(ours.tiled).toBe(
        gdal.metadata.IMAGE_STRUCTURE?.LAYOUT === 'COG' ||
          gdal.bands[0].block[0] < gdal.size[0]
      );
    });
  });

  it('on nodata and overview count', () => {
    each((_name, ours, gdal) => {
      const expected = gdal.bands[0].noDataValue;
      if (expected === undefined) {
        expect(ours.nodata).toBeNull();
      } else if (
        expected === 'nan' ||
        (typeof expected === 'number' && Number.isNaN(expected))
      ) {
        expect(ours.nodata).toBeNaN();
      } else {
        expect(ours.nodata).toBe(Number(expected));
      }
      expect(ours.overviews).toBe(gdal.bands[0].overviews?.length ?? 0);
    });
  });

  it('on the compression GDAL names', () => {
    each((_name, ours, gdal) => {
      const expected =
        gdal.metadata.IMAGE_STRUCTURE?.COMPRESSION?.toLowerCase() ?? 'none';
      expect(ours.compression).toBe(
        expected === 'ycbcr jpeg' ? 'jpeg' : expected
      );
    });
  });

  it('on the geotransform, including rotated and PixelIsPoint files', () => {
    each((_name, ours, gdal) => {
      expect(ours.transform).not.toBeNull();
      ours.transform!.forEach((value, i) => {
        const expected = gdal.geoTransform![i];
        expect(Math.abs(value - expected)).toBeLessThanOrEqual(
          1e-12 * Math.max(1, Math.abs(expected))
        );
      });
    });
    expect(results.get('rotated-5186.tif')!.ours.transform![2]).not.toBe(0);
  });

  it('on the EPSG code, and on which CRSs have none', () => {
    each((_name, ours, gdal) => {
      expect(ours.crs).not.toBeNull();
      expect(ours.crs!.epsg).toBe(epsgOf(gdal));
      expect(ours.crs!.geographic).toBe(
        /^GEOGCRS/.test(gdal.coordinateSystem!.wkt)
      );
      if (ours.crs!.epsg === null) {
        expect(ours.crs!.wkt).toMatch(/^PROJCS\[/);
      }
    });
    expect(results.get('custom-lcc.tif')!.ours.crs!.wkt).toContain(
      'Lambert_Conformal_Conic_2SP'
    );
  });

  it('on the corners in WGS 84, within 1e-6 degrees', () => {
    each((_name, ours, gdal) => {
      expect(ours.footprint?.type).toMatch(/Polygon/);
      const corners = gdal.wgs84Extent!.coordinates[0].slice(0, 4);
      for (const [lon, lat] of corners) {
        const nearest = Math.min(
          ...vertices(ours).map(([x, y]) =>
            Math.hypot(lonDelta(x, lon), y - lat)
          )
        );
        expect(nearest).toBeLessThan(1e-6);
      }
    });
  });

  it('on corners in geographic CRSs to the 1e-7 degrees gdalinfo prints', () => {
    for (const name of ['pair-4326.tif', 'float32-nodata-4326.tif']) {
      const { ours, gdal } = results.get(name)!;
      const expected = [
        'upperLeft',
        'lowerLeft',
        'lowerRight',
        'upperRight'
      ].map(corner => gdal.cornerCoordinates[corner]);
      for (const [lon, lat] of expected) {
        expect(
          Math.min(
            ...vertices(ours).map(([x, y]) => Math.hypot(x - lon, y - lat))
          )
        ).toBeLessThan(1e-7);
      }
    }
  });

  it('on the ground sample distance in metres', () => {
    each((_name, ours, gdal) => {
      const gt = gdal.geoTransform!;
      const wkt = gdal.coordinateSystem!.wkt;
      let x: number;
      let y: number;
      if (/^GEOGCRS/.test(wkt)) {
        const lon =
          gt[0] + (gdal.size[0] / 2) * gt[1] + (gdal.size[1] / 2) * gt[2];
        const lat =
          gt[3] + (gdal.size[0] / 2) * gt[4] + (gdal.size[1] / 2) * gt[5];
        x = geodesic(wkt, lat, lon, lat + gt[4], lon + gt[1]);
        y = geodesic(wkt, lat, lon, lat + gt[5], lon + gt[2]);
      } else {
        x = Math.hypot(gt[1], gt[4]) * unitMetres(wkt);
        y = Math.hypot(gt[2], gt[5]) * unitMetres(wkt);
      }
      expect(Math.abs(ours.gsd!.x - x) / x).toBeLessThan(1e-6);
      expect(Math.abs(ours.gsd!.y - y) / y).toBeLessThan(1e-6);
    });
    // The synthetic scenes were made at 0.5 m whatever the CRS.
    for (const epsg of [5186, 32652, 4326]) {
      const { gsd } = results.get(`pair-${epsg}.tif`)!.ours;
      expect(gsd!.x).toBeCloseTo(0.5, 5);
      expect(gsd!.y).toBeCloseTo(0.5, 5);
    }
    expect(results.get('epsg-2263.tif')!.ours.gsd!.x).toBeLessThan(
      results.get('epsg-2263.tif')!.gdal.geoTransform![1]
    );
  });

  it('on TIFF DateTime and EXIF GPS', () => {
    each((_name, ours, gdal) => {
      const stamp = gdal.metadata['']?.TIFFTAG_DATETIME;
      if (stamp) {
        const [date, time] = stamp.split(' ');
        expect(ours.captureTime?.toISOString()).toBe(
          `${date.replace(/:/g, '-')}T${time}.000Z`
        );
        expect(ours.captureTimeSource).toBe('tiff-datetime');
      }
      const lat = gdal.metadata['']?.EXIF_GPSLatitude;
      if (lat) {
        const sign = (ref: string | undefined, negative: string) =>
          ref === negative ? -1 : 1;
        expect(ours.gps!.lat).toBeCloseTo(
          sign(gdal.metadata[''].EXIF_GPSLatitudeRef, 'S') * exifDegrees(lat),
          9
        );
        expect(ours.gps!.lon).toBeCloseTo(
          sign(gdal.metadata[''].EXIF_GPSLongitudeRef, 'W') *
            exifDegrees(gdal.metadata[''].EXIF_GPSLongitude),
          9
        );
        expect(ours.gps!.alt).toBeCloseTo(
          Number(/\(([-\d.]+)\)/.exec(gdal.metadata[''].EXIF_GPSAltitude)![1]),
          6
        );
      }
    });
    expect(results.get('pair-5186.tif')!.ours.gps).not.toBeNull();
  });
});

describe('COG layout agrees with GDAL validate_cloud_optimized_geotiff.py', () => {
  it('on every fixture (a missing-overview warning counts as not a COG)', () => {
    for (const fixture of fixtures) {
      const { ours } = results.get(fixture.name)!;
      const gdal = validateCog(fixture.path);
      const valid =
        gdal.valid &&
        !/recommended to include internal overviews/.test(gdal.output);
      expect({
        name: fixture.name,
        isCog: ours.isCog,
        problems: ours.cogProblems
      }).toEqual({
        name: fixture.name,
        isCog: valid,
        problems: valid ? [] : expect.arrayContaining([expect.any(String)])
      });
    }
    expect(results.get('gdal-cog.tif')!.ours.isCog).toBe(true);
    expect(
      results.get('gdal-late-overviews.tif')!.ours.cogProblems.join('\n')
    ).toMatch(/IFD/);
  });
});

describe('footprints', () => {
  it('are closed, counter-clockwise and densified for projected CRSs', () => {
    each((_name, ours) => {
      const polygons =
        ours.footprint!.type === 'MultiPolygon'
          ? ours.footprint!.coordinates
          : [(ours.footprint as { coordinates: number[][][] }).coordinates];
      for (const [ring] of polygons) {
        expect(ring[0]).toEqual(ring[ring.length - 1]);
        let area = 0;
        for (let i = 0; i + 1 < ring.length; i++) {
          area += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
        }
        expect(area).toBeGreaterThan(0);
        for (const [lon, lat] of ring) {
          expect(Math.abs(lon)).toBeLessThanOrEqual(180);
          expect(Math.abs(lat)).toBeLessThanOrEqual(90);
        }
      }
      if (!ours.crs!.geographic && ours.footprint!.type === 'Polygon') {
        expect(ours.footprint!.coordinates[0].length).toBe(4 * 16 + 1);
      }
    });
  });

  it('split at the antimeridian into a MultiPolygon whose parts meet at ±180', () => {
    for (const name of [
      'antimeridian-32660.tif',
      'antimeridian-4326.tif',
      'antimeridian-32601.tif'
    ]) {
      const { ours, gdal } = results.get(name)!;
      expect(ours.footprint!.type).toBe('MultiPolygon');
      const parts = (ours.footprint as { coordinates: number[][][][] })
        .coordinates;
      expect(parts).toHaveLength(2);
      const lons = parts.map(([ring]) => ring.map(([lon]) => lon));
      expect(lons.some(ring => ring.includes(180))).toBe(true);
      expect(lons.some(ring => ring.includes(-180))).toBe(true);
      // The centroid lies between GDAL's corners, on the short way round.
      const corners = gdal.wgs84Extent!.coordinates[0];
      const [cx] = ours.centroid!;
      expect(
        Math.max(...corners.map(([lon]) => Math.abs(lonDelta(cx, lon))))
      ).toBeLessThan(5);
    }
    expect(results.get('pair-5186.tif')!.ours.footprint!.type).toBe('Polygon');
  });

  it('have their centroid where GDAL puts the centre pixel, within the image', () => {
    each((_name, ours, gdal) => {
      const corners = gdal.wgs84Extent!.coordinates[0].slice(0, 4);
      const lat = corners.reduce((s, [, y]) => s + y, 0) / 4;
      expect(Math.abs(ours.centroid![1] - lat)).toBeLessThan(0.01);
    });
  });
});
