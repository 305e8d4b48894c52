-- Catalog: one row per indexed image (object key + version) and a quarantine for files that could
-- not be indexed. Runs unchanged on PGlite + PostGIS 3.6 (PostgreSQL 18) and PostgreSQL 15 + PostGIS 3.3.

CREATE TABLE IF NOT EXISTS image_metadata (
  id                  bigserial PRIMARY KEY,
  project             text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  -- A key in the workspace's object store, or a full URI (s3://bucket/key, file:///path) for
  -- objects indexed from elsewhere.
  object_key          text NOT NULL,
  etag                text NOT NULL,
  -- NULL for unversioned buckets and local files; the uniqueness below treats NULL as ''.
  version_id          text,
  size                bigint NOT NULL CHECK (size >= 0),
  -- The object's last-modified time from the store: an older extraction finishing after a newer
  -- one (an event racing a reconcile scan) must not overwrite it.
  modified_at         timestamptz,
  format              text NOT NULL CHECK (format IN ('GTiff', 'BigTIFF', 'JPEG', 'PNG')),
  width               integer NOT NULL CHECK (width > 0),
  height              integer NOT NULL CHECK (height > 0),
  bands               integer NOT NULL CHECK (bands > 0),
  data_type           text NOT NULL,
  nodata              float8,
  compression         text,
  tiled               boolean NOT NULL DEFAULT false,
  overviews           integer NOT NULL DEFAULT 0,
  is_cog              boolean NOT NULL DEFAULT false,
  crs_epsg            integer,
  crs_wkt             text,
  -- GDAL order: [originX, pixelW, rotX, originY, rotY, pixelH]
  transform           float8[] CHECK (transform IS NULL OR cardinality(transform) = 6),
  gsd_x               numeric,
  gsd_y               numeric,
  -- The coarser of the two, what "resolution" filters and GSD ratios compare.
  gsd                 numeric GENERATED ALWAYS AS (greatest(gsd_x, gsd_y)) STORED,
  -- Always a MultiPolygon, not the Polygon the issue first named: a footprint that crosses the
  -- antimeridian is split into two polygons, and one column type keeps every row comparable
  -- (ST_Multi of an ordinary footprint is a one-polygon MultiPolygon; areas and overlaps are equal).
  footprint           geometry(MultiPolygon, 4326),
  -- Drone stills with EXIF GPS but no georeference have a position, not a footprint.
  location            geometry(Point, 4326),
  centroid            geometry(Point, 4326),
  capture_time        timestamptz,
  capture_time_source text CHECK (capture_time_source IN ('tiff-datetime', 'exif-datetime-original', 'filename')),
  gps_lat             float8 CHECK (gps_lat BETWEEN -90 AND 90),
  gps_lon             float8 CHECK (gps_lon BETWEEN -180 AND 180),
  gps_alt             float8,
  sha256              text CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'),
  extra               jsonb NOT NULL DEFAULT '{}'::jsonb,
  indexed_at          timestamptz NOT NULL DEFAULT now(),
  -- Soft delete: the object was removed from the store; the row stays for lineage.
  deleted_at          timestamptz
);

CREATE UNIQUE INDEX IF NOT EXISTS image_metadata_object_idx
  ON image_metadata (project, object_key, (coalesce(version_id, '')));
CREATE INDEX IF NOT EXISTS image_metadata_footprint_idx ON image_metadata USING gist (footprint);
CREATE INDEX IF NOT EXISTS image_metadata_location_idx ON image_metadata USING gist (location);
-- Search pages are ordered by (capture time, id) with images of unknown time last; the index
-- serves that keyset order directly.
CREATE INDEX IF NOT EXISTS image_metadata_capture_order_idx
  ON image_metadata (project, (coalesce(capture_time, 'infinity'::timestamptz)), id)
  WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS image_metadata_capture_time_idx ON image_metadata (capture_time);
CREATE INDEX IF NOT EXISTS image_metadata_gsd_idx ON image_metadata (gsd);

CREATE TABLE IF NOT EXISTS quarantine (
  id          bigserial PRIMARY KEY,
  project     text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  object_key  text NOT NULL,
  etag        text NOT NULL,
  version_id  text,
  -- One line a user can act on, e.g. "not a TIFF: starts with 58 58 2a 00".
  reason      text NOT NULL,
  -- The error class, its context and whatever else helps to diagnose it.
  detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
  first_seen  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now(),
  -- Set when the object was replaced by a file that indexed, or removed.
  resolved    boolean NOT NULL DEFAULT false,
  UNIQUE (project, object_key, etag)
);
CREATE INDEX IF NOT EXISTS quarantine_open_idx ON quarantine (project, last_seen) WHERE NOT resolved;
