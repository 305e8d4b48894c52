// The git side of dataset versions, through the system `git` command (a DVC user has git): the
// `.dvc` files are committed, and a version is a git commit or tag.
import { execFile } from 'child_process';
import * as os from 'os';
import { ChangelabError, NotFoundError } from '../errors';

export class GitError extends ChangelabError {}

export interface IGitResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class Git {
  private identity: NodeJS.ProcessEnv | undefined;

  constructor(readonly cwd: string) {}

  run(args: string[], options: { allowFail?: boolean; env?: NodeJS.ProcessEnv; maxBuffer?: number } = {}): Promise<IGitResult> {
    return new Promise((resolve, reject) => {
      execFile(
        'git',
        args,
        { cwd: this.cwd, env: { ...process.env, ...options.env }, maxBuffer: options.maxBuffer ?? 256 * 1024 * 1024, encoding: 'buffer' },
        (error, stdout, stderr) => {
          const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : -1) : 0;
          const result = { stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), code };
          if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
            reject(new GitError('git is not installed (or not on PATH); dataset versions need the git command', { cwd: this.cwd }));
          } else if (error && !options.allowFail) {
            reject(new GitError(`git ${args[0]} failed in ${this.cwd}: ${result.stderr.trim() || error.message}`, { args, cwd: this.cwd }));
          } else {
            resolve(result);
          }
        }
      );
    });
  }

  async out(...args: string[]): Promise<string> {
    return (await this.run(args)).stdout;
  }

  /** Whether cwd is inside a git work tree. */
  async isRepo(): Promise<boolean> {
    const r = await this.run(['rev-parse', '--is-inside-work-tree'], { allowFail: true });
    return r.code === 0 && r.stdout.trim() === 'true';
  }

  async init(): Promise<void> {
    await this.run(['init', '--quiet']);
  }

  /** Author and committer for commits where git has none configured (a fresh machine or CI). */
  private async identityEnv(): Promise<NodeJS.ProcessEnv> {
    if (this.identity === undefined) {
      const r = await this.run(['var', 'GIT_AUTHOR_IDENT'], { allowFail: true });
      if (r.code === 0) {
        this.identity = {};
      } else {
        const user = safeUser();
        const email = `${user}@${os.hostname() || 'localhost'}`;
        this.identity = { GIT_AUTHOR_NAME: user, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: user, GIT_COMMITTER_EMAIL: email };
      }
    }
    return this.identity;
  }

  async add(paths: string[]): Promise<void> {
    if (paths.length > 0) {
      await this.run(['add', '--', ...paths]);
    }
  }

  /** Commits exactly these paths; returns the new commit, or undefined when nothing changed. */
  async commit(message: string, paths: string[]): Promise<string | undefined> {
    await this.add(paths);
    const staged = await this.run(['diff', '--cached', '--quiet', '--', ...paths], { allowFail: true });
    if (staged.code === 0) {
      return undefined;
    }
    await this.run(['commit', '--quiet', '--no-verify', '-m', message, '--', ...paths], { env: await this.identityEnv() });
    return (await this.out('rev-parse', 'HEAD')).trim();
  }

  async tag(name: string, rev = 'HEAD'): Promise<void> {
    await this.run(['tag', name, rev], { env: await this.identityEnv() });
  }

  /** The full commit id of a rev or tag; NotFoundError when it names none. */
  async resolve(rev: string): Promise<string> {
    const r = await this.run(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { allowFail: true });
    if (r.code !== 0) {
      throw new NotFoundError(`${JSON.stringify(rev)} is not a git commit, branch or tag of ${this.cwd}`, { rev });
    }
    return r.stdout.trim();
  }

  async head(): Promise<string | undefined> {
    const r = await this.run(['rev-parse', '--verify', '--quiet', 'HEAD'], { allowFail: true });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  /** A file's text at a rev (path relative to cwd), or undefined when the rev has no such file. */
  async show(rev: string, file: string): Promise<string | undefined> {
    const r = await this.run(['show', `${rev}:./${file}`], { allowFail: true });
    return r.code === 0 ? r.stdout : undefined;
  }

  /** Files under a folder at a rev (paths relative to cwd). */
  async listFiles(rev: string, folder: string): Promise<string[]> {
    const r = await this.run(['ls-tree', '-r', '--name-only', '--full-name', rev, '--', folder], { allowFail: true });
    if (r.code !== 0) {
      return [];
    }
    const prefix = (await this.out('rev-parse', '--show-prefix')).trim();
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map(p => (prefix && p.startsWith(prefix) ? p.slice(prefix.length) : p));
  }

  /** Commits that changed `file`, newest first. */
  async log(file: string): Promise<Array<{ commit: string; author: string; email: string; date: string; message: string }>> {
    if (!(await this.head())) {
      return [];
    }
    const out = await this.out('log', '--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B%x1e', '--', file);
    return out
      .split('\x1e')
      .map(s => s.replace(/^\n/, ''))
      .filter(s => s.trim() !== '')
      .map(s => {
        const [commit, author, email, date, message] = s.split('\x1f');
        return { commit, author, email, date, message: message.trim() };
      });
  }

  /** The blob id git would give these bytes. */
  async hashObject(file: string): Promise<string> {
    return (await this.out('hash-object', '--', file)).trim();
  }

  async blobAt(rev: string, file: string): Promise<string | undefined> {
    const r = await this.run(['rev-parse', '--verify', '--quiet', `${rev}:./${file}`], { allowFail: true });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  /** Tags pointing at each commit. */
  async tags(): Promise<Map<string, string[]>> {
    const r = await this.run(['for-each-ref', '--format=%(objectname) %(*objectname) %(refname:short)', 'refs/tags'], { allowFail: true });
    const map = new Map<string, string[]>();
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const parts = line.split(' ');
      const commit = parts.length === 3 && parts[1] ? parts[1] : parts[0];
      const name = parts[parts.length - 1];
      map.set(commit, [...(map.get(commit) ?? []), name]);
    }
    return map;
  }
}

function safeUser(): string {
  try {
    return os.userInfo().username || 'changelab';
  } catch {
    return 'changelab';
  }
}
