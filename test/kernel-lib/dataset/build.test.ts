// Building datasets from synthetic pairs: chips hold exactly the source pixels (read back with
// geotiff.js, an independent reader), splits are seeded and spatially blocked, the build is
// reproducible, and a build never silently replaces uncommitted work.
import * as fs from 'fs';
import * as path from 'path';
import { fromArrayBuffer } from 'geotiff';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../../../kernel-lib/src/dataset/build';
import type { IDatasetChip, IDatasetManifest } from '../../../kernel-lib/src/dataset/manifest';
import { DatasetRepository } from '../../../kernel-lib/src/dataset/repository';
import { blockSplit, chipWindows, windowBlocks } from '../../../kernel-lib/src/dataset/splits';
import { generatePair } from '../../../kernel-lib/src/synth/pair';
import { metresPerDegreeLongitude } from '../../../kernel-lib/src/synth/georef';
import { DEFAULT_ORIGIN } from '../../../kernel-lib/src/synth/pair';
import { folderDigest, gitRepo } from './support';

const roots: string[] = [];
afterAll(() => roots.forEach(r => fs.rmSync(r, { recursive: true, force: true })));
const repoDir = () => {
  const r = gitRepo();
  roots.push(r);
  return r;
};

async function readTif(file: string) {
  const bytes = fs.readFileSync(file);
  const tiff = await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const image = await tiff.getImage();
  const data = (await image.readRasters({ interleave: true })) as unknown as Uint8Array;
  return { data: new Uint8Array(data), width: image.getWidth(), height: image.getHeight(), bands: image.getSamplesPerPixel(), origin: image.getOrigin() };
}

