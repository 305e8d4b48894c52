// A lean S3 request layer for the object transfers of dataset push / pull: path-style requests
// over a keep-alive agent, signed with AWS Signature V4 (UNSIGNED-PAYLOAD; integrity comes from
// Content-MD5 or x-amz-checksum-crc32, which the server checks). The general client (minio-js)
// hashes every payload a second time, copies buffers through streams and validates arguments on
// every call: for 10,000 objects of 50 KB that was most of the client's CPU on a 2-core machine
// that MinIO shares. Listing and bucket creation still go through minio-js.
import * as crypto from 'crypto';
import * as http from 'http';
import * as https from 'https';

export interface IS3Credentials {
  accessKey: string;
  secretKey: string;
  sessionToken?: string;
}

export interface IS3Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface IS3RequestOptions {
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer;
}

/** Seconds without socket activity before a request fails with ETIMEDOUT. */
const IDLE_TIMEOUT_S = 120;

/** An S3 error response (or a network error), with the `code` and `statusCode` retries look at. */
export class S3RequestError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly statusCode?: number
  ) {
    super(message);
    this.name = 'S3RequestError';
  }
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ escaped. */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export class S3Http {
  private readonly transport: typeof http | typeof https;
  private signingKey: { date: string; key: Buffer } | undefined;

  constructor(
    readonly endpoint: URL,
    private readonly credentials: IS3Credentials,
    readonly region: string,
    readonly agent: http.Agent
  ) {
    this.transport = endpoint.protocol === 'https:' ? https : http;
  }

  /** `/bucket/key` with each key segment encoded (path-style addressing). */
  path(bucket: string, key: string): string {
    return '/' + uriEncode(bucket) + (key ? '/' + key.split('/').map(uriEncode).join('/') : '');
  }

  private key(date: string): Buffer {
    if (this.signingKey?.date !== date) {
      const hmac = (k: string | Buffer, s: string) => crypto.createHmac('sha256', k).update(s).digest();
      this.signingKey = { date, key: hmac(hmac(hmac(hmac('AWS4' + this.credentials.secretKey, date), this.region), 's3'), 'aws4_request') };
    }
    return this.signingKey.key;
  }

  /** Adds x-amz-date, x-amz-content-sha256 and the SigV4 authorization header to `headers`. */
  private sign(method: string, pathname: string, query: Record<string, string>, headers: Record<string, string>): void {
    const now = new Date();
    const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, '');
    const date = amzDate.slice(0, 8);
    headers.host = this.endpoint.host;
    headers['x-amz-date'] = amzDate;
    headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    if (this.credentials.sessionToken) {
      headers['x-amz-security-token'] = this.credentials.sessionToken;
    }
    const signed = Object.keys(headers)
      .map(h => h.toLowerCase())
      .filter(h => h === 'host' || h === 'content-md5' || h === 'content-type' || h.startsWith('x-amz-'))
      .sort();
    const lower: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) {
      lower[k.toLowerCase()] = String(v).trim();
    }
    const canonicalQuery = Object.keys(query)
      .sort()
      .map(k => `${uriEncode(k)}=${uriEncode(query[k])}`)
      .join('&');
    const canonical = [method, pathname, canonicalQuery, signed.map(h => `${h}:${lower[h]}\n`).join(''), signed.join(';'), 'UNSIGNED-PAYLOAD'].join('\n');
    const scope = `${date}/${this.region}/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, crypto.createHash('sha256').update(canonical).digest('hex')].join('\n');
    const signature = crypto.createHmac('sha256', this.key(date)).update(toSign).digest('hex');
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${this.credentials.accessKey}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`;
  }

  /** Sends a request; resolves with the response whose body is left unread (the caller consumes it). */
  stream(method: string, bucket: string, key: string, options: IS3RequestOptions = {}): Promise<http.IncomingMessage> {
    const pathname = this.path(bucket, key);
    const query = options.query ?? {};
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.body !== undefined || method === 'PUT' || method === 'POST') {
      headers['content-length'] = String(options.body?.length ?? 0);
    }
    this.sign(method, pathname, query, headers);
    const qs = Object.keys(query)
      .map(k => (query[k] === '' ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(query[k])}`))
      .join('&');
    return new Promise((resolve, reject) => {
      const req = this.transport.request(
        {
          agent: this.agent,
          protocol: this.endpoint.protocol,
          hostname: this.endpoint.hostname,
          port: this.endpoint.port || undefined,
          method,
          path: qs ? `${pathname}?${qs}` : pathname,
          headers
        },
        resolve
      );
      req.setTimeout(IDLE_TIMEOUT_S * 1000, () => {
        req.destroy(new S3RequestError(`${method} ${pathname}: no answer for ${IDLE_TIMEOUT_S} s`, 'ETIMEDOUT'));
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  /** Sends a request and reads the whole answer; a status outside 2xx rejects with S3RequestError. */
  async request(method: string, bucket: string, key: string, options: IS3RequestOptions = {}): Promise<IS3Response> {
    const res = await this.stream(method, bucket, key, options);
    const chunks: Buffer[] = [];
    for await (const chunk of res) {
      chunks.push(chunk as Buffer);
    }
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      throw errorFromResponse(method, this.path(bucket, key), status, body);
    }
    return { status, headers: res.headers, body };
  }
}

/** The S3 error in an answer: its XML Code and Message, or the status for bodiless answers (HEAD). */
export function errorFromResponse(method: string, pathname: string, status: number, body: Buffer): S3RequestError {
  const text = body.toString('utf8', 0, Math.min(body.length, 4096));
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? (status === 404 ? 'NotFound' : status === 403 ? 'AccessDenied' : `HTTP${status}`);
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? `HTTP ${status}`;
  return new S3RequestError(`${method} ${pathname}: ${code}: ${message}`, code, status);
}
