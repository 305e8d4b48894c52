// Header reads are few and small: a COG's metadata costs one ranged request whatever the file's
// size, on a local folder store, on a local file and on S3 (MinIO, when the test services run).
// Checksums stream the whole object through bounded reads.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  cachedByteSource,
  extractMetadata,
  fileByteSource,
  objectByteSource,
  sha256Of
} from '../../../../kernel-lib/src/catalog/extract';
import { StorageError } from '../../../../kernel-lib/src/errors';
import { LocalObjectStore } from '../../../../kernel-lib/src/objects/local';
import { S3ObjectStore } from '../../../../kernel-lib/src/objects/s3';
import type {
  IByteRange,
  IObjectStore
} from '../../../../kernel-lib/src/objects/store';
import {
  overviewLevelCount,
  writeGeoTiff
} from '../../../../kernel-lib/src/raster';
import { tempDir, testServices, uniqueName } from '../../../helpers';

/** Incompressible pixels, so the file is as large as the pixels are. */
function noise(width: number, height: number, bands: number): Uint8Array {
  const data = new Uint8Array(width * height * bands);
  let state = 7;
  for (let i = 0; i < data.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = state & 0xff;
  }
  return data;
}

const dir = tempDir('changelab-extract-');
// 2600 x 2600 RGB, uncompressed, with overviews: a 27 MB COG.
const bigCog = writeGeoTiff(
  {
    width: 2600,
    height: 2600,
    bands: 3,
    dataType: 'uint8',
    data: noise(2600, 2600, 3)
  },
  {
    crs: { epsg: 32652 },
    transform: [320000, 0.5, 0, 4160000, 0, -0.5],
    compression: 'none',
    dateTime: new Date('2024-01-02T03:04:05Z')
  }
);
const bigPath = join(dir, 'big.tif');
writeFileSync(bigPath, bigCog);

/** A store that counts the ranged GETs it serves, independently of the byte source's own count. */
function counting(store: IObjectStore) {
  const calls: IByteRange[] = [];
  const counted = Object.create(store) as IObjectStore;
  counted.get = async (key: string, range?: IByteRange) => {
    if (!range) {
      throw new Error(
        'a whole-object GET: metadata extraction must only read ranges'
      );
    }
    calls.push(range);
    return store.get(key, range);
  };
  return { store: counted, calls };
}

async function expectFewSmallReads(store: IObjectStore) {
  const info = await store.head('flights/big.tif');
  expect(info.size).toBeGreaterThan(20 * 1024 * 1024);
  const { store: counted, calls } = counting(store);
  const source = objectByteSource(counted, info);
  const metadata = await extractMetadata(source, info, { sha256: false });
  expect(metadata).toMatchObject({
    width: 2600,
    height: 2600,
    overviews: overviewLevelCount(2600, 2600, 256),
    isCog: true,
    crs: { epsg: 32652 }
  });
  const bytes = calls.reduce((sum, range) => sum + range.length, 0);
  expect(calls.length).toBeLessThan(5);
  expect(bytes).toBeLessThan(256 * 1024);
  expect(source.stats).toEqual({ requests: calls.length, bytes });
  return calls;
}

describe('header reads', () => {
  it('a 27 MB COG in a local folder store: one 64 KiB ranged read', async () => {
    const store = new LocalObjectStore(tempDir('changelab-store-'));
    await store.putFile('flights/big.tif', bigPath);
    const calls = await expectFewSmallReads(store);
    expect(calls).toEqual([{ offset: 0, length: 65536 }]);
  });

  it.skipIf(!testServices())(
    'a 27 MB COG in MinIO: HTTP range requests only, fewer than 5 and under 256 KiB',
    async () => {
      const services = testServices()!;
      const store = new S3ObjectStore({
        ...services.s3,
        bucket: uniqueName('clextract'),
        region: 'us-east-1'
      });
      await store.putFile('flights/big.tif', bigPath);
      await expectFewSmallReads(store);
    }
  );

  it('a local file: positioned reads, the same single block', async () => {
    const source = await fileByteSource(bigPath);
    try {
      const metadata = await extractMetadata(
        source,
        { key: 'big.tif', size: source.size, etag: 'x' },
        { sha256: false }
      );
      expect(metadata.captureTime?.toISOString()).toBe(
        '2024-01-02T03:04:05.000Z'
      );
      expect(source.stats).toEqual({ requests: 1, bytes: 65536 });
    } finally {
      await source.close();
    }
  });

  it('a non-COG GeoTIFF whose IFD sits after the data costs a second block, not the file', async () => {
    // Move the first IFD to the end of the file: copy it there and point the header at it.
    const bytes = Buffer.from(bigCog);
    const first = bytes.readUInt32LE(4);
    const moved = Buffer.concat([bytes, bytes.subarray(first, first + 4096)]);
    const shift = bytes.length - first;
    // Entries' out-of-line values stay where they were (absolute offsets), so only the header changes.
    moved.writeUInt32LE(first + shift, 4);
    const source = cachedByteSource(
      'late.tif',
      moved.length,
      async (offset, length) => moved.subarray(offset, offset + length)
    );
    const metadata = await extractMetadata(
      source,
      { key: 'late.tif', size: moved.length, etag: 'x' },
      { sha256: false }
    );
    expect(metadata.cogProblems.join('\n')).toContain(
      'the main IFD is at byte'
    );
    expect(source.stats.requests).toBeLessThanOrEqual(3);
    expect(source.stats.bytes).toBeLessThan(256 * 1024);
  });
});

