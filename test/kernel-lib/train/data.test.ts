// Training data: chip decoding (GeoTIFFs from our COG writer, a hand-made stripped TIFF, PNGs with
// every filter type), a dataset folder written as manifest.ts describes it, and the loader's
// seeded shuffling and augmentation (the same geometry for both dates and the mask, resumable).

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type IDatasetManifest } from '../../../kernel-lib/src/dataset/manifest';
import { writeGeoTiff } from '../../../kernel-lib/src/raster';
import { createRandom, generatePair } from '../../../kernel-lib/src/synth';
import { ChangeLoader, ChipFolderSource, MemoryChangeSource, datasetSplits, decodeChip, syntheticChangeData, type IChangeSample } from '../../../kernel-lib/src/train';
import { tempDir } from '../../helpers';

function randomBytes(seed: string, n: number): Uint8Array {
  const r = createRandom(seed);
  return Uint8Array.from({ length: n }, () => r.int(0, 255));
}

/** A PNG written independently of the decoder, row filters cycling through all five types. */
function encodePng(width: number, height: number, channels: 1 | 2 | 3 | 4, data: Uint8Array): Buffer {
  const colour = { 1: 0, 2: 4, 3: 2, 4: 6 }[channels];
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const filter = y % 5;
    raw[y * (stride + 1)] = filter;
    for (let i = 0; i < stride; i++) {
      const x = data[y * stride + i];
      const a = i >= channels ? data[y * stride + i - channels] : 0;
      const b = y > 0 ? data[(y - 1) * stride + i] : 0;
      const c = y > 0 && i >= channels ? data[(y - 1) * stride + i - channels] : 0;
      const paeth = () => {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      };
      const predicted = [0, a, b, (a + b) >> 1, paeth()][filter];
      raw[y * (stride + 1) + 1 + i] = (x - predicted) & 0xff;
    }
  }
  const chunk = (type: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, 'latin1');
    return Buffer.concat([head, body, Buffer.alloc(4)]); // the decoder does not check CRCs
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colour;
  const idat = deflateSync(raw);
  // IDAT split in two chunks, as encoders do for large images.
  const half = Math.floor(idat.length / 2);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat.subarray(0, half)), chunk('IDAT', idat.subarray(half)), chunk('IEND', Buffer.alloc(0))]);
}

/** A big-endian, stripped, uncompressed, planar TIFF (what our COG writer never makes). */
function stripTiff(width: number, height: number, bands: number, data: Uint8Array, rowsPerStrip: number): Buffer {
  const planes: Buffer[] = [];
  for (let b = 0; b < bands; b++) {
    const p = Buffer.alloc(width * height);
    for (let i = 0; i < width * height; i++) {
      p[i] = data[i * bands + b];
    }
    planes.push(p);
  }
  const strips: Buffer[] = [];
  for (const p of planes) {
    for (let y = 0; y < height; y += rowsPerStrip) {
      strips.push(p.subarray(y * width, Math.min(height, y + rowsPerStrip) * width));
    }
  }
  const entries: [number, number, number[]][] = [
    [256, 3, [width]],
    [257, 3, [height]],
    [258, 3, Array(bands).fill(8)],
    [259, 3, [1]],
    [262, 3, [bands === 1 ? 1 : 2]],
    [273, 4, []],
    [277, 3, [bands]],
    [278, 3, [rowsPerStrip]],
    [279, 4, strips.map(s => s.length)],
    [284, 3, [2]]
  ];
  const ifdSize = 2 + entries.length * 12 + 4;
  let extra = 8 + ifdSize;
  const extraBlocks: Buffer[] = [];
  // Lay out: header, IFD, out-of-line arrays, strip data.
  const arrayOffsets: number[] = [];
  entries.forEach(([, type], i) => {
    const n = i === 5 ? strips.length : entries[i][2].length;
    const size = n * (type === 3 ? 2 : 4);
    if (size > 4) {
      arrayOffsets[i] = extra;
      extra += size;
    }
  });
  let offset = extra;
  const stripOffsets = strips.map(s => {
    const o = offset;
    offset += s.length;
    return o;
  });
  entries[5][2] = stripOffsets;
  const head = Buffer.alloc(8 + ifdSize);
  head.write('MM', 0, 'latin1');
  head.writeUInt16BE(42, 2);
  head.writeUInt32BE(8, 4);
  head.writeUInt16BE(entries.length, 8);
  entries.forEach(([tag, type, values], i) => {
    const e = 10 + i * 12;
    head.writeUInt16BE(tag, e);
    head.writeUInt16BE(type, e + 2);
    head.writeUInt32BE(values.length, e + 4);
    const write = (buf: Buffer, at: number) => values.forEach((v, k) => (type === 3 ? buf.writeUInt16BE(v, at + 2 * k) : buf.writeUInt32BE(v, at + 4 * k)));
    if (arrayOffsets[i] !== undefined) {
      head.writeUInt32BE(arrayOffsets[i], e + 8);
      const block = Buffer.alloc(values.length * (type === 3 ? 2 : 4));
      write(block, 0);
      extraBlocks.push(block);
    } else {
      write(head, e + 8);
    }
  });
  return Buffer.concat([head, ...extraBlocks, ...strips]);
}

