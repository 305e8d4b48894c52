// Search arguments are checked before any SQL runs, and values only ever travel as parameters.
import { describe, expect, it } from 'vitest';
import { searchImages, SearchArgumentError } from '../../../kernel-lib/src/catalog/search';
import type { IQueryable } from '../../../kernel-lib/src/db/database';

function recorder() {
  const calls: { sql: string; params: unknown[] }[] = [];
  const db: IQueryable = {
    query: async (sql: string, params: unknown[] = []) => {
      calls.push({ sql, params });
      return [];
    }
  } as IQueryable;
  return { db, calls };
}

describe('searchImages', () => {
  it('rejects malformed bboxes, cursors, dates and limits', async () => {
    const { db, calls } = recorder();
    await expect(searchImages(db, 'p', { bbox: [1, 2, 3] as never })).rejects.toBeInstanceOf(SearchArgumentError);
    await expect(searchImages(db, 'p', { bbox: [0, 10, 1, 5] })).rejects.toBeInstanceOf(SearchArgumentError);
    await expect(searchImages(db, 'p', { cursor: 'garbage' })).rejects.toBeInstanceOf(SearchArgumentError);
    await expect(searchImages(db, 'p', { from: 'yesterday-ish' })).rejects.toBeInstanceOf(SearchArgumentError);
    await expect(searchImages(db, 'p', { limit: 0 })).rejects.toBeInstanceOf(SearchArgumentError);
    expect(calls).toEqual([]);
  });

  it('passes every value as a parameter, never in the SQL text', async () => {
    const { db, calls } = recorder();
    const evil = "x'); DROP TABLE image_metadata; --";
    await searchImages(db, evil, { bbox: [126.9, 37.4, 127.1, 37.6], from: '2024-01-01', minGsd: 0.25, maxGsd: 1, crs: 5186, limit: 7 });
    expect(calls).toHaveLength(1);
    const { sql, params } = calls[0];
    expect(sql).not.toContain('DROP');
    expect(sql).not.toContain('126.9');
    expect(sql).not.toContain('5186');
    expect(params).toContain(evil);
    expect(params).toContain(126.9);
    expect(params).toContain(8); // limit + 1, to know whether another page follows
    expect(sql).toMatch(/ST_Intersects\(footprint/);
    expect(sql).toMatch(/ORDER BY coalesce\(capture_time, 'infinity'::timestamptz\), image_metadata\.id /);
  });

  it('splits a bbox that crosses the antimeridian into two envelopes', async () => {
    const { db, calls } = recorder();
    await searchImages(db, 'p', { bbox: [179, -10, -179, 10] });
    expect(calls[0].sql).toMatch(/ST_Collect/);
  });
});
