// The expectations changelab knows: Great Expectations 1.x names and keyword arguments, and for
// each how it is computed. A definition is data plus small functions, so the in-memory backend
// and the SQL pushdown backend evaluate exactly the same rule (a predicate for rows, an SQL
// expression for tables). Imagery expectations (imagery.ts) register themselves here too.
import { classPatternSql } from './regex-sql';

/** What an expectation looks at, which decides how it is computed and what its result holds. */
export type ExpectationKind =
  | 'column-map' // a test per row of one column (or a few columns): unexpected / missing counts
  | 'unique' // duplicates among rows of one column or a column list
  | 'column-aggregate' // one number (min, max, mean, ...) of a column compared with bounds
  | 'table'; // the table as a whole (row count, columns)

export type AggregateMetric = 'min' | 'max' | 'mean' | 'median' | 'stdev' | 'sum' | 'unique_count' | 'type';
export type TableMetric = 'row_count' | 'column_exists';

/** How rows with missing values count: GE's column map expectations ignore them ("missing"). */
export type NullRule = 'missing' | 'unexpected' | 'expected';

export type ArgType =
  | 'column'
  | 'string'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'bound' // a number, a string (dates) or null
  | 'array'
  | 'string[]'
  | 'mostly'
  | 'any';

export interface IArgSpec {
  type: ArgType;
  required?: boolean;
  /** Allowed string values. */
  oneOf?: readonly string[];
}

/** Compiled test of one row's values (non-missing); true when the row is as expected. */
export type RowTest = (values: unknown[]) => boolean;

export interface IExpectationDefinition {
  type: string;
  kind: ExpectationKind;
  /** One line for the documentation and the report. */
  description: string;
  args: Record<string, IArgSpec>;
  /** Cross-field checks at load time; returns a problem or undefined. */
  check?: (kwargs: Record<string, unknown>) => string | undefined;
  /** The columns a row-level expectation reads (default: `kwargs.column`). */
  columns?: (kwargs: Record<string, unknown>) => string[];
  /** column-map: how missing values count. Default 'missing'. */
  nulls?: NullRule;
  /** column-map: the row test, for in-memory rows. */
  test?: (kwargs: Record<string, unknown>) => RowTest;
  /** column-map: an SQL boolean expression over the columns (already quoted), true when as expected. */
  sql?: (columns: string[], kwargs: Record<string, unknown>) => string;
  /** Multi-column map: which rows are missing (GE's ignore_row_if). */
  multiColumn?: boolean;
  /** Multi-column map without ignore_row_if: a row is missing when 'all' (default) or 'any' value is. */
  rowMissing?: 'all' | 'any';
  metric?: AggregateMetric | TableMetric;
  /** column-aggregate / table: decides success from the observed value. */
  judge?: (observed: unknown, kwargs: Record<string, unknown>) => boolean;
  /** True for changelab's imagery expectations (not in GE's gallery). */
  imagery?: boolean;
}

const registry = new Map<string, IExpectationDefinition>();

export function defineExpectation(definition: IExpectationDefinition): void {
  registry.set(definition.type, definition);
}

export function expectationDefinition(type: string): IExpectationDefinition | undefined {
  return registry.get(type);
}

/** The column(s) an expectation reads, for messages and reports: "gsd", "gps_lat, gps_lon"; null for table-level ones. */
export function expectationColumns(type: string, kwargs: Record<string, unknown>): string | null {
  const definition = registry.get(type);
  const names = definition?.columns ? definition.columns(kwargs) : typeof kwargs.column === 'string' ? [kwargs.column] : [];
  return names.length ? names.join(', ') : null;
}

/** Every expectation type changelab evaluates, standard and imagery. */
export function expectationTypes(): string[] {
  return [...registry.keys()].sort();
}

// ---- shared helpers -------------------------------------------------------------------------

/** An SQL literal for a JSON scalar: strings quoted (standard_conforming_strings), numbers as is. */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) {
    return 'NULL';
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new TypeError(`${value} cannot be compared in SQL`);
    }
    return String(value);
  }
  if (typeof value === 'boolean') {
    return value ? 'TRUE' : 'FALSE';
  }
  return `'${String(value).replace(/'/g, "''")}'`;
}

/** A quoted SQL identifier. */
/** The ignore_row_if rule of a multi-column expectation. */
export const ignoreRowIf = (definition: IExpectationDefinition, kwargs: Record<string, unknown>): string =>
  (kwargs.ignore_row_if as string | undefined) ?? (definition.rowMissing === 'any' ? 'any_value_is_missing' : 'all_values_are_missing');

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