describe('decodeChip', () => {
  it.each([
    ['DEFLATE + predictor, 3 bands', { compression: 'deflate' as const, predictor: true }, 3, 40, 24],
    ['DEFLATE, no predictor, 1 band', { compression: 'deflate' as const, predictor: false }, 1, 33, 17],
    ['uncompressed, 4 bands', { compression: 'none' as const }, 4, 16, 16]
  ])('reads our GeoTIFF writer: %s', (_name, options, bands, width, height) => {
    const data = randomBytes(`tiff-${bands}`, width * height * bands);
    const bytes = writeGeoTiff({ width, height, bands, dataType: 'uint8', data }, { crs: { epsg: 5186 }, transform: [0, 0.5, 0, 0, 0, -0.5], tileSize: 16, overviews: false, ...options });
    const chip = decodeChip(bytes);
    expect({ width: chip.width, height: chip.height, bands: chip.bands }).toEqual({ width, height, bands });
    expect(Buffer.from(chip.data).equals(Buffer.from(data))).toBe(true);
  });

  it('reads a big-endian stripped planar TIFF', () => {
    const data = randomBytes('strip', 13 * 11 * 3);
    const chip = decodeChip(stripTiff(13, 11, 3, data, 4));
    expect(Buffer.from(chip.data).equals(Buffer.from(data))).toBe(true);
  });

  it.each([1, 2, 3, 4] as const)('reads a %i-channel PNG with all five row filters', channels => {
    const data = randomBytes(`png-${channels}`, 19 * 12 * channels);
    const chip = decodeChip(encodePng(19, 12, channels, data));
    expect({ width: chip.width, height: chip.height, bands: chip.bands }).toEqual({ width: 19, height: 12, bands: channels });
    expect(Buffer.from(chip.data).equals(Buffer.from(data))).toBe(true);
  });

  it('refuses what it cannot read, naming the problem', () => {
    expect(() => decodeChip(Buffer.from('GIF89a....'), 'a.gif')).toThrow(/a.gif is neither a TIFF nor a PNG/);
    const float = writeGeoTiff({ width: 16, height: 16, bands: 1, dataType: 'float32', data: new Float32Array(256) }, { crs: null, transform: null, overviews: false });
    expect(() => decodeChip(float, 'f.tif')).toThrow(/only 8-bit unsigned chips/);
    const good = writeGeoTiff({ width: 16, height: 16, bands: 1, dataType: 'uint8', data: randomBytes('t', 256) }, { crs: null, transform: null, overviews: false });
    expect(() => decodeChip(good.subarray(0, good.length - 30), 't.tif')).toThrow(/t.tif/);
    const png = encodePng(8, 8, 3, randomBytes('p', 192));
    expect(() => decodeChip(png.subarray(0, 40), 'p.png')).toThrow(/p.png/);
  });
});

