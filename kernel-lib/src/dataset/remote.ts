// DVC remotes: an S3 API (MinIO, AWS, SeaweedFS; `s3://bucket/prefix` + `endpointurl`) or a local
// folder, both in DVC 3's layout `<url>/files/md5/xx/rest`. An object only ever appears whole: a
// single PUT (with Content-MD5) or a multipart upload (each part with its CRC-32) that is completed
// only after every byte was read and hashed to the expected md5 (aborted otherwise); a local remote
// writes a temporary file and renames it. Transient errors are retried with backoff. Object
// requests go through the lean SigV4 layer in s3-http.ts; listing and bucket creation through minio-js.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import * as zlib from 'zlib';
import * as Minio from 'minio';
import { ConfigError, NotFoundError, ServiceUnavailableError, StorageError } from '../errors';
import { hashingStream, oidKey } from './cache';
import type { IRemoteSettings } from './dvc-config';
import { errorFromResponse, S3Http } from './s3-http';

export interface IDvcRemote {
  readonly name: string;
  /** The remote's URL as DVC names it (s3://bucket/prefix or a folder). */
  readonly url: string;
  /** Which of these oids the remote holds. */
  has(oids: string[], concurrency: number): Promise<Set<string>>;
  /** Uploads a cache file whose md5 must be `oid` (without ".dir"); refuses bytes that differ. */
  upload(file: string, oid: string, size: number): Promise<void>;
  /** Downloads `oid` into `dest` (a temporary path); returns the md5 of the bytes written. */
  download(oid: string, dest: string): Promise<{ md5: string; size: number }>;
  close(): void;
}

/** Bytes held in memory by uploads at once, across all concurrent transfers. */
export class ByteBudget {
  private used = 0;
  private waiting: Array<() => void> = [];
  constructor(readonly limit: number) {}
  async acquire(n: number): Promise<void> {
    const want = Math.min(n, this.limit);
    while (this.used + want > this.limit) {
      await new Promise<void>(resolve => this.waiting.push(resolve));
    }
    this.used += want;
  }
  release(n: number): void {
    this.used -= Math.min(n, this.limit);
    const wake = this.waiting;
    this.waiting = [];
    wake.forEach(w => w());
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ESOCKETTIMEDOUT', 'EHOSTUNREACH',
  'SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'XMinioServerNotInitialized',
  'RequestTimeTooSkewed', 'OperationAborted'
]);

export function isTransient(error: unknown): boolean {
  const e = error as { code?: string; statusCode?: number; cause?: unknown };
  if ((e.code && TRANSIENT_CODES.has(e.code)) || (e.statusCode !== undefined && e.statusCode >= 500)) {
    return true;
  }
  return e.cause !== undefined && e.cause !== error ? isTransient(e.cause) : false;
}

/** Runs `work`, retrying transient failures (5 attempts, exponential backoff with jitter). */
export async function withRetries<T>(_what: string, work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransient(error)) {
        throw error;
      }
      const delay = Math.min(4000, 100 * 2 ** attempt) * (0.5 + Math.random());
      await new Promise(resolve => setTimeout(resolve, delay));
    }
  }
}

/** Runs `work` over items with at most `concurrency` at a time; the first error stops new work. */
export async function forEachLimit<T>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        await work(items[i], i);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failed !== undefined) {
    throw failed;
  }
}

// ---- local folder ----------------------------------------------------------------------------

export class LocalRemote implements IDvcRemote {
  constructor(
    readonly name: string,
    readonly url: string
  ) {}

  private file(oid: string) {
    return path.join(this.url, ...oidKey(oid).split('/'));
  }

  async has(oids: string[]): Promise<Set<string>> {
    return new Set(oids.filter(oid => fs.existsSync(this.file(oid))));
  }

