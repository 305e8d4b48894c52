// Imagery expectations on extracted-batch rows (imageRow): each one catches the problem it names
// and passes good images. (On catalog tables, SQL and in-memory answers are compared in
// test/integration/validate-catalog.test.ts.)
import { describe, expect, it } from 'vitest';
import type { IImageMetadata } from '../../../kernel-lib/src/catalog/types';
import { validateRows } from '../../../kernel-lib/src/validate/engine';
import { imageRow, isValidFootprint, unreadableRow } from '../../../kernel-lib/src/validate/imagery';
import { ExpectationSuite } from '../../../kernel-lib/src/validate/suite';

const square = (lon: number, lat: number, d = 0.01) => ({
  type: 'Polygon' as const,
  coordinates: [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]
});

function image(over: Partial<IImageMetadata> = {}): IImageMetadata {
  return {
    key: 'flights/a.tif', size: 1000, etag: 'e', versionId: null, format: 'GTiff', width: 256, height: 256, bands: 3,
    dataType: 'uint8', nodata: null, compression: 'deflate', tiled: true, blockSize: [256, 256], overviews: 2, isCog: true,
    cogProblems: [], crs: { epsg: 5186, name: 'Korea 2000 / Central Belt 2010', wkt: null, geographic: false },
    transform: [0, 0.5, 0, 0, 0, -0.5], gsd: { x: 0.5, y: 0.5 }, footprint: square(127, 37.5), centroid: [127.005, 37.505],
    captureTime: new Date('2024-04-01T10:00:00Z'), captureTimeSource: 'tiff-datetime', gps: { lat: 37.5, lon: 127, alt: 30 },
    sha256: null, extra: {}, ...over
  };
}

const unexpected = (type: string, kwargs: Record<string, unknown>, rows: Record<string, unknown>[]) =>
  validateRows(new ExpectationSuite('t').add(type, kwargs), rows, { resultFormat: 'COMPLETE' }).results[0].result.unexpected_index_list;

describe('imagery expectations on extracted images', () => {
  it('is every TIF readable?', () => {
    expect(unexpected('expect_raster_to_be_readable', {}, [imageRow(image()), unreadableRow('b.tif', 'truncated')])).toEqual([1]);
  });

  it('is the resolution at most 1.0 m? (the coarser axis; unknown GSD fails)', () => {
    const rows = [image(), image({ gsd: { x: 0.5, y: 1.2 } }), image({ gsd: null }), image({ gsd: { x: 1, y: 1 } })].map(imageRow);
    expect(unexpected('expect_gsd_to_be_at_most', { max_value: 1 }, rows)).toEqual([1, 2]);
  });

  it('are GPS coordinates in a valid range? (no GPS is missing, not a failure)', () => {
    const rows = [
      image(),
      image({ gps: { lat: 123, lon: 127, alt: null } }),
      image({ gps: null }),
      image({ gps: { lat: 0, lon: 0, alt: null } }),
      image({ gps: { lat: 10, lon: -181, alt: null } })
    ].map(imageRow);
    expect(unexpected('expect_column_values_to_be_valid_gps', {}, rows)).toEqual([1, 3, 4]);
    expect(unexpected('expect_column_values_to_be_valid_gps', { allow_null_island: true }, rows)).toEqual([1, 4]);
  });

  it('known CRS, optionally from a list', () => {
    const rows = [image(), image({ crs: null }), image({ crs: { epsg: null, name: null, wkt: 'PROJCS["local"]', geographic: false } })].map(imageRow);
    expect(unexpected('expect_crs_to_be_known', {}, rows)).toEqual([1]);
    expect(unexpected('expect_crs_to_be_known', { epsg_in: [5186, 32652] }, rows)).toEqual([1, 2]);
  });

  it('valid, non-empty footprints', () => {
    expect(isValidFootprint(square(127, 37))).toBe(true);
    expect(isValidFootprint({ type: 'MultiPolygon', coordinates: [square(179.99, 10).coordinates, square(-180, 10).coordinates] })).toBe(true);
    expect(isValidFootprint(JSON.stringify(square(127, 37)))).toBe(true);
    expect(isValidFootprint({ type: 'Polygon', coordinates: [[[127, 37], [128, 37], [128, 38], [127, 38]]] })).toBe(false); // not closed
    expect(isValidFootprint({ type: 'Polygon', coordinates: [[[127, 37], [128, 37], [127, 37], [127, 37]]] })).toBe(false); // no area
    expect(isValidFootprint(square(185, 37))).toBe(false); // off the Earth
    expect(isValidFootprint({ type: 'Point', coordinates: [127, 37] })).toBe(false);
    expect(isValidFootprint({ type: 'Polygon', coordinates: [] })).toBe(false);
    const rows = [image(), image({ footprint: null }), image({ footprint: { type: 'Point', coordinates: [127, 37] } })].map(imageRow);
    expect(unexpected('expect_footprint_to_be_valid', {}, rows)).toEqual([1, 2]);
  });

  it('plausible capture time, COG layout, band count and data type', () => {
    const rows = [
      image(),
      image({ captureTime: null, isCog: false }),
      image({ captureTime: new Date('1970-01-01T00:00:00Z'), bands: 1, dataType: 'float64' }),
      image({ captureTime: new Date(Date.now() + 7 * 86_400_000), bands: 4 })
    ].map(imageRow);
    expect(unexpected('expect_capture_time_to_be_plausible', {}, rows)).toEqual([1, 2, 3]);
    expect(unexpected('expect_capture_time_to_be_plausible', { min_value: '1960-01-01', max_value: '2100-01-01' }, rows)).toEqual([1]);
    expect(unexpected('expect_raster_to_be_cog', {}, rows)).toEqual([1]);
    expect(unexpected('expect_raster_band_count_to_be_between', { min_value: 3, max_value: 3 }, rows)).toEqual([2, 3]);
    expect(unexpected('expect_raster_data_type_to_be_in_set', { value_set: ['uint8', 'uint16'] }, rows)).toEqual([2]);
  });
});