const toComparable = (v: unknown): number | string | boolean => {
  if (v instanceof Date) {
    return v.getTime();
  }
  return v as number | string | boolean;
};

/** Compares a value with a bound of the same kind; Dates compare with date strings by time. */
function compare(value: unknown, bound: unknown): number {
  let a = toComparable(value);
  let b = toComparable(bound);
  if (value instanceof Date && typeof bound === 'string') {
    b = Date.parse(bound);
  } else if (typeof value === 'string' && bound instanceof Date) {
    a = Date.parse(value);
  }
  if (typeof a !== typeof b) {
    throw new TypeError(`cannot compare ${JSON.stringify(value)} with ${JSON.stringify(bound)}: values and bounds must be of the same type`);
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** GE's between: either bound may be null (unbounded); strict bounds exclude equality. */
export function isBetween(value: unknown, kwargs: Record<string, unknown>): boolean {
  const { min_value: min, max_value: max } = kwargs;
  if (min !== null && min !== undefined) {
    const c = compare(value, min);
    if (kwargs.strict_min ? c <= 0 : c < 0) {
      return false;
    }
  }
  if (max !== null && max !== undefined) {
    const c = compare(value, max);
    if (kwargs.strict_max ? c >= 0 : c > 0) {
      return false;
    }
  }
  return true;
}

/** The SQL of GE's between over `expr`. */
export function sqlBetween(expr: string, kwargs: Record<string, unknown>): string {
  const parts: string[] = [];
  if (kwargs.min_value !== null && kwargs.min_value !== undefined) {
    parts.push(`${expr} ${kwargs.strict_min ? '>' : '>='} ${sqlLiteral(kwargs.min_value)}`);
  }
  if (kwargs.max_value !== null && kwargs.max_value !== undefined) {
    parts.push(`${expr} ${kwargs.strict_max ? '<' : '<='} ${sqlLiteral(kwargs.max_value)}`);
  }
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

const bothBoundsMissing = (kwargs: Record<string, unknown>) =>
  (kwargs.min_value === null || kwargs.min_value === undefined) && (kwargs.max_value === null || kwargs.max_value === undefined)
    ? 'min_value and max_value cannot both be null'
    : undefined;

const BETWEEN_ARGS: Record<string, IArgSpec> = {
  min_value: { type: 'bound' },
  max_value: { type: 'bound' },
  strict_min: { type: 'boolean' },
  strict_max: { type: 'boolean' }
};

/** Key of a value for set membership and duplicate counting: 1 and 1.0 are one value, '1' another. */
export const valueKey = (v: unknown): string =>
  v instanceof Date ? `d:${v.getTime()}` : `${typeof v}:${typeof v === 'object' ? JSON.stringify(v) : String(v)}`;

/** Length in characters (code points), as Python's len() and PostgreSQL's char_length(). */
export const charLength = (s: string) => {
  // As iterating the string: a surrogate pair is one character, a lone surrogate one too.
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
};

const columnArg: Record<string, IArgSpec> = { column: { type: 'column', required: true } };
const mostlyArg: Record<string, IArgSpec> = { mostly: { type: 'mostly' } };

// ---- GE's standard expectations ---------------------------------------------------------------

defineExpectation({
  type: 'expect_column_values_to_not_be_null',
  kind: 'column-map',
  description: 'every value of the column is present',
  args: { ...columnArg, ...mostlyArg },
  nulls: 'unexpected',
  test: () => () => true,
  sql: () => 'TRUE'
});

defineExpectation({
  type: 'expect_column_values_to_be_null',
  kind: 'column-map',
  description: 'every value of the column is missing',
  args: { ...columnArg, ...mostlyArg },
  nulls: 'expected',
  test: () => () => false,
  sql: () => 'FALSE'
});

defineExpectation({
  type: 'expect_column_values_to_be_between',
  kind: 'column-map',
  description: 'values lie between min_value and max_value (inclusive unless strict)',
  args: { ...columnArg, ...BETWEEN_ARGS, ...mostlyArg },
  check: bothBoundsMissing,
  test: kwargs => ([v]) => isBetween(v, kwargs),
  sql: ([c], kwargs) => sqlBetween(c, kwargs)
});

defineExpectation({
  type: 'expect_column_values_to_be_in_set',
  kind: 'column-map',
  description: 'values are members of value_set',
  args: { ...columnArg, value_set: { type: 'array', required: true }, ...mostlyArg },
  test: kwargs => {
    const set = new Set((kwargs.value_set as unknown[]).map(valueKey));
    return ([v]) => set.has(valueKey(v));
  },
  sql: ([c], kwargs) => {
    const values = kwargs.value_set as unknown[];
    return values.length ? `${c} IN (${values.map(sqlLiteral).join(', ')})` : 'FALSE';
  }
});

defineExpectation({
  type: 'expect_column_values_to_not_be_in_set',
  kind: 'column-map',
  description: 'no value is a member of value_set',
  args: { ...columnArg, value_set: { type: 'array', required: true }, ...mostlyArg },
  test: kwargs => {
    const set = new Set((kwargs.value_set as unknown[]).map(valueKey));
    return ([v]) => !set.has(valueKey(v));
  },
  sql: ([c], kwargs) => {
    const values = kwargs.value_set as unknown[];
    return values.length ? `${c} NOT IN (${values.map(sqlLiteral).join(', ')})` : 'TRUE';
  }
});

const regexArgs: Record<string, IArgSpec> = { ...columnArg, regex: { type: 'string', required: true }, ...mostlyArg };
const checkRegex = (kwargs: Record<string, unknown>) => {
  try {
    new RegExp(kwargs.regex as string, 'u');
    return undefined;
  } catch (error) {
    return `regex is not a valid regular expression: ${(error as Error).message}`;
  }
};

defineExpectation({
  type: 'expect_column_values_to_match_regex',
  kind: 'column-map',
  description: 'values (as text) contain a match of regex',
  args: regexArgs,
  check: checkRegex,
  test: kwargs => {
    const re = new RegExp(kwargs.regex as string, 'u');
    return ([v]) => re.test(String(v));
  },
  sql: ([c], kwargs) => classPatternSql(`CAST(${c} AS text)`, kwargs.regex as string) ?? `CAST(${c} AS text) ~ ${sqlLiteral(kwargs.regex)}`
});

defineExpectation({
  type: 'expect_column_values_to_not_match_regex',
  kind: 'column-map',
  description: 'no value (as text) contains a match of regex',
  args: regexArgs,
  check: checkRegex,
  test: kwargs => {
    const re = new RegExp(kwargs.regex as string, 'u');
    return ([v]) => !re.test(String(v));
  },
  sql: ([c], kwargs) => {
    const cheap = classPatternSql(`CAST(${c} AS text)`, kwargs.regex as string);
    return cheap ? `NOT ${cheap}` : `CAST(${c} AS text) !~ ${sqlLiteral(kwargs.regex)}`;
  }
});

defineExpectation({
  type: 'expect_column_value_lengths_to_be_between',
  kind: 'column-map',
  description: 'text values are between min_value and max_value characters long',
  args: { ...columnArg, min_value: { type: 'bound' }, max_value: { type: 'bound' }, ...mostlyArg },
  check: bothBoundsMissing,
  test: kwargs => ([v]) => isBetween(charLength(String(v)), kwargs),
  sql: ([c], kwargs) => sqlBetween(`char_length(CAST(${c} AS text))`, kwargs)
});

defineExpectation({
  type: 'expect_column_value_lengths_to_equal',
  kind: 'column-map',
  description: 'text values are exactly value characters long',
  args: { ...columnArg, value: { type: 'integer', required: true }, ...mostlyArg },
  test: kwargs => ([v]) => charLength(String(v)) === kwargs.value,
  sql: ([c], kwargs) => `char_length(CAST(${c} AS text)) = ${sqlLiteral(kwargs.value)}`
});

defineExpectation({
  type: 'expect_column_values_to_be_unique',
  kind: 'unique',
  description: 'no value occurs twice (missing values are ignored)',
  args: { ...columnArg, ...mostlyArg }
});

const IGNORE_ROW_IF = ['all_values_are_missing', 'any_value_is_missing', 'never'] as const;

defineExpectation({
  type: 'expect_compound_columns_to_be_unique',
  kind: 'unique',
  description: 'no combination of the column_list values occurs twice',
  args: {
    column_list: { type: 'string[]', required: true },
    ignore_row_if: { type: 'string', oneOf: IGNORE_ROW_IF },
    ...mostlyArg
  },
  check: kwargs => ((kwargs.column_list as string[]).length < 2 ? 'column_list needs at least two columns' : undefined),
  columns: kwargs => kwargs.column_list as string[],
  multiColumn: true
});

const aggregate = (type: string, metric: AggregateMetric, description: string) =>
  defineExpectation({
    type,
    kind: 'column-aggregate',
    description,
    args: { ...columnArg, ...BETWEEN_ARGS },
    check: bothBoundsMissing,
    metric,
    judge: (observed, kwargs) => observed !== null && observed !== undefined && isBetween(observed, kwargs)
  });

aggregate('expect_column_min_to_be_between', 'min', 'the smallest value lies between min_value and max_value');
aggregate('expect_column_max_to_be_between', 'max', 'the largest value lies between min_value and max_value');
aggregate('expect_column_mean_to_be_between', 'mean', 'the mean lies between min_value and max_value');
aggregate('expect_column_median_to_be_between', 'median', 'the median lies between min_value and max_value');
aggregate('expect_column_stdev_to_be_between', 'stdev', 'the sample standard deviation lies between min_value and max_value');
aggregate('expect_column_sum_to_be_between', 'sum', 'the sum lies between min_value and max_value');
aggregate('expect_column_unique_value_count_to_be_between', 'unique_count', 'the number of distinct values lies between min_value and max_value');

defineExpectation({
  type: 'expect_column_values_to_be_of_type',
  kind: 'column-aggregate',
  description: 'the column has type type_: on tables the type as SQLAlchemy names it (INTEGER, TEXT, DOUBLE PRECISION, VARCHAR(20)), on rows a pandas dtype name (int64, float64, str, bool, object)',
  args: { ...columnArg, type_: { type: 'string', required: true } },
  metric: 'type',
  judge: (observed, kwargs) => typeMatches(String(observed), String(kwargs.type_))
});

defineExpectation({
  type: 'expect_table_row_count_to_be_between',
  kind: 'table',
  description: 'the number of rows lies between min_value and max_value',
  args: { min_value: { type: 'integer' }, max_value: { type: 'integer' }, strict_min: { type: 'boolean' }, strict_max: { type: 'boolean' } },
  metric: 'row_count',
  judge: (observed, kwargs) => isBetween(observed, kwargs)
});

defineExpectation({
  type: 'expect_table_row_count_to_equal',
  kind: 'table',
  description: 'the table has exactly value rows',
  args: { value: { type: 'integer', required: true } },
  metric: 'row_count',
  judge: (observed, kwargs) => observed === kwargs.value
});

defineExpectation({
  type: 'expect_column_to_exist',
  kind: 'table',
  description: 'the column exists (at column_index, when given)',
  args: { ...columnArg, column_index: { type: 'integer' } },
  metric: 'column_exists',
  judge: observed => observed === true
});

/**
 * PostgreSQL's name of a column type (format_type) as SQLAlchemy prints its reflected type, which
 * is what GE's SQL data source compares type_ with (case-insensitively) on PostgreSQL.
 */
export function sqlalchemyTypeName(pgType: string): string {
  const t = pgType.toLowerCase();
  if (t.endsWith('[]')) {
    return 'ARRAY';
  }
  const m = /^(character varying|character|numeric|bit varying|bit)(\((\d+)(?:,(\d+))?\))?$/.exec(t);
  if (m) {
    const base = { 'character varying': 'VARCHAR', character: 'CHAR', numeric: 'NUMERIC', 'bit varying': 'BIT VARYING', bit: 'BIT' }[m[1]]!;
    return m[2] ? `${base}(${m[3]}${m[4] ? `, ${m[4]}` : ''})` : base;
  }
  if (t.startsWith('timestamp')) {
    return 'TIMESTAMP';
  }
  if (t.startsWith('time')) {
    return 'TIME';
  }
  if (t.startsWith('interval')) {
    return 'INTERVAL';
  }
  const known: Record<string, string> = { 'double precision': 'DOUBLE PRECISION', integer: 'INTEGER', bigint: 'BIGINT', smallint: 'SMALLINT', real: 'REAL', text: 'TEXT', boolean: 'BOOLEAN', date: 'DATE', jsonb: 'JSONB', json: 'JSON', uuid: 'UUID', bytea: 'BYTEA', inet: 'INET', cidr: 'CIDR', oid: 'OID', money: 'MONEY' };
  // Types SQLAlchemy does not know (PostGIS geometry, ...) reflect as NullType, printed "NULL".
  return known[t] ?? 'NULL';
}

/** GE's of_type test on the types it reports: the names compared case-insensitively. */
export function typeMatches(observed: string, expected: string): boolean {
  return observed.toLowerCase() === expected.toLowerCase();
}
