// `changelab dataset …` from a terminal, on a fresh folder with a folder remote (no services):
// build, commit, push, log, diff, status (exit code 1 when dirty), checkout of a tag, pull into a
// clone, and usage errors with exit code 2.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers';
import { folderDigest, git } from '../kernel-lib/dataset/support';

const CLI = path.resolve(__dirname, '..', '..', 'kernel-lib', 'lib', 'cli.js');
const dirs: string[] = [];
afterAll(() => dirs.forEach(d => fs.rmSync(d, { recursive: true, force: true })));

async function cli(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'dataset', ...args], { cwd, env: { ...process.env, CHANGELAB_CONFIG: '' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('changelab dataset CLI', () => {
  it('builds, commits, pushes, shows history and diffs, and checks out a tag', async () => {
    const root = tempDir('changelab-ds-cli-');
    const shelf = tempDir('changelab-ds-cli-remote-');
    dirs.push(root, shelf);
    expect((await cli(root, 'remote', 'add', 'shelf', shelf)).code).toBe(0);
    const built = await cli(root, 'build', 'chips', '--synthetic', '1', '--size', '256', '--chip', '64', '--json');
    expect(built.code).toBe(0);
    expect(JSON.parse(built.stdout)).toMatchObject({ name: 'chips', chips: 16 });
    expect((await cli(root, 'commit', 'chips', '-m', 'first', '--tag', 'v1')).stdout).toMatch(/^chips [0-9a-f]{7}: 49 files/);
    const v1 = folderDigest(path.join(root, 'datasets', 'chips'));
    const pushed = JSON.parse((await cli(root, 'push', '--json')).stdout);
    expect(pushed).toMatchObject({ direction: 'push', remote: 'shelf', transferred: 50, skipped: 0 });

    fs.writeFileSync(path.join(root, 'datasets', 'chips', 'extra.txt'), 'more');
    const dirty = await cli(root, 'status', '--json');
    expect(dirty.code).toBe(1);
    expect(JSON.parse(dirty.stdout)[0]).toMatchObject({ name: 'chips', workspace: 'modified', added: ['extra.txt'] });
    expect((await cli(root, 'commit', 'chips', '-m', 'second')).code).toBe(0);
    expect((await cli(root, 'status')).code).toBe(0);

    const log = JSON.parse((await cli(root, 'log', 'chips', '--json')).stdout) as Array<{ message: string; tags: string[]; nfiles: number }>;
    expect(log.map(v => [v.message, v.tags, v.nfiles])).toEqual([['second', [], 50], ['first', ['v1'], 49]]);
    const diff = JSON.parse((await cli(root, 'diff', 'v1', 'HEAD', '--json')).stdout);
    expect(diff.summary).toEqual({ added: 1, deleted: 0, modified: 0 });
    expect(diff.datasets[0].added).toEqual(['extra.txt']);

    expect((await cli(root, 'checkout', 'v1')).code).toBe(0);
    expect(folderDigest(path.join(root, 'datasets', 'chips'))).toEqual(v1);

    // A clone pulls what was pushed (v1 only was pushed, so check that version out there).
    const clone = tempDir('changelab-ds-cli-clone-');
    dirs.push(clone);
    git(clone, 'clone', '-q', root, '.');
    expect((await cli(clone, 'checkout', 'v1')).code).toBe(0);
    expect(folderDigest(path.join(clone, 'datasets', 'chips'))).toEqual(v1);
  }, 120_000);

  it('answers usage mistakes with exit code 2 and a message', async () => {
    const root = tempDir('changelab-ds-cli-');
    dirs.push(root);
    const noMessage = await cli(root, 'commit', 'chips');
    expect(noMessage.code).toBe(2);
    expect(noMessage.stderr).toMatch(/commit needs a NAME and -m MESSAGE/);
    expect((await cli(root, 'frobnicate')).code).toBe(2);
    expect((await cli(root, 'build', 'x', '--chip', 'big', '--synthetic', '1')).stderr).toMatch(/--chip must be a number/);
    const missing = await cli(root, 'checkout', 'v9');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not a git commit, branch or tag/);
  });
});
