// Shapes of Great Expectations 1.x suites and validation results, as GE writes them to JSON, so
// a suite or a result moves between changelab and GE unchanged.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One expectation of a suite: GE's `type` name, its keyword arguments and free-form meta. */
export interface IExpectationConfig {
  type: string;
  kwargs: Record<string, unknown>;
  meta?: Record<string, unknown>;
  id?: string | null;
  notes?: string | string[] | null;
  severity?: 'critical' | 'warning' | 'info';
  rendered_content?: unknown;
}

/** A GE 1.x expectation suite as JSON. */
export interface ISuiteJSON {
  name: string;
  expectations: IExpectationConfig[];
  meta?: Record<string, unknown>;
  id?: string | null;
  notes?: string | string[] | null;
  suite_parameters?: Record<string, unknown>;
}

/** How much detail each expectation's result carries (GE's `result_format`). */
export type ResultFormat = 'BOOLEAN_ONLY' | 'BASIC' | 'SUMMARY' | 'COMPLETE';

/** GE's per-expectation `result` (the fields present depend on the expectation and the format). */
export interface IExpectationResultDetail {
  element_count?: number;
  unexpected_count?: number;
  unexpected_percent?: number | null;
  partial_unexpected_list?: unknown[];
  missing_count?: number;
  missing_percent?: number | null;
  unexpected_percent_total?: number | null;
  unexpected_percent_nonmissing?: number | null;
  partial_unexpected_counts?: { value: unknown; count: number }[];
  partial_unexpected_index_list?: number[];
  unexpected_list?: unknown[];
  unexpected_index_list?: number[];
  observed_value?: unknown;
  details?: Record<string, unknown>;
}

export interface IExceptionInfo {
  raised_exception: boolean;
  exception_message: string | null;
  exception_traceback: string | null;
}

/** One expectation's outcome, shaped as GE's ExpectationValidationResult. */
export interface IExpectationResult {
  success: boolean;
  expectation_config: IExpectationConfig;
  result: IExpectationResultDetail;
  meta: Record<string, unknown>;
  exception_info: IExceptionInfo;
}

export interface IValidationStatistics {
  evaluated_expectations: number;
  successful_expectations: number;
  unsuccessful_expectations: number;
  success_percent: number | null;
}

/** A whole suite's outcome, shaped as GE's ExpectationSuiteValidationResult. */
export interface IValidationResultJSON {
  success: boolean;
  results: IExpectationResult[];
  suite_name: string;
  suite_parameters: Record<string, unknown>;
  statistics: IValidationStatistics;
  meta: Record<string, unknown>;
  id: string | null;
}

/** A row of in-memory data: column name to value (null / undefined are missing). */
export type Row = Record<string, unknown>;
