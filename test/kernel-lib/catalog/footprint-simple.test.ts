// Footprints skip the database's ST_MakeValid only when isSimpleFootprint vouches for them, so it
// must never say yes to an invalid ring; saying no to a valid one only costs time.
import { describe, expect, it } from 'vitest';
import { isSimpleFootprint, wkb } from '../../../kernel-lib/src/catalog/indexer';
import type { Geometry4326 } from '../../../kernel-lib/src/catalog/types';

const polygon = (...ring: number[][]): Geometry4326 => ({ type: 'Polygon', coordinates: [ring] });
const square = polygon([0, 0], [1, 0], [1, 1], [0, 1], [0, 0]);

/** A densified quadrilateral, as footprint.ts writes them (16 points an edge, slightly curved). */
function densified(points = 16): number[][] {
  const corners = [[126.9, 37.5], [127.0, 37.51], [127.01, 37.6], [126.91, 37.59]];
  const ring: number[][] = [];
  for (let c = 0; c < 4; c++) {
    const [a, b] = [corners[c], corners[(c + 1) % 4]];
    for (let i = 0; i < points; i++) {
      const t = i / points;
      ring.push([a[0] + (b[0] - a[0]) * t + 1e-7 * Math.sin(Math.PI * t), a[1] + (b[1] - a[1]) * t]);
    }
  }
  ring.push(ring[0]);
  return ring;
}

describe('isSimpleFootprint', () => {
  it('vouches for plain and densified quadrilaterals and for antimeridian splits', () => {
    expect(isSimpleFootprint(square)).toBe(true);
    expect(isSimpleFootprint(polygon(...densified()))).toBe(true);
    expect(
      isSimpleFootprint({
        type: 'MultiPolygon',
        coordinates: [
          [[[179.5, -17], [180, -17], [180, -16], [179.5, -16], [179.5, -17]]],
          [[[-180, -17], [-179.5, -17], [-179.5, -16], [-180, -16], [-180, -17]]]
        ]
      })
    ).toBe(true);
  });

  it('refuses every invalid or doubtful ring', () => {
    const refused: [string, Geometry4326][] = [
      ['bow-tie', polygon([0, 0], [1, 1], [1, 0], [0, 1], [0, 0])],
      ['not closed', polygon([0, 0], [1, 0], [1, 1], [0, 1])],
      ['too few points', polygon([0, 0], [1, 0], [0, 0])],
      ['zero area', polygon([0, 0], [1, 0], [2, 0], [0, 0])],
      ['repeated vertex', polygon([0, 0], [1, 0], [1, 0], [1, 1], [0, 1], [0, 0])],
      ['spike folding back', polygon([0, 0], [2, 0], [1, 0], [1, 1], [0, 1], [0, 0])],
      ['ring touching itself', polygon([0, 0], [2, 0], [2, 2], [1, 0], [0, 2], [0, 0])],
      ['NaN', polygon([0, 0], [1, 0], [NaN, 1], [0, 1], [0, 0])],
      ['a hole (left to the database)', { type: 'Polygon', coordinates: [square.coordinates[0] as number[][], [[0.2, 0.2], [0.2, 0.4], [0.4, 0.4], [0.2, 0.2]]] }],
      ['overlapping parts', { type: 'MultiPolygon', coordinates: [square.coordinates as number[][][], (polygon([0.5, 0.5], [2, 0.5], [2, 2], [0.5, 0.5]) as { coordinates: number[][][] }).coordinates] }],
      ['a point', { type: 'Point', coordinates: [1, 2] }]
    ];
    for (const [what, geometry] of refused) {
      expect(isSimpleFootprint(geometry), what).toBe(false);
    }
  });
});

describe('wkb', () => {
  it('writes little-endian ISO WKB', () => {
    expect(wkb({ type: 'Point', coordinates: [1, 2] }).toString('hex')).toBe('0101000000000000000000f03f0000000000000040');
    const bytes = wkb(square);
    expect(bytes.readUInt8(0)).toBe(1);
    expect(bytes.readUInt32LE(1)).toBe(3);
    expect(bytes.readUInt32LE(5)).toBe(1);
    expect(bytes.readUInt32LE(9)).toBe(5);
    expect(bytes.length).toBe(13 + 5 * 16);
  });
});