  async upload(file: string, oid: string): Promise<void> {
    const dest = this.file(oid);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}-${crypto.randomBytes(6).toString('hex')}.tmp`;
    try {
      const hash = hashingStream();
      await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), hash, fs.createWriteStream(tmp));
      if (hash.md5() !== oid.replace(/\.dir$/, '')) {
        throw new StorageError(`cache file ${file} does not match its hash ${oid}; not uploaded (run pull or commit again)`, { oid });
      }
      fs.chmodSync(tmp, 0o444);
      fs.renameSync(tmp, dest);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async download(oid: string, dest: string): Promise<{ md5: string; size: number }> {
    const src = this.file(oid);
    if (!fs.existsSync(src)) {
      throw new NotFoundError(`${oid} is not in the remote ${this.name} (${this.url})`, { oid, remote: this.name });
    }
    const hash = hashingStream();
    await pipeline(fs.createReadStream(src, { highWaterMark: 1 << 20 }), hash, fs.createWriteStream(dest));
    return { md5: hash.md5(), size: hash.size() };
  }

  close(): void {}
}

// ---- S3 --------------------------------------------------------------------------------------

/** Objects up to this size go in one PUT; bigger ones as a multipart upload. */
const SINGLE_PUT_LIMIT = 16 * 1024 * 1024;
/** Files up to this size are read with one synchronous call (cheaper than the promise API's round trips). */
const SYNC_READ_LIMIT = 1024 * 1024;
const PART_SIZE = 16 * 1024 * 1024;
/** Parts of one file in flight at once. */
const PARTS_IN_FLIGHT = 4;

const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
/** The x-amz-checksum-crc32 value of a buffer: its CRC-32, big-endian, base64. */
const crc32Base64 = (data: Buffer) => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(zlib.crc32(data) >>> 0, 0);
  return b.toString('base64');
};

export class S3Remote implements IDvcRemote {
  /** For listing and bucket creation; the object transfers use `http`. */
  readonly client: Minio.Client;
  readonly http: S3Http;
  readonly bucket: string;
  readonly prefix: string;
  private readonly agent: http.Agent;
  private bucketChecked: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly url: string,
    settings: IRemoteSettings,
    readonly budget: ByteBudget,
    concurrency: number
  ) {
    // Taken from the string as DVC does (no URL parsing: a space, '%' or 'é' in the prefix stays itself).
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
    if (!m) {
      throw new ConfigError(`DVC remote "${name}" has an S3 URL without a bucket: ${url}`, { remote: name });
    }
    this.bucket = m[1];
    this.prefix = m[2].replace(/^\/+|\/+$/g, '');
    const endpoint = new URL(settings.endpointurl ?? 'https://s3.amazonaws.com');
    const accessKey = settings.access_key_id ?? process.env.AWS_ACCESS_KEY_ID;
    const secretKey = settings.secret_access_key ?? process.env.AWS_SECRET_ACCESS_KEY;
    if (!accessKey || !secretKey) {
      throw new ConfigError(
        `DVC remote "${name}" has no credentials: set access_key_id and secret_access_key in .dvc/config.local ` +
          '(`changelab dataset remote add ... --access-key-id --secret-access-key`, or `dvc remote modify --local`) ' +
          'or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY',
        { remote: name }
      );
    }
    const sessionToken = settings.all.session_token ?? process.env.AWS_SESSION_TOKEN;
    const region = settings.region ?? 'us-east-1';
    const useSSL = endpoint.protocol === 'https:';
    this.agent = useSSL
      ? new https.Agent({ keepAlive: true, maxSockets: concurrency * 2 })
      : new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 });
    this.client = new Minio.Client({
      endPoint: endpoint.hostname,
      port: endpoint.port ? Number(endpoint.port) : undefined,
      useSSL,
      accessKey,
      secretKey,
      sessionToken,
      region,
      pathStyle: true,
      transportAgent: this.agent
    });
    this.client.enableSHA256 = false;
    this.http = new S3Http(endpoint, { accessKey, secretKey, sessionToken }, region, this.agent);
  }

  private key(oid: string): string {
    return this.prefix ? `${this.prefix}/${oidKey(oid)}` : oidKey(oid);
  }

  /**
   * Part buffers are reused, not left to the garbage collector: freed 16 MiB buffers that wait for
   * a collection pushed the peak RSS of a 4 GB push to twice the budget. At most budget / part
   * size of them exist, since each is taken after the budget granted its bytes.
   */
  private readonly freeParts: Buffer[] = [];

  private takePartBuffer(): Buffer {
    return this.freeParts.pop() ?? Buffer.allocUnsafe(PART_SIZE);
  }

  private returnPartBuffer(buf: Buffer): void {
    this.freeParts.push(buf);
    this.budget.release(PART_SIZE);
  }

  private translate(cause: unknown, what: string, oid?: string): Error {
    const code = (cause as { code?: string }).code ?? '';
    const reason = (cause as Error).message;
    const message = `${what} (remote ${this.name}, ${this.url}): ${reason}${code && !reason.includes(code) ? ` (${code})` : ''}`;
    if (code === 'NoSuchKey' || code === 'NotFound') {
      return new NotFoundError(message, { oid, remote: this.name }, { cause });
    }
    if (code === 'NoSuchBucket') {
      return new NotFoundError(`${message}; create the bucket ${this.bucket} first`, { bucket: this.bucket }, { cause });
    }
    if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(code)) {
      return new ServiceUnavailableError(message, { endpoint: this.url }, { cause });
    }
    return new StorageError(message, { oid, remote: this.name, code }, { cause });
  }

  private ensureBucket(): Promise<void> {
    this.bucketChecked ??= (async () => {
      try {
        if (!(await withRetries('bucket', () => this.client.bucketExists(this.bucket)))) {
          await this.client.makeBucket(this.bucket);
        }
      } catch (cause) {
        this.bucketChecked = undefined;
        throw this.translate(cause, `cannot open bucket ${this.bucket}`);
      }
    })();
    return this.bucketChecked;
  }

  async has(oids: string[], concurrency: number): Promise<Set<string>> {
    await this.ensureBucket();
    const found = new Set<string>();
    if (oids.length <= 64) {
      await forEachLimit(oids, concurrency, async oid => {
        try {
          await withRetries('stat', () => this.http.request('HEAD', this.bucket, this.key(oid)));
          found.add(oid);
        } catch (cause) {
          const code = (cause as { code?: string }).code;
          if (code !== 'NotFound' && code !== 'NoSuchKey') {
            throw this.translate(cause, `cannot stat ${oid}`, oid);
          }
        }
      });
      return found;
    }
    // Many objects: list the 2-hex-digit folders they fall in, one listing per folder.
    const wanted = new Set(oids);
    const prefixes = [...new Set(oids.map(o => o.slice(0, 2)))];
    await forEachLimit(prefixes, concurrency, async p => {
      const dir = this.key(p + 'x').slice(0, -1);
      try {
        await withRetries('list', async () => {
          const stream = this.client.listObjectsV2(this.bucket, dir, true);
          for await (const item of stream as AsyncIterable<Minio.BucketItem>) {
            const oid = item.name ? p + item.name.slice(dir.length) : '';
            if (wanted.has(oid)) {
              found.add(oid);
            }
          }
        });
      } catch (cause) {
        throw this.translate(cause, `cannot list ${dir}`);
      }
    });
    return found;
  }

  async upload(file: string, oid: string, size: number): Promise<void> {
    await this.ensureBucket();
    const expected = oid.replace(/\.dir$/, '');
    if (size <= SINGLE_PUT_LIMIT) {
      await this.budget.acquire(size);
      try {
        const data = size <= SYNC_READ_LIMIT ? fs.readFileSync(file) : await fs.promises.readFile(file);
        const md5 = crypto.createHash('md5').update(data).digest('hex');
        if (md5 !== expected) {
          throw new StorageError(`cache file ${file} does not match its hash ${oid}; not uploaded`, { oid });
        }
        // The md5 that proved the bytes goes along as Content-MD5: the server rejects bytes damaged in transit.
        await withRetries('put', () =>
          this.http.request('PUT', this.bucket, this.key(oid), { body: data, headers: { 'content-md5': hexToBase64(md5) } })
        );
      } catch (cause) {
        throw cause instanceof StorageError ? cause : this.translate(cause, `cannot upload ${oid}`, oid);
      } finally {
        this.budget.release(size);
      }
      return;
    }
    await this.uploadMultipart(file, oid, expected);
  }

  /**
   * Parts read in order (hashing the whole file with md5), sent up to 4 at a time, each with its
   * CRC-32 for the server to check; completed only if the file's md5 matches, aborted otherwise.
   */
  private async uploadMultipart(file: string, oid: string, expected: string): Promise<void> {
    const key = this.key(oid);
    let uploadId: string;
    try {
      const res = await withRetries('initiate', () =>
        this.http.request('POST', this.bucket, key, { query: { uploads: '' }, headers: { 'x-amz-checksum-algorithm': 'CRC32' } })
      );
      const id = /<UploadId>([^<]+)<\/UploadId>/.exec(res.body.toString('utf8'))?.[1];
      if (!id) {
        throw new StorageError(`the server started no multipart upload for ${oid}: ${res.body.toString('utf8').slice(0, 200)}`, { oid });
      }
      uploadId = id;
    } catch (cause) {
      throw this.translate(cause, `cannot start uploading ${oid}`, oid);
    }
    const hash = crypto.createHash('md5');
    const parts: { part: number; etag: string; crc: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const handle = await fs.promises.open(file, 'r');
    try {
      for (let part = 1; failure === undefined; part++) {
        await this.budget.acquire(PART_SIZE);
        const buf = this.takePartBuffer();
        let n = 0;
        try {
          while (n < PART_SIZE) {
            const { bytesRead } = await handle.read(buf, n, PART_SIZE - n, null);
            if (bytesRead === 0) {
              break;
            }
            n += bytesRead;
          }
        } catch (error) {
          this.returnPartBuffer(buf);
          throw error;
        }
        if (n === 0) {
          this.returnPartBuffer(buf);
          break;
        }
        const chunk = buf.subarray(0, n);
        hash.update(chunk);
        const crc = crc32Base64(chunk);
        const send = withRetries('part', () =>
          this.http.request('PUT', this.bucket, key, {
            query: { partNumber: String(part), uploadId },
            headers: { 'x-amz-checksum-crc32': crc },
            body: chunk
          })
        ).then(
          r => {
            parts.push({ part, etag: String(r.headers.etag ?? ''), crc });
          },
          error => {
            failure ??= error;
          }
        );
        const tracked: Promise<void> = send.finally(() => {
          // The request is answered (and every retry done): its bytes are no longer read.
          this.returnPartBuffer(buf);
          inFlight.delete(tracked);
        });
        inFlight.add(tracked);
        if (inFlight.size >= PARTS_IN_FLIGHT) {
          await Promise.race(inFlight);
        }
        if (n < PART_SIZE) {
          break;
        }
      }
      await Promise.all(inFlight);
      if (failure === undefined && hash.digest('hex') !== expected) {
        failure = new StorageError(`cache file ${file} does not match its hash ${oid}; not uploaded`, { oid });
      }
      if (failure !== undefined) {
        throw failure;
      }
      parts.sort((a, b) => a.part - b.part);
      const xml =
        '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        parts.map(p => `<Part><PartNumber>${p.part}</PartNumber><ETag>${escapeXml(p.etag)}</ETag><ChecksumCRC32>${p.crc}</ChecksumCRC32></Part>`).join('') +
        '</CompleteMultipartUpload>';
      await withRetries('complete', async () => {
        const res = await this.http.request('POST', this.bucket, key, { query: { uploadId }, body: Buffer.from(xml), headers: { 'content-type': 'application/xml' } });
        // S3 may answer 200 and still fail: the error then is in the body.
        const text = res.body.toString('utf8');
        if (/<Error>/.test(text)) {
          throw errorFromResponse('POST', this.http.path(this.bucket, key), 500, res.body);
        }
      });
    } catch (cause) {
      await this.http.request('DELETE', this.bucket, key, { query: { uploadId } }).catch(() => undefined);
      throw cause instanceof StorageError ? cause : this.translate(cause, `cannot upload ${oid}`, oid);
    } finally {
      await handle.close();
    }
  }

  async download(oid: string, dest: string): Promise<{ md5: string; size: number }> {
    await this.ensureBucket();
    try {
      return await withRetries('get', async () => {
        const res = await this.http.stream('GET', this.bucket, this.key(oid));
        const status = res.statusCode ?? 0;
        const length = Number(res.headers['content-length'] ?? NaN);
        if (status < 200 || status >= 300 || length <= SINGLE_PUT_LIMIT) {
          // Small objects (and error answers): gather, hash and write in one go.
          const chunks: Buffer[] = [];
          for await (const chunk of res) {
            chunks.push(chunk as Buffer);
          }
          const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          if (status < 200 || status >= 300) {
            throw errorFromResponse('GET', this.http.path(this.bucket, this.key(oid)), status, data);
          }
          if (data.length <= SYNC_READ_LIMIT) {
            fs.writeFileSync(dest, data);
          } else {
            await fs.promises.writeFile(dest, data);
          }
          return { md5: crypto.createHash('md5').update(data).digest('hex'), size: data.length };
        }
        const hash = hashingStream();
        await pipeline(res, hash, fs.createWriteStream(dest, { highWaterMark: 1 << 20 }));
        return { md5: hash.md5(), size: hash.size() };
      });
    } catch (cause) {
      throw this.translate(cause, `cannot download ${oid}`, oid);
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function openRemote(settings: IRemoteSettings, budget: ByteBudget, concurrency: number): IDvcRemote {
  if (settings.url.startsWith('s3://')) {
    return new S3Remote(settings.name, settings.url, settings, budget, concurrency);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(settings.url) && !settings.url.startsWith('file://')) {
    throw new ConfigError(`DVC remote "${settings.name}" uses ${settings.url.split(':')[0]}://, which changelab does not support; use s3:// or a folder`, {
      remote: settings.name
    });
  }
  const folder = settings.url.startsWith('file://') ? new URL(settings.url).pathname : settings.url;
  return new LocalRemote(settings.name, folder);
}
