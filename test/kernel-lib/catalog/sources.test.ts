// What `ingest` / `watch` arguments name: store prefixes, other buckets, folders on disk.
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { FolderSource, isLocalPath, resolveSource } from '../../../kernel-lib/src/catalog/sources';
import { loadConfig } from '../../../kernel-lib/src/config';
import { ConfigError, NotFoundError, StorageError } from '../../../kernel-lib/src/errors';
import { LocalObjectStore } from '../../../kernel-lib/src/objects/local';
import { S3ObjectStore } from '../../../kernel-lib/src/objects/s3';
import { tempDir } from '../../helpers';

const config = loadConfig({ cwd: tempDir(), env: {} });

describe('resolveSource', () => {
  const store = new LocalObjectStore(tempDir('changelab-store-'));

  it('treats plain strings as key prefixes of the workspace store', () => {
    const s = resolveSource('flights/2024/', store, config);
    expect(s.store).toBe(store);
    expect(s.keyPrefix).toBe('');
    expect(s.listPrefix).toBe('flights/2024/');
    expect(s.folder).toBe(path.resolve(store.location));
  });

  it('reads other folders in place under file:// keys, and maps the store folder to its keys', async () => {
    const dir = tempDir('changelab-flight-');
    fs.writeFileSync(path.join(dir, 'a b.tif'), 'x');
    const s = resolveSource(dir, store, config);
    expect(s.store).toBeInstanceOf(FolderSource);
    expect(s.keyPrefix).toBe(`file://${dir}/`);
    const keys: string[] = [];
    for await (const o of s.store.list(s.listPrefix)) {
      keys.push(o.key);
    }
    expect(keys).toEqual(['a b.tif']);
    const file = resolveSource(`file://${encodeURI(path.join(dir, 'a b.tif'))}`, store, config);
    expect(file.keyPrefix).toBe(`file://${dir}/`);
    expect(file.listPrefix).toBe('a b.tif');
    await expect(s.store.put('x', 'y')).rejects.toBeInstanceOf(StorageError);
    expect(fs.readdirSync(dir)).toEqual(['a b.tif']);

    fs.mkdirSync(path.join(store.location, 'scenes'), { recursive: true });
    const inside = resolveSource(path.join(store.location, 'scenes'), store, config);
    expect(inside.store).toBe(store);
    expect(inside.keyPrefix).toBe('');
    expect(inside.listPrefix).toBe('scenes/');
  });

  it('refuses missing paths and s3:// without an S3 store', () => {
    expect(() => resolveSource('/no/such/folder', store, config)).toThrow(NotFoundError);
    expect(() => resolveSource('s3://bucket/x', store, config)).toThrow(ConfigError);
  });

  it('maps s3:// URIs to the workspace bucket or another bucket', () => {
    const s3 = { endpoint: 'http://127.0.0.1:9', accessKey: 'k', secretKey: 's', bucket: 'main', region: 'us-east-1' };
    const cfg = { ...config, s3 };
    const objects = new S3ObjectStore(s3);
    const same = resolveSource('s3://main/flights/', objects, cfg);
    expect(same.store).toBe(objects);
    expect(same.keyPrefix).toBe('');
    expect(same.bucket).toBe('main');
    const other = resolveSource('s3://archive/2019/', objects, cfg);
    expect(other.keyPrefix).toBe('s3://archive/');
    expect(other.listPrefix).toBe('2019/');
    expect((other.store as S3ObjectStore).bucket).toBe('archive');
  });

  it('tells paths from prefixes', () => {
    expect(isLocalPath('./x')).toBe(true);
    expect(isLocalPath('/x')).toBe(true);
    expect(isLocalPath('file:///x')).toBe(true);
    expect(isLocalPath('x/y')).toBe(false);
    expect(isLocalPath('')).toBe(false);
  });
});
