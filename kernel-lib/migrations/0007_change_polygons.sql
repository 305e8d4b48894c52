-- Change maps: one row per inference run (model, pair, output COGs, scene metrics) and its change
-- polygons, in EPSG:4326 for maps and search and in the image CRS for measuring, with the area on
-- the ellipsoid in m² and the mean change probability inside.

CREATE TABLE IF NOT EXISTS inference_runs (
  id               text PRIMARY KEY,
  project          text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  model_name       text NOT NULL,
  model_version    text NOT NULL,
  model_sha256     text NOT NULL CHECK (model_sha256 ~ '^[0-9a-f]{64}$'),
  before_key       text NOT NULL,
  after_key        text NOT NULL,
  before_image_id  bigint REFERENCES image_metadata (id) ON DELETE SET NULL,
  after_image_id   bigint REFERENCES image_metadata (id) ON DELETE SET NULL,
  crs_epsg         integer,
  -- Object keys (or paths) of the change-probability and mask COGs, confusion map and exports.
  outputs          jsonb NOT NULL DEFAULT '{}'::jsonb,
  options          jsonb NOT NULL DEFAULT '{}'::jsonb,
  alignment        jsonb,
  -- Scene metrics against a ground-truth mask (iou, f1, precision, recall, confusion counts).
  metrics          jsonb,
  polygon_count    integer,
  changed_pixels   bigint,
  footprint        geometry(Polygon, 4326),
  started_at       timestamptz NOT NULL,
  finished_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS inference_runs_project_idx ON inference_runs (project, finished_at DESC);

CREATE TABLE IF NOT EXISTS change_polygons (
  id                bigserial PRIMARY KEY,
  project           text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  run_id            text NOT NULL REFERENCES inference_runs (id) ON DELETE CASCADE,
  model_version     text NOT NULL,
  before_key        text NOT NULL,
  after_key         text NOT NULL,
  before_image_id   bigint REFERENCES image_metadata (id) ON DELETE SET NULL,
  after_image_id    bigint REFERENCES image_metadata (id) ON DELETE SET NULL,
  -- MultiPolygon: ST_MakeValid may split a pixel outline that touches itself at a corner.
  geom              geometry(MultiPolygon, 4326) NOT NULL,
  geom_native       geometry(MultiPolygon) NOT NULL,
  crs_epsg          integer,
  area_m2           double precision NOT NULL CHECK (area_m2 >= 0),
  pixels            integer NOT NULL CHECK (pixels > 0),
  mean_probability  real
);
CREATE INDEX IF NOT EXISTS change_polygons_geom_idx ON change_polygons USING gist (geom);
CREATE INDEX IF NOT EXISTS change_polygons_run_idx ON change_polygons (run_id);
