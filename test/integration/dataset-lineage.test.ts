// From catalog to lineage on both deployments (embedded PGlite + folder store, server PostgreSQL +
// MinIO): ingest synthetic imagery, discover the pair, build a dataset from it, commit it, record
// that two runs used two versions, answer "which images trained run X" / "which runs used image Y",
// and retrain on an old run's data with checkout(use.rev).
import * as fs from 'fs';
import * as path from 'path';
import { fromArrayBuffer } from 'geotiff';
import { afterAll, describe, expect, it } from 'vitest';
import * as dataset from '../../kernel-lib/src/dataset';
import { writeSyntheticSet } from '../../kernel-lib/src/synth';
import { tempDir, workspaceBackends } from '../helpers';
import { folderDigest, git } from '../kernel-lib/dataset/support';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

const backends = workspaceBackends(cleanups);

async function window(file: string, x: number, y: number, size: number): Promise<Uint8Array> {
  const bytes = fs.readFileSync(file);
  const image = await (await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))).getImage();
  return new Uint8Array((await image.readRasters({ window: [x, y, x + size, y + size], interleave: true })) as unknown as ArrayLike<number>);
}

describe.each(backends)('dataset lineage on %s', (_label, open) => {
  it('builds from catalog pairs, records runs per version and checks an old run’s data out again', async () => {
    const home = tempDir('changelab-ds-lineage-');
    fs.writeFileSync(path.join(home, 'changelab.config.json'), '{}\n');
    cleanups.push(async () => fs.rmSync(home, { recursive: true, force: true }));
    const workspace = await open(home);
    cleanups.push(() => workspace.close());
    const fixtures = path.join(home, 'fixtures');
    const set = await writeSyntheticSet(fixtures, { seed: 'lineage', size: 256, crss: [5186], includeBad: false });
    for (const f of set.files) {
      await workspace.objects.putFile(`flights/${f.path}`, path.join(fixtures, f.path));
    }
    // The label of a pair is the `_mask` object next to its before image (the mask is indexed too).
    await workspace.catalog.ingest('flights/', { progress: false });
    const { pairs } = await workspace.catalog.pairs.discover({ minOverlap: 0.5 });
    const pair = pairs.find(p => p.before.key.endsWith('_before.tif') && p.after.key.endsWith('_after.tif'))!;
    expect(pair).toBeDefined();

    const manifest = await dataset.build('seoul', { root: home, pairs: [pair], objects: workspace.objects, chip: 64, seed: 'l1' });
    expect(manifest.images.filter(i => i.id !== undefined).map(i => i.id).sort()).toEqual([pair.before.id, pair.after.id].sort());
    expect(manifest.images.find(i => i.role === 'label')?.key).toBe(pair.before.key.replace('_before.tif', '_mask.tif'));
    const chip = manifest.chips[manifest.chips.length - 1];
    const folder = path.join(home, 'datasets', 'seoul');
    const before = path.join(fixtures, pair.before.key.slice('flights/'.length));
    const chipBytes = await window(path.join(folder, chip.before), 0, 0, 64);
    expect(Buffer.from(chipBytes).equals(Buffer.from(await window(before, chip.window.x, chip.window.y, 64)))).toBe(true);

    const v1 = await dataset.commit('seoul', 'seoul chips v1', { root: home, tag: 'seoul-v1' });
    const ref1 = await dataset.ref('seoul', { root: home });
    expect(ref1).toMatchObject({ name: 'seoul', rev: v1.rev, md5: v1.md5, path: folder });
    expect(ref1.imageIds).toEqual([pair.before.id, pair.after.id].sort((a, b) => a - b));
    await dataset.recordUse('run-1', ref1, workspace);
    const digestV1 = folderDigest(folder);

    // A second version (another chip size) used by a second run.
    await dataset.build('seoul', { root: home, pairs: [pair], objects: workspace.objects, chip: 128, seed: 'l1' });
    await expect(dataset.ref('seoul', { root: home })).rejects.toThrow(/uncommitted changes/);
    const v2 = await dataset.commit('seoul', 'seoul chips v2', { root: home });
    expect(v2.md5).not.toBe(v1.md5);
    await dataset.recordUse('run-2', await dataset.ref('seoul', { root: home }), workspace);

    expect(await dataset.imagesForRun('run-1', workspace)).toEqual(ref1.imageIds);
    expect((await dataset.runsForImage(pair.before.id, workspace)).map(u => u.runId)).toEqual(['run-1', 'run-2']);
    expect((await dataset.runsForImage(999_999, workspace)).length).toBe(0);
    expect((await dataset.runsForVersion('seoul', v1.md5, workspace)).map(u => u.runId)).toEqual(['run-1']);
    const [use1] = await dataset.datasetsForRun('run-1', workspace);
    expect(use1).toMatchObject({ dataset: 'seoul', rev: v1.rev, md5: v1.md5 });

    // Retrain on exactly the data of run 1.
    await dataset.checkout(use1.rev, { root: home });
    expect(folderDigest(folder)).toEqual(digestV1);
    expect((await dataset.ref('seoul', { root: home })).rev).toBe(v1.rev);
    const versions = (await dataset.log('seoul', { root: home })).versions;
    expect(versions.map(v => [v.message, v.tags])).toEqual([['seoul chips v2', []], ['seoul chips v1', ['seoul-v1']]]);
    expect(git(home, 'status', '--porcelain', '--', 'datasets/seoul.dvc').trim()).toBe('M datasets/seoul.dvc');

    // Recording again replaces, bad references are refused.
    await dataset.recordUse('run-1', ref1, workspace);
    expect((await dataset.runsForImage(pair.before.id, workspace)).length).toBe(2);
    await expect(dataset.recordUse('run-3', { ...ref1, rev: 'HEAD' }, workspace)).rejects.toThrow(/committed dataset reference/);
    await expect(dataset.recordUse('', ref1, workspace)).rejects.toThrow(/run id/);
  }, 180_000);
});
