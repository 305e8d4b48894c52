// The S3 remote never shows a partial or wrong object: a big cache file (multipart upload) whose
// bytes no longer match its hash is refused after reading, its multipart upload aborted, and no
// object appears under its name; the small-file path refuses the same way.
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetRepository } from '../../kernel-lib/src/dataset/repository';
import { testServices } from '../helpers';
import { freshBucket, gitRepo, listKeys, removeBuckets, seededBytes } from '../kernel-lib/dataset/support';

const services = testServices();
const dirs: string[] = [];
afterAll(async () => {
  dirs.forEach(d => fs.rmSync(d, { recursive: true, force: true }));
  await removeBuckets();
});

describe.runIf(services)('S3 dataset remote', () => {
  it('refuses cache files that do not match their hash, leaving no object and no open multipart upload', async () => {
    const bucket = (await freshBucket('ds-remote'))!;
    const root = gitRepo();
    dirs.push(root);
    const folder = path.join(root, 'datasets', 'big');
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'big.bin'), seededBytes('big', 20 * 1024 * 1024 + 5));
    fs.writeFileSync(path.join(folder, 'small.bin'), seededBytes('small', 1000));
    const repo = await DatasetRepository.open({ root });
    repo.setRemote('minio', bucket.url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    await repo.commit('big', 'v1');
    const tree = JSON.parse(fs.readFileSync(repo.cache.path((await repo.log('big')).versions[0].md5), 'utf8')) as Array<{ md5: string; relpath: string }>;
    const corrupt = (relpath: string) => {
      const file = repo.cache.path(tree.find(e => e.relpath === relpath)!.md5);
      fs.chmodSync(file, 0o644);
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 1] ^= 1; // the last byte: only a reader of the whole file can tell
      fs.writeFileSync(file, bytes);
    };
    corrupt('big.bin');
    await expect(repo.push({ jobs: 1 })).rejects.toThrow(/does not match its hash/);
    const keys = await listKeys(bucket);
    expect(keys.some(k => k.endsWith(tree.find(e => e.relpath === 'big.bin')!.md5.slice(2)))).toBe(false);
    expect(keys.some(k => k.endsWith('.dir'))).toBe(false);
    const incomplete: unknown[] = [];
    for await (const u of bucket.client.listIncompleteUploads(bucket.bucket, '', true)) {
      incomplete.push(u);
    }
    expect(incomplete).toEqual([]);

    // Restoring the file from the workspace (commit again) lets the push complete.
    fs.rmSync(repo.cache.path(tree.find(e => e.relpath === 'big.bin')!.md5), { force: true });
    await repo.commit('big', 'v1 again');
    corrupt('small.bin');
    await expect(repo.push()).rejects.toThrow(/does not match its hash/);
    fs.rmSync(repo.cache.path(tree.find(e => e.relpath === 'small.bin')!.md5), { force: true });
    await repo.commit('big', 'v1 again');
    const summary = await repo.push();
    expect(summary.skipped + summary.transferred).toBe(3);
    expect((await repo.status({ remote: true })).clean).toBe(true);
  }, 120_000);
});
