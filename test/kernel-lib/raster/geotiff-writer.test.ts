// Our COG writer against GDAL (gdalinfo, gdal_translate, GDAL's COG validator) and geotiff.js:
// what we write must read back with the same georeference, structure and pixels.

import { readFileSync } from 'node:fs';

import { fromArrayBuffer } from 'geotiff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvalidRasterError } from '../../../kernel-lib/src/errors';
import {
  writeGeoTiff,
  writeGeoTiffFile,
  type IGeoTiffWriteOptions,
  type IRaster
} from '../../../kernel-lib/src/raster';
import {
  bytesOf,
  epsgOf,
  exifDegrees,
  gdalinfo,
  gdalPixels,
  requireGdal,
  sampleDifferences,
  scratch,
  validateCog
} from './gdal-oracle';
import { testRaster } from './test-raster';

/** The expected overview, computed independently of the writer: a plain 2x2 mean. */
function naiveHalve(raster: IRaster, nodata?: number): number[] {
  const { width, height, bands, data } = raster;
  const out: number[] = [];
  for (let y = 0; y < Math.ceil(height / 2); y++) {
    for (let x = 0; x < Math.ceil(width / 2); x++) {
      for (let b = 0; b < bands; b++) {
        const values: number[] = [];
        for (const [dy, dx] of [
          [0, 0],
          [0, 1],
          [1, 0],
          [1, 1]
        ]) {
          if (2 * y + dy < height && 2 * x + dx < width) {
            const v = data[((2 * y + dy) * width + 2 * x + dx) * bands + b];
            if (v !== nodata) {
              values.push(v);
            }
          }
        }
        const mean = values.length
          ? values.reduce((s, v) => s + v, 0) / values.length
          : (nodata ?? 0);
        out.push(
          raster.dataType === 'float32' ? Math.fround(mean) : Math.round(mean)
        );
      }
    }
  }
  return out;
}

const space = scratch();
beforeAll(requireGdal);
afterAll(() => space.dispose());

