-- Dataset lineage: which dataset version (git rev + DVC .dir md5) each training run used, and the
-- catalog images that version was built from, so "which images trained model X" and "which runs
-- used image Y" are one query each. run_id is not a foreign key: runs live in their own table,
-- and a lineage row may be recorded before (or without) it.

CREATE TABLE IF NOT EXISTS run_datasets (
  run_id       text NOT NULL CHECK (length(run_id) > 0),
  project      text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  dataset      text NOT NULL CHECK (length(dataset) > 0),
  -- Git commit of the workspace holding <dataset>.dvc at this version.
  git_rev      text NOT NULL CHECK (git_rev ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
  -- The .dvc file's out md5: the DVC .dir hash of the dataset folder.
  dvc_md5      text NOT NULL CHECK (dvc_md5 ~ '^[0-9a-f]{32}\.dir$'),
  image_ids    bigint[] NOT NULL DEFAULT '{}',
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, dataset)
);
CREATE INDEX IF NOT EXISTS run_datasets_image_ids_idx ON run_datasets USING gin (image_ids);
CREATE INDEX IF NOT EXISTS run_datasets_version_idx ON run_datasets (project, dataset, dvc_md5);
