-- Validation: every run of an expectation suite (Great Expectations 1.x JSON) on a table, a set of
-- rows or an ingest batch, with the suite and its version, the data snapshot it saw and the full
-- result; one row per expectation outcome so the Validation results panel finds failures fast.

CREATE TABLE IF NOT EXISTS validation_runs (
  id               bigserial PRIMARY KEY,
  project          text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  suite_name       text NOT NULL,
  -- A content hash of the suite's expectations and meta (ExpectationSuite.version).
  suite_version    text NOT NULL,
  suite            jsonb NOT NULL,
  -- What was validated: a table name, 'rows', or the ingest source for a gate run.
  target           text NOT NULL,
  target_kind      text NOT NULL CHECK (target_kind IN ('table', 'rows', 'ingest-batch')),
  -- The data snapshot: how many rows were looked at, and when.
  row_count        bigint NOT NULL CHECK (row_count >= 0),
  snapshot_at      timestamptz NOT NULL DEFAULT now(),
  success          boolean NOT NULL,
  evaluated        integer NOT NULL,
  successful       integer NOT NULL,
  success_percent  float8,
  -- Where the run came from: 'notebook', 'cli', 'ingest', ...
  origin           text NOT NULL DEFAULT 'api',
  -- GE's ExpectationSuiteValidationResult JSON, as written by result_format.
  result           jsonb NOT NULL,
  seconds          float8,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS validation_runs_project_idx ON validation_runs (project, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS validation_runs_suite_idx ON validation_runs (project, suite_name, created_at DESC);

CREATE TABLE IF NOT EXISTS validation_outcomes (
  run_id            bigint NOT NULL REFERENCES validation_runs (id) ON DELETE CASCADE,
  position          integer NOT NULL,
  expectation_type  text NOT NULL,
  -- The column (or comma-joined column list) the expectation looked at, if any.
  columns           text,
  success           boolean NOT NULL,
  element_count     bigint,
  unexpected_count  bigint,
  missing_count     bigint,
  observed_value    jsonb,
  -- Object keys of ingest files that failed this expectation (gate runs), linking to quarantine.
  quarantined_keys  text[],
  PRIMARY KEY (run_id, position)
);
CREATE INDEX IF NOT EXISTS validation_outcomes_failed_idx ON validation_outcomes (run_id) WHERE NOT success;
