// GE's partial lists against ours, beyond the counts the main oracle test compares: in SUMMARY,
// Great Expectations 1.x keeps the first 20 unexpected values (partial_unexpected_list) and counts
// those same 20 for partial_unexpected_counts (Counter.most_common, then sorted by count and
// value), not the whole column. Our SQL backend reads the same first 20 rows (no query over every
// unexpected row), our in-memory backend keeps them as it scans. The data has more than 20
// unexpected values, repeats whose counts in the first 20 differ from their counts overall, ties
// that only the value order breaks (9 before 10, as Python sorts numbers), text values and
// duplicates for the unique expectation; GE runs on the rows (pandas) and on the table (SQL).
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../kernel-lib/src/db/database';
import { validateRows, validateTable } from '../../kernel-lib/src/validate/engine';
import { ExpectationSuite } from '../../kernel-lib/src/validate/suite';
import type { IExpectationResult, ResultFormat } from '../../kernel-lib/src/validate/types';
import { freshServerDatabase, testServices } from '../helpers';
import { byIndex, geAvailable, runGe, type IGeResponse } from '../kernel-lib/validate/oracle';

const services = testServices();
const haveGe = geAvailable();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

type R = { id: number; x: number; y: number; s: string; k: string };
const ROWS: R[] = Array.from({ length: 90 }, (_, i) => ({
  id: i + 1,
  x: i % 7, // 2..6 unexpected: 4 each in the first 20 unexpected, 13 each overall
  y: i % 2 ? 9 : 10, // all unexpected, tied 10 / 10 in the first 20: value order decides
  s: ['ok', 'bad-b', 'bad-a', 'ok', 'bad-c', 'bad-a'][i % 6],
  k: `key-${i % 40}` // 10 keys three times, 30 twice: every row a duplicate
}));
const COLUMNS = { id: 'int', x: 'int', y: 'int', s: 'str', k: 'str' } as const;

const SUITE = {
  name: 'partial_lists',
  expectations: [
    ['expect_column_values_to_be_between', { column: 'x', min_value: 0, max_value: 1 }],
    ['expect_column_values_to_be_between', { column: 'y', min_value: 0, max_value: 5 }],
    ['expect_column_values_to_be_in_set', { column: 's', value_set: ['ok'] }],
    ['expect_column_values_to_not_match_regex', { column: 's', regex: '^bad' }],
    ['expect_column_values_to_be_unique', { column: 'k' }]
  ].map(([type, kwargs], i) => ({ type: type as string, kwargs: kwargs as Record<string, unknown>, meta: { i } }))
};

const partial = (r: { result: object }) => ({
  unexpected_count: (r.result as Record<string, unknown>).unexpected_count,
  partial_unexpected_list: (r.result as Record<string, unknown>).partial_unexpected_list,
  partial_unexpected_counts: (r.result as Record<string, unknown>).partial_unexpected_counts
});

describe.skipIf(!services || !haveGe)("GE's partial lists and counts", () => {
  let url: string;
  let ge: IGeResponse;
  const format: ResultFormat = 'SUMMARY';

  beforeAll(async () => {
    url = await freshServerDatabase(services!.databaseUrl, cleanups);
    const c = new Client(url);
    await c.connect();
    try {
      await c.query('CREATE TABLE partial_rows (id integer, x integer, y integer, s text, k text)');
      await c.query(
        `INSERT INTO partial_rows SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::text[], $5::text[])`,
        [ROWS.map(r => r.id), ROWS.map(r => r.x), ROWS.map(r => r.y), ROWS.map(r => r.s), ROWS.map(r => r.k)]
      );
    } finally {
      await c.end();
    }
    ge = await runGe({ suite: SUITE, rows: ROWS, columns: COLUMNS, databaseUrl: url, table: 'partial_rows', resultFormat: format });
  }, 300_000);

  it('the data has more than 20 unexpected values where it matters', () => {
    const theirs = byIndex(ge.pandas!);
    for (const i of [0, 1, 2, 3, 4]) {
      expect(Number(theirs.get(i)!.result.unexpected_count)).toBeGreaterThan(20);
    }
  });

  it('in-memory rows: the same first 20 values and their counts as GE pandas', () => {
    const ours = validateRows(ExpectationSuite.fromJSON(SUITE), { rows: ROWS, columns: Object.keys(COLUMNS) }, { resultFormat: format });
    const theirs = byIndex(ge.pandas!);
    ours.results.forEach((r: IExpectationResult, i) => {
      expect(partial(r), `[${i}] ${r.expectation_config.type}`).toEqual(partial(theirs.get(i)!));
    });
  });

  it('SQL pushdown: the same first 20 values and their counts as GE SQL', async () => {
    const db = new Database(url, 'server', { max: 2 });
    try {
      const ours = await validateTable(db, ExpectationSuite.fromJSON(SUITE), { table: 'partial_rows' }, { resultFormat: format });
      const theirs = byIndex(ge.sql!);
      ours.results.forEach((r: IExpectationResult, i) => {
        expect(partial(r), `[${i}] ${r.expectation_config.type}`).toEqual(partial(theirs.get(i)!));
      });
    } finally {
      await db.close();
    }
  });
});
