// The S3 remote's own request layer (SigV4-signed PUT / GET / HEAD and multipart uploads) against
// the real MinIO, with minio-js as the independent reader: keys under a prefix with spaces, '+',
// '%', '&', '=' and non-ASCII land exactly where DVC would put them, whole and hashing to their
// names; a multipart object is whole; a request signed with a wrong secret is refused with the
// server's reason and a push with it uploads nothing.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import * as http from 'http';
import { DatasetRepository } from '../../kernel-lib/src/dataset/repository';
import { S3Http, S3RequestError } from '../../kernel-lib/src/dataset/s3-http';
import { tempDir, testServices } from '../helpers';
import { folderDigest, freshBucket, git, gitRepo, listKeys, removeBuckets, seededBytes, writeTrickyFolder } from '../kernel-lib/dataset/support';

const services = testServices();
const dirs: string[] = [];
afterAll(async () => {
  dirs.forEach(d => fs.rmSync(d, { recursive: true, force: true }));
  await removeBuckets();
});

describe.runIf(services)('S3 remote requests', () => {
  it('push and pull under a prefix with spaces, +, %, &, = and non-ASCII: keys are the prefix as written + files/md5/xx/rest, objects whole', async () => {
    const bucket = (await freshBucket('ds-http'))!;
    const prefix = 'team data/v 1+2%41&x=y/été';
    const url = `s3://${bucket.bucket}/${prefix}`;
    const root = gitRepo();
    dirs.push(root);
    const folder = path.join(root, 'datasets', 'odd');
    writeTrickyFolder(folder, 'http');
    fs.writeFileSync(path.join(folder, 'big.bin'), seededBytes('big-http', 17 * 1024 * 1024 + 7)); // two parts
    const repo = await DatasetRepository.open({ root });
    repo.setRemote('minio', url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    await repo.commit('odd', 'v1');
    const pushed = await repo.push();
    expect(pushed.transferred).toBe(12); // 11 distinct files + the .dir

    const dirOid = (await repo.log('odd')).versions[0].md5;
    const tree = JSON.parse(fs.readFileSync(repo.cache.path(dirOid), 'utf8')) as Array<{ md5: string }>;
    const expected = [...new Set([...tree.map(e => e.md5), dirOid])].map(o => `${prefix}/files/md5/${o.slice(0, 2)}/${o.slice(2)}`).sort();
    const keys = await listKeys(bucket);
    expect(keys).toEqual(expected);
    for (const key of keys) {
      const hash = crypto.createHash('md5');
      for await (const c of await bucket.client.getObject(bucket.bucket, key)) {
        hash.update(c as Buffer);
      }
      const m = /files\/md5\/([0-9a-f]{2})\/([0-9a-f]{30})(\.dir)?$/.exec(key)!;
      expect(hash.digest('hex'), key).toBe(m[1] + m[2]);
    }
    // Nothing left to push: the HEAD / listing path sees every object.
    expect((await repo.push()).transferred).toBe(0);
    expect((await repo.status({ remote: true })).clean).toBe(true);

    const clone = tempDir('changelab-ds-http-clone-');
    dirs.push(clone);
    git(clone, 'clone', '-q', root, '.');
    const other = await DatasetRepository.open({ root: clone });
    other.setRemote('minio', url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    const pulled = await other.pull();
    expect(pulled.transferred).toBe(11);
    expect(folderDigest(path.join(clone, 'datasets', 'odd'))).toEqual(folderDigest(folder));
  }, 180_000);

  it('signs requests MinIO accepts, and one signed with a wrong secret is refused with the server reason', async () => {
    const bucket = (await freshBucket('ds-http-sign'))!;
    const agent = new http.Agent({ keepAlive: true });
    try {
      const endpoint = new URL(bucket.endpoint);
      const body = seededBytes('sign', 5000);
      const good = new S3Http(endpoint, { accessKey: bucket.accessKey, secretKey: bucket.secretKey }, 'us-east-1', agent);
      await good.request('PUT', bucket.bucket, 'dir with space/é+%.bin', { body });
      expect((await good.request('GET', bucket.bucket, 'dir with space/é+%.bin')).body.equals(body)).toBe(true);
      expect(await listKeys(bucket)).toEqual(['dir with space/é+%.bin']);
      const bad = new S3Http(endpoint, { accessKey: bucket.accessKey, secretKey: `${bucket.secretKey}x` }, 'us-east-1', agent);
      const error = await bad.request('PUT', bucket.bucket, 'other.bin', { body }).catch(e => e);
      expect(error).toBeInstanceOf(S3RequestError);
      expect(error).toMatchObject({ code: 'SignatureDoesNotMatch', statusCode: 403 });
      expect(await listKeys(bucket)).toEqual(['dir with space/é+%.bin']);
    } finally {
      agent.destroy();
    }
  });

  it('a push with a wrong secret key fails, naming the server reason, and uploads nothing', async () => {
    const bucket = (await freshBucket('ds-http-auth'))!;
    const root = gitRepo();
    dirs.push(root);
    fs.mkdirSync(path.join(root, 'datasets', 'one'), { recursive: true });
    fs.writeFileSync(path.join(root, 'datasets', 'one', 'a.bin'), seededBytes('auth', 1000));
    const repo = await DatasetRepository.open({ root });
    repo.setRemote('minio', bucket.url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: `${bucket.secretKey}x` });
    await repo.commit('one', 'v1');
    await expect(repo.push()).rejects.toThrow(/SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/);
    expect(await listKeys(bucket)).toEqual([]);
  }, 60_000);
});
