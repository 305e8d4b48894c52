// CRSs spelled in GeoKeys the oracle fixtures do not reach: user-defined UTM zones by EPSG
// conversion code, methods we cannot rebuild, codes missing from the EPSG registry. The
// expected footprints come from the EPSG definition of the same CRS.
import { describe, expect, it } from 'vitest';

import { resolveCrs } from '../../../../kernel-lib/src/catalog/extract/crs';
import {
  extractMetadata,
  cachedByteSource
} from '../../../../kernel-lib/src/catalog/extract';
import { placeImage } from '../../../../kernel-lib/src/catalog/extract/footprint';
import { parseGeoKeys } from '../../../../kernel-lib/src/catalog/extract/geokeys';
import { writeGeoTiff } from '../../../../kernel-lib/src/raster';
import { testRaster } from '../../raster/test-raster';

/** A GeoKey directory from [key, value] pairs (values inline) and [key, doubles] pairs. */
function geoKeys(
  inline: Array<[number, number]>,
  doubles: Array<[number, number]> = []
) {
  const directory = [1, 1, 0, inline.length + doubles.length];
  const params: number[] = [];
  for (const [id, value] of [
    ...inline,
    ...doubles.map(([id, v]) => [id, -v] as [number, number])
  ].sort((a, b) => a[0] - b[0])) {
    const isDouble = doubles.some(([d]) => d === id);
    if (isDouble) {
      directory.push(id, 34736, 1, params.length);
      params.push(-value);
    } else {
      directory.push(id, 0, 1, value);
    }
  }
  return parseGeoKeys(directory, params, '');
}

const UTM_TRANSFORM: [number, number, number, number, number, number] = [
  321000, 0.5, 0, 4160000, 0, -0.5
];

describe('user-defined CRSs', () => {
  it('a UTM zone named by its EPSG conversion code on WGS 84 is that EPSG CRS', () => {
    const north = resolveCrs(
      geoKeys([
        [1024, 1],
        [2048, 4326],
        [3072, 32767],
        [3074, 16052],
        [3076, 9001]
      ])
    )!;
    expect(north.info.epsg).toBe(32652);
    expect(north.problems).toEqual([]);
    const fromEpsg = resolveCrs(
      geoKeys([
        [1024, 1],
        [3072, 32652]
      ])
    )!;
    const ours = placeImage(UTM_TRANSFORM, 400, 300, north.proj4!, false, 8);
    const reference = placeImage(
      UTM_TRANSFORM,
      400,
      300,
      fromEpsg.proj4!,
      false,
      8
    );
    const a = (ours.footprint as { coordinates: number[][][] }).coordinates[0];
    const b = (reference.footprint as { coordinates: number[][][] })
      .coordinates[0];
    a.forEach(([lon, lat], i) => {
      expect(lon).toBeCloseTo(b[i][0], 9);
      expect(lat).toBeCloseTo(b[i][1], 9);
    });
    const south = resolveCrs(
      geoKeys([
        [1024, 1],
        [2048, 4326],
        [3072, 32767],
        [3074, 16152],
        [3076, 9001]
      ])
    )!;
    expect(south.info.epsg).toBe(32752);
    expect(south.proj4).toContain('+south');
  });

  it('a transverse Mercator built from its parameters, in US survey feet', () => {
    const crs = resolveCrs(
      geoKeys(
        [
          [1024, 1],
          [2048, 4269],
          [3072, 32767],
          [3074, 32767],
          [3075, 1],
          [3076, 9003]
        ],
        [
          [3080, -75],
          [3081, 40],
          [3082, 984250],
          [3083, 0],
          [3092, 0.9999]
        ]
      )
    )!;
    expect(crs.problems).toEqual([]);
    expect(crs.info.epsg).toBeNull();
    expect(crs.proj4).toMatch(
      /^\+proj=tmerc \+lat_0=40 \+lon_0=-75 \+k=0\.9999 \+x_0=300000(\.\d+)? \+y_0=0 .*\+to_meter=0\.3048006/
    );
    expect(crs.info.wkt).toContain('UNIT["US survey foot",0.3048006');
    // Its false origin, (984250 ftUS, 0), is at (lon_0, lat_0).
    const at = placeImage([984250, 1, 0, 0, 0, -1], 1, 1, crs.proj4!, false, 1);
    const [lon, lat] = (at.footprint as { coordinates: number[][][] })
      .coordinates[0][0];
    expect(lon).toBeCloseTo(-75, 5);
    expect(lat).toBeCloseTo(40, 5);
    expect(at.gsd!.x).toBeCloseTo(1200 / 3937, 12);
  });

  it('a geographic CRS on a named ellipsoid, with the missing datum shift noted', () => {
    const crs = resolveCrs(
      geoKeys([
        [1024, 2],
        [2048, 32767],
        [2050, 32767],
        [2056, 7019],
        [2054, 9102]
      ])
    )!;
    expect(crs.info).toMatchObject({ epsg: null, geographic: true });
    expect(crs.proj4).toBe('+proj=longlat +ellps=GRS80 +no_defs');
    expect(crs.notes.join(' ')).toMatch(/no known shift to WGS 84/);
  });
});

describe('CRSs we cannot use are problems, not guesses', () => {
  it.each([
    [
      'an unsupported projection method',
      [
        [1024, 1],
        [2048, 4326],
        [3072, 32767],
        [3075, 12]
      ],
      /projection method 12 .* not supported/
    ],
    ['a geocentric model', [[1024, 3]], /geocentric/],
    [
      'a user-defined projection without a datum',
      [
        [1024, 1],
        [3072, 32767],
        [3075, 1]
      ],
      /datum or ellipsoid/
    ],
    [
      'an EPSG code the registry lacks',
      [
        [1024, 1],
        [3072, 3]
      ],
      /EPSG:3, which is not in the EPSG registry/
    ]
  ] as Array<[string, Array<[number, number]>, RegExp]>)(
    '%s',
    (_name, keys, problem) => {
      const crs = resolveCrs(geoKeys(keys))!;
      expect(crs.proj4).toBeNull();
      expect(crs.problems.join('\n')).toMatch(problem);
    }
  );

  it('a file in an unknown CRS is read, without a footprint, with the reason', async () => {
    const bytes = writeGeoTiff(testRaster(64, 64, 1, 'uint8'), {
      crs: { epsg: 3, kind: 'projected' },
      transform: [0, 1, 0, 0, 0, -1]
    });
    const source = cachedByteSource('unknown.tif', bytes.length, async (o, l) =>
      bytes.subarray(o, o + l)
    );
    const metadata = await extractMetadata(source, {
      key: 'unknown.tif',
      size: bytes.length,
      etag: 'e'
    });
    expect(metadata.crs).toEqual({
      epsg: 3,
      name: null,
      wkt: null,
      geographic: false
    });
    expect(metadata.transform).toEqual([0, 1, 0, 0, 0, -1]);
    expect(metadata.footprint).toBeNull();
    expect(metadata.gsd).toBeNull();
    expect(metadata.extra.problems).toEqual([
      'unknown CRS: the file names EPSG:3, which is not in the EPSG registry'
    ]);
  });
});