describe('block cache', () => {
  it('serves nearby reads from one block, joins adjacent missing blocks, and passes large reads through', async () => {
    const data = new Uint8Array(1_000_000).map((_, i) => i % 251);
    const fetches: Array<[number, number]> = [];
    const source = cachedByteSource(
      'x',
      data.length,
      async (offset, length) => {
        fetches.push([offset, length]);
        return data.slice(offset, offset + length);
      },
      { blockSize: 4096 }
    );
    expect([...(await source.read(10, 5))]).toEqual([10, 11, 12, 13, 14]);
    expect([...(await source.read(4000, 4))]).toEqual([
      4000 % 251,
      4001 % 251,
      4002 % 251,
      4003 % 251
    ]);
    expect(fetches).toEqual([[0, 4096]]);
    const across = await source.read(4090, 9000); // blocks 0 (cached), 1, 2, 3
    expect([...across]).toEqual([...data.subarray(4090, 13090)]);
    expect(fetches).toEqual([
      [0, 4096],
      [4096, 12288]
    ]);
    const large = await source.read(100_000, 100_000);
    expect(large.length).toBe(100_000);
    expect(fetches[fetches.length - 1]).toEqual([100_000, 100_000]);
    expect(await source.read(999_990, 100)).toHaveLength(10); // the end of the object
    expect(source.stats.requests).toBe(fetches.length);
  });

  it('an object that shrank since it was listed is a storage error, not a corrupt image', async () => {
    const store = new LocalObjectStore(tempDir('changelab-store-'));
    await store.put('a.tif', Buffer.alloc(1000));
    const source = objectByteSource(store, { key: 'a.tif', size: 5000 });
    await expect(source.read(0, 100)).rejects.toBeInstanceOf(StorageError);
  });
});

describe('sha256', () => {
  const expected = createHash('sha256')
    .update(readFileSync(bigPath))
    .digest('hex');

  it('streams the object in bounded chunks and matches a whole-file hash', async () => {
    const store = new LocalObjectStore(tempDir('changelab-store-'));
    const info = await store.putFile('big.tif', bigPath);
    const { store: counted, calls } = counting(store);
    const metadata = await extractMetadata(
      objectByteSource(counted, info),
      info
    );
    expect(metadata.sha256).toBe(expected);
    expect(Math.max(...calls.map(c => c.length))).toBeLessThanOrEqual(
      4 * 1024 * 1024
    );
    expect(
      await sha256Of(await fileByteSource(bigPath), { chunkBytes: 1_000_003 })
    ).toBe(expected);
  });

  it('reads an object that fits one checksum chunk in one request, with the same metadata and hash', async () => {
    const small = writeGeoTiff(
      { width: 300, height: 200, bands: 3, dataType: 'uint8', data: noise(300, 200, 3) },
      { crs: { epsg: 5186 }, transform: [200000, 0.25, 0, 550000, 0, -0.25], compression: 'none' }
    );
    const store = new LocalObjectStore(tempDir('changelab-store-'));
    const info = await store.put('small.tif', small);
    const { store: counted, calls } = counting(store);
    const hashed = await extractMetadata(objectByteSource(counted, info), info);
    expect(calls).toEqual([{ offset: 0, length: small.length }]);
    expect(hashed.sha256).toBe(createHash('sha256').update(small).digest('hex'));
    // Without the checksum the header alone is read (one block), and everything else agrees.
    const { store: counted2, calls: calls2 } = counting(store);
    const plain = await extractMetadata(objectByteSource(counted2, info), info, { sha256: false });
    expect(calls2).toEqual([{ offset: 0, length: Math.min(small.length, 64 * 1024) }]);
    expect({ ...hashed, sha256: null }).toEqual(plain);
  });

  it('is skipped above sha256MaxBytes, and when turned off', async () => {
    const source = await fileByteSource(bigPath);
    try {
      const identity = { key: 'big.tif', size: source.size, etag: 'x' };
      expect(
        (
          await extractMetadata(source, identity, {
            sha256MaxBytes: 1024 * 1024
          })
        ).sha256
      ).toBeNull();
      expect(
        (await extractMetadata(source, identity, { sha256: false })).sha256
      ).toBeNull();
      expect(source.stats.requests).toBe(1); // the header block, shared by both extractions
    } finally {
      await source.close();
    }
  });
});
