// The in-memory backend and GE's result formats. (Agreement with GE itself on every standard
// expectation is test/integration/validate-oracle.test.ts; these pin what the formats carry.)
import { describe, expect, it } from 'vitest';
import { validateRows } from '../../../kernel-lib/src/validate/engine';
import { ExpectationSuite } from '../../../kernel-lib/src/validate/suite';

const rows = [{ x: 1 }, { x: 5 }, { x: null }, { x: 7 }, { x: 5 }, { x: 2 }];
const suite = new ExpectationSuite('formats').add('expect_column_values_to_be_between', { column: 'x', min_value: 0, max_value: 4 });

describe('result formats', () => {
  it('BOOLEAN_ONLY carries only success', () => {
    const r = validateRows(suite, rows, { resultFormat: 'BOOLEAN_ONLY' }).results[0];
    expect(r.success).toBe(false);
    expect(r.result).toEqual({});
  });

  it('BASIC carries counts, percentages and the partial list', () => {
    const r = validateRows(suite, rows, { resultFormat: 'BASIC' }).results[0];
    expect(r.result).toEqual({
      element_count: 6,
      unexpected_count: 3,
      unexpected_percent: 60,
      partial_unexpected_list: [5, 7, 5],
      missing_count: 1,
      missing_percent: (1 / 6) * 100,
      unexpected_percent_total: 50,
      unexpected_percent_nonmissing: 60
    });
  });

  it('SUMMARY adds the value counts and row indexes; COMPLETE the full lists', () => {
    const summary = validateRows(suite, rows, { resultFormat: 'SUMMARY' }).results[0].result;
    expect(summary.partial_unexpected_counts).toEqual([
      { value: 5, count: 2 },
      { value: 7, count: 1 }
    ]);
    expect(summary.partial_unexpected_index_list).toEqual([1, 3, 4]);
    expect(summary.unexpected_list).toBeUndefined();
    const complete = validateRows(suite, rows, { resultFormat: 'COMPLETE' }).results[0].result;
    expect(complete.unexpected_list).toEqual([5, 7, 5]);
    expect(complete.unexpected_index_list).toEqual([1, 3, 4]);
  });

  it('keeps only 20 values in the partial list, all of them in COMPLETE', () => {
    const many = Array.from({ length: 50 }, (_, i) => ({ x: i + 10 }));
    const basic = validateRows(suite, many, { resultFormat: 'BASIC' }).results[0].result;
    expect(basic.unexpected_count).toBe(50);
    expect(basic.partial_unexpected_list).toHaveLength(20);
    expect(validateRows(suite, many, { resultFormat: 'COMPLETE' }).results[0].result.unexpected_list).toHaveLength(50);
  });

  it('statistics count the outcomes; a missing column is an error result, not a pass', () => {
    const s = new ExpectationSuite('stats')
      .add('expect_column_values_to_not_be_null', { column: 'x', mostly: 0.8 })
      .add('expect_column_max_to_be_between', { column: 'x', max_value: 10 })
      .add('expect_column_values_to_not_be_null', { column: 'y' });
    const result = validateRows(s, rows);
    expect(result.results.map(r => r.success)).toEqual([true, true, false]);
    expect(result.results[1].result).toEqual({ observed_value: 7 });
    expect(result.results[2].exception_info).toMatchObject({ raised_exception: true });
    expect(result.results[2].exception_info.exception_message).toContain('"y"');
    expect(result.statistics).toEqual({
      evaluated_expectations: 3,
      successful_expectations: 2,
      unsuccessful_expectations: 1,
      success_percent: (2 / 3) * 100
    });
    expect(result.success).toBe(false);
    expect(result.toString()).toContain('FAIL expect_column_values_to_not_be_null (y)');
  });

  it('the report card carries GE JSON for the extension and a readable fallback', () => {
    const bundle = validateRows(suite, rows).toDisplay();
    const payload = bundle.data['application/vnd.changelab.validation+json'] as {
      version: number;
      kind: string;
      status: string;
      table: { columns: string[]; rows: unknown[][] };
      data: { result: { success: boolean } };
    };
    expect(payload).toMatchObject({ version: 1, kind: 'validation', status: 'error' });
    expect(payload.table.rows[0].slice(0, 3)).toEqual(['FAIL', 'expect_column_values_to_be_between', 'x']);
    expect(payload.table.rows[0]).toHaveLength(payload.table.columns.length);
    expect(payload.data.result.success).toBe(false);
    expect(bundle.data['text/plain']).toContain('3 of 6 unexpected');
    expect(bundle.data['text/html']).toContain('expect_column_values_to_be_between');
  });

  it('unique on rows: values equal only within a type (1 and "1", true and "true" differ), Dates by time', () => {
    const t = new Date('2024-05-01T00:00:00Z');
    const rows = [1, '1', true, 'true', 2, 2, new Date(t), new Date(t.getTime()), `d:${t.getTime()}`, null, 3n, 3].map(x => ({ x }));
    const r = validateRows(new ExpectationSuite('u').add('expect_column_values_to_be_unique', { column: 'x' }), rows, { resultFormat: 'COMPLETE' }).results[0].result;
    expect(r.unexpected_count).toBe(4);
    expect(r.unexpected_index_list).toEqual([4, 5, 6, 7]);
    expect(r.missing_count).toBe(1);
  });

  it('value lengths count characters: a surrogate pair is one, a lone surrogate one', () => {
    const rows = ['ab', '🛰', 'a🛰b', '\ud800', '\ud800x', 'é', 'e\u0301'].map(s => ({ s }));
    const suite = new ExpectationSuite('len').add('expect_column_value_lengths_to_equal', { column: 's', value: 2 });
    const r = validateRows(suite, rows, { resultFormat: 'COMPLETE' }).results[0].result;
    expect(r.unexpected_list).toEqual(['🛰', 'a🛰b', '\ud800', 'é']);
  });
});
