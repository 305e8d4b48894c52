// `.dvc/config` and `.dvc/config.local` in DVC's configobj format:
//   [core]
//       remote = storage
//   ['remote "storage"']
//       url = s3://bucket/prefix
//       endpointurl = http://127.0.0.1:9000
// Secrets (access_key_id, secret_access_key) belong in config.local, which .dvc/.gitignore keeps
// out of git. The local file's values win, key by key, as in DVC.
import * as fs from 'fs';
import * as path from 'path';
import { ConfigError } from '../errors';

export type DvcConfig = Map<string, Map<string, string>>;

function unquote(v: string): string {
  const s = v.trim();
  if (s.length >= 2 && ((s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'")))) {
    return s.slice(1, -1);
  }
  return s;
}

export function parseDvcConfig(text: string, file = '.dvc/config'): DvcConfig {
  const config: DvcConfig = new Map();
  let section: Map<string, string> | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) {
      return;
    }
    const header = /^\[(.*)\]$/.exec(line);
    if (header) {
      const name = unquote(header[1]);
      section = config.get(name) ?? new Map();
      config.set(name, section);
      return;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!kv || !section) {
      throw new ConfigError(`${file}:${i + 1}: expected "[section]" or "key = value", found ${JSON.stringify(line)}`, { file });
    }
    section.set(kv[1].trim(), unquote(kv[2].replace(/\s+#.*$/, '')));
  });
  return config;
}

const sectionHeader = (name: string) => (/^[A-Za-z0-9_.-]+$/.test(name) ? `[${name}]` : `['${name}']`);

export function formatDvcConfig(config: DvcConfig): string {
  const lines: string[] = [];
  for (const [name, values] of config) {
    lines.push(sectionHeader(name));
    for (const [k, v] of values) {
      lines.push(`    ${k} = ${v}`);
    }
  }
  return lines.length > 0 ? lines.join('\n') + '\n' : '';
}

export function readDvcConfigFile(file: string): DvcConfig {
  return fs.existsSync(file) ? parseDvcConfig(fs.readFileSync(file, 'utf8'), file) : new Map();
}

export interface IRemoteSettings {
  name: string;
  url: string;
  /** s3 remotes */
  endpointurl?: string;
  access_key_id?: string;
  secret_access_key?: string;
  region?: string;
  /** Every key of the remote's section, merged from config and config.local. */
  all: Record<string, string>;
}

/** The merged view of `.dvc/config` and `.dvc/config.local`. */
export class DvcSettings {
  constructor(
    readonly dvcDir: string,
    readonly shared: DvcConfig,
    readonly local: DvcConfig
  ) {}

  static read(dvcDir: string): DvcSettings {
    return new DvcSettings(
      dvcDir,
      readDvcConfigFile(path.join(dvcDir, 'config')),
      readDvcConfigFile(path.join(dvcDir, 'config.local'))
    );
  }

  get(section: string, key: string): string | undefined {
    return this.local.get(section)?.get(key) ?? this.shared.get(section)?.get(key);
  }

  remoteNames(): string[] {
    const names = new Set<string>();
    for (const config of [this.shared, this.local]) {
      for (const section of config.keys()) {
        const m = /^remote "(.+)"$/.exec(section);
        if (m) {
          names.add(m[1]);
        }
      }
    }
    return [...names];
  }

  defaultRemote(): string | undefined {
    return this.get('core', 'remote');
  }

  /** The named remote (default: core.remote); local folder urls resolved against .dvc/ as DVC does. */
  remote(name?: string): IRemoteSettings {
    const chosen = name ?? this.defaultRemote();
    if (!chosen) {
      throw new ConfigError(
        'no DVC remote is configured: run `changelab dataset remote add <name> s3://bucket/prefix --endpoint http://host:9000` ' +
          '(or `dvc remote add -d`), or pass a remote name',
        { dvcDir: this.dvcDir }
      );
    }
    const section = `remote "${chosen}"`;
    const all: Record<string, string> = {
      ...Object.fromEntries(this.shared.get(section) ?? []),
      ...Object.fromEntries(this.local.get(section) ?? [])
    };
    if (!all.url) {
      throw new ConfigError(`DVC remote "${chosen}" is not defined (no url in .dvc/config or .dvc/config.local)`, {
        remote: chosen,
        known: this.remoteNames()
      });
    }
    let url = all.url;
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !path.isAbsolute(url)) {
      url = path.resolve(this.dvcDir, url);
    }
    return {
      name: chosen,
      url,
      endpointurl: all.endpointurl,
      access_key_id: all.access_key_id,
      secret_access_key: all.secret_access_key,
      region: all.region,
      all
    };
  }
}

/** Sets `key = value` in a section of a config file, keeping everything else. */
export function setConfigValues(file: string, section: string, values: Record<string, string | undefined>): void {
  const config = readDvcConfigFile(file);
  const s = config.get(section) ?? new Map<string, string>();
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) {
      s.delete(k);
    } else {
      s.set(k, v);
    }
  }
  config.set(section, s);
  writeFileAtomic(file, formatDvcConfig(config));
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export function writeFileAtomic(file: string, data: string | Buffer, mode?: number): void {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, data, mode === undefined ? undefined : { mode });
  fs.renameSync(tmp, file);
}
