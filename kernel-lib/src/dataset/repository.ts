// Dataset versions in DVC's own formats: a dataset is the folder `datasets/<name>/` of a git work
// tree, tracked by `datasets/<name>.dvc` (committed to git) with its files in the DVC cache and on
// a DVC remote (MinIO/S3 or a folder). The real `dvc` reads and writes the same repository and
// remote. Nothing is lost: a checkout refuses to overwrite workspace changes that are in no cache.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ChangelabError, ConfigError, NotFoundError, StorageError } from '../errors';
import { pipeline } from 'stream/promises';
import { DvcCache, hashingStream } from './cache';
import { DvcSettings, setConfigValues, writeFileAtomic } from './dvc-config';
import { formatDvcFile, parseDvcFile, type IDvcFile } from './dvc-file';
import { isDirMd5, parseTree, sortTree, treeMd5, type ITreeEntry } from './dvc-tree';
import { Git } from './git';
import { MANIFEST_FILE, type IDatasetManifest, type IDatasetRef } from './manifest';
import { ByteBudget, forEachLimit, openRemote, type IDvcRemote } from './remote';
import {
  DatasetDiff,
  DatasetStatusList,
  TransferSummary,
  VersionList,
  type IDatasetStatus,
  type IDatasetVersion,
  type IFileChanges
} from './views';
import { HashState } from './workspace-state';

export const DATASETS_DIR = 'datasets';
const NAME = /^[A-Za-z][A-Za-z0-9._-]{0,99}$/;
/** Files up to this size are copied and hashed as one buffer. */
const SMALL_FILE = 4 * 1024 * 1024;
/** Concurrent S3 requests: small objects are latency-bound (MinIO on loopback peaked near 64). */
const DEFAULT_S3_JOBS = 32;

export const DVCIGNORE_TEXT =
  '# Add patterns of files dvc should ignore, which could improve\n# the performance. Learn more at\n# https://dvc.org/doc/user-guide/dvcignore\n';
const DVC_GITIGNORE_TEXT = '/config.local\n/tmp\n/cache\n';

export interface IOpenOptions {
  /** The workspace folder (a git work tree; initialised when it is not one). Default: the folder of
   * changelab.config.json found from the current folder upwards, else the current folder. */
  root?: string;
}

export interface ITransferOptions {
  /** Remote name from .dvc/config (default: core.remote). */
  remote?: string;
  /** Only this dataset (default: every dataset in the workspace). */
  name?: string;
  /** Concurrent transfers (default 32 for S3, 4 for a folder). */
  jobs?: number;
  /** Also every version in the git history of the .dvc files (DVC's --all-commits). */
  allCommits?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface ICheckoutOptions {
  /** Only this dataset (default: every dataset at that rev). */
  name?: string;
  /** Overwrite or delete workspace files whose content is in no cache. */
  force?: boolean;
  /** Remote to fetch missing or corrupt cache objects from (default: core.remote when set). */
  remote?: string;
  jobs?: number;
}

export interface ICommitOptions {
  /** Also create this git tag on the commit. */
  tag?: string;
}

export interface IRemoteOptions {
  /** S3 endpoint (MinIO): written as `endpointurl`. */
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  /** Make it core.remote (default true). */
  default?: boolean;
}

interface IWorkspaceFile {
  relpath: string;
  file: string;
  stat: fs.Stats;
}

export function checkName(name: string): string {
  if (typeof name !== 'string' || !NAME.test(name) || name.endsWith('.dvc')) {
    throw new ChangelabError(
      `invalid dataset name ${JSON.stringify(name)}: start with a letter, then letters, digits, ".", "-" or "_" (at most 100), not ending in .dvc`,
      { name }
    );
  }
  return name;
}

function findRoot(): string {
  let dir = process.cwd();
  for (;;) {
    if (fs.existsSync(path.join(dir, 'changelab.config.json'))) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      return process.cwd();
    }
    dir = parent;
  }
}

export class DatasetRepository {
  readonly dvcDir: string;
  readonly datasetsDir: string;
  readonly git: Git;
  private stateInstance: HashState | undefined;
  private cacheInstance: DvcCache | undefined;
  /**
   * Cache objects hashed on download since the last fetch began: the checkout that follows (pull)
   * copies them without hashing again. Cleared when a checkout ends.
   */
  private readonly verified = new Set<string>();

  private constructor(readonly root: string) {
    this.dvcDir = path.join(root, '.dvc');
    this.datasetsDir = path.join(root, DATASETS_DIR);
    this.git = new Git(root);
  }

