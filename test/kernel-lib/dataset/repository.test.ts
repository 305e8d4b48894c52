// The dataset repository on its own (git + a local-folder remote, no services): nothing is lost on
// checkout, status and diff see workspace changes, repeated commits are no-ops, and mistakes get
// errors that say what to do.
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetRepository } from '../../../kernel-lib/src/dataset/repository';
import { tempDir } from '../../helpers';
import { folderDigest, git, gitRepo, writeTrickyFolder } from './support';

const dirs: string[] = [];
afterAll(() => dirs.forEach(d => fs.rmSync(d, { recursive: true, force: true })));

async function fresh(): Promise<{ root: string; repo: DatasetRepository; folder: string }> {
  const root = gitRepo();
  dirs.push(root);
  const folder = path.join(root, 'datasets', 'd');
  writeTrickyFolder(folder, 'r1');
  return { root, repo: await DatasetRepository.open({ root }), folder };
}

describe('dataset repository', () => {
  it('initialises git and DVC files in an empty folder', async () => {
    const root = tempDir('changelab-ds-init-');
    dirs.push(root);
    const repo = await DatasetRepository.open({ root });
    expect(fs.existsSync(path.join(root, '.git'))).toBe(true);
    expect(fs.readFileSync(path.join(root, '.dvc', '.gitignore'), 'utf8')).toBe('/config.local\n/tmp\n/cache\n');
    expect(repo.list()).toEqual([]);
    await expect(repo.checkout()).rejects.toThrow(/no datasets in this workspace/);
    await expect(repo.push()).rejects.toThrow(/no DVC remote is configured/);
  });

  it('commits only when the data changed, and tags on request', async () => {
    const { root, repo, folder } = await fresh();
    const v1 = await repo.commit('d', 'v1', { tag: 'first' });
    expect(v1.committed).toBe(true);
    const again = await repo.commit('d', 'nothing new');
    expect(again.committed).toBe(false);
    expect(again.rev).toBe(v1.rev);
    fs.writeFileSync(path.join(folder, 'a.txt'), 'edited');
    const v2 = await repo.commit('d', 'v2');
    expect(v2.md5).not.toBe(v1.md5);
    expect(git(root, 'log', '--format=%s').trim().split('\n')).toEqual(['v2', 'v1']);
    expect((await repo.log()).versions.map(v => [v.message, v.tags, v.nfiles])).toEqual([
      ['v2', [], 10],
      ['v1', ['first'], 10]
    ]);
    await expect(repo.commit('d', '  ')).rejects.toThrow(/needs a message/);
    await expect(repo.commit('missing', 'x')).rejects.toThrow(/does not exist; build or copy/);
  });

  it('status and diff see added, deleted and modified files in the workspace', async () => {
    const { repo, folder } = await fresh();
    await repo.commit('d', 'v1');
    expect((await repo.status()).clean).toBe(true);
    fs.writeFileSync(path.join(folder, 'a.txt'), 'edited');
    fs.rmSync(path.join(folder, 'empty.txt'));
    fs.writeFileSync(path.join(folder, 'sub', 'new.txt'), 'new');
    const [s] = (await repo.status()).datasets;
    expect(s).toMatchObject({ workspace: 'modified', added: ['sub/new.txt'], deleted: ['empty.txt'], modified: ['a.txt'] });
    const d = await repo.diff('HEAD');
    expect(d.summary).toEqual({ added: 1, deleted: 1, modified: 1 });
    expect(d.toDisplay().data['text/plain']).toContain('1 added, 1 deleted, 1 modified');
  });

  it('refuses a checkout that would lose uncommitted changes, and restores exact bytes when forced or committed', async () => {
    const { repo, folder } = await fresh();
    await repo.commit('d', 'v1', { tag: 'v1' });
    const v1 = folderDigest(folder);
    fs.writeFileSync(path.join(folder, 'a.txt'), 'precious work');
    await expect(repo.checkout('v1')).rejects.toThrow(/would lose 1 workspace change.*a\.txt/);
    expect(fs.readFileSync(path.join(folder, 'a.txt'), 'utf8')).toBe('precious work');
    await repo.commit('d', 'v2');
    const v2 = folderDigest(folder);
    await repo.checkout('v1');
    expect(folderDigest(folder)).toEqual(v1);
    await repo.checkout('HEAD');
    expect(folderDigest(folder)).toEqual(v2);
    fs.writeFileSync(path.join(folder, 'scratch.txt'), 'throwaway');
    await repo.checkout('v1', { force: true });
    expect(folderDigest(folder)).toEqual(v1);
    await expect(repo.checkout('no-such-tag')).rejects.toThrow(/not a git commit, branch or tag/);
  });

  it('restores from a folder remote when the cache is gone, and says where credentials go for S3', async () => {
    const { root, repo, folder } = await fresh();
    const remote = tempDir('changelab-ds-remote-');
    dirs.push(remote);
    repo.setRemote('shelf', remote);
    await repo.commit('d', 'v1');
    const summary = await repo.push();
    expect(summary.transferred).toBe(11);
    const expected = folderDigest(folder);
    fs.rmSync(path.join(root, '.dvc', 'cache'), { recursive: true });
    fs.rmSync(folder, { recursive: true });
    expect((await repo.status({ remote: true })).datasets[0].workspace).toBe('not in cache');
    await repo.pull();
    expect(folderDigest(folder)).toEqual(expected);
    expect((await repo.status({ remote: true })).clean).toBe(true);

    repo.setRemote('minio', 's3://some-bucket/prefix', { endpoint: 'http://127.0.0.1:1' });
    const env = { ...process.env };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      await expect(repo.push()).rejects.toThrow(/no credentials: set access_key_id and secret_access_key in \.dvc\/config\.local/);
    } finally {
      Object.assign(process.env, env);
    }
    expect(() => repo.setRemote('bad', 's3://Not_A_Bucket/x')).toThrow(/valid bucket name/);
  });
});
