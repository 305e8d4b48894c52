// Shared set-up for the dataset tests: the real DVC from .venv-oracles-dvc, git work trees with a
// seeded folder of files, and byte-for-byte folder comparison.
import { execFileSync, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as Minio from 'minio';
import { tempDir, testServices, uniqueName } from '../../helpers';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const DVC = path.join(ROOT, '.venv-oracles-dvc', 'bin', 'dvc');

/**
 * Whether the DVC oracle is installed. Missing is an error where services are required (npm test,
 * CI), so the interop tests can never be skipped silently there.
 */
export function dvcAvailable(): boolean {
  if (fs.existsSync(DVC)) {
    return true;
  }
  if (process.env.CHANGELAB_TEST_REQUIRE_SERVICES === '1') {
    throw new Error(`${DVC} is missing: run bash scripts/oracles.sh (scripts/requirements-oracles-dvc.txt)`);
  }
  return false;
}

const DVC_ENV = { ...process.env, DVC_NO_ANALYTICS: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };

/** Runs the real dvc; throws with its output when it fails. */
export function dvc(cwd: string, ...args: string[]): string {
  const r = spawnSync(DVC, args, { cwd, env: DVC_ENV, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    throw new Error(`dvc ${args.join(' ')} failed (${r.status}) in ${cwd}:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: DVC_ENV, encoding: 'utf8' });
}

/** A fresh git work tree. */
export function gitRepo(prefix = 'changelab-ds-'): string {
  const dir = tempDir(prefix);
  git(dir, 'init', '-q');
  git(dir, 'config', 'user.name', 'tester');
  git(dir, 'config', 'user.email', 'tester@example.com');
  return dir;
}

/** Seeded pseudo-random bytes. */
export function seededBytes(seed: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  let block = crypto.createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i, 0, Math.min(32, n - i));
    block = crypto.createHash('sha256').update(block).digest();
  }
  return out;
}

/** Files with the names that trip serializers: nesting, spaces, non-ASCII, quotes, an empty file. */
export function writeTrickyFolder(dir: string, seed = 'ds'): void {
  const files: Record<string, number> = {
    'a.txt': 100,
    'sub/b.bin': 5000,
    'sub/deeper/c.tif': 70000,
    'sp ace é.txt': 10,
    'quote"back\\slash.txt': 12,
    '한국어/이미지.tif': 300,
    'emoji-😀.txt': 7,
    'empty.txt': 0,
    'B-upper.txt': 20,
    'a-dash.txt': 21
  };
  for (const [rel, size] of Object.entries(files)) {
    const file = path.join(dir, ...rel.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, seededBytes(`${seed}/${rel}`, size));
  }
}

/** relpath -> sha256 of every file under dir. */
export function folderDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        walk(path.join(d, e.name), r);
      } else {
        out[r] = crypto.createHash('sha256').update(fs.readFileSync(path.join(d, e.name))).digest('hex');
      }
    }
  };
  if (fs.existsSync(dir)) {
    walk(dir, '');
  }
  return out;
}

/** Relative paths of every file under dir. */
export function listFiles(dir: string): string[] {
  return Object.keys(folderDigest(dir)).sort();
}

export interface IS3Bucket {
  url: string;
  bucket: string;
  endpoint: string;
  accessKey: string;
  secretKey: string;
  client: Minio.Client;
}

/** A fresh bucket on the test MinIO, or undefined when services are not configured. */
export async function freshBucket(prefix = 'dvc'): Promise<IS3Bucket | undefined> {
  const services = testServices();
  if (!services) {
    return undefined;
  }
  const u = new URL(services.s3.endpoint);
  const client = new Minio.Client({
    endPoint: u.hostname,
    port: Number(u.port),
    useSSL: false,
    accessKey: services.s3.accessKey,
    secretKey: services.s3.secretKey,
    region: 'us-east-1',
    pathStyle: true
  });
  const bucket = uniqueName(prefix).toLowerCase();
  await client.makeBucket(bucket);
  createdBuckets.push({ client, bucket });
  return { url: `s3://${bucket}/store`, bucket, endpoint: services.s3.endpoint, accessKey: services.s3.accessKey, secretKey: services.s3.secretKey, client };
}

const createdBuckets: Array<{ client: Minio.Client; bucket: string }> = [];

/** Empties and removes the buckets freshBucket made (call from afterAll). */
export async function removeBuckets(): Promise<void> {
  for (const { client, bucket } of createdBuckets.splice(0)) {
    const keys: string[] = [];
    for await (const item of client.listObjectsV2(bucket, '', true) as AsyncIterable<Minio.BucketItem>) {
      if (item.name) {
        keys.push(item.name);
      }
    }
    for (let i = 0; i < keys.length; i += 1000) {
      await client.removeObjects(bucket, keys.slice(i, i + 1000));
    }
    await client.removeBucket(bucket).catch(() => undefined);
  }
}

export async function listKeys(b: IS3Bucket): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of b.client.listObjectsV2(b.bucket, '', true) as AsyncIterable<Minio.BucketItem>) {
    if (item.name) {
      keys.push(item.name);
    }
  }
  return keys.sort();
}

/** Configures the same S3 remote through the real dvc (url + endpoint in config, keys in config.local). */
export function dvcS3Remote(cwd: string, b: IS3Bucket, name = 'minio'): void {
  dvc(cwd, 'remote', 'add', '-f', '-d', name, b.url);
  dvc(cwd, 'remote', 'modify', name, 'endpointurl', b.endpoint);
  dvc(cwd, 'remote', 'modify', '--local', name, 'access_key_id', b.accessKey);
  dvc(cwd, 'remote', 'modify', '--local', name, 'secret_access_key', b.secretKey);
}