describe('dataset folders and the loader', () => {
  let folder: string;
  const pair = generatePair({ seed: 'loader-pair', width: 64, height: 64, gps: false });
  const chip = 32;
  const crop = (data: Uint8Array, bands: number, x: number, y: number) => {
    const out = new Uint8Array(chip * chip * bands);
    for (let r = 0; r < chip; r++) {
      out.set(data.subarray(((y + r) * 64 + x) * bands, ((y + r) * 64 + x + chip) * bands), r * chip * bands);
    }
    return out;
  };

  beforeAll(async () => {
    // A dataset folder as the dataset builder writes it: GeoTIFF images, PNG labels here.
    folder = tempDir('dataset-');
    const chips: IDatasetManifest['chips'] = [];
    const splits = ['train', 'train', 'val', 'test'] as const;
    let k = 0;
    for (const y of [0, 32]) {
      for (const x of [0, 32]) {
        const id = `p0-r${y / chip}-c${x / chip}`;
        await fsp.mkdir(path.join(folder, 'chips'), { recursive: true });
        for (const role of ['before', 'after'] as const) {
          const data = crop(pair.rasters[role].data, 3, x, y);
          await fsp.writeFile(path.join(folder, 'chips', `${id}-${role}.tif`), writeGeoTiff({ width: chip, height: chip, bands: 3, dataType: 'uint8', data }, { crs: { epsg: 5186 }, transform: [x, 0.5, 0, -y, 0, -0.5], tileSize: 16, overviews: false }));
        }
        await fsp.writeFile(path.join(folder, 'chips', `${id}-label.png`), encodePng(chip, chip, 1, crop(pair.rasters.mask.data, 1, x, y)));
        chips.push({ id, split: splits[k++], pair: 'p0', window: { x, y, width: chip, height: chip }, before: `chips/${id}-before.tif`, after: `chips/${id}-after.tif`, label: `chips/${id}-label.png` });
      }
    }
    const manifest: IDatasetManifest = {
      version: 1,
      name: 'loader-test',
      created: new Date(0).toISOString(),
      chip,
      overlap: 0,
      bands: 3,
      seed: 'loader',
      splits: { block: 64, fractions: { train: 0.5, val: 0.25, test: 0.25 } },
      images: [],
      chips
    };
    await fsp.writeFile(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
  });
  afterAll(async () => {
    await fsp.rm(folder, { recursive: true, force: true });
  });

  it('reads the splits of a dataset folder, pixels as written', async () => {
    const splits = await datasetSplits(folder);
    expect([splits.train.length, splits.val.length, splits.test.length]).toEqual([2, 1, 1]);
    expect(splits.train.labelled).toBe(true);
    const s = await splits.val.get(0);
    expect(s.id).toBe('p0-r1-c0');
    expect(Buffer.from(s.before).equals(Buffer.from(crop(pair.rasters.before.data, 3, 0, 32)))).toBe(true);
    expect(Buffer.from(s.after).equals(Buffer.from(crop(pair.rasters.after.data, 3, 0, 32)))).toBe(true);
    expect(Buffer.from(s.label as Uint8Array).equals(Buffer.from(crop(pair.rasters.mask.data, 1, 0, 32)))).toBe(true);
    // Batches are Float32 NCHW in [0, 1], the mask 0/1.
    const batch = await new ChangeLoader(splits.val, { batchSize: 1 }).batch(0, [0]);
    expect(batch.before[0]).toBeCloseTo(s.before[0] / 255, 7); // band 0 of pixel 0
    expect(batch.before[chip * chip]).toBeCloseTo(s.before[1] / 255, 7); // band 1 of pixel 0
    expect(Array.from(batch.mask as Float32Array).reduce((a, b) => a + b, 0)).toBe(Array.from(s.label as Uint8Array).reduce((a, b) => a + b, 0));
  });

  it('fails clearly on a missing manifest, a missing chip, a wrong size and a bad label', async () => {
    await expect(ChipFolderSource.open(path.join(folder, 'nope'), 'train')).rejects.toThrow(/manifest.json is missing/);
    const broken = tempDir('dataset-broken-');
    const manifest = JSON.parse(await fsp.readFile(path.join(folder, 'manifest.json'), 'utf8')) as IDatasetManifest;
    await fsp.cp(path.join(folder, 'chips'), path.join(broken, 'chips'), { recursive: true });
    await fsp.writeFile(path.join(broken, 'manifest.json'), JSON.stringify({ ...manifest, chips: [{ ...manifest.chips[0], before: 'chips/gone.tif' }, { ...manifest.chips[1], split: 'train' }] }));
    const source = await ChipFolderSource.open(broken, 'train');
    await expect(source.get(0)).rejects.toThrow(/cannot read chips\/gone.tif/);
    await fsp.writeFile(path.join(broken, 'chips', `${manifest.chips[1].id}-label.png`), encodePng(chip, chip, 1, new Uint8Array(chip * chip).fill(255)));
    await expect(source.get(1)).rejects.toThrow(/must be 0 \(no change\) or 1 \(change\)/);
    await fsp.writeFile(path.join(broken, 'manifest.json'), JSON.stringify({ ...manifest, chip: 64 }));
    await expect((await ChipFolderSource.open(broken, 'train')).get(0)).rejects.toThrow(/is 32x32, the manifest says 64x64/);
    await fsp.writeFile(path.join(broken, 'manifest.json'), '{"version": 2}');
    await expect(ChipFolderSource.open(broken, 'train')).rejects.toThrow(/not a version 1 dataset manifest/);
    await fsp.rm(broken, { recursive: true, force: true });
  });

  it('augments both dates and the mask with the same flips and rotation, seeded and resumable', async () => {
    // A sample whose after image and mask are its before image's first band: any geometric
    // mismatch between them shows up as unequal values.
    const size = 16;
    const samples: IChangeSample[] = Array.from({ length: 10 }, (_, i) => {
      const before = randomBytes(`aug-${i}`, size * size * 3);
      const band0 = Uint8Array.from({ length: size * size }, (_, p) => before[p * 3]);
      return { id: `s${i}`, before, after: Uint8Array.from(before), label: Uint8Array.from(band0, v => (v > 127 ? 1 : 0)) };
    });
    const source = new MemoryChangeSource('aug', samples, 3, size, size);
    const loader = new ChangeLoader(source, { batchSize: 4, shuffle: true, augment: { colourJitter: false }, seed: 3 });
    const all: Awaited<ReturnType<typeof loader.batch>>[] = [];
    for await (const b of loader.batches(0)) {
      all.push(b);
    }
    expect(all.map(b => b.count)).toEqual([4, 4, 2]);
    expect(new Set(all.flatMap(b => b.ids)).size).toBe(10);
    let transformed = 0;
    for (const b of all) {
      for (let k = 0; k < b.count; k++) {
        const plane = size * size;
        const before0 = b.before.subarray(k * 3 * plane, k * 3 * plane + plane);
        const after0 = b.after.subarray(k * 3 * plane, k * 3 * plane + plane);
        const mask = (b.mask as Float32Array).subarray(k * plane, (k + 1) * plane);
        expect(Buffer.from(after0.buffer.slice(after0.byteOffset, after0.byteOffset + after0.byteLength)).equals(Buffer.from(before0.buffer.slice(before0.byteOffset, before0.byteOffset + before0.byteLength)))).toBe(true);
        for (let p = 0; p < plane; p++) {
          expect(mask[p]).toBe(Math.round(before0[p] * 255) > 127 ? 1 : 0);
        }
        const original = samples[b.indices[k]].before;
        if (Array.from(before0).some((v, p) => Math.round(v * 255) !== original[p * 3])) {
          transformed++;
        }
      }
    }
    // About 7 in 8 samples get a flip or a rotation other than identity.
    expect(transformed).toBeGreaterThan(4);

    // Same seed and epoch: the same batches; resuming at batch 1 gives the tail; another epoch reorders.
    const again = new ChangeLoader(source, { batchSize: 4, shuffle: true, augment: { colourJitter: false }, seed: 3 });
    const tail: typeof all = [];
    for await (const b of again.batches(0, 1)) {
      tail.push(b);
    }
    expect(tail.map(b => b.ids)).toEqual(all.slice(1).map(b => b.ids));
    expect(Buffer.from(tail[0].before.buffer).equals(Buffer.from(all[1].before.buffer))).toBe(true);
    expect(again.order(1)).not.toEqual(again.order(0));
  });

  it('jitters colour per date and normalizes per band', async () => {
    const data = syntheticChangeData({ seed: 'jitter', scenes: 3, scene: 64, chip: 32 });
    const plain = await new ChangeLoader(data.train, { batchSize: 2 }).batch(0, [0, 1]);
    const jitter = await new ChangeLoader(data.train, { batchSize: 2, augment: { flips: false, rot90: false, colourJitter: { brightness: 0.3, contrast: 0.3 } }, seed: 1 }).batch(0, [0, 1]);
    expect(jitter.mask).toEqual(plain.mask);
    const ratio = (a: Float32Array, b: Float32Array) => a.reduce((s, v) => s + v, 0) / b.reduce((s, v) => s + v, 0);
    // Brightness and contrast differ between the dates of one sample.
    expect(Math.abs(ratio(jitter.before, plain.before) - ratio(jitter.after, plain.after))).toBeGreaterThan(1e-3);
    const normalized = await new ChangeLoader(data.train, { batchSize: 1, normalize: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.5] } }).batch(0, [0]);
    const plane = 32 * 32;
    expect(normalized.before[plane + 5]).toBeCloseTo((plain.before[plane + 5] - 0.4) / 0.25, 5);
    expect(() => new ChangeLoader(data.train, { batchSize: 1, normalize: { mean: [0], std: [1] } })).toThrow(/3 means/);
    expect(data.train.length).toBe(4);
    expect(data.val.length + data.test.length).toBe(8);
  });
});
