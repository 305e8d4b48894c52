// Interop with the real DVC (3.67.1 from .venv-oracles-dvc) on the same repository and the same
// remote: MinIO (a fresh bucket per test) and a local folder. What we write, DVC reads byte for byte,
// and the reverse; `dvc status` / `dvc status -c` are clean after our operations.
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetRepository } from '../../kernel-lib/src/dataset/repository';
import { tempDir } from '../helpers';
import {
  dvc,
  dvcAvailable,
  dvcS3Remote,
  folderDigest,
  freshBucket,
  git,
  gitRepo,
  listFiles,
  listKeys,
  removeBuckets,
  seededBytes,
  writeTrickyFolder
} from '../kernel-lib/dataset/support';

const hasDvc = dvcAvailable();
const cleanups: string[] = [];
afterAll(async () => {
  for (const dir of cleanups) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await removeBuckets();
});
const track = <T extends string>(dir: T) => (cleanups.push(dir), dir);

/** `dvc status --json` (and -c): `{}` means everything is in sync. */
const dvcStatus = (cwd: string, ...args: string[]) => JSON.parse(dvc(cwd, 'status', '--json', ...args) || '{}');

describe.runIf(hasDvc)('dataset versions against the real DVC', () => {
  it('writes the same .dvc file, .dir manifest, cache layout and .gitignore as `dvc add`', async () => {
    const ours = track(gitRepo());
    const theirs = track(gitRepo());
    writeTrickyFolder(path.join(ours, 'datasets', 'tricky'));
    writeTrickyFolder(path.join(theirs, 'datasets', 'tricky'));
    const repo = await DatasetRepository.open({ root: ours });
    const version = await repo.commit('tricky', 'first version');
    dvc(theirs, 'init', '-q');
    dvc(theirs, 'add', '-q', 'datasets/tricky');

    const read = (root: string, rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');
    expect(read(ours, 'datasets/tricky.dvc')).toBe(read(theirs, 'datasets/tricky.dvc'));
    expect(read(ours, 'datasets/.gitignore')).toBe(read(theirs, 'datasets/.gitignore'));
    expect(read(ours, '.dvc/.gitignore')).toBe(read(theirs, '.dvc/.gitignore'));
    expect(read(ours, '.dvcignore')).toBe(read(theirs, '.dvcignore'));
    expect(listFiles(path.join(ours, '.dvc/cache/files'))).toEqual(listFiles(path.join(theirs, '.dvc/cache/files')));
    expect(folderDigest(path.join(ours, '.dvc/cache/files'))).toEqual(folderDigest(path.join(theirs, '.dvc/cache/files')));
    expect(version.nfiles).toBe(10);
    // Cache objects are read-only, as DVC protects them.
    const dirObject = path.join(ours, '.dvc/cache/files/md5', version.md5.slice(0, 2), version.md5.slice(2));
    expect(fs.statSync(dirObject).mode & 0o777).toBe(0o444);
    // The real dvc sees our repository as clean and the .dvc file committed.
    expect(dvcStatus(ours)).toEqual({});
    expect(git(ours, 'status', '--porcelain')).toBe('');
  });

  it('what we push to MinIO, `dvc pull` restores byte for byte in a fresh clone; dvc status -c is clean', async () => {
    const bucket = (await freshBucket('dvc-push'))!;
    const root = track(gitRepo());
    const folder = path.join(root, 'datasets', 'chips');
    writeTrickyFolder(folder, 'v1');
    fs.writeFileSync(path.join(folder, 'big.bin'), seededBytes('big', 40 * 1024 * 1024 + 123)); // multipart upload
    const repo = await DatasetRepository.open({ root });
    repo.setRemote('minio', bucket.url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    await repo.commit('chips', 'v1');
    const pushed = await repo.push();
    expect(pushed.transferred).toBe(12); // 11 distinct files + the .dir
    expect((await repo.push()).transferred).toBe(0); // nothing left to do
    expect(dvcStatus(root, '-c')).toEqual({});
    // Credentials stay out of git.
    expect(git(root, 'ls-files')).not.toContain('config.local');
    expect(git(root, 'show', 'HEAD:.dvc/config')).not.toContain(bucket.secretKey);

    const clone = track(tempDir('changelab-ds-clone-'));
    git(clone, 'clone', '-q', root, '.');
    dvc(clone, 'remote', 'modify', '--local', 'minio', 'access_key_id', bucket.accessKey);
    dvc(clone, 'remote', 'modify', '--local', 'minio', 'secret_access_key', bucket.secretKey);
    dvc(clone, 'pull', '-q');
    expect(folderDigest(path.join(clone, 'datasets', 'chips'))).toEqual(folderDigest(folder));
    expect(dvcStatus(clone)).toEqual({});
  }, 120_000);

  it('what `dvc add` + `dvc push` produced, our pull and checkout restore (two versions, from a fresh clone)', async () => {
    const bucket = (await freshBucket('dvc-theirs'))!;
    const root = track(gitRepo());
    dvc(root, 'init', '-q');
    dvcS3Remote(root, bucket);
    const folder = path.join(root, 'datasets', 'scenes');
    writeTrickyFolder(folder, 'one');
    dvc(root, 'add', '-q', 'datasets/scenes');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'scenes v1');
    git(root, 'tag', 'v1');
    const v1 = folderDigest(folder);
    fs.rmSync(path.join(folder, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'a.txt'), 'changed');
    fs.writeFileSync(path.join(folder, 'new.bin'), seededBytes('new', 3000));
    dvc(root, 'add', '-q', 'datasets/scenes');
    git(root, 'commit', '-q', '-am', 'scenes v2');
    const v2 = folderDigest(folder);
    dvc(root, 'push', '-q', '--all-commits');

    const clone = track(tempDir('changelab-ds-clone-'));
    git(clone, 'clone', '-q', root, '.');
    const repo = await DatasetRepository.open({ root: clone });
    repo.setRemote('minio', bucket.url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    const pulled = await repo.pull();
    expect(pulled.transferred).toBeGreaterThan(0);
    expect(folderDigest(path.join(clone, 'datasets', 'scenes'))).toEqual(v2);
    await repo.checkout('v1');
    expect(folderDigest(path.join(clone, 'datasets', 'scenes'))).toEqual(v1);
    expect(dvcStatus(clone)).toEqual({});
    await repo.checkout('HEAD');
    expect(folderDigest(path.join(clone, 'datasets', 'scenes'))).toEqual(v2);
    expect(dvcStatus(clone)).toEqual({});
    expect(dvcStatus(clone, '-c')).toEqual({});

    // Our history and diff agree with git and `dvc diff`.
    const versions = (await repo.log('scenes')).versions;
    expect(versions.map(v => v.message)).toEqual(['scenes v2', 'scenes v1']);
    expect(versions[1].tags).toEqual(['v1']);
    const ours = await repo.diff('v1', 'HEAD');
    const theirs = JSON.parse(dvc(clone, 'diff', '--json', 'v1', 'HEAD')) as Record<string, Array<{ path: string }>>;
    const files = (k: string) =>
      (theirs[k] ?? [])
        .map(e => e.path)
        .filter(p => !p.endsWith('/'))
        .map(p => p.replace(/^datasets\/scenes\//, ''))
        .sort();
    expect(ours.datasets[0].added).toEqual(files('added'));
    expect(ours.datasets[0].deleted).toEqual(files('deleted'));
    expect(ours.datasets[0].modified).toEqual(files('modified'));
    expect(ours.summary).toEqual({ added: 1, deleted: 2, modified: 1 });
  }, 120_000);

  it('a local-folder remote works both ways with dvc', async () => {
    const remoteDir = track(tempDir('changelab-ds-remote-'));
    const root = track(gitRepo());
    writeTrickyFolder(path.join(root, 'datasets', 'local'), 'loc');
    const repo = await DatasetRepository.open({ root });
    repo.setRemote('shelf', remoteDir);
    await repo.commit('local', 'v1');
    await repo.push();
    expect(dvcStatus(root, '-c')).toEqual({});
    const clone = track(tempDir('changelab-ds-clone-'));
    git(clone, 'clone', '-q', root, '.');
    dvc(clone, 'pull', '-q');
    expect(folderDigest(path.join(clone, 'datasets', 'local'))).toEqual(folderDigest(path.join(root, 'datasets', 'local')));

    // And the reverse: dvc pushes a new version, we pull it.
    fs.writeFileSync(path.join(clone, 'datasets', 'local', 'added-by-dvc.txt'), 'from dvc');
    dvc(clone, 'add', '-q', 'datasets/local');
    git(clone, 'commit', '-q', '-am', 'v2 by dvc');
    dvc(clone, 'push', '-q');
    git(root, 'pull', '-q', clone, 'HEAD');
    await repo.pull();
    expect(folderDigest(path.join(root, 'datasets', 'local'))).toEqual(folderDigest(path.join(clone, 'datasets', 'local')));
    expect(dvcStatus(root)).toEqual({});
  }, 60_000);

  it('a corrupted cache file is detected by its hash and fetched again from the remote', async () => {
    const bucket = (await freshBucket('dvc-corrupt'))!;
    const root = track(gitRepo());
    const folder = path.join(root, 'datasets', 'c');
    writeTrickyFolder(folder, 'c');
    const repo = await DatasetRepository.open({ root });
    repo.setRemote('minio', bucket.url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    await repo.commit('c', 'v1');
    await repo.push();
    const expected = folderDigest(folder);
    const tree = JSON.parse(fs.readFileSync(repo.cache.path((await repo.log('c')).versions[0].md5), 'utf8')) as Array<{ md5: string; relpath: string }>;
    const victim = tree.find(e => e.relpath === 'sub/deeper/c.tif')!;
    const cached = repo.cache.path(victim.md5);
    fs.chmodSync(cached, 0o644);
    const bytes = fs.readFileSync(cached);
    bytes[100] ^= 0xff;
    fs.writeFileSync(cached, bytes);
    fs.rmSync(folder, { recursive: true });
    await repo.checkout();
    expect(folderDigest(folder)).toEqual(expected);
    expect(dvc(root, 'status', '--json')).toMatch(/^\{\}\s*$/);
    // Without a remote, the same corruption is an error naming the object, not wrong bytes.
    fs.chmodSync(repo.cache.path(victim.md5), 0o644);
    fs.writeFileSync(repo.cache.path(victim.md5), Buffer.from('garbage'));
    fs.rmSync(folder, { recursive: true });
    fs.writeFileSync(path.join(root, '.dvc', 'config'), '');
    await expect(repo.checkout()).rejects.toThrow(/corrupt/);
    expect(fs.existsSync(path.join(folder, 'sub/deeper/c.tif'))).toBe(false);
  }, 60_000);

  it('every object on the remote is whole and hashes to its name', async () => {
    const bucket = (await freshBucket('dvc-whole'))!;
    const root = track(gitRepo());
    writeTrickyFolder(path.join(root, 'datasets', 'w'), 'w');
    const repo = await DatasetRepository.open({ root });
    repo.setRemote('minio', bucket.url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    await repo.commit('w', 'v1');
    await repo.push();
    const keys = await listKeys(bucket);
    expect(keys.length).toBe(11);
    const crypto = await import('crypto');
    for (const key of keys) {
      const m = /store\/files\/md5\/([0-9a-f]{2})\/([0-9a-f]{30})(\.dir)?$/.exec(key);
      expect(m, key).not.toBeNull();
      const chunks: Buffer[] = [];
      for await (const c of await bucket.client.getObject(bucket.bucket, key)) {
        chunks.push(c as Buffer);
      }
      expect(crypto.createHash('md5').update(Buffer.concat(chunks)).digest('hex')).toBe(m![1] + m![2]);
    }
  }, 60_000);
});
