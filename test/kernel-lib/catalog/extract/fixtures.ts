// Test images for the extractor, made by independent writers: our COG writer and synthetic
// pairs for the basic layouts, GDAL (gdal_translate, gdaladdo, gdalwarp) for everything GDAL
// writes differently (strips, LZW, JPEG-in-TIFF, big-endian, band-separate, user-defined CRSs,
// foot units, non-COG layouts). Each fixture says what it exercises.
import { execFileSync } from 'node:child_process';

import {
  writeGeoTiff,
  type GeoTransform,
  type ICrs,
  type IGeoTiffWriteOptions,
  type IRaster
} from '../../../../kernel-lib/src/raster';
import { generatePair } from '../../../../kernel-lib/src/synth';
import { testRaster } from '../../raster/test-raster';

export interface IFixture {
  name: string;
  path: string;
}

interface IScratch {
  file(name: string, bytes?: Buffer): string;
}

function gdal(command: string, ...args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Rotated by `degrees` clockwise, `size` metres per pixel. */
export function rotatedTransform(
  x0: number,
  y0: number,
  size: number,
  degrees: number
): GeoTransform {
  const t = (degrees * Math.PI) / 180;
  return [
    x0,
    size * Math.cos(t),
    size * Math.sin(t),
    y0,
    size * Math.sin(t),
    -size * Math.cos(t)
  ];
}

export function buildOracleFixtures(space: IScratch): IFixture[] {
  const fixtures: IFixture[] = [];
  const add = (name: string, bytes?: Buffer) => {
    const path = space.file(name, bytes);
    fixtures.push({ name, path });
    return path;
  };
  const ours = (
    name: string,
    raster: IRaster,
    crs: ICrs,
    transform: GeoTransform,
    options: Partial<IGeoTiffWriteOptions> = {}
  ) => add(name, writeGeoTiff(raster, { ...options, crs, transform }));

  // Synthetic aerial pairs as the users' flights arrive: RGB COGs with EXIF time and GPS.
  const pairs = new Map<number, ReturnType<typeof generatePair>>();
  for (const epsg of [5186, 32652, 4326] as const) {
    const pair = generatePair({
      seed: `extract-oracle-${epsg}`,
      width: 640,
      height: 560,
      crs: epsg
    });
    pairs.set(epsg, pair);
    add(`pair-${epsg}.tif`, pair.before);
  }
  add('mask-5186.tif', pairs.get(5186)!.mask);
  const utm = pairs.get(32652)!;
  ours(
    'bigtiff-32652.tif',
    utm.rasters.before,
    { epsg: 32652 },
    utm.meta.transform,
    {
      bigTiff: true,
      dateTime: new Date('2024-03-15T01:02:03Z')
    }
  );
  ours(
    'rotated-5186.tif',
    testRaster(600, 400, 1, 'uint8'),
    { epsg: 5186 },
    rotatedTransform(200000, 550000, 0.5, 20)
  );
  ours(
    'float32-nodata-4326.tif',
    testRaster(300, 200, 1, 'float32'),
    { epsg: 4326 },
    [127.1, 0.0001, 0, 37.2, 0, -0.0001],
    {
      nodata: -9999
    }
  );
  ours(
    'float32-nan-5186.tif',
    testRaster(300, 200, 2, 'float32'),
    { epsg: 5186 },
    [200000, 1, 0, 550000, 0, -1],
    {
      nodata: Number.NaN
    }
  );
  ours(
    'uint16-nodata-32652.tif',
    testRaster(700, 300, 4, 'uint16'),
    { epsg: 32652 },
    [330000, 2, 0, 4160000, 0, -2],
    {
      nodata: 0
    }
  );
  // Across the antimeridian: UTM zone 60 north at 60 degrees N, and WGS 84 degrees past 180.
  ours(
    'antimeridian-32660.tif',
    testRaster(800, 480, 1, 'uint8'),
    { epsg: 32660 },
    [650000, 50, 0, 6700000, 0, -50]
  );
  ours(
    'antimeridian-4326.tif',
    testRaster(400, 200, 1, 'uint8'),
    { epsg: 4326 },
    [179.9, 0.0005, 0, 10.1, 0, -0.0005]
  );
  ours(
    'antimeridian-32601.tif',
    testRaster(300, 300, 1, 'uint8'),
    { epsg: 32601 },
    [290000, 100, 0, 6000000, 0, -100]
  );

  // GDAL's own encodings of the same scene.
  const source = space.file('pair-5186.tif');
  const translate = (name: string, ...options: string[]) => {
    const path = space.file(name);
    gdal('gdal_translate', '-q', ...options, source, path);
    fixtures.push({ name, path });
    return path;
  };
  translate('gdal-strips.tif', '-co', 'TILED=NO', '-co', 'COMPRESS=NONE');
  translate(
    'gdal-lzw.tif',
    '-co',
    'TILED=YES',
    '-co',
    'COMPRESS=LZW',
    '-co',
    'PREDICTOR=2'
  );
  translate('gdal-cog.tif', '-of', 'COG', '-co', 'COMPRESS=DEFLATE');
  translate('gdal-big-endian.tif', '-co', 'ENDIANNESS=BIG', '-co', 'TILED=YES');
  translate(
    'gdal-band-separate.tif',
    '-co',
    'INTERLEAVE=BAND',
    '-co',
    'TILED=YES',
    '-co',
    'COMPRESS=DEFLATE'
  );
  translate(
    'gdal-jpeg-ycbcr.tif',
    '-co',
    'COMPRESS=JPEG',
    '-co',
    'PHOTOMETRIC=YCBCR',
    '-co',
    'TILED=YES'
  );
  translate('gdal-pixel-is-point.tif', '-mo', 'AREA_OR_POINT=Point');
  translate(
    'gdal-int16-nodata.tif',
    '-ot',
    'Int16',
    '-b',
    '1',
    '-a_nodata',
    '-32768'
  );
  translate(
    'gdal-float64-nan.tif',
    '-ot',
    'Float64',
    '-b',
    '1',
    '-a_nodata',
    'nan',
    '-co',
    'TILED=YES'
  );
  translate(
    'gdal-uint32-strips.tif',
    '-ot',
    'UInt32',
    '-b',
    '1',
    '-co',
    'BLOCKYSIZE=7'
  );
  translate(
    'gdal-bigtiff-lzw.tif',
    '-co',
    'BIGTIFF=YES',
    '-co',
    'COMPRESS=LZW',
    '-co',
    'TILED=YES'
  );
  // Overviews added after the data: a valid GeoTIFF, not a COG.
  const late = translate('gdal-late-overviews.tif', '-co', 'TILED=YES');
  gdal('gdaladdo', '-q', '-r', 'average', late, '2', '4');

  // User-defined and foot-based CRSs, warped from the WGS 84 scene.
  const geographic = space.file('pair-4326.tif');
  const warp = (name: string, ...options: string[]) => {
    const path = space.file(name);
    gdal('gdalwarp', '-q', '-overwrite', ...options, geographic, path);
    fixtures.push({ name, path });
  };
  warp(
    'custom-tm.tif',
    '-t_srs',
    '+proj=tmerc +lat_0=38 +lon_0=127.5 +k=0.9999 +x_0=200000 +y_0=500000 +ellps=GRS80 +units=m +no_defs'
  );
  warp(
    'custom-lcc.tif',
    '-t_srs',
    '+proj=lcc +lat_1=30 +lat_2=60 +lat_0=38 +lon_0=126 +x_0=1000000 +y_0=2000000 +datum=WGS84 +units=m'
  );
  warp(
    'custom-albers.tif',
    '-t_srs',
    '+proj=aea +lat_1=34 +lat_2=40 +lat_0=37 +lon_0=127 +x_0=0 +y_0=0 +datum=WGS84 +units=m'
  );
  warp(
    'custom-laea.tif',
    '-t_srs',
    '+proj=laea +lat_0=37 +lon_0=127 +x_0=10000 +y_0=20000 +ellps=GRS80 +units=m'
  );
  warp(
    'custom-utm-us-feet.tif',
    '-t_srs',
    '+proj=utm +zone=52 +datum=WGS84 +units=us-ft'
  );
  warp('epsg-3857.tif', '-t_srs', 'EPSG:3857');
  warp('epsg-4737.tif', '-t_srs', 'EPSG:4737');
  // NAD83 / New York Long Island (ftUS): a projected CRS in US survey feet.
  warp(
    'epsg-2263.tif',
    '-t_srs',
    'EPSG:2263',
    '-te_srs',
    'EPSG:4326',
    '-te',
    '-73.9',
    '40.7',
    '-73.89',
    '40.71',
    '-ts',
    '200',
    '200'
  );
  return fixtures;
}
