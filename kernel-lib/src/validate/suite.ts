// Expectation suites in Great Expectations 1.x JSON: load, check field by field, build, save.
// A suite is checked when it is loaded, so a typo in a kwarg is reported with the expectation's
// index, type and field before any data is read, never discovered as a silent pass.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ChangelabError } from '../errors';
import { expectationDefinition, type IArgSpec } from './expectations';
import type { IExpectationConfig, ISuiteJSON } from './types';

/** A suite that cannot be used: names the expectation (index and type) and the field. */
export class SuiteError extends ChangelabError {}

export interface ISuiteLoadOptions {
  /**
   * An expectation type changelab does not know: 'error' (default) stops loading; 'skip' keeps
   * it in the suite (so saving loses nothing) but does not evaluate it, and lists it in
   * `suite.skipped` and in every result's meta with a warning.
   */
  unknownExpectations?: 'error' | 'skip';
}

// kwargs every GE expectation accepts, which no definition lists.
const COMMON_KWARGS = new Set(['result_format', 'catch_exceptions', 'meta', 'row_condition', 'condition_parser', 'batch_id', 'include_config', 'description', 'notes', 'windows']);

const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v) : typeof v);

function checkArg(name: string, spec: IArgSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case 'column':
      return typeof value === 'string' && value !== '' ? undefined : `must be a column name (a non-empty string), got ${describe(value)}`;
    case 'string':
      if (typeof value !== 'string') {
        return `must be a string, got ${describe(value)}`;
      }
      return spec.oneOf && !spec.oneOf.includes(value) ? `must be one of ${spec.oneOf.join(', ')}, got ${JSON.stringify(value)}` : undefined;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : `must be a finite number, got ${describe(value)}`;
    case 'integer':
      return value === null || Number.isInteger(value) ? undefined : `must be an integer, got ${describe(value)}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be true or false, got ${describe(value)}`;
    case 'bound':
      // Strings are dates (ISO 8601), as GE parses them; anything else is a typo, not a bound.
      return value === null || (typeof value === 'string' && !Number.isNaN(Date.parse(value))) || (typeof value === 'number' && Number.isFinite(value))
        ? undefined
        : `must be a number, a date string or null, got ${describe(value)}`;
    case 'array':
      return Array.isArray(value) ? undefined : `must be an array, got ${describe(value)}`;
    case 'string[]':
      return Array.isArray(value) && value.every(v => typeof v === 'string' && v !== '')
        ? undefined
        : `must be an array of column names, got ${describe(value)}`;
    case 'mostly':
      return typeof value === 'number' && value >= 0 && value <= 1 ? undefined : `must be a number from 0 to 1, got ${describe(value)}`;
    case 'any':
      return undefined;
  }
  return `unknown argument type for ${name}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks one expectation; throws SuiteError naming index, type and field. Returns false for a skipped unknown type. */
function checkExpectation(raw: unknown, index: number, options: ISuiteLoadOptions): IExpectationConfig | { unknown: string } {
  const at = `expectations[${index}]`;
  if (!isRecord(raw)) {
    throw new SuiteError(`${at} must be an object, got ${describe(raw)}`, { index });
  }
  // GE 0.x wrote `expectation_type`; 1.x writes `type`. Both load.
  const type = raw.type ?? raw.expectation_type;
  if (typeof type !== 'string' || type === '') {
    throw new SuiteError(`${at}.type must be an expectation type name, got ${describe(type)}`, { index, field: 'type' });
  }
  const kwargs = raw.kwargs ?? {};
  if (!isRecord(kwargs)) {
    throw new SuiteError(`${at} (${type}).kwargs must be an object, got ${describe(kwargs)}`, { index, type, field: 'kwargs' });
  }
  if (raw.meta !== undefined && raw.meta !== null && !isRecord(raw.meta)) {
    throw new SuiteError(`${at} (${type}).meta must be an object, got ${describe(raw.meta)}`, { index, type, field: 'meta' });
  }
  const definition = expectationDefinition(type);
  if (!definition) {
    if (options.unknownExpectations === 'skip') {
      return { unknown: type };
    }
    throw new SuiteError(
      `${at}: unknown expectation type ${JSON.stringify(type)} (load with { unknownExpectations: 'skip' } to skip it with a warning)`,
      { index, type, field: 'type' }
    );
  }
  // Evaluating these on fewer rows than asked would be a silent pass: refuse them until supported.
  for (const name of ['row_condition', 'windows']) {
    if (kwargs[name] !== undefined && kwargs[name] !== null && kwargs[name] !== '') {
      throw new SuiteError(`${at} (${type}): kwargs.${name} is not supported by changelab yet`, { index, type, field: `kwargs.${name}` });
    }
  }
  for (const name of Object.keys(kwargs)) {
    if (!(name in definition.args) && !COMMON_KWARGS.has(name)) {
      throw new SuiteError(
        `${at} (${type}): unknown argument kwargs.${name} (known: ${Object.keys(definition.args).join(', ') || 'none'})`,
        { index, type, field: `kwargs.${name}` }
      );
    }
  }
  for (const [name, spec] of Object.entries(definition.args)) {
    const value = kwargs[name];
    if (value === undefined || (value === null && !spec.required && spec.type !== 'column')) {
      if (spec.required) {
        throw new SuiteError(`${at} (${type}): kwargs.${name} is required`, { index, type, field: `kwargs.${name}` });
      }
      continue;
    }
    const problem = checkArg(name, spec, value);
    if (problem) {
      throw new SuiteError(`${at} (${type}): kwargs.${name} ${problem}`, { index, type, field: `kwargs.${name}`, value });
    }
  }
  const problem = definition.check?.(kwargs);
  if (problem) {
    throw new SuiteError(`${at} (${type}): ${problem}`, { index, type, field: 'kwargs' });
  }
  const config: IExpectationConfig = { type, kwargs: { ...kwargs }, meta: isRecord(raw.meta) ? { ...raw.meta } : {} };
  if (typeof raw.id === 'string') {
    config.id = raw.id;
  }
  if (typeof raw.notes === 'string' || Array.isArray(raw.notes)) {
    config.notes = raw.notes as string | string[];
  }
  if (raw.severity === 'critical' || raw.severity === 'warning' || raw.severity === 'info') {
    config.severity = raw.severity;
  }
  return config;
}

/** Stable JSON (sorted keys) for hashing. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (isRecord(value)) {
    return `{${Object.keys(value)
      .sort()
      .filter(k => value[k] !== undefined)
      .map(k => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A Great Expectations 1.x expectation suite. */
export class ExpectationSuite {
  /** Expectations of unknown types kept but not evaluated (loaded with unknownExpectations: 'skip'). */
  readonly skipped: { index: number; type: string }[] = [];
  /** Every expectation as loaded, unknown ones included, in order (what `toJSON` writes). */
  private readonly all: (IExpectationConfig & { _unknown?: boolean })[] = [];

  constructor(
    readonly name: string,
    expectations: IExpectationConfig[] = [],
    readonly meta: Record<string, unknown> = {},
    readonly id: string | null = null,
    readonly notes: string | string[] | null = null
  ) {
    if (typeof name !== 'string' || name.trim() === '') {
      throw new SuiteError(`a suite needs a name (a non-empty string), got ${describe(name)}`, { field: 'name' });
    }
    for (const e of expectations) {
      this.add(e.type, e.kwargs, e.meta);
    }
  }

  /** The expectations that will be evaluated, in order. */
  get expectations(): IExpectationConfig[] {
    return this.all.filter(e => !e._unknown).map(({ _unknown: _, ...e }) => e);
  }

  /** Adds an expectation (checked as when loaded); returns the suite for chaining. */
  add(type: string, kwargs: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): this {
    const checked = checkExpectation({ type, kwargs, meta }, this.all.length, {});
    this.all.push(checked as IExpectationConfig);
    return this;
  }

  /** Parses GE 1.x suite JSON (an object or its text). */
  static fromJSON(json: unknown, options: ISuiteLoadOptions = {}): ExpectationSuite {
    let value = json;
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch (error) {
        throw new SuiteError(`the suite is not valid JSON: ${(error as Error).message}`, {}, { cause: error });
      }
    }
    if (!isRecord(value)) {
      throw new SuiteError(`a suite must be a JSON object, got ${describe(value)}`);
    }
    // GE 0.x named the suite `expectation_suite_name`.
    const name = value.name ?? value.expectation_suite_name;
    if (typeof name !== 'string' || name.trim() === '') {
      throw new SuiteError(`the suite's "name" must be a non-empty string, got ${describe(name)}`, { field: 'name' });
    }
    if (!Array.isArray(value.expectations)) {
      throw new SuiteError(`suite ${JSON.stringify(name)}: "expectations" must be an array, got ${describe(value.expectations)}`, {
        field: 'expectations'
      });
    }
    if (value.meta !== undefined && value.meta !== null && !isRecord(value.meta)) {
      throw new SuiteError(`suite ${JSON.stringify(name)}: "meta" must be an object, got ${describe(value.meta)}`, { field: 'meta' });
    }
    const suite = new ExpectationSuite(
      name,
      [],
      isRecord(value.meta) ? { ...value.meta } : {},
      typeof value.id === 'string' ? value.id : null,
      typeof value.notes === 'string' || Array.isArray(value.notes) ? (value.notes as string | string[]) : null
    );
    value.expectations.forEach((raw, index) => {
      const checked = checkExpectation(raw, index, options);
      if ('unknown' in checked) {
        suite.skipped.push({ index, type: checked.unknown });
        suite.all.push({ ...(raw as IExpectationConfig), type: checked.unknown, _unknown: true });
      } else {
        suite.all.push(checked);
      }
    });
    return suite;
  }

  /** Reads a suite file (GE 1.x JSON). */
  static load(file: string, options: ISuiteLoadOptions = {}): ExpectationSuite {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new SuiteError(`cannot read the suite file ${file}: ${(error as Error).message}`, { file }, { cause: error });
    }
    try {
      return ExpectationSuite.fromJSON(text, options);
    } catch (error) {
      if (error instanceof SuiteError) {
        throw new SuiteError(`${file}: ${error.message}`, { ...error.context, file }, { cause: error });
      }
      throw error;
    }
  }

  /** GE 1.x suite JSON. */
  toJSON(): ISuiteJSON {
    return {
      name: this.name,
      id: this.id,
      expectations: this.all.map(({ _unknown: _, ...e }) => ({ ...e, meta: e.meta ?? {} })),
      meta: this.meta,
      notes: this.notes
    };
  }

  /** Writes the suite as GE 1.x JSON (pretty-printed, so it diffs well under version control). */
  save(file: string): void {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(this.toJSON(), null, 2) + '\n');
  }

  /** A short content hash of the suite (its expectations and meta), recorded with every run. */
  get version(): string {
    const { name, expectations, meta } = this.toJSON();
    return createHash('sha256').update(canonical({ name, expectations, meta })).digest('hex').slice(0, 16);
  }
}
