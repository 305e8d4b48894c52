// The workspace's run store: training runs, parameters, metric histories, artifacts and registered
// model versions in the catalog database (migration 0006), artifact bytes in the object store under
// `runs/<id>/`. The workspace logger writes through it; `listRuns` / `getRun` and the panels read it.
import { randomUUID } from 'crypto';
import { recordUse } from '../dataset/lineage';
import type { IDatasetRef } from '../dataset/manifest';
import type { Database, IQueryable } from '../db/database';
import { ChangelabError, NotFoundError } from '../errors';
import type { IObjectStore } from '../objects/store';
import type { RunStatus } from '../train/logger';
import { artifactFiles, checkArtifactPath, sha256File } from './artifacts';
import type {
  IMetricPoint,
  IModelVersionInfo,
  IRunArtifact,
  IRunDetail,
  IRunLinks,
  IRunQuery,
  IRunSummary,
  RunDataset,
  RunState
} from './types';

/** A run cannot take this write: a parameter logged again with another value, a finished run, a bad name. */
export class RunConflictError extends ChangelabError {}

/** What a run store needs from a workspace. */
export interface IRunStoreSource {
  readonly db: Database;
  readonly objects: IObjectStore;
  readonly project: string;
}

export interface IMetricEntry {
  key: string;
  value: number;
  step: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

/** Longest parameter value kept (MLflow's limit, so both stores hold the same text). */
export const MAX_PARAM_VALUE = 6000;
const ALIAS = /^[A-Za-z0-9_-]{1,255}$/;

/** A new run id: 32 lower-case hex digits, like MLflow's. */
export const newRunId = () => randomUUID().replace(/-/g, '');

function checkKeys(keys: string[], what: string, run: string): void {
  const bad = keys.find(k => k.length === 0 || k.length > 250);
  if (bad !== undefined) {
    throw new RunConflictError(`a ${what} name must have 1 to 250 characters (got ${JSON.stringify(bad.slice(0, 60))}, ${bad.length})`, { run, key: bad });
  }
}

export const runArtifactKey = (run: string, artifactPath: string) => `runs/${run}/${checkArtifactPath(artifactPath)}`;

interface IRunRow {
  id: string;
  project: string;
  experiment: string;
  name: string;
  status: RunState;
  started_at: Date;
  ended_at: Date | null;
  dataset_name: string | null;
  dataset_rev: string | null;
  dataset_md5: string | null;
  dataset_path: string | null;
  dataset_image_ids: string[] | null;
  links: IRunLinks;
  tags: Record<string, string>;
}

const RUN_COLUMNS = `id, project, experiment, name, status, started_at, ended_at, dataset_name, dataset_rev,
  dataset_md5, dataset_path, dataset_image_ids, links, tags`;

function rowToSummary(r: IRunRow, latest: Record<string, number>): IRunSummary {
  const dataset: RunDataset | null =
    r.dataset_name === null
      ? null
      : {
          name: r.dataset_name,
          rev: r.dataset_rev ?? '',
          md5: r.dataset_md5 ?? '',
          path: r.dataset_path,
          imageIds: (r.dataset_image_ids ?? []).map(Number)
        };
  return {
    id: r.id,
    project: r.project,
    experiment: r.experiment,
    name: r.name,
    status: r.status,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    dataset,
    latestMetrics: latest,
    links: r.links
  };
}

export class RunStore {
  constructor(private readonly source: IRunStoreSource) {}

  private get db(): Database {
    return this.source.db;
  }

  get project(): string {
    return this.source.project;
  }

  async createRun(run: { id: string; experiment: string; name: string; tags?: Record<string, string> }): Promise<void> {
    for (const [what, v] of [['experiment', run.experiment], ['run name', run.name]] as const) {
      if (v.length === 0 || v.length > 500) {
        throw new RunConflictError(`a run's ${what} must have 1 to 500 characters (got ${v.length})`, { [what]: v });
      }
    }
    await this.db.query(
      `INSERT INTO training_runs (id, project, experiment, name, tags) VALUES ($1, $2, $3, $4, $5::jsonb)`,
      [run.id, this.project, run.experiment, run.name, JSON.stringify(run.tags ?? {})]
    );
  }