describe('writeGeoTiff, RGB uint8 in Korea 2000 / Central Belt 2010', () => {
  // 1000 x 700 is not a multiple of the tile size, so edge tiles are partial.
  const raster = testRaster(1000, 700, 3, 'uint8');
  const options: IGeoTiffWriteOptions = {
    crs: { epsg: 5186 },
    transform: [201234.5, 0.5, 0, 551000.25, 0, -0.5],
    nodata: 0,
    dateTime: new Date('2024-05-01T02:03:04Z'),
    gps: { lat: 37.512345, lon: 127.004321, alt: 152.4 }
  };
  const bytes = writeGeoTiff(raster, options);
  const path = space.file('rgb.tif', bytes);

  it('reads back in GDAL with the same CRS, size, bands and geotransform', () => {
    const info = gdalinfo(path);
    expect(epsgOf(info)).toBe(5186);
    expect(info.stac?.['proj:epsg']).toBe(5186);
    expect(info.size).toEqual([1000, 700]);
    expect(info.bands.map(b => b.type)).toEqual(['Byte', 'Byte', 'Byte']);
    expect(info.bands.map(b => b.colorInterpretation)).toEqual([
      'Red',
      'Green',
      'Blue'
    ]);
    // Doubles go through the file unchanged; GDAL prints them with full precision.
    expect(info.geoTransform).toEqual([...options.transform!]);
    // Corners to 1 mm: they are products of the transform, printed with limited digits.
    const [ulx, uly] = info.cornerCoordinates.upperLeft;
    const [lrx, lry] = info.cornerCoordinates.lowerRight;
    expect(ulx).toBeCloseTo(201234.5, 3);
    expect(uly).toBeCloseTo(551000.25, 3);
    expect(lrx).toBeCloseTo(201234.5 + 1000 * 0.5, 3);
    expect(lry).toBeCloseTo(551000.25 - 700 * 0.5, 3);
    expect(info.metadata['']?.AREA_OR_POINT).toBe('Area');
  });

  it('is a tiled, DEFLATE-compressed COG with overviews down to one tile and nodata', () => {
    const info = gdalinfo(path);
    expect(info.metadata.IMAGE_STRUCTURE).toMatchObject({
      COMPRESSION: 'DEFLATE',
      INTERLEAVE: 'PIXEL',
      LAYOUT: 'COG',
      PREDICTOR: '2'
    });
    for (const band of info.bands) {
      expect(band.block).toEqual([256, 256]);
      expect(band.noDataValue).toBe(0);
      expect(band.overviews?.map(o => o.size)).toEqual([
        [500, 350],
        [250, 175]
      ]);
    }
    const validation = validateCog(path);
    expect(validation.output).toContain('is a valid cloud optimized GeoTIFF');
    expect(validation.valid).toBe(true);
  });

  it('holds exactly the pixels written, at full resolution and in the overviews', () => {
    expect(gdalPixels(path).equals(bytesOf(raster.data))).toBe(true);
    const firstOverview = naiveHalve(raster, 0);
    expect(sampleDifferences(gdalPixels(path, 0), firstOverview).count).toBe(0);
    const secondOverview = naiveHalve(
      {
        ...raster,
        width: 500,
        height: 350,
        data: Uint8Array.from(firstOverview)
      },
      0
    );
    expect(sampleDifferences(gdalPixels(path, 1), secondOverview).count).toBe(
      0
    );
  });

  it('carries TIFF DateTime, EXIF DateTimeOriginal and GPS tags', () => {
    const info = gdalinfo(path);
    expect(info.metadata['']?.TIFFTAG_DATETIME).toBe('2024:05:01 02:03:04');
    const exif = info.metadata.EXIF;
    expect(exif.EXIF_DateTimeOriginal).toBe('2024:05:01 02:03:04');
    expect(exif.EXIF_GPSLatitudeRef).toBe('N');
    expect(exif.EXIF_GPSLongitudeRef).toBe('E');
    // Stored to 1e-4 arc-second (about 3 mm).
    expect(
      Math.abs(exifDegrees(exif.EXIF_GPSLatitude) - 37.512345)
    ).toBeLessThan(1e-7);
    expect(
      Math.abs(exifDegrees(exif.EXIF_GPSLongitude) - 127.004321)
    ).toBeLessThan(1e-7);
    expect(Number(exif.EXIF_GPSAltitude.replace(/[()]/g, ''))).toBeCloseTo(
      152.4,
      2
    );
  });

  it('reads back in geotiff.js with the same georeference and pixels', async () => {
    const tiff = await fromArrayBuffer(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)
    );
    expect(await tiff.getImageCount()).toBe(3);
    const image = await tiff.getImage();
    expect([
      image.getWidth(),
      image.getHeight(),
      image.getSamplesPerPixel()
    ]).toEqual([1000, 700, 3]);
    expect(image.getTileWidth()).toBe(256);
    expect(image.getGeoKeys()).toMatchObject({
      ProjectedCSTypeGeoKey: 5186,
      GTRasterTypeGeoKey: 1
    });
    expect(image.getOrigin()).toEqual([201234.5, 551000.25, 0]);
    expect(image.getResolution()).toEqual([0.5, -0.5, 0]);
    expect(image.getGDALNoData()).toBe(0);
    const pixels = await image.readRasters({ interleave: true });
    expect(
      bytesOf(pixels as unknown as Uint8Array).equals(bytesOf(raster.data))
    ).toBe(true);
    const overview = await tiff.getImage(1);
    expect([overview.getWidth(), overview.getHeight()]).toEqual([500, 350]);
  });
});

