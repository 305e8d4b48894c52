-- Experiment tracking in the workspace: training runs with their parameters, metric histories,
-- artifacts (files in the object store under runs/<id>/) and the dataset version they trained on,
-- plus a small model registry (versions and aliases), the same shapes MLflow uses so that a run
-- logged to both reads back alike. Runs unchanged on PGlite + PostGIS and PostgreSQL + PostGIS.

CREATE TABLE IF NOT EXISTS training_runs (
  -- 32 lower-case hex digits, like MLflow's run ids.
  id                 text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
  project            text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  experiment         text NOT NULL CHECK (length(experiment) BETWEEN 1 AND 500),
  name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
  status             text NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
  started_at         timestamptz NOT NULL DEFAULT now(),
  ended_at           timestamptz,
  -- The dataset version trained on (IDatasetRef): lineage from a run back to the images.
  dataset_name       text,
  dataset_rev        text,
  dataset_md5        text,
  dataset_path       text,
  dataset_image_ids  bigint[],
  -- Where else the run was logged, e.g. {"mlflow": {"runId": ..., "experimentId": ..., "url": ...}}.
  links              jsonb NOT NULL DEFAULT '{}'::jsonb,
  tags               jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS training_runs_experiment_idx ON training_runs (project, experiment, started_at DESC);
CREATE INDEX IF NOT EXISTS training_runs_dataset_idx ON training_runs (project, dataset_name, dataset_rev);
CREATE INDEX IF NOT EXISTS training_runs_images_idx ON training_runs USING gin (dataset_image_ids);

CREATE TABLE IF NOT EXISTS run_params (
  run    text NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
  key    text NOT NULL CHECK (length(key) BETWEEN 1 AND 250),
  value  text NOT NULL,
  PRIMARY KEY (run, key)
);

-- A metric's history: every logged value is kept, as MLflow does (the same step may repeat).
CREATE TABLE IF NOT EXISTS run_metrics (
  id         bigserial PRIMARY KEY,
  run        text NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
  key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 250),
  step       bigint NOT NULL,
  value      float8 NOT NULL,
  timestamp  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS run_metrics_history_idx ON run_metrics (run, key, step, id);

CREATE TABLE IF NOT EXISTS run_artifacts (
  run         text NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
  -- Relative to the run, '/'-separated, e.g. model/model.onnx.
  path        text NOT NULL,
  object_key  text NOT NULL,
  size        bigint NOT NULL CHECK (size >= 0),
  sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  logged_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run, path)
);

CREATE TABLE IF NOT EXISTS registered_models (
  project     text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 250),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, name)
);

CREATE TABLE IF NOT EXISTS model_versions (
  project        text NOT NULL,
  name           text NOT NULL,
  version        integer NOT NULL CHECK (version > 0),
  run            text NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
  artifact_path  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, name, version),
  FOREIGN KEY (project, name) REFERENCES registered_models (project, name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS model_versions_run_idx ON model_versions (run);

-- An alias names one version of a model (e.g. "champion"); moving it is an update.
CREATE TABLE IF NOT EXISTS model_aliases (
  project  text NOT NULL,
  name     text NOT NULL,
  alias    text NOT NULL CHECK (alias ~ '^[A-Za-z0-9_-]{1,255}$'),
  version  integer NOT NULL,
  PRIMARY KEY (project, name, alias),
  FOREIGN KEY (project, name, version) REFERENCES model_versions (project, name, version) ON DELETE CASCADE
);