  /** Parameters; logging one again with the same value is a no-op, with another value an error (as in MLflow). */
  async logParams(run: string, params: Record<string, string>): Promise<void> {
    const keys = Object.keys(params);
    if (keys.length === 0) {
      return;
    }
    checkKeys(keys, 'parameter', run);
    const values = keys.map(k => params[k]);
    const conflicts = await this.db.transaction(async tx => {
      await this.lockRunning(tx, run);
      const rows = await tx.query<{ key: string; old: string; new: string }>(
        `SELECT p.key, p.value AS old, n.value AS new
           FROM run_params p JOIN unnest($2::text[], $3::text[]) AS n (key, value) ON n.key = p.key
          WHERE p.run = $1 AND p.value <> n.value`,
        [run, keys, values]
      );
      if (rows.length === 0) {
        await tx.query(
          `INSERT INTO run_params (run, key, value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS n (k, v)
           ON CONFLICT (run, key) DO NOTHING`,
          [run, keys, values]
        );
      }
      return rows;
    });
    if (conflicts.length > 0) {
      const c = conflicts[0];
      throw new RunConflictError(
        `parameter ${c.key} of run ${run} was logged as ${JSON.stringify(c.old)}; it cannot change to ${JSON.stringify(c.new)}`,
        { run, key: c.key, old: c.old, new: c.new }
      );
    }
  }

  async logMetrics(run: string, entries: IMetricEntry[]): Promise<void> {
    if (entries.length === 0) {
      return;
    }
    checkKeys(entries.map(e => e.key), 'metric', run);
    for (const e of entries) {
      if (!Number.isSafeInteger(e.step)) {
        throw new RunConflictError(`metric ${e.key}: step must be an integer (got ${e.step})`, { run, key: e.key, step: e.step });
      }
    }
    await this.db.query(
      `INSERT INTO run_metrics (run, key, step, value, timestamp)
       SELECT $1, k, s, v, to_timestamp(t / 1000.0) FROM unnest($2::text[], $3::bigint[], $4::float8[], $5::float8[]) AS m (k, s, v, t)`,
      [run, entries.map(e => e.key), entries.map(e => e.step), entries.map(e => e.value), entries.map(e => e.timestamp)]
    );
  }

  /** Copies a file (or a folder's files) into the object store under `runs/<run>/<artifactPath>` and records it. */
  async logArtifact(run: string, localPath: string, artifactPath: string): Promise<IRunArtifact[]> {
    const files = await artifactFiles(localPath, artifactPath);
    const out: IRunArtifact[] = [];
    for (const f of files) {
      const key = runArtifactKey(run, f.path);
      const sha256 = await sha256File(f.file);
      const info = await this.source.objects.putFile(key, f.file);
      const [row] = await this.db.query<{ logged_at: Date }>(
        `INSERT INTO run_artifacts (run, path, object_key, size, sha256) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (run, path) DO UPDATE SET object_key = excluded.object_key, size = excluded.size,
           sha256 = excluded.sha256, logged_at = now()
         RETURNING logged_at`,
        [run, f.path, key, info.size, sha256]
      );
      out.push({ path: f.path, key, size: info.size, sha256, loggedAt: row.logged_at });
    }
    return out;
  }

  /** The dataset version the run trained on: stored on the run and recorded in the lineage table. */
  async setDataset(run: string, dataset: IDatasetRef): Promise<void> {
    for (const id of dataset.imageIds) {
      if (!Number.isSafeInteger(id)) {
        throw new RunConflictError(`dataset ${dataset.name}: image id ${id} is not an integer`, { dataset: dataset.name, id });
      }
    }
    await this.db.transaction(async tx => {
      await tx.query(
        `UPDATE training_runs SET dataset_name = $2, dataset_rev = $3, dataset_md5 = $4, dataset_path = $5,
           dataset_image_ids = $6::bigint[] WHERE id = $1`,
        [run, dataset.name, dataset.rev, dataset.md5, dataset.path, dataset.imageIds]
      );
      // The dataset module's lineage table, so `changelab dataset lineage --run ID` finds this run;
      // it also refuses a reference that is not a committed version (rev and .dir md5).
      await recordUse(tx, this.project, run, dataset);
    });
  }

