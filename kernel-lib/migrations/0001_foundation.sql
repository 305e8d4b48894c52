-- Foundation: PostGIS and projects. Runs unchanged on PGlite + PostGIS and on PostgreSQL + PostGIS.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE IF NOT EXISTS projects (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- The area the project works on, when known; drawn on maps and used to scope searches.
  extent      geometry(MultiPolygon, 4326)
);
CREATE INDEX IF NOT EXISTS projects_extent_idx ON projects USING gist (extent);
