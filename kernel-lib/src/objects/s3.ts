// Objects in any S3 API (MinIO, SeaweedFS, Ceph, AWS) through the `minio` client. The bucket is
// created on first use. Ranged reads use HTTP range requests.
import * as Minio from 'minio';
import type { Readable } from 'stream';
import { NotFoundError, ServiceUnavailableError, StorageError } from '../errors';
import { checkKey, objectExists, type IByteRange, type IObjectInfo, type IObjectStore } from './store';

export interface IS3Settings {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
}

const MISSING = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH']);

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const unquote = (etag: string) => etag.replace(/^"|"$/g, '');

export class S3ObjectStore implements IObjectStore {
  readonly kind = 's3' as const;
  readonly location: string;
  readonly client: Minio.Client;
  readonly bucket: string;
  private ready: Promise<void> | undefined;

  constructor(settings: IS3Settings) {
    const url = new URL(settings.endpoint);
    this.client = new Minio.Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      useSSL: url.protocol === 'https:',
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      region: settings.region,
      pathStyle: true
    });
    this.bucket = settings.bucket;
    this.location = `${url.origin}/${settings.bucket}`;
  }

  /** Creates the bucket when it does not exist yet (once per store). */
  ensureBucket(): Promise<void> {
    this.ready ??= (async () => {
      try {
        if (!(await this.client.bucketExists(this.bucket))) {
          await this.client.makeBucket(this.bucket);
        }
      } catch (cause) {
        this.ready = undefined;
        throw this.translate(cause, `cannot open bucket ${this.bucket}`);
      }
    })();
    return this.ready;
  }

  async put(key: string, body: Buffer | Uint8Array | string, options: { contentType?: string } = {}) {
    await this.ensureBucket();
    const data = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    try {
      await this.client.putObject(this.bucket, checkKey(key), data, data.length, {
        'Content-Type': options.contentType ?? 'application/octet-stream'
      });
    } catch (cause) {
      throw this.translate(cause, `cannot write ${key}`, key);
    }
    return this.head(key);
  }

  async putFile(key: string, file: string, options: { contentType?: string } = {}) {
    await this.ensureBucket();
    try {
      await this.client.fPutObject(this.bucket, checkKey(key), file, {
        'Content-Type': options.contentType ?? 'application/octet-stream'
      });
    } catch (cause) {
      throw this.translate(cause, `cannot upload ${file} to ${key}`, key);
    }
    return this.head(key);
  }

  async get(key: string, range?: IByteRange): Promise<Buffer> {
    await this.ensureBucket();
    try {
      const stream = range
        ? await this.client.getPartialObject(this.bucket, checkKey(key), range.offset, range.length)
        : await this.client.getObject(this.bucket, checkKey(key));
      return await collect(stream);
    } catch (cause) {
      // A range starting past the end is an empty read, as for a local file.
      if (range && (cause as { code?: string }).code === 'InvalidRange') {
        return Buffer.alloc(0);
      }
      throw this.translate(cause, `cannot read ${key}`, key);
    }
  }

  async head(key: string): Promise<IObjectInfo> {
    await this.ensureBucket();
    try {
      const stat = await this.client.statObject(this.bucket, checkKey(key));
      return {
        key,
        size: stat.size,
        etag: unquote(stat.etag),
        lastModified: stat.lastModified,
        versionId: stat.versionId ?? null
      };
    } catch (cause) {
      throw this.translate(cause, `cannot stat ${key}`, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    return objectExists(this, key);
  }

  async *list(prefix = ''): AsyncIterable<IObjectInfo> {
    await this.ensureBucket();
    const stream = this.client.listObjectsV2(this.bucket, prefix, true);
    try {
      for await (const item of stream as AsyncIterable<Minio.BucketItem>) {
        if (item.name) {
          yield {
            key: item.name,
            size: item.size,
            etag: unquote(item.etag ?? ''),
            lastModified: item.lastModified ?? new Date(0),
            versionId: null
          };
        }
      }
    } catch (cause) {
      throw this.translate(cause, `cannot list ${prefix || '(all)'}`);
    }
  }

  async delete(key: string): Promise<void> {
    await this.ensureBucket();
    try {
      await this.client.removeObject(this.bucket, checkKey(key));
    } catch (cause) {
      throw this.translate(cause, `cannot delete ${key}`, key);
    }
  }

  private translate(cause: unknown, what: string, key?: string): Error {
    const code = (cause as { code?: string }).code ?? '';
    const message = `${what} in ${this.location}: ${(cause as Error).message}`;
    if (MISSING.has(code)) {
      return new NotFoundError(message, { key, bucket: this.bucket }, { cause });
    }
    if (UNREACHABLE.has(code)) {
      return new ServiceUnavailableError(message, { endpoint: this.location }, { cause });
    }
    return new StorageError(message, { key, bucket: this.bucket, code }, { cause });
  }
}