/** World bbox of a chip window: [minx, miny, maxx, maxy], from the synthetic pair's own transform. */
const transforms = new Map<number, readonly number[]>();
function worldBox(chip: IDatasetChip, pairIndex: number, size: number, gsd: number): [number, number, number, number] {
  if (!transforms.has(pairIndex)) {
    const origin = { lat: DEFAULT_ORIGIN.lat, lon: DEFAULT_ORIGIN.lon + (pairIndex * size * gsd) / metresPerDegreeLongitude(DEFAULT_ORIGIN.lat) };
    transforms.set(pairIndex, generatePair({ seed: 'x', width: size, gsd, crs: 5186, origin }).meta.transform);
  }
  const [x0, px, , y0, , py] = transforms.get(pairIndex)!;
  const w = chip.window;
  const xs = [x0 + w.x * px, x0 + (w.x + w.width) * px];
  const ys = [y0 + w.y * py, y0 + (w.y + w.height) * py];
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

describe('dataset.build from synthetic pairs', () => {
  it('writes before/after/label chips with exactly the pairs’ pixels and georeference, and a manifest per the contract', async () => {
    const root = repoDir();
    const manifest = await build('syn', { root, synthetic: { count: 2, size: 256 }, chip: 64, overlap: 16, seed: 's1' });
    const folder = path.join(root, 'datasets', 'syn');
    const onDisk = JSON.parse(fs.readFileSync(path.join(folder, 'manifest.json'), 'utf8')) as IDatasetManifest;
    expect(onDisk).toEqual(manifest);
    expect(manifest).toMatchObject({ version: 1, name: 'syn', chip: 64, overlap: 16, bands: 3, seed: 's1' });
    expect(manifest.images.filter(i => i.role === 'label')).toHaveLength(2);
    const stride = 48;
    const perPair = chipWindows(256, 256, 64, 16).length;
    expect(manifest.chips.length + (manifest.splits.dropped ?? 0)).toBe(2 * perPair);
    expect(manifest.chips.length).toBeGreaterThan(perPair);

    const pair = generatePair({ seed: 's1/synthetic-001', width: 256, gsd: 0.5, crs: 5186, origin: { lat: DEFAULT_ORIGIN.lat, lon: DEFAULT_ORIGIN.lon + (256 * 0.5) / metresPerDegreeLongitude(DEFAULT_ORIGIN.lat) } });
    const chip = manifest.chips.find(c => c.pair === 'synthetic-001' && c.window.x > 0 && c.window.y > 0)!;
    expect(chip.id).toBe(`p1-r${chip.window.y / stride}-c${chip.window.x / stride}`);
    for (const [role, raster] of [['before', pair.rasters.before], ['after', pair.rasters.after], ['label', pair.rasters.mask]] as const) {
      const tif = await readTif(path.join(folder, chip[role]!));
      expect([tif.width, tif.height, tif.bands]).toEqual([64, 64, raster.bands]);
      const expected = new Uint8Array(64 * 64 * raster.bands);
      for (let row = 0; row < 64; row++) {
        const start = ((chip.window.y + row) * raster.width + chip.window.x) * raster.bands;
        expected.set(raster.data.subarray(start, start + 64 * raster.bands), row * 64 * raster.bands);
      }
      expect(Buffer.from(tif.data).equals(Buffer.from(expected))).toBe(true);
      const [x0, px, , y0, , py] = pair.meta.transform;
      expect(tif.origin[0]).toBeCloseTo(x0 + chip.window.x * px, 6);
      expect(tif.origin[1]).toBeCloseTo(y0 + chip.window.y * py, 6);
    }
  });

  it('never lets chips that share pixels, or share a split block, straddle two splits', async () => {
    const root = repoDir();
    const size = 384;
    const manifest = await build('blocked', { root, synthetic: { count: 3, size }, chip: 64, overlap: 32, block: 128, seed: 'blocks' });
    const splits = new Set(manifest.chips.map(c => c.split));
    expect(splits.size).toBeGreaterThanOrEqual(2); // otherwise the test below proves nothing
    const boxes = manifest.chips.map(c => ({ c, box: worldBox(c, Number(c.pair.slice(-3)), size, 0.5) }));
    let neighbours = 0;
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i].box, boxes[j].box];
        const sharePixels = a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
        if (sharePixels) {
          neighbours++;
          expect(boxes[i].c.split, `${boxes[i].c.id} / ${boxes[j].c.id}`).toBe(boxes[j].c.split);
        }
      }
    }
    expect(neighbours).toBeGreaterThan(100);
    // Every block holds one split only (blocks counted from the first pair's corner, as recorded).
    const anchor = manifest.splits.anchors!['EPSG:5186'];
    expect(anchor).toEqual([transforms.get(0)![0], transforms.get(0)![3]]);
    const blockOf = new Map<string, string>();
    for (const { c, box } of boxes) {
      const blocks = windowBlocks({ x: 0, y: 0, width: 1, height: 1 }, [box[0], box[2] - box[0], 0, box[3], 0, box[1] - box[3]], 64, anchor);
      for (const [bx, by] of blocks) {
        const key = `${bx}/${by}`;
        expect(blockOf.get(key) ?? c.split).toBe(c.split);
        blockOf.set(key, c.split);
      }
    }
  });

  it('is reproducible (same seed, same chips) and the seed changes the splits', async () => {
    const a = repoDir();
    const b = repoDir();
    const ma = await build('r', { root: a, synthetic: { count: 2, size: 256 }, chip: 64, seed: 'same' });
    const mb = await build('r', { root: b, synthetic: { count: 2, size: 256 }, chip: 64, seed: 'same' });
    const chipsOnly = (d: Record<string, string>) => Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'manifest.json'));
    expect(chipsOnly(folderDigest(path.join(a, 'datasets', 'r')))).toEqual(chipsOnly(folderDigest(path.join(b, 'datasets', 'r'))));
    expect(ma.chips).toEqual(mb.chips);
    // Split draws depend on the seed.
    const draws = (seed: string) => Array.from({ length: 50 }, (_, i) => blockSplit(seed, 'EPSG:5186', i, 0, { train: 0.5, val: 0.25, test: 0.25 }));
    expect(draws('one')).not.toEqual(draws('two'));
    const counts = draws('one').reduce<Record<string, number>>((m, s) => ((m[s] = (m[s] ?? 0) + 1), m), {});
    expect(Object.keys(counts).sort()).toEqual(['test', 'train', 'val']);
  });

  it('refuses to replace uncommitted work and bad options, naming the problem', async () => {
    const root = repoDir();
    await build('keep', { root, synthetic: { count: 1, size: 128 }, chip: 64 });
    await expect(build('keep', { root, synthetic: { count: 1, size: 128 }, chip: 64 })).rejects.toThrow(/never committed/);
    const repo = await DatasetRepository.open({ root });
    await repo.commit('keep', 'v1');
    fs.writeFileSync(path.join(root, 'datasets', 'keep', 'notes.txt'), 'my notes');
    await expect(build('keep', { root, synthetic: { count: 1, size: 128 }, chip: 64 })).rejects.toThrow(/notes\.txt/);
    expect(fs.readFileSync(path.join(root, 'datasets', 'keep', 'notes.txt'), 'utf8')).toBe('my notes');
    await build('keep', { root, synthetic: { count: 1, size: 128 }, chip: 64, force: true });
    expect(fs.existsSync(path.join(root, 'datasets', 'keep', 'notes.txt'))).toBe(false);
    await expect(build('x', { root, synthetic: { count: 1 }, chip: 100 })).rejects.toThrow(/multiple of 16/);
    await expect(build('x', { root, synthetic: { count: 1 }, splits: { train: 0.9, val: 0.2, test: 0 } })).rejects.toThrow(/add up to 1/);
    await expect(build('x', { root })).rejects.toThrow(/exactly one source/);
    await expect(build('../x', { root, synthetic: { count: 1 } })).rejects.toThrow(/invalid dataset name/);
  });
});
