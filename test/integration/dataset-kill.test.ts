// Push and pull survive kill -9: a transfer killed mid-way leaves only whole, correctly named
// objects on the remote and in the cache, and running it again transfers just the rest.
import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetRepository } from '../../kernel-lib/src/dataset/repository';
import { tempDir } from '../helpers';
import { ROOT, dvc, dvcAvailable, folderDigest, freshBucket, git, gitRepo, listKeys, removeBuckets, seededBytes, type IS3Bucket } from '../kernel-lib/dataset/support';

const hasDvc = dvcAvailable();
const cleanups: string[] = [];
afterAll(async () => {
  cleanups.forEach(d => fs.rmSync(d, { recursive: true, force: true }));
  await removeBuckets();
});

const CHILD = path.join(ROOT, 'test', 'kernel-lib', 'dataset', 'transfer-child.ts');

/** Starts a push or pull in a child process and kill -9s it once `after` objects are done. */
function killMidway(direction: 'push' | 'pull', root: string, after: number): Promise<{ killedAt: number; finished: boolean }> {
  return new Promise((resolve, reject) => {
    // node itself (not the tsx wrapper, which would leave its node child running after a SIGKILL).
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, direction, root], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let done = 0;
    let finished = false;
    let stderr = '';
    child.stderr.on('data', d => (stderr += d));
    child.stdout.on('data', (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        const m = /^progress (\d+)/.exec(line);
        if (m) {
          done = Number(m[1]);
          if (done >= after && child.exitCode === null) {
            child.kill('SIGKILL');
          }
        }
        if (line.startsWith('done')) {
          finished = true;
        }
      }
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) {
        reject(new Error(`child ${direction} failed (${code}): ${stderr}`));
      } else {
        resolve({ killedAt: done, finished });
      }
    });
  });
}

/**
 * The remote's keys once the server has settled: a request whose body MinIO had fully received
 * when the client was killed may still be committed a moment later (whole, as the checks below
 * verify), so count only after two listings 500 ms apart agree.
 */
async function settledKeys(bucket: IS3Bucket): Promise<string[]> {
  let keys = await listKeys(bucket);
  for (let i = 0; i < 20; i++) {
    await new Promise(resolve => setTimeout(resolve, 500));
    const again = await listKeys(bucket);
    if (again.length === keys.length) {
      return again;
    }
    keys = again;
  }
  return keys;
}

async function objectsAreWhole(bucket: IS3Bucket): Promise<number> {
  const keys = await settledKeys(bucket);
  for (const key of keys) {
    const m = /files\/md5\/([0-9a-f]{2})\/([0-9a-f]{30})(\.dir)?$/.exec(key)!;
    const hash = crypto.createHash('md5');
    for await (const c of await bucket.client.getObject(bucket.bucket, key)) {
      hash.update(c as Buffer);
    }
    expect(hash.digest('hex'), key).toBe(m[1] + m[2]);
  }
  return keys.length;
}

function cacheIsWhole(root: string): number {
  const dir = path.join(root, '.dvc', 'cache', 'files', 'md5');
  let n = 0;
  for (const p of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    for (const rest of fs.readdirSync(path.join(dir, p))) {
      const bytes = fs.readFileSync(path.join(dir, p, rest));
      expect(crypto.createHash('md5').update(bytes).digest('hex'), rest).toBe((p + rest).replace(/\.dir$/, ''));
      n++;
    }
  }
  return n;
}

describe.runIf(hasDvc)('dataset transfers under kill -9', () => {
  it('a killed push leaves only whole objects and no .dir; the rerun uploads the rest; dvc pull restores the bytes', async () => {
    const bucket = (await freshBucket('dvc-kill'))!;
    const root = gitRepo();
    cleanups.push(root);
    const folder = path.join(root, 'datasets', 'many');
    fs.mkdirSync(folder, { recursive: true });
    for (let i = 0; i < 240; i++) {
      fs.writeFileSync(path.join(folder, `chip-${String(i).padStart(4, '0')}.bin`), seededBytes(`k${i}`, 60_000 + i));
    }
    fs.writeFileSync(path.join(folder, 'big-1.bin'), seededBytes('big-1', 35 * 1024 * 1024));
    const repo = await DatasetRepository.open({ root });
    repo.setRemote('minio', bucket.url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    await repo.commit('many', 'v1');

    const { killedAt, finished } = await killMidway('push', root, 60);
    expect(finished).toBe(false);
    const onRemote = await objectsAreWhole(bucket);
    expect(onRemote).toBeGreaterThanOrEqual(killedAt);
    expect(onRemote).toBeLessThan(242);
    expect((await listKeys(bucket)).some(k => k.endsWith('.dir'))).toBe(false);
    expect(JSON.parse(dvc(root, 'status', '--json', '-c'))).toMatchObject({ 'datasets/many': 'new' });

    const resumed = await repo.push({ jobs: 4 });
    expect(resumed.skipped).toBe(onRemote);
    expect(resumed.transferred).toBe(242 - onRemote);
    expect(await objectsAreWhole(bucket)).toBe(242);
    expect(dvc(root, 'status', '--json', '-c')).toMatch(/^\{\}\s*$/);

    // A pull killed mid-way leaves only verified objects in the cache; the rerun completes it.
    const clone = tempDir('changelab-ds-clone-');
    cleanups.push(clone);
    git(clone, 'clone', '-q', root, '.');
    const cloned = await DatasetRepository.open({ root: clone });
    cloned.setRemote('minio', bucket.url, { endpoint: bucket.endpoint, accessKeyId: bucket.accessKey, secretAccessKey: bucket.secretKey });
    const pulledKill = await killMidway('pull', clone, 40);
    expect(pulledKill.finished).toBe(false);
    const inCache = cacheIsWhole(clone);
    expect(inCache).toBeGreaterThan(0);
    expect(inCache).toBeLessThan(242);
    const rest = await cloned.pull({ jobs: 4 });
    expect(rest.transferred).toBe(241 - (inCache - 1)); // files only; the .dir was already in the cache
    expect(folderDigest(path.join(clone, 'datasets', 'many'))).toEqual(folderDigest(folder));
    expect(fs.readdirSync(path.join(clone, '.dvc', 'cache', '.changelab-tmp'))).toEqual([]);
    expect(dvc(clone, 'status', '--json')).toMatch(/^\{\}\s*$/);
  }, 240_000);
});
