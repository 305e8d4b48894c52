// A connected changelab workspace: configuration, the metadata database (migrated), object storage
// and the job queue, chosen by configuration. `connect()` with no settings opens the embedded
// default under `.changelab/`; the same code runs against PostgreSQL + PostGIS, S3 and Redis.
import * as path from 'path';
import { Catalog } from './catalog/catalog';
import { loadConfig, type Config, type ILoadConfigOptions } from './config';
import { Database } from './db/database';
import { ensureEmbeddedDatabase } from './db/embedded';
import { listMigrations, migrate } from './db/migrations';
import { card, type IDisplayBundle } from './display';
import { InProcessJobQueue } from './jobs/in-process';
import type { IJobQueue } from './jobs/queue';
import { RedisJobQueue } from './jobs/redis';
import { LocalObjectStore } from './objects/local';
import { S3ObjectStore } from './objects/s3';
import type { IObjectStore } from './objects/store';

export interface IWorkspaceStatus {
  project: string;
  database: { kind: 'embedded' | 'server'; url: string; postgres: string; postgis: string; migrations: number };
  objects: { kind: 'local' | 's3'; location: string };
  jobs: { kind: 'in-process' | 'redis' };
  configSources: string[];
}

const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

export class Workspace {
  private catalogInstance: Catalog | undefined;

  private constructor(
    readonly config: Config,
    readonly db: Database,
    readonly objects: IObjectStore,
    readonly jobs: IJobQueue,
    private readonly databaseUrl: string
  ) {}

  /** The image catalog: ingest, search, pairs, quarantine, watch. */
  get catalog(): Catalog {
    this.catalogInstance ??= new Catalog(this.db, this.objects, this.config);
    return this.catalogInstance;
  }

  /** The project calls act on unless they name another. */
  get project(): string {
    return this.config.project;
  }

  static async open(config: Config): Promise<Workspace> {
    const url = config.databaseUrl ?? (await ensureEmbeddedDatabase(config.homeDir));
    const db = new Database(url, config.databaseUrl ? 'server' : 'embedded');
    try {
      await migrate(db);
      await db.query('INSERT INTO projects (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING', [config.project]);
    } catch (error) {
      await db.close();
      throw error;
    }
    const objects = config.s3
      ? new S3ObjectStore(config.s3)
      : new LocalObjectStore(path.join(config.homeDir, 'objects'));
    const jobs = config.redisUrl ? new RedisJobQueue(config.redisUrl) : new InProcessJobQueue();
    return new Workspace(config, db, objects, jobs, url);
  }

  async status(): Promise<IWorkspaceStatus> {
    const [versions] = await this.db.query<{ postgres: string; postgis: string }>(
      `SELECT current_setting('server_version') AS postgres, postgis_lib_version() AS postgis`
    );
    const [{ n }] = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM changelab_migrations');
    return {
      project: this.project,
      database: { kind: this.db.kind, url: redact(this.databaseUrl), ...versions, migrations: n },
      objects: { kind: this.objects.kind, location: this.objects.location },
      jobs: { kind: this.jobs.kind },
      configSources: this.config.sources
    };
  }

  /** A status card; `show(await workspace.describe())` in a notebook. */
  async describe(): Promise<IDisplayBundle> {
    const s = await this.status();
    const pending = listMigrations().length - s.database.migrations;
    return card({
      kind: 'status',
      title: 'changelab workspace',
      status: pending === 0 ? 'ok' : 'warning',
      summary:
        s.database.kind === 'embedded'
          ? 'Embedded mode: PGlite + PostGIS, a local object folder and in-process jobs.'
          : 'Server mode: PostgreSQL + PostGIS, S3 object storage and the configured job queue.',
      items: [
        { label: 'project', value: s.project },
        { label: 'database', value: `${s.database.kind} — PostgreSQL ${s.database.postgres}, PostGIS ${s.database.postgis}` },
        { label: 'database url', value: s.database.url },
        { label: 'migrations applied', value: s.database.migrations },
        { label: 'objects', value: `${s.objects.kind} — ${s.objects.location}` },
        { label: 'jobs', value: s.jobs.kind },
        { label: 'settings from', value: s.configSources.join(', ') || 'defaults' }
      ]
    });
  }

  async close(): Promise<void> {
    await this.jobs.close();
    await this.db.close();
  }
}

/** Opens the workspace described by `changelab.config.json` / `CHANGELAB_*` (or the embedded default). */
export async function connect(options: ILoadConfigOptions = {}): Promise<Workspace> {
  return Workspace.open(loadConfig(options));
}
