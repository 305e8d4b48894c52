// Data built to hit Great Expectations' edge cases — nulls, exact bounds, `mostly` thresholds met
// exactly and missed by one row, unicode text, duplicates — and the suite that probes them. The
// same rows go to GE (pandas and a PostgreSQL table) and to us.
import type { ISuiteJSON } from '../../../kernel-lib/src/validate/types';
import type { GeColumnKind } from './oracle';

export type EdgeRow = { id: number; n: number | null; f: number | null; s: string | null; c: string | null; b: boolean | null };

export const EDGE_COLUMNS: Record<keyof EdgeRow, GeColumnKind> = { id: 'int', n: 'int', f: 'float', s: 'str', c: 'str', b: 'bool' };
export const EDGE_DDL: Record<keyof EdgeRow, string> = { id: 'integer', n: 'integer', f: 'double precision', s: 'text', c: 'text', b: 'boolean' };

const N = [0, 10, 5, 5, -1, 11, 3, null, 7, 10, 0, null, 2, 9, 8, null, 4, 6, 1, null, 12, 5, 3, null, 10, 0, null, 2, 2, 1];
const F = [0.5, 1.0, 0.75, null, 0.4999999, 1.0000001, 0.9, 0.6, null, 0.5, 2.5, -0.25, 0.8, 0.1, null, 0.7, 0.55, 0.95, 1.0, 0.3, 0.65, null, 0.85, 0.45, 0.5, 0.61, 0.62, 0.63, null, 0.99];
const S = ['abc', 'a', 'é', '한국어', '🛰 sat', '', 'Ab', null, 'abc', 'xyz', 'abcd', 'b', null, 'ab', 'ñandú', 'abc', 'ba', null, 'zz', 'a b', 'ÅÄÖ', 'q', 'abc', '北京', null, 'abcde', 'aa', 'a\'b', 'a"b', 'a\\b'];
const C = ['red', 'green', 'blue', 'red', null, 'purple', 'green', 'blue', 'red', 'red', 'green', null, 'blue', 'blue', 'red', 'green', 'Red', 'red', 'green', 'blue', null, 'red', 'green', 'blue', 'red', 'green', 'blue', 'red', 'blue', 'green'];
const B = [true, false, null, true, true, false, false, true, null, true, false, true, true, false, true, null, false, true, true, false, true, true, false, null, true, false, true, true, false, true];

/** 30 rows (6 nulls in n, so 24 of 30 present: mostly 0.8 is met exactly). */
export function edgeRows(): EdgeRow[] {
  return N.map((n, i) => ({ id: i + 1, n, f: F[i], s: S[i], c: C[i], b: B[i] }));
}

/** The same columns, every value missing (ids kept). */
export function allNullRows(): EdgeRow[] {
  return N.map((_, i) => ({ id: i + 1, n: null, f: null, s: null, c: null, b: null }));
}

type E = [string, Record<string, unknown>];