  /** Opens (and when needed initialises: `git init`, `dvc init`'s files) the dataset workspace. */
  static async open(options: IOpenOptions = {}): Promise<DatasetRepository> {
    const root = path.resolve(options.root ?? findRoot());
    if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
      throw new NotFoundError(`workspace folder ${root} does not exist`, { root });
    }
    const repo = new DatasetRepository(root);
    if (!(await repo.git.isRepo())) {
      await repo.git.init();
    }
    repo.initDvc();
    return repo;
  }

  /** What `dvc init` writes: .dvc/config, .dvc/.gitignore and .dvcignore (kept when present). */
  private initDvc(): void {
    fs.mkdirSync(this.dvcDir, { recursive: true });
    const write = (file: string, text: string) => {
      if (!fs.existsSync(file)) {
        writeFileAtomic(file, text);
      }
    };
    write(path.join(this.dvcDir, 'config'), '');
    write(path.join(this.dvcDir, '.gitignore'), DVC_GITIGNORE_TEXT);
    write(path.join(this.root, '.dvcignore'), DVCIGNORE_TEXT);
  }

  get settings(): DvcSettings {
    return DvcSettings.read(this.dvcDir);
  }

  get cache(): DvcCache {
    const setting = this.settings.get('cache', 'dir');
    const dir = setting ? path.resolve(this.dvcDir, setting) : path.join(this.dvcDir, 'cache');
    if (this.cacheInstance?.dir !== dir) {
      this.cacheInstance = new DvcCache(dir);
    }
    // Each operation starts by asking for the cache: folders seen by an earlier one may be gone.
    this.cacheInstance.forgetDirs();
    return this.cacheInstance;
  }

  private get state(): HashState {
    this.stateInstance ??= new HashState(path.join(this.dvcDir, 'tmp', 'changelab-state.json'));
    return this.stateInstance;
  }

  folder(name: string): string {
    return path.join(this.datasetsDir, checkName(name));
  }

  private dvcPath(name: string): string {
    return `${DATASETS_DIR}/${checkName(name)}.dvc`;
  }

  /** Datasets in the workspace: the `datasets/*.dvc` files. */
  list(): string[] {
    if (!fs.existsSync(this.datasetsDir)) {
      return [];
    }
    return fs
      .readdirSync(this.datasetsDir)
      .filter(f => f.endsWith('.dvc') && NAME.test(f.slice(0, -4)))
      .map(f => f.slice(0, -4))
      .sort();
  }

  /** Datasets whose .dvc file exists at a rev. */
  async listAt(rev: string): Promise<string[]> {
    const commit = await this.git.resolve(rev);
    return (await this.git.listFiles(commit, DATASETS_DIR))
      .map(f => /^datasets\/([^/]+)\.dvc$/.exec(f)?.[1])
      .filter((n): n is string => !!n && NAME.test(n))
      .sort();
  }

  // ---- configuration -------------------------------------------------------------------------

  /** Adds or changes a DVC remote: url and endpoint in .dvc/config, credentials in .dvc/config.local. */
  setRemote(name: string, url: string, options: IRemoteOptions = {}): void {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw new ConfigError(`invalid remote name ${JSON.stringify(name)}`, { name });
    }
    if (url.startsWith('s3://') && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(url)) {
      throw new ConfigError(`${url} is not s3://bucket[/prefix] with a valid bucket name`, { url });
    }
    const section = `remote "${name}"`;
    setConfigValues(path.join(this.dvcDir, 'config'), section, { url, endpointurl: options.endpoint, region: options.region });
    if (options.accessKeyId || options.secretAccessKey) {
      setConfigValues(path.join(this.dvcDir, 'config.local'), section, {
        access_key_id: options.accessKeyId,
        secret_access_key: options.secretAccessKey
      });
    }
    if (options.default ?? true) {
      setConfigValues(path.join(this.dvcDir, 'config'), 'core', { remote: name });
    }
  }

  private openRemote(name: string | undefined, jobs: number): IDvcRemote {
    return openRemote(this.settings.remote(name), new ByteBudget(256 * 1024 * 1024), jobs);
  }

  private defaultJobs(remote: IDvcRemote, jobs?: number): number {
    return Math.max(1, jobs ?? (remote.url.startsWith('s3://') ? DEFAULT_S3_JOBS : 4));
  }

  // ---- reading versions ----------------------------------------------------------------------

  private readDvc(name: string): IDvcFile | undefined {
    const file = path.join(this.root, this.dvcPath(name));
    return fs.existsSync(file) ? parseDvcFile(fs.readFileSync(file, 'utf8'), file) : undefined;
  }

  private async readDvcAt(rev: string, name: string): Promise<IDvcFile | undefined> {
    const text = await this.git.show(rev, this.dvcPath(name));
    return text === undefined ? undefined : parseDvcFile(text, `${rev}:${this.dvcPath(name)}`);
  }

  private outOf(dvc: IDvcFile, name: string): { md5: string; size?: number; nfiles?: number } {
    const out = dvc.outs.find(o => o.path === name) ?? dvc.outs[0];
    if (!out || !isDirMd5(out.md5)) {
      throw new ChangelabError(`${this.dvcPath(name)} does not track a folder (no md5 ending in .dir)`, { name });
    }
    return out;
  }

  /** The file list of a `.dir` oid: from the cache (verified), else fetched from the remote. */
  async tree(dirOid: string, remote?: IDvcRemote | (() => IDvcRemote | undefined)): Promise<ITreeEntry[]> {
    const cache = this.cache;
    if (!(await cache.verify(dirOid))) {
      const r = typeof remote === 'function' ? remote() : remote;
      if (!r) {
        throw new NotFoundError(`version ${dirOid} is not in the local cache and no remote is configured to fetch it from`, { oid: dirOid });
      }
      await this.fetchObjects(r, [dirOid], 1);
    }
    return parseTree(cache.read(dirOid), `.dir manifest ${dirOid}`);
  }

  private lazyRemote(name: string | undefined, jobs: number) {
    let remote: IDvcRemote | undefined;
    const get = () => {
      if (!remote && (name || this.settings.defaultRemote())) {
        remote = this.openRemote(name, jobs);
      }
      return remote;
    };
    return { get, close: () => remote?.close() };
  }

  /** Downloads objects into the cache through temporary files; each one's md5 is checked first. */
  private async fetchObjects(remote: IDvcRemote, oids: string[], jobs: number, onDone?: () => void): Promise<number> {
    const cache = this.cache;
    let bytes = 0;
    await forEachLimit(oids, jobs, async oid => {
      const tmp = cache.tempPath();
      let committed = false;
      try {
        const { md5, size } = await remote.download(oid, tmp);
        if (md5 !== oid.replace(/\.dir$/, '')) {
          throw new StorageError(`object ${oid} on remote ${remote.name} is corrupt (its bytes hash to ${md5}); not used`, { oid, remote: remote.name });
        }
        cache.commitTemp(tmp, oid);
        committed = true;
        this.verified.add(oid);
        bytes += size;
        onDone?.();
      } finally {
        if (!committed) {
          fs.rmSync(tmp, { force: true });
        }
      }
    });
    return bytes;
  }

  // ---- the workspace -------------------------------------------------------------------------

  private scan(name: string): IWorkspaceFile[] {
    const root = this.folder(name);
    const out: IWorkspaceFile[] = [];
    const walk = (dir: string, rel: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        const relpath = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          walk(file, relpath);
        } else if (entry.isFile() || entry.isSymbolicLink()) {
          const stat = fs.statSync(file);
          if (stat.isFile()) {
            out.push({ relpath, file, stat });
          }
        }
      }
    };
    if (fs.existsSync(root)) {
      walk(root, '');
    }
    return out;
  }

  private async hashWorkspace(name: string, jobs = 4): Promise<Array<ITreeEntry & { size: number; file: string }>> {
    const files = this.scan(name);
    const out: Array<ITreeEntry & { size: number; file: string }> = new Array(files.length);
    await forEachLimit(files, jobs, async (f, i) => {
      const { md5, size } = await this.state.md5(f.file, f.stat);
      out[i] = { relpath: f.relpath, md5, size, file: f.file };
    });
    return out;
  }

  private ensureGitignore(name: string): string {
    const file = path.join(this.datasetsDir, '.gitignore');
    const line = `/${name}`;
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (!text.split(/\r?\n/).includes(line)) {
      writeFileAtomic(file, text + (text === '' || text.endsWith('\n') ? '' : '\n') + line + '\n');
    }
    return `${DATASETS_DIR}/.gitignore`;
  }

  // ---- commit --------------------------------------------------------------------------------

  /**
   * Hashes `datasets/<name>/`, copies new files into the cache, writes `datasets/<name>.dvc` and
   * the .gitignore entry as `dvc add` does, and commits them to git with `message`.
   */
  async commit(name: string, message: string, options: ICommitOptions = {}): Promise<IDatasetVersion & { committed: boolean }> {
    checkName(name);
    if (typeof message !== 'string' || message.trim() === '') {
      throw new ChangelabError('a commit needs a message saying what changed', { name });
    }
    const folder = this.folder(name);
    if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
      throw new NotFoundError(`dataset folder ${folder} does not exist; build or copy the data there first`, { name, folder });
    }
    const cache = this.cache;
    cache.sweepTemps();
    const files = await this.hashWorkspace(name);
    await forEachLimit(files, 4, async f => {
      await cache.addFile(f.file, f.md5);
    });
    const { md5, bytes } = treeMd5(files);
    cache.addBytes(md5, bytes);
    const size = files.reduce((s, f) => s + f.size, 0);
    const previous = this.readDvc(name);
    const keep = previous?.outs.find(o => o.path === name);
    const dvc: IDvcFile = {
      ...(previous?.extra ? { extra: previous.extra } : {}),
      outs: [{ md5, size, nfiles: files.length, hash: 'md5', path: name, ...(keep?.extra ? { extra: keep.extra } : {}) }]
    };
    const dvcFile = path.join(this.root, this.dvcPath(name));
    const text = formatDvcFile(dvc);
    if (!fs.existsSync(dvcFile) || fs.readFileSync(dvcFile, 'utf8') !== text) {
      writeFileAtomic(dvcFile, text);
    }
    const gitignore = this.ensureGitignore(name);
    this.state.save();
    const paths = [this.dvcPath(name), gitignore, '.dvc/config', '.dvc/.gitignore', '.dvcignore'];
    const commit = await this.git.commit(message, paths);
    if (options.tag) {
      await this.git.tag(options.tag);
    }
    const [latest] = (await this.log(name)).versions;
    if (!latest || latest.md5 !== md5) {
      throw new ChangelabError(`committed ${name} but git history does not show it; check ${this.root}`, { name });
    }
    return { ...latest, committed: commit !== undefined };
  }

  // ---- history -------------------------------------------------------------------------------

  /** Versions of one dataset (or all), newest first: the git history of their .dvc files. */
  async log(name?: string): Promise<VersionList> {
    const names = name ? [checkName(name)] : [...new Set([...this.list(), ...((await this.git.head()) ? await this.listAt('HEAD') : [])])].sort();
    const tags = await this.git.tags();
    const versions: IDatasetVersion[] = [];
    for (const n of names) {
      for (const c of await this.git.log(this.dvcPath(n))) {
        const dvc = await this.readDvcAt(c.commit, n);
        if (!dvc) {
          continue; // the commit removed the dataset
        }
        const out = this.outOf(dvc, n);
        versions.push({
          name: n,
          rev: c.commit,
          shortRev: c.commit.slice(0, 7),
          tags: tags.get(c.commit) ?? [],
          message: c.message,
          author: c.author,
          email: c.email,
          date: c.date,
          md5: out.md5,
          size: out.size ?? null,
          nfiles: out.nfiles ?? null
        });
      }
    }
    versions.sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : 0));
    return new VersionList(versions);
  }

  private async treesAt(rev: string | undefined, names: string[] | undefined, remote: () => IDvcRemote | undefined): Promise<Map<string, ITreeEntry[]>> {
    const trees = new Map<string, ITreeEntry[]>();
    if (rev === undefined) {
      for (const n of names ?? this.list()) {
        if (fs.existsSync(this.folder(n))) {
          trees.set(n, sortTree(await this.hashWorkspace(n)));
        }
      }
      return trees;
    }
    const commit = await this.git.resolve(rev);
    for (const n of names ?? (await this.listAt(commit))) {
      const dvc = await this.readDvcAt(commit, n);
      if (dvc) {
        trees.set(n, await this.tree(this.outOf(dvc, n).md5, remote));
      }
    }
    return trees;
  }

  /**
   * Files added, deleted and modified between two versions (git revs or tags); without `revB`,
   * between `revA` and the workspace, like `dvc diff`.
   */
  async diff(revA: string, revB?: string, options: { name?: string; remote?: string } = {}): Promise<DatasetDiff> {
    const names = options.name ? [checkName(options.name)] : undefined;
    const remote = this.lazyRemote(options.remote, 4);
    try {
      const a = await this.treesAt(revA, names, remote.get);
      const b = await this.treesAt(revB, names, remote.get);
      const changes: IFileChanges[] = [];
      for (const n of [...new Set([...a.keys(), ...b.keys()])].sort()) {
        changes.push({ name: n, ...compareTrees(a.get(n) ?? [], b.get(n) ?? []) });
      }
      return new DatasetDiff(revA, revB ?? 'workspace', changes);
    } finally {
      remote.close();
    }
  }

  // ---- status --------------------------------------------------------------------------------

  /**
   * Each dataset against its .dvc file (files added / deleted / modified in the workspace, objects
   * missing from the cache, whether the .dvc file is committed) and, with `remote`, the objects the
   * remote lacks (`dvc status -c`).
   */
  async status(options: { remote?: string | boolean; name?: string; jobs?: number } = {}): Promise<DatasetStatusList> {
    const names = options.name ? [checkName(options.name)] : this.list();
    const remoteName = typeof options.remote === 'string' ? options.remote : undefined;
    const remote = options.remote ? this.openRemote(remoteName, 16) : undefined;
    const head = await this.git.head();
    const cache = this.cache;
    const out: IDatasetStatus[] = [];
    try {
      for (const n of names) {
        const dvc = this.readDvc(n);
        if (!dvc) {
          out.push({ name: n, md5: null, workspace: 'not committed', added: [], deleted: [], modified: [], missingInCache: 0, rev: null, atHead: false });
          continue;
        }
        const { md5 } = this.outOf(dvc, n);
        const rev = await this.committedRev(n);
        const atHead = rev !== null && rev === head;
        if (!cache.has(md5)) {
          out.push({ name: n, md5, workspace: 'not in cache', added: [], deleted: [], modified: [], missingInCache: 1, rev, atHead });
          continue;
        }
        const tree = parseTree(cache.read(md5));
        const exists = fs.existsSync(this.folder(n));
        const changes = compareTrees(tree, exists ? await this.hashWorkspace(n) : []);
        const missingInCache = tree.filter(e => !cache.has(e.md5)).length;
        const dirty = changes.added.length + changes.deleted.length + changes.modified.length > 0;
        const status: IDatasetStatus = {
          name: n,
          md5,
          workspace: !exists ? 'missing' : dirty ? 'modified' : 'clean',
          ...changes,
          missingInCache,
          rev,
          atHead
        };
        if (remote) {
          const oids = [...new Set([md5, ...tree.map(e => e.md5)])];
          const present = await remote.has(oids, options.jobs ?? DEFAULT_S3_JOBS);
          status.missingOnRemote = oids.filter(o => !present.has(o)).length;
        }
        out.push(status);
      }
    } finally {
      this.state.save();
      remote?.close();
    }
    return new DatasetStatusList(out);
  }

  // ---- push / pull ---------------------------------------------------------------------------

  private async versionsToTransfer(options: ITransferOptions): Promise<Array<{ name: string; md5: string; size?: number | null; nfiles?: number | null }>> {
    const names = options.name ? [checkName(options.name)] : this.list();
    const versions: Array<{ name: string; md5: string; size?: number | null; nfiles?: number | null }> = [];
    for (const n of names) {
      const dvc = this.readDvc(n);
      if (dvc) {
        versions.push({ name: n, ...this.outOf(dvc, n) });
      } else if (options.name) {
        throw new NotFoundError(`no dataset ${n}: ${this.dvcPath(n)} does not exist`, { name: n });
      }
      if (options.allCommits) {
        for (const v of (await this.log(n)).versions) {
          versions.push({ name: n, md5: v.md5, size: v.size, nfiles: v.nfiles });
        }
      }
    }
    return versions;
  }

  /**
   * Uploads the cache objects of the datasets' current versions (and with `allCommits`, of every
   * committed version) that the remote lacks: files first, each `.dir` last, so a `.dir` on the
   * remote means its files are there. Resumes by skipping what the remote has.
   */
  async push(options: ITransferOptions = {}): Promise<TransferSummary> {
    const started = Date.now();
    const remote = this.openRemote(options.remote, options.jobs ?? DEFAULT_S3_JOBS);
    const jobs = this.defaultJobs(remote, options.jobs);
    const cache = this.cache;
    try {
      const dirs = new Set<string>();
      const files = new Set<string>();
      const missing: string[] = [];
      for (const v of await this.versionsToTransfer(options)) {
        if (dirs.has(v.md5)) {
          continue;
        }
        if (!(await cache.verify(v.md5))) {
          missing.push(`${v.name} ${v.md5}`);
          continue;
        }
        dirs.add(v.md5);
        for (const e of parseTree(cache.read(v.md5))) {
          if (cache.has(e.md5)) {
            files.add(e.md5);
          } else {
            missing.push(`${v.name}: ${e.relpath} (${e.md5})`);
          }
        }
      }
      if (missing.length > 0) {
        throw new NotFoundError(
          `cannot push: ${missing.length} object(s) are not in the local cache, e.g. ${missing.slice(0, 3).join('; ')}; pull them or commit the data again`,
          { missing: missing.slice(0, 20) }
        );
      }
      const all = [...files, ...dirs];
      const present = await remote.has(all, jobs);
      const todoFiles = [...files].filter(o => !present.has(o));
      const todoDirs = [...dirs].filter(o => !present.has(o));
      let done = 0;
      let bytes = 0;
      const total = todoFiles.length + todoDirs.length;
      const upload = async (oid: string) => {
        const file = cache.path(oid);
        const size = fs.statSync(file).size;
        await remote.upload(file, oid, size);
        bytes += size;
        options.onProgress?.(++done, total);
      };
      await forEachLimit(todoFiles, jobs, upload);
      await forEachLimit(todoDirs, jobs, upload);
      return new TransferSummary('push', remote.name, remote.url, all.length, total, all.length - total, bytes, Date.now() - started);
    } finally {
      remote.close();
    }
  }

  /** Downloads the objects of the datasets' current versions that the cache lacks (or holds corrupt). */
  async fetch(options: ITransferOptions & { rev?: string } = {}): Promise<TransferSummary> {
    const started = Date.now();
    const remote = this.openRemote(options.remote, options.jobs ?? DEFAULT_S3_JOBS);
    const jobs = this.defaultJobs(remote, options.jobs);
    const cache = this.cache;
    cache.sweepTemps();
    this.verified.clear();
    try {
      const versions = options.rev
        ? await Promise.all(
            (options.name ? [checkName(options.name)] : await this.listAt(options.rev)).map(async n => {
              const dvc = await this.readDvcAt(await this.git.resolve(options.rev!), n);
              if (!dvc) {
                throw new NotFoundError(`dataset ${n} does not exist at ${options.rev}`, { name: n, rev: options.rev });
              }
              return { name: n, ...this.outOf(dvc, n) };
            })
          )
        : await this.versionsToTransfer(options);
      // Big files go a few at a time: many parallel multi-hundred-MB writes thrash the disk (in
      // the benchmark 8 streams kept pace with DVC where 20 fell behind); small ones are
      // latency-bound and want many requests in flight.
      const bytesTotal = versions.reduce((sum, v) => sum + (v.size ?? 0), 0);
      const filesTotal = versions.reduce((sum, v) => sum + (v.nfiles ?? 0), 0);
      const downloadJobs = options.jobs === undefined && filesTotal > 0 && bytesTotal / filesTotal > 16 * 1024 * 1024 ? Math.min(jobs, 8) : jobs;
      const wanted = new Set<string>();
      let objects = 0;
      for (const v of versions) {
        const tree = await this.tree(v.md5, remote);
        objects += 1;
        for (const e of tree) {
          wanted.add(e.md5);
        }
      }
      const todo = [...wanted].filter(o => !cache.has(o));
      let done = 0;
      const bytes = await this.fetchObjects(remote, todo, downloadJobs, () => options.onProgress?.(++done, todo.length));
      return new TransferSummary('pull', remote.name, remote.url, wanted.size + objects, todo.length, wanted.size - todo.length, bytes, Date.now() - started);
    } finally {
      remote.close();
    }
  }

  /** fetch + checkout: the workspace gets the data its .dvc files name (`dvc pull`). */
  async pull(options: ITransferOptions & { force?: boolean } = {}): Promise<TransferSummary> {
    const summary = await this.fetch(options);
    await this.checkout(undefined, { name: options.name, force: options.force, remote: options.remote, jobs: options.jobs });
    return summary;
  }

  // ---- checkout ------------------------------------------------------------------------------

  /**
   * Restores datasets to a version: with `rev` (a git commit, branch or tag) their .dvc files are
   * taken from that rev first; without it, to what the current .dvc files name (`dvc checkout`).
   * Every file written is hashed against its md5; a corrupt cache file is fetched again.
   */
  async checkout(rev?: string, options: ICheckoutOptions = {}): Promise<Array<{ name: string; md5: string; written: number; deleted: number; unchanged: number }>> {
    const commit = rev === undefined ? undefined : await this.git.resolve(rev);
    const names = options.name ? [checkName(options.name)] : commit ? await this.listAt(commit) : this.list();
    if (names.length === 0) {
      throw new NotFoundError(commit ? `no datasets at ${rev}` : 'no datasets in this workspace (no datasets/*.dvc files)', { rev });
    }
    const remote = this.lazyRemote(options.remote, options.jobs ?? DEFAULT_S3_JOBS);
    const cache = this.cache;
    const results = [];
    try {
      for (const n of names) {
        let dvcText: string | undefined;
        let dvc: IDvcFile | undefined;
        if (commit) {
          dvcText = await this.git.show(commit, this.dvcPath(n));
          if (dvcText === undefined) {
            throw new NotFoundError(`dataset ${n} does not exist at ${rev}`, { name: n, rev });
          }
          dvc = parseDvcFile(dvcText, `${rev}:${this.dvcPath(n)}`);
        } else {
          dvc = this.readDvc(n);
          if (!dvc) {
            throw new NotFoundError(`no dataset ${n}: ${this.dvcPath(n)} does not exist`, { name: n });
          }
        }
        const { md5 } = this.outOf(dvc, n);
        const tree = await this.tree(md5, remote.get);
        const wanted = new Map(tree.map(e => [e.relpath, e.md5]));
        // Plan, and refuse before touching anything when a change would be lost.
        const current = await this.hashWorkspace(n);
        const toDelete = current.filter(f => !wanted.has(f.relpath));
        const changed = current.filter(f => wanted.has(f.relpath) && wanted.get(f.relpath) !== f.md5);
        const unsaved = [...toDelete, ...changed].filter(f => !cache.has(f.md5));
        if (unsaved.length > 0 && !options.force) {
          throw new ChangelabError(
            `checkout of ${n} would lose ${unsaved.length} workspace change(s) that are in no cache, e.g. ${unsaved
              .slice(0, 3)
              .map(f => f.relpath)
              .join(', ')}; commit them first (dataset.commit) or pass force`,
            { name: n, files: unsaved.slice(0, 20).map(f => f.relpath) }
          );
        }
        const have = new Map(current.map(f => [f.relpath, f.md5]));
        const toWrite = tree.filter(e => have.get(e.relpath) !== e.md5);
        // Objects the cache lacks come from the remote before any file is replaced.
        const absent = [...new Set(toWrite.map(e => e.md5))].filter(o => !cache.has(o));
        if (absent.length > 0) {
          const r = remote.get();
          if (!r) {
            throw new NotFoundError(
              `${absent.length} file(s) of ${n} at ${md5} are not in the local cache and no remote is configured; pull from where it was pushed`,
              { name: n, missing: absent.slice(0, 20) }
            );
          }
          await this.fetchObjects(r, absent, this.defaultJobs(r, options.jobs));
        }
        if (dvcText !== undefined) {
          writeFileAtomic(path.join(this.root, this.dvcPath(n)), dvcText);
          this.ensureGitignore(n);
        }
        const folder = this.folder(n);
        for (const f of toDelete) {
          fs.rmSync(f.file, { force: true });
        }
        const made = new Set<string>();
        await forEachLimit(toWrite, 8, async e => {
          await this.writeFromCache(path.join(folder, ...e.relpath.split('/')), e.md5, remote.get, cache, made);
        });
        removeEmptyDirs(folder);
        if (tree.length === 0) {
          fs.mkdirSync(folder, { recursive: true });
        }
        results.push({ name: n, md5, written: toWrite.length, deleted: toDelete.length, unchanged: tree.length - toWrite.length });
      }
    } finally {
      this.verified.clear();
      this.state.save();
      remote.close();
    }
    return results;
  }

  /** Copies a cache object to `dest` through a temporary file, checking its md5; refetches a corrupt one. */
  private async writeFromCache(dest: string, md5: string, remote: () => IDvcRemote | undefined, cache: DvcCache, made: Set<string>): Promise<void> {
    const dir = path.dirname(dest);
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    for (let attempt = 0; ; attempt++) {
      const tmp = `${dest}.${process.pid}.changelab-tmp`;
      let renamed = false;
      try {
        const source = cache.path(md5);
        let actual: string;
        if (this.verified.has(md5)) {
          // Hashed when it entered the cache in this run: a kernel copy (a reflink where the
          // filesystem has them) is enough.
          await fs.promises.copyFile(source, tmp, fs.constants.COPYFILE_FICLONE);
          fs.chmodSync(tmp, 0o644);
          actual = md5;
        } else if (fs.statSync(source).size <= SMALL_FILE) {
          // Small files: one read, one write, no stream machinery.
          const bytes = await fs.promises.readFile(source);
          actual = crypto.createHash('md5').update(bytes).digest('hex');
          if (actual === md5) {
            await fs.promises.writeFile(tmp, bytes);
          }
        } else {
          const hash = hashingStream();
          await pipeline(fs.createReadStream(source, { highWaterMark: 1 << 20 }), hash, fs.createWriteStream(tmp, { mode: 0o666 }));
          actual = hash.md5();
        }
        if (actual === md5) {
          fs.renameSync(tmp, dest);
          renamed = true;
          this.state.remember(dest, md5);
          return;
        }
      } finally {
        if (!renamed) {
          fs.rmSync(tmp, { force: true });
        }
      }
      cache.remove(md5);
      this.verified.delete(md5);
      const r = remote();
      if (attempt > 0 || !r) {
        throw new StorageError(`cache object ${md5} for ${dest} is corrupt${r ? ' on the remote too' : ' and no remote is configured to fetch it again'}`, { md5 });
      }
      await this.fetchObjects(r, [md5], 1);
    }
  }

  /** The commit whose .dvc file for `name` is the one in the work tree (HEAD first), or null. */
  private async committedRev(name: string): Promise<string | null> {
    const file = path.join(this.root, this.dvcPath(name));
    if (!fs.existsSync(file)) {
      return null;
    }
    const blob = await this.git.hashObject(file);
    const head = await this.git.head();
    if (head && (await this.git.blobAt(head, this.dvcPath(name))) === blob) {
      return head;
    }
    for (const c of await this.git.log(this.dvcPath(name))) {
      if ((await this.git.blobAt(c.commit, this.dvcPath(name))) === blob) {
        return c.commit;
      }
    }
    return null;
  }

  // ---- lineage reference ---------------------------------------------------------------------

  /**
   * The dataset as it is checked out now, for a training run to record: the commit whose .dvc file
   * is the current one, its .dir md5, the folder and the catalog image ids of its manifest. Refuses
   * when the workspace or the .dvc file has uncommitted changes (the run could not be reproduced).
   */
  async ref(name: string): Promise<IDatasetRef> {
    checkName(name);
    const [status] = (await this.status({ name })).datasets;
    if (!status.md5) {
      throw new NotFoundError(`no dataset ${name}: ${this.dvcPath(name)} does not exist`, { name });
    }
    if (status.workspace !== 'clean') {
      throw new ChangelabError(`dataset ${name} has uncommitted changes (${status.workspace}); commit it (dataset.commit) before a run records it`, {
        name,
        status: status.workspace
      });
    }
    const rev = status.rev;
    if (!rev) {
      throw new ChangelabError(`${this.dvcPath(name)} is not committed to git; commit it (dataset.commit) first`, { name });
    }
    const folder = this.folder(name);
    let imageIds: number[] = [];
    const manifestFile = path.join(folder, MANIFEST_FILE);
    if (fs.existsSync(manifestFile)) {
      const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as IDatasetManifest;
      imageIds = [...new Set((manifest.images ?? []).map(i => i.id).filter((id): id is number => typeof id === 'number'))].sort((a, b) => a - b);
    }
    return { name, rev, md5: status.md5, path: folder, imageIds };
  }
}

function compareTrees(a: ITreeEntry[], b: ITreeEntry[]): Pick<IFileChanges, 'added' | 'deleted' | 'modified'> {
  const left = new Map(a.map(e => [e.relpath, e.md5]));
  const right = new Map(b.map(e => [e.relpath, e.md5]));
  const added = [...right.keys()].filter(k => !left.has(k)).sort();
  const deleted = [...left.keys()].filter(k => !right.has(k)).sort();
  const modified = [...right.keys()].filter(k => left.has(k) && left.get(k) !== right.get(k)).sort();
  return { added, deleted, modified };
}

function removeEmptyDirs(dir: string): boolean {
  if (!fs.existsSync(dir)) {
    return true;
  }
  let empty = true;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (removeEmptyDirs(path.join(dir, entry.name))) {
        fs.rmdirSync(path.join(dir, entry.name));
      } else {
        empty = false;
      }
    } else {
      empty = false;
    }
  }
  return empty;
}