  /** Records where else the run was logged (e.g. its MLflow run). */
  async link(run: string, backend: string, info: Record<string, unknown>): Promise<void> {
    await this.db.query(`UPDATE training_runs SET links = links || jsonb_build_object($2::text, $3::jsonb) WHERE id = $1`, [
      run,
      backend,
      JSON.stringify(info)
    ]);
  }

  async finish(run: string, status: RunStatus): Promise<void> {
    await this.db.query(`UPDATE training_runs SET status = $2, ended_at = now() WHERE id = $1`, [run, status]);
  }

  /**
   * Registers `artifactPath` of `run` (a logged file or folder) as the next version of model `name`
   * in this project; `alias` then points at that version (moved from any older one).
   */
  async registerModel(run: string, name: string, artifactPath: string, alias?: string): Promise<IModelVersionInfo> {
    const p = checkArtifactPath(artifactPath);
    if (name.length === 0 || name.length > 250) {
      throw new RunConflictError(`a model name must have 1 to 250 characters`, { name });
    }
    if (alias !== undefined && (!ALIAS.test(alias) || alias.toLowerCase() === 'latest' || /^v\d+$/i.test(alias))) {
      throw new RunConflictError(
        `invalid model alias ${JSON.stringify(alias)}: letters, digits, '_' and '-', not "latest" nor v<number>`,
        { alias }
      );
    }
    return this.db.transaction(async tx => {
      const logged = await tx.query(
        `SELECT 1 FROM run_artifacts WHERE run = $1 AND (path = $2 OR starts_with(path, $2 || '/')) LIMIT 1`,
        [run, p]
      );
      if (logged.length === 0) {
        throw new NotFoundError(`run ${run} has no artifact ${p}: log the model with logArtifact first`, { run, artifactPath: p });
      }
      await tx.query(`INSERT INTO registered_models (project, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [this.project, name]);
      // The row lock orders concurrent registrations of one model, so versions never collide.
      await tx.query(`SELECT 1 FROM registered_models WHERE project = $1 AND name = $2 FOR UPDATE`, [this.project, name]);
      const [v] = await tx.query<{ version: number; created_at: Date }>(
        `INSERT INTO model_versions (project, name, version, run, artifact_path)
         SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4 FROM model_versions WHERE project = $1 AND name = $2
         RETURNING version, created_at`,
        [this.project, name, run, p]
      );
      if (alias !== undefined) {
        await tx.query(
          `INSERT INTO model_aliases (project, name, alias, version) VALUES ($1, $2, $3, $4)
           ON CONFLICT (project, name, alias) DO UPDATE SET version = excluded.version`,
          [this.project, name, alias, v.version]
        );
      }
      return { name, version: v.version, run, artifactPath: p, aliases: alias ? [alias] : [], createdAt: v.created_at };
    });
  }

  /** A model version by number or alias. */
  async modelVersion(name: string, versionOrAlias: number | string): Promise<IModelVersionInfo> {
    const rows = await this.db.query<{ version: number; run: string; artifact_path: string; created_at: Date; aliases: string[] }>(
      `SELECT v.version, v.run, v.artifact_path, v.created_at,
              coalesce((SELECT array_agg(a.alias ORDER BY a.alias) FROM model_aliases a
                         WHERE a.project = v.project AND a.name = v.name AND a.version = v.version), '{}') AS aliases
         FROM model_versions v
        WHERE v.project = $1 AND v.name = $2 AND (
          ($3::text IS NULL AND v.version = $4::int) OR
          v.version = (SELECT version FROM model_aliases WHERE project = $1 AND name = $2 AND alias = $3::text))`,
      [this.project, name, typeof versionOrAlias === 'string' ? versionOrAlias : null, typeof versionOrAlias === 'number' ? versionOrAlias : null]
    );
    if (rows.length === 0) {
      throw new NotFoundError(`model ${name} has no version ${typeof versionOrAlias === 'string' ? `aliased ${versionOrAlias}` : versionOrAlias} in project ${this.project}`, {
        name,
        version: versionOrAlias,
        project: this.project
      });
    }
    const r = rows[0];
    return { name, version: r.version, run: r.run, artifactPath: r.artifact_path, aliases: r.aliases, createdAt: r.created_at };
  }

  async listRuns(query: IRunQuery = {}): Promise<IRunSummary[]> {
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10000) {
      throw new RunConflictError(`limit must be an integer from 1 to 10000 (got ${limit})`, { limit });
    }
    const rows = await this.db.query<IRunRow>(
      `SELECT ${RUN_COLUMNS} FROM training_runs
        WHERE project = $1 AND ($2::text IS NULL OR experiment = $2) AND ($3::text IS NULL OR status = $3)
          AND ($4::text IS NULL OR dataset_name = $4) AND ($5::text IS NULL OR dataset_rev = $5)
        ORDER BY started_at DESC, id LIMIT $6`,
      [query.project ?? this.project, query.experiment ?? null, query.status ?? null, query.dataset?.name ?? null, query.dataset?.rev ?? null, limit]
    );
    const latest = await this.latestMetrics(rows.map(r => r.id));
    return rows.map(r => rowToSummary(r, latest.get(r.id) ?? {}));
  }

  async getRun(id: string): Promise<IRunDetail> {
    const [row] = await this.db.query<IRunRow>(`SELECT ${RUN_COLUMNS} FROM training_runs WHERE id = $1 AND project = $2`, [
      id,
      this.project
    ]);
    if (!row) {
      throw new NotFoundError(`no training run ${id} in project ${this.project}`, { run: id, project: this.project });
    }
    const [params, metricRows, artifacts, models] = await Promise.all([
      this.db.query<{ key: string; value: string }>(`SELECT key, value FROM run_params WHERE run = $1 ORDER BY key`, [id]),
      this.db.query<{ key: string; step: string; value: number; timestamp: Date }>(
        `SELECT key, step, value, timestamp FROM run_metrics WHERE run = $1 ORDER BY key, step, id`,
        [id]
      ),
      this.db.query<{ path: string; object_key: string; size: string; sha256: string; logged_at: Date }>(
        `SELECT path, object_key, size, sha256, logged_at FROM run_artifacts WHERE run = $1 ORDER BY path`,
        [id]
      ),
      this.db.query<{ name: string; version: number; artifact_path: string; created_at: Date; aliases: string[] }>(
        `SELECT v.name, v.version, v.artifact_path, v.created_at,
                coalesce((SELECT array_agg(a.alias ORDER BY a.alias) FROM model_aliases a
                           WHERE a.project = v.project AND a.name = v.name AND a.version = v.version), '{}') AS aliases
           FROM model_versions v WHERE v.run = $1 ORDER BY v.name, v.version`,
        [id]
      )
    ]);
    const metrics: Record<string, IMetricPoint[]> = {};
    const latest: Record<string, number> = {};
    for (const m of metricRows) {
      (metrics[m.key] ??= []).push({ step: Number(m.step), value: m.value, timestamp: m.timestamp });
      latest[m.key] = m.value;
    }
    return {
      ...rowToSummary(row, latest),
      params: Object.fromEntries(params.map(p => [p.key, p.value])),
      metrics,
      artifacts: artifacts.map(a => ({ path: a.path, key: a.object_key, size: Number(a.size), sha256: a.sha256, loggedAt: a.logged_at })),
      models: models.map(m => ({ name: m.name, version: m.version, run: id, artifactPath: m.artifact_path, aliases: m.aliases, createdAt: m.created_at })),
      tags: row.tags
    };
  }

  private async latestMetrics(runs: string[]): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    if (runs.length === 0) {
      return out;
    }
    const rows = await this.db.query<{ run: string; key: string; value: number }>(
      `SELECT DISTINCT ON (run, key) run, key, value FROM run_metrics WHERE run = ANY($1::text[])
        ORDER BY run, key, step DESC, id DESC`,
      [runs]
    );
    for (const r of rows) {
      const m = out.get(r.run) ?? {};
      m[r.key] = r.value;
      out.set(r.run, m);
    }
    return out;
  }

  private async lockRunning(tx: IQueryable, run: string): Promise<void> {
    const rows = await tx.query<{ status: RunState }>(`SELECT status FROM training_runs WHERE id = $1 AND project = $2 FOR UPDATE`, [
      run,
      this.project
    ]);
    if (rows.length === 0) {
      throw new NotFoundError(`no training run ${run} in project ${this.project}`, { run, project: this.project });
    }
  }
}