/** Every standard expectation we support, with bounds and thresholds at the data's edges. */
export function edgeExpectations(): E[] {
  const e: E[] = [
    ['expect_column_values_to_not_be_null', { column: 'n' }],
    ['expect_column_values_to_not_be_null', { column: 'n', mostly: 0.8 }],
    ['expect_column_values_to_not_be_null', { column: 'n', mostly: 0.81 }],
    ['expect_column_values_to_not_be_null', { column: 'id' }],
    ['expect_column_values_to_be_null', { column: 's', mostly: 0.1 }],
    ['expect_column_values_to_be_null', { column: 'n' }],
    ['expect_column_values_to_be_between', { column: 'n', min_value: 0, max_value: 10 }],
    ['expect_column_values_to_be_between', { column: 'n', min_value: 0, max_value: 10, mostly: 0.875 }],
    ['expect_column_values_to_be_between', { column: 'n', min_value: 0, max_value: 10, mostly: 0.876 }],
    ['expect_column_values_to_be_between', { column: 'n', min_value: 0, max_value: 10, strict_min: true }],
    ['expect_column_values_to_be_between', { column: 'n', min_value: 0, max_value: 10, strict_max: true }],
    ['expect_column_values_to_be_between', { column: 'n', min_value: -1, max_value: 12, strict_min: true, strict_max: true }],
    ['expect_column_values_to_be_between', { column: 'n', min_value: 5 }],
    ['expect_column_values_to_be_between', { column: 'n', max_value: 5, mostly: 0.5 }],
    ['expect_column_values_to_be_between', { column: 'f', min_value: 0.5, max_value: 1.0 }],
    ['expect_column_values_to_be_between', { column: 'f', min_value: 0.5, max_value: 1.0, strict_max: true }],
    ['expect_column_values_to_be_in_set', { column: 'c', value_set: ['red', 'green', 'blue'] }],
    ['expect_column_values_to_be_in_set', { column: 'c', value_set: ['red', 'green', 'blue'], mostly: 0.9 }],
    ['expect_column_values_to_be_in_set', { column: 'n', value_set: [0, 1, 2, 3] }],
    ['expect_column_values_to_not_be_in_set', { column: 'c', value_set: ['purple', 'Red'] }],
    ['expect_column_values_to_not_be_in_set', { column: 'c', value_set: ['orange'] }],
    ['expect_column_values_to_match_regex', { column: 's', regex: '^a' }],
    ['expect_column_values_to_match_regex', { column: 's', regex: '^[a-z]+$', mostly: 0.5 }],
    ['expect_column_values_to_match_regex', { column: 's', regex: '국' }],
    ['expect_column_values_to_not_match_regex', { column: 's', regex: 'b' }],
    ['expect_column_values_to_not_match_regex', { column: 's', regex: '^\\s*$' }],
    ['expect_column_value_lengths_to_be_between', { column: 's', min_value: 1, max_value: 3 }],
    ['expect_column_value_lengths_to_be_between', { column: 's', min_value: 3 }],
    ['expect_column_value_lengths_to_equal', { column: 's', value: 3 }],
    ['expect_column_values_to_be_unique', { column: 'id' }],
    ['expect_column_values_to_be_unique', { column: 'n' }],
    ['expect_column_values_to_be_unique', { column: 's', mostly: 0.8 }],
    ['expect_compound_columns_to_be_unique', { column_list: ['c', 'b'] }],
    ['expect_compound_columns_to_be_unique', { column_list: ['c', 'b'], ignore_row_if: 'any_value_is_missing' }],
    ['expect_compound_columns_to_be_unique', { column_list: ['id', 'c'] }],
    ['expect_column_min_to_be_between', { column: 'n', min_value: -1, max_value: 0 }],
    ['expect_column_min_to_be_between', { column: 'n', min_value: -1, max_value: 0, strict_min: true }],
    ['expect_column_max_to_be_between', { column: 'n', min_value: 12, max_value: 12 }],
    ['expect_column_max_to_be_between', { column: 'f', max_value: 2.5, strict_max: true }],
    ['expect_column_mean_to_be_between', { column: 'n', min_value: 4, max_value: 6 }],
    ['expect_column_mean_to_be_between', { column: 'f', min_value: 0, max_value: 0.6 }],
    ['expect_column_median_to_be_between', { column: 'n', min_value: 4.5, max_value: 5 }],
    ['expect_column_median_to_be_between', { column: 'f', min_value: 0.6, max_value: 0.7 }],
    ['expect_column_stdev_to_be_between', { column: 'n', min_value: 3, max_value: 4 }],
    ['expect_column_stdev_to_be_between', { column: 'f', min_value: 0, max_value: 0.1 }],
    ['expect_column_sum_to_be_between', { column: 'n', min_value: 100, max_value: 200 }],
    ['expect_column_unique_value_count_to_be_between', { column: 'c', min_value: 5, max_value: 5 }],
    ['expect_table_row_count_to_be_between', { min_value: 30, max_value: 30 }],
    ['expect_table_row_count_to_be_between', { min_value: 30, strict_min: true }],
    ['expect_table_row_count_to_equal', { value: 30 }],
    ['expect_column_to_exist', { column: 's' }],
    ['expect_column_to_exist', { column: 'nope' }],
    ['expect_column_to_exist', { column: 'n', column_index: 1 }],
    ['expect_column_to_exist', { column: 'n', column_index: 2 }],
    ['expect_column_values_to_be_between', { column: 'nope', min_value: 1 }]
  ];
  return e;
}

/** Expectations compared only on the SQL data sources (pandas dtypes are not database types). */
export function sqlOnlyExpectations(): E[] {
  return [
    ['expect_column_values_to_be_of_type', { column: 'n', type_: 'INTEGER' }],
    ['expect_column_values_to_be_of_type', { column: 'n', type_: 'TEXT' }],
    ['expect_column_values_to_be_of_type', { column: 's', type_: 'TEXT' }],
    ['expect_column_values_to_be_of_type', { column: 'f', type_: 'DOUBLE_PRECISION' }],
    ['expect_column_values_to_be_of_type', { column: 'f', type_: 'DOUBLE PRECISION' }],
    ['expect_column_values_to_be_of_type', { column: 's', type_: 'text' }],
    ['expect_column_values_to_be_of_type', { column: 'b', type_: 'BOOLEAN' }],
    ['expect_column_values_to_be_of_type', { column: 'nope', type_: 'TEXT' }]
  ];
}

export function suiteOf(name: string, expectations: E[]): ISuiteJSON {
  return { name, expectations: expectations.map(([type, kwargs], i) => ({ type, kwargs, meta: { i } })), meta: { purpose: 'GE oracle edge cases' } };
}
