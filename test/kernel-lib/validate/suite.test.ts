// Suites load from and save to GE 1.x JSON; a malformed suite is refused with the expectation's
// index, type and field; an unknown type is an error, or an explicit, reported skip.
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { validateRows } from '../../../kernel-lib/src/validate/engine';
import { ExpectationSuite, SuiteError } from '../../../kernel-lib/src/validate/suite';
import '../../../kernel-lib/src/validate/imagery';
import { tempDir } from '../../helpers';

const suiteWith = (...expectations: unknown[]) => ({ name: 's', expectations });

function errorOf(json: unknown): SuiteError {
  try {
    ExpectationSuite.fromJSON(json);
  } catch (error) {
    expect(error).toBeInstanceOf(SuiteError);
    return error as SuiteError;
  }
  throw new Error('the suite loaded');
}

describe('expectation suites', () => {
  it('names the expectation and the field of a bad kwarg', () => {
    const e = errorOf(
      suiteWith(
        { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'a' } },
        { type: 'expect_column_values_to_be_between', kwargs: { column: 'gsd', min_value: 0, max_value: 'one' } }
      )
    );
    expect(e.message).toContain('expectations[1]');
    expect(e.message).toContain('expect_column_values_to_be_between');
    expect(e.message).toContain('kwargs.max_value');
    expect(e.context).toMatchObject({ index: 1, type: 'expect_column_values_to_be_between', field: 'kwargs.max_value' });
  });

  it.each([
    [{ type: 'expect_column_values_to_be_between', kwargs: { min_value: 1 } }, 'kwargs.column is required'],
    [{ type: 'expect_column_values_to_be_between', kwargs: { column: 'x' } }, 'min_value and max_value cannot both be null'],
    [{ type: 'expect_column_values_to_be_in_set', kwargs: { column: 'x', value_set: 'abc' } }, 'kwargs.value_set must be an array'],
    [{ type: 'expect_column_values_to_not_be_null', kwargs: { column: 'x', mostly: 1.5 } }, 'kwargs.mostly must be a number from 0 to 1'],
    [{ type: 'expect_column_values_to_match_regex', kwargs: { column: 'x', regex: '(' } }, 'regex is not a valid regular expression'],
    [{ type: 'expect_column_values_to_not_be_null', kwargs: { column: 'x', colum: 'y' } }, 'unknown argument kwargs.colum'],
    [{ type: 'expect_compound_columns_to_be_unique', kwargs: { column_list: ['a'] } }, 'at least two columns'],
    [{ type: 'expect_gsd_to_be_at_most', kwargs: {} }, 'kwargs.max_value is required'],
    [{ type: 'expect_column_values_to_not_be_null', kwargs: { column: 'x', row_condition: 'y > 1' } }, 'kwargs.row_condition is not supported'],
    [{ type: 'expect_capture_time_to_be_plausible', kwargs: { min_value: 'yesterday-ish' } }, 'kwargs.min_value must be a number, a date string or null'],
    [{ kwargs: {} }, 'expectations[0].type must be an expectation type name'],
    [{ type: 'expect_column_values_to_not_be_null', kwargs: [] }, '.kwargs must be an object']
  ])('refuses %j', (expectation, message) => {
    expect(errorOf(suiteWith(expectation)).message).toContain(message);
  });

  it('refuses a suite without a name or an expectations array', () => {
    expect(errorOf({ expectations: [] }).message).toContain('"name"');
    expect(errorOf({ name: 'x', expectations: {} }).message).toContain('"expectations" must be an array');
    expect(errorOf('{not json').message).toContain('not valid JSON');
  });

  it('refuses an unknown expectation type unless asked to skip it, and then reports the skip', () => {
    const json = suiteWith(
      { type: 'expect_column_values_to_be_dateutil_parseable', kwargs: { column: 'x' } },
      { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'x' } }
    );
    expect(errorOf(json).message).toMatch(/unknown expectation type "expect_column_values_to_be_dateutil_parseable".*unknownExpectations: 'skip'/);
    const suite = ExpectationSuite.fromJSON(json, { unknownExpectations: 'skip' });
    expect(suite.skipped).toEqual([{ index: 0, type: 'expect_column_values_to_be_dateutil_parseable' }]);
    expect(suite.expectations.map(e => e.type)).toEqual(['expect_column_values_to_not_be_null']);
    // Saving keeps the skipped expectation: nothing in the user's file is lost.
    expect(suite.toJSON().expectations.map(e => e.type)).toEqual(json.expectations.map(e => (e as { type: string }).type));
    const result = validateRows(suite, [{ x: 1 }]);
    expect(result.statistics.evaluated_expectations).toBe(1);
    expect(result.json.meta.warnings).toEqual(['expectations[0] expect_column_values_to_be_dateutil_parseable was skipped: unknown expectation type']);
    expect(result.toDisplay().data['application/vnd.changelab.validation+json']).toMatchObject({ status: 'warning' });
  });

  it('loads GE 0.x names (expectation_suite_name, expectation_type)', () => {
    const suite = ExpectationSuite.fromJSON({
      expectation_suite_name: 'old',
      expectations: [{ expectation_type: 'expect_table_row_count_to_be_between', kwargs: { min_value: 1 } }]
    });
    expect(suite.name).toBe('old');
    expect(suite.toJSON().expectations[0].type).toBe('expect_table_row_count_to_be_between');
  });

  it('saves and loads a file unchanged; the version hash follows the content', () => {
    const dir = tempDir();
    const suite = new ExpectationSuite('ingest', [], { owner: 'imagery team' })
      .add('expect_gsd_to_be_at_most', { max_value: 1 }, { why: 'the report: resolution <= 1.0 m' })
      .add('expect_column_values_to_be_valid_gps');
    const file = path.join(dir, 'suites', 'ingest.json');
    suite.save(file);
    const loaded = ExpectationSuite.load(file);
    expect(loaded.toJSON()).toEqual(suite.toJSON());
    expect(loaded.version).toBe(suite.version);
    expect(new ExpectationSuite('ingest', [], { owner: 'imagery team' }).add('expect_gsd_to_be_at_most', { max_value: 2 }).version).not.toBe(
      suite.version
    );
    fs.writeFileSync(file, JSON.stringify(suiteWith({ type: 'expect_gsd_to_be_at_most', kwargs: { max_value: '1m' } })));
    expect(() => ExpectationSuite.load(file)).toThrow(/ingest\.json: expectations\[0\] \(expect_gsd_to_be_at_most\): kwargs\.max_value/);
    expect(() => ExpectationSuite.load(path.join(dir, 'missing.json'))).toThrow(/cannot read the suite file/);
  });
});
