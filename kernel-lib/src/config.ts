// Settings for one changelab workspace, read from `changelab.config.json` and `CHANGELAB_*`
// environment variables (the environment wins), validated once at start-up. With no settings at
// all, everything is embedded under `.changelab/`: PGlite + PostGIS, a local object folder and an
// in-process job runner.
import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { ConfigError } from './errors';

const url = (protocols: string[]) =>
  z.string().refine(
    v => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map(p => p + '//').join(' or ')}` }
  );

const ConfigSchema = z
  .object({
    /** Folder for embedded state (database, objects, stamps). Relative to the config's folder. */
    home: z.string().min(1).default('.changelab'),
    /** Project used when a call names none. */
    project: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, "-" and "_", at most 63')
      .default('default'),
    /** PostgreSQL + PostGIS server; absent means the embedded PGlite database. */
    databaseUrl: url(['postgres:', 'postgresql:']).optional(),
    /** S3 endpoint (MinIO, SeaweedFS, AWS); absent means the local object folder. */
    s3: z
      .object({
        endpoint: url(['http:', 'https:']),
        accessKey: z.string().min(1),
        secretKey: z.string().min(1),
        bucket: z
          .string()
          .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 lower-case characters)')
          .default('changelab'),
        region: z.string().default('us-east-1')
      })
      .strict()
      .optional(),
    /** Redis for the distributed job queue; absent means jobs run in-process. */
    redisUrl: url(['redis:', 'rediss:']).optional(),
    /** MLflow tracking server; absent means runs are kept in the catalog only. */
    mlflowUrl: url(['http:', 'https:']).optional(),
    /** `production` refuses unsafe defaults (default MinIO credentials, plain passwords in URLs to remote hosts). */
    mode: z.enum(['development', 'production']).default('development')
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema> & {
  /** Absolute path of `home`. */
  homeDir: string;
  /** Where the settings came from, for `status()` and error messages. */
  sources: string[];
};
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Environment variables understood, and the config key each one sets. */
export const ENVIRONMENT_KEYS: Record<string, string> = {
  CHANGELAB_HOME: 'home',
  CHANGELAB_PROJECT: 'project',
  CHANGELAB_DATABASE_URL: 'databaseUrl',
  CHANGELAB_S3_ENDPOINT: 's3.endpoint',
  CHANGELAB_S3_ACCESS_KEY: 's3.accessKey',
  CHANGELAB_S3_SECRET_KEY: 's3.secretKey',
  CHANGELAB_S3_BUCKET: 's3.bucket',
  CHANGELAB_S3_REGION: 's3.region',
  CHANGELAB_REDIS_URL: 'redisUrl',
  CHANGELAB_MLFLOW_URL: 'mlflowUrl',
  CHANGELAB_MODE: 'mode'
};

export interface ILoadConfigOptions {
  /** Folder to look for `changelab.config.json` in, and upwards from it (default: cwd). */
  cwd?: string;
  /** Environment to read `CHANGELAB_*` from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Settings given in code; they win over the file and the environment. */
  overrides?: ConfigInput;
}

export function loadConfig(options: ILoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const sources: string[] = [];
  const explicit = env.CHANGELAB_CONFIG;
  const file = explicit ? path.resolve(explicit) : findConfigFile(options.cwd ?? process.cwd());
  let raw: Record<string, unknown> = {};
  if (file) {
    if (!fs.existsSync(file)) {
      throw new ConfigError(`CHANGELAB_CONFIG points at ${file}, which does not exist`, { file });
    }
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (cause) {
      throw new ConfigError(`${file} is not valid JSON: ${(cause as Error).message}`, { file }, { cause });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError(`${file} must hold a JSON object`, { file });
    }
    sources.push(file);
  }
  for (const [name, key] of Object.entries(ENVIRONMENT_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      setPath(raw, key, value);
      sources.push(name);
    }
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('CHANGELAB_') && !(name in ENVIRONMENT_KEYS) && !isIgnoredEnv(name)) {
      throw new ConfigError(
        `unknown environment variable ${name}; known ones: ${Object.keys(ENVIRONMENT_KEYS).join(', ')}`,
        { variable: name }
      );
    }
  }
  if (options.overrides) {
    raw = deepMerge(raw, options.overrides as Record<string, unknown>);
    sources.push('code');
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(i => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(
      `invalid changelab configuration (from ${sources.join(', ') || 'defaults'}):\n${problems.join('\n')}`,
      { issues: parsed.error.issues }
    );
  }
  const base = file ? path.dirname(file) : path.resolve(options.cwd ?? process.cwd());
  const config: Config = { ...parsed.data, homeDir: path.resolve(base, parsed.data.home), sources };
  if (config.mode === 'production') {
    refuseUnsafe(config);
  }
  return config;
}

// Variables with the prefix that are not settings: the config path itself, the set-up scripts' and
// the test harness's. Any other CHANGELAB_* name is a typo worth stopping for.
const IGNORED_ENV = new Set([
  'CHANGELAB_CONFIG',
  'CHANGELAB_DB_IDLE_MS',
  'CHANGELAB_PYTHON',
  'CHANGELAB_SERVICES',
  'CHANGELAB_SERVICES_DIR',
  'CHANGELAB_SERVICES_TIMEOUT',
  'CHANGELAB_PG_BIN',
  'CHANGELAB_PG_PORT',
  'CHANGELAB_REDIS_PORT',
  'CHANGELAB_MINIO_PORT',
  'CHANGELAB_MLFLOW_PORT',
  'CHANGELAB_MINIO_BIN',
  'CHANGELAB_GO_BIN'
]);
const isIgnoredEnv = (name: string) => IGNORED_ENV.has(name) || name.startsWith('CHANGELAB_TEST_');

function refuseUnsafe(config: Config): void {
  const problems: string[] = [];
  if (config.s3 && ['minioadmin', 'admin', 'password'].includes(config.s3.secretKey)) {
    problems.push('s3.secretKey is a well-known default password');
  }
  if (config.databaseUrl) {
    const u = new URL(config.databaseUrl);
    if (['postgres', 'password', ''].includes(decodeURIComponent(u.password)) && !isLoopback(u.hostname)) {
      problems.push('databaseUrl uses a default or empty password on a non-loopback host');
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(`refusing unsafe settings in production mode: ${problems.join('; ')}`, { problems });
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}

function findConfigFile(start: string): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    const candidate = path.join(dir, 'changelab.config.json');
    if (fs.existsSync(candidate)) {
      return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      return undefined;
    }
    dir = parent;
  }
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) {
      node[key] = {};
    }
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object'
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