describe('writeGeoTiff, other sample types and layouts', () => {
  it('writes uint16 uncompressed, 128-pixel tiles, no overviews, UTM 52N', () => {
    const raster = testRaster(300, 200, 1, 'uint16');
    const path = space.file(
      'u16.tif',
      writeGeoTiff(raster, {
        crs: { epsg: 32652 },
        transform: [320000, 2, 0, 4160000, 0, -2],
        compression: 'none',
        overviews: false,
        tileSize: 128
      })
    );
    const info = gdalinfo(path);
    expect(epsgOf(info)).toBe(32652);
    expect(info.bands).toHaveLength(1);
    expect(info.bands[0]).toMatchObject({ type: 'UInt16', block: [128, 128] });
    expect(info.bands[0].overviews ?? []).toEqual([]);
    expect(info.metadata.IMAGE_STRUCTURE.COMPRESSION).toBeUndefined();
    expect(gdalPixels(path).equals(bytesOf(raster.data))).toBe(true);
  });

  it('writes float32 with the floating-point predictor and NaN nodata in EPSG:4326', async () => {
    const raster = testRaster(260, 130, 2, 'float32');
    const data = raster.data as Float32Array;
    for (let i = 0; i < 40 * 2; i++) {
      data[i] = NaN; // a nodata run at the top-left
    }
    const transform = [126.97, 0.00001, 0, 37.57, 0, -0.000008] as const;
    const bytes = writeGeoTiff(raster, {
      crs: { epsg: 4326 },
      transform,
      nodata: NaN
    });
    const path = space.file('f32.tif', bytes);
    const info = gdalinfo(path);
    expect(epsgOf(info)).toBe(4326);
    expect(info.geoTransform).toEqual([...transform]);
    expect(info.bands.map(b => b.type)).toEqual(['Float32', 'Float32']);
    expect(info.bands[0].noDataValue).toBe('NaN');
    expect(info.metadata.IMAGE_STRUCTURE).toMatchObject({
      PREDICTOR: '3',
      LAYOUT: 'COG'
    });
    expect(info.bands[0].overviews?.map(o => o.size)).toEqual([[130, 65]]);
    const read = new Float32Array(new Uint8Array(gdalPixels(path)).buffer);
    expect(sampleDifferences(read, data).count).toBe(0);
    const tiff = await fromArrayBuffer(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)
    );
    const image = await tiff.getImage();
    expect(image.getGeoKeys()).toMatchObject({
      GeographicTypeGeoKey: 4326,
      GTModelTypeGeoKey: 2
    });
    const samples = (await image.readRasters({
      interleave: true
    })) as unknown as Float32Array;
    expect(sampleDifferences(samples, data).count).toBe(0);
  });

  it('leaves nodata out of overview averages', () => {
    const raster = testRaster(64, 64, 1, 'uint16');
    const data = raster.data as Uint16Array;
    data.fill(9, 0, 64 * 8); // rows 0-7: nodata
    data[0] = 1000; // one valid pixel in the first 2x2 block
    const path = space.file(
      'nodata.tif',
      writeGeoTiff(raster, {
        crs: { epsg: 5186 },
        transform: [0, 1, 0, 0, 0, -1],
        nodata: 9,
        tileSize: 16
      })
    );
    const overview = new Uint16Array(
      new Uint8Array(gdalPixels(path, 0)).buffer
    );
    expect(overview[0]).toBe(1000);
    expect(overview[1]).toBe(9);
    expect(sampleDifferences(overview, naiveHalve(raster, 9)).count).toBe(0);
  });

  it('writes a rotated transform as ModelTransformation', () => {
    const transform = [500000, 0.4, 0.1, 4100000, 0.1, -0.4] as const;
    const path = space.file(
      'rotated.tif',
      writeGeoTiff(testRaster(100, 80, 1, 'uint8'), {
        crs: { epsg: 32652 },
        transform
      })
    );
    const info = gdalinfo(path);
    expect(info.geoTransform).toEqual([...transform]);
    // Lower right = x0 + 100*a + 80*b, y0 + 100*d + 80*e.
    expect(info.cornerCoordinates.lowerRight[0]).toBeCloseTo(
      500000 + 40 + 8,
      3
    );
    expect(info.cornerCoordinates.lowerRight[1]).toBeCloseTo(
      4100000 + 10 - 32,
      3
    );
  });

  it('writes BigTIFF on request, with the same content', async () => {
    const raster = testRaster(600, 300, 3, 'uint8');
    const options: IGeoTiffWriteOptions = {
      crs: { epsg: 5186 },
      transform: [200000, 0.25, 0, 550000, 0, -0.25],
      bigTiff: true
    };
    const bytes = writeGeoTiff(raster, options);
    expect([...bytes.subarray(0, 4)]).toEqual([0x49, 0x49, 0x2b, 0x00]);
    const path = space.file('big.tif', bytes);
    const info = gdalinfo(path);
    expect(epsgOf(info)).toBe(5186);
    expect(info.size).toEqual([600, 300]);
    expect(info.bands[0].overviews?.map(o => o.size)).toEqual([
      [300, 150],
      [150, 75]
    ]);
    expect(info.metadata.IMAGE_STRUCTURE.LAYOUT).toBe('COG');
    expect(gdalPixels(path).equals(bytesOf(raster.data))).toBe(true);
    expect(validateCog(path).valid).toBe(true);
    const tiff = await fromArrayBuffer(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)
    );
    const pixels = await (
      await tiff.getImage()
    ).readRasters({ interleave: true });
    expect(
      bytesOf(pixels as unknown as Uint8Array).equals(bytesOf(raster.data))
    ).toBe(true);
    // Classic by default for the same image.
    expect([
      ...writeGeoTiff(raster, { ...options, bigTiff: undefined }).subarray(0, 4)
    ]).toEqual([0x49, 0x49, 0x2a, 0x00]);
  });

  it('writes EXIF and GPS IFDs in BigTIFF form too', async () => {
    // GDAL 3.6 parses EXIF sub-IFDs as classic TIFF only, so geotiff.js's BigTIFF-aware IFD
    // parser is the reader here. (geotiff.js 3.0.5 misreads the 2nd and 3rd of several
    // RATIONALs, so of the GPS triples only the degrees are compared.)
    const bytes = writeGeoTiff(testRaster(40, 40, 1, 'uint8'), {
      crs: { epsg: 5186 },
      transform: [0, 1, 0, 0, 0, -1],
      bigTiff: true,
      dateTime: new Date('2025-03-04T05:06:07Z'),
      gps: { lat: -33.25, lon: 127.75, alt: -12.5 }
    });
    const tiff = await fromArrayBuffer(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)
    );
    const image = await tiff.getImage();
    const exif = await tiff.parser.parseFileDirectoryAt(
      Number(await image.fileDirectory.loadValue(34665))
    );
    const gps = await tiff.parser.parseFileDirectoryAt(
      Number(await image.fileDirectory.loadValue(34853))
    );
    const text = async (dir: typeof exif, tag: number) =>
      String(await dir.loadValue(tag)).replace(/\0+$/, '');
    expect(await text(exif, 36867)).toBe('2025:03:04 05:06:07');
    expect(await text(gps, 1)).toBe('S');
    expect(await text(gps, 3)).toBe('E');
    const latitude = (await gps.loadValue(2)) as Uint32Array;
    const longitude = (await gps.loadValue(4)) as Uint32Array;
    expect(latitude[0] / latitude[1]).toBe(33);
    expect(longitude[0] / longitude[1]).toBe(127);
    expect(Number(await gps.loadValue(5))).toBe(1); // GPSAltitudeRef: below sea level
    const altitude = (await gps.loadValue(6)) as Uint32Array;
    expect(altitude[0] / altitude[1]).toBe(12.5);
  });

  it('writes a plain TIFF when there is no georeference', () => {
    const path = space.file(
      'plain.tif',
      writeGeoTiff(testRaster(40, 30, 4, 'uint8'), {
        crs: null,
        transform: null
      })
    );
    const info = gdalinfo(path);
    expect(info.geoTransform).toBeUndefined();
    expect(epsgOf(info)).toBeNull();
    expect(info.bands.map(b => b.colorInterpretation)).toEqual([
      'Gray',
      'Undefined',
      'Undefined',
      'Undefined'
    ]);
  });

  it('streams to a file with the same bytes as the in-memory writer', async () => {
    const raster = testRaster(700, 500, 3, 'uint8');
    const options: IGeoTiffWriteOptions = {
      crs: { epsg: 5186 },
      transform: [0, 1, 0, 0, 0, -1],
      tileSize: 64
    };
    const path = space.file('streamed.tif');
    const encoded = await writeGeoTiffFile(path, raster, options);
    expect(encoded.levels.map(l => [l.width, l.height])).toEqual([
      [700, 500],
      [350, 250],
      [175, 125],
      [88, 63],
      [44, 32]
    ]);
    expect(readFileSync(path).equals(writeGeoTiff(raster, options))).toBe(true);
    expect(gdalinfo(path).bands[0].overviews?.map(o => o.size)).toEqual(
      encoded.levels.slice(1).map(l => [l.width, l.height])
    );
  });
});

describe('writeGeoTiff input checks', () => {
  const base = testRaster(32, 32, 1, 'uint8');
  const options: IGeoTiffWriteOptions = {
    crs: { epsg: 5186 },
    transform: [0, 1, 0, 0, 0, -1]
  };
  it.each([
    [
      'data of the wrong length',
      { ...base, data: new Uint8Array(10) },
      options
    ],
    [
      'data of the wrong type',
      { ...base, data: new Uint16Array(32 * 32) },
      options
    ],
    [
      'a tile size that is not a multiple of 16',
      base,
      { ...options, tileSize: 100 }
    ],
    ['nodata outside the sample type', base, { ...options, nodata: 300 }],
    ['a CRS without a transform', base, { ...options, transform: null }],
    [
      'a zero pixel size',
      base,
      { ...options, transform: [0, 0, 0, 0, 0, -1] as const }
    ],
    ['an EPSG code beyond 16 bits', base, { ...options, crs: { epsg: 70000 } }]
  ])('rejects %s', (_name, raster, opts) => {
    expect(() =>
      writeGeoTiff(raster as IRaster, opts as IGeoTiffWriteOptions)
    ).toThrow(InvalidRasterError);
  });
});
