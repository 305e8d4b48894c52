// Benchmark: can the loader keep the model busy? Reads a dataset folder of GeoTIFF chips (as the
// dataset builder writes them), decodes, augments (flips, rot90, colour jitter) and packs batches
// of Float32 NCHW, and compares the time per batch with the training step it feeds (FC-Siam-diff,
// same batch, ORT CPU, measured in the same run). The loader runs in the main thread while the
// worker computes the step, so it keeps up when its time per batch is below the step's.
// Reference: PyTorch's DataLoader reading the same chips would need GDAL/rasterio, which the
// oracle venv lacks; the step time is the bar that matters for "keep the model busy".
//   npm run bench -- train-loader [batch=8] [chip=256] [batches=8] [threads=cores]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { writeGeoTiff } from '../kernel-lib/src/raster';
import { generatePair } from '../kernel-lib/src/synth';
import { ChangeLoader, ChipFolderSource, TrainingSession, bceWithLogits, buildChangeModel } from '../kernel-lib/src/train';

const [batch, chip, batches] = [8, 256, 8].map((d, i) => Number(process.argv[2 + i] ?? d));
const threads = Number(process.argv[5] ?? os.availableParallelism());

async function writeDataset(folder: string, count: number): Promise<void> {
  fs.mkdirSync(path.join(folder, 'chips'), { recursive: true });
  const chips = [];
  const scenes = Math.ceil(count / 4);
  for (let s = 0; s < scenes; s++) {
    const pair = generatePair({ seed: `loader-bench/${s}`, width: 2 * chip, height: 2 * chip, gps: false, deflateLevel: 1 });
    for (let k = 0; k < 4 && chips.length < count; k++) {
      const x = (k % 2) * chip;
      const y = Math.floor(k / 2) * chip;
      const id = `s${s}-${k}`;
      const files: Record<string, string> = {};
      for (const [role, bands] of [['before', 3], ['after', 3], ['mask', 1]] as const) {
        const src = pair.rasters[role].data;
        const data = new Uint8Array(chip * chip * bands);
        for (let r = 0; r < chip; r++) {
          data.set(src.subarray(((y + r) * 2 * chip + x) * bands, ((y + r) * 2 * chip + x + chip) * bands), r * chip * bands);
        }
        files[role] = `chips/${id}-${role}.tif`;
        fs.writeFileSync(path.join(folder, files[role]), writeGeoTiff({ width: chip, height: chip, bands, dataType: 'uint8', data }, { crs: null, transform: null, overviews: false, tileSize: 256 }));
      }
      chips.push({ id, split: 'train', pair: `s${s}`, window: { x, y, width: chip, height: chip }, before: files.before, after: files.after, label: files.mask });
    }
  }
  const manifest = { version: 1, name: 'loader-bench', created: new Date().toISOString(), chip, overlap: 0, bands: 3, seed: 'bench', splits: { block: 2 * chip, fractions: { train: 1, val: 0, test: 0 } }, images: [], chips };
  fs.writeFileSync(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
}

(async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'changelab-loader-bench-'));
  try {
    await writeDataset(folder, batch * batches);
    const source = await ChipFolderSource.open(folder, 'train');
    const loader = new ChangeLoader(source, { batchSize: batch, shuffle: true, augment: true, seed: 1 });
    const times: number[] = [];
    let t = performance.now();
    for await (const _ of loader.batches(0)) {
      times.push(performance.now() - t);
      t = performance.now();
    }
    const loaderMs = times.reduce((a, b) => a + b, 0) / times.length;

    const model = buildChangeModel({ kind: 'fc-siam-diff', width: 16 }, { batch, height: chip, width: chip });
    const target = model.graph.input('mask', [batch, 1, chip, chip]);
    const session = await TrainingSession.create({
      graph: model.graph,
      loss: bceWithLogits(model.logits, target),
      trainable: model.trainable,
      buffers: model.bufferUpdates,
      optimizer: { type: 'adam' },
      lr: 1e-3,
      session: { intraOpNumThreads: threads, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } }
    });
    const b = await loader.batch(0, [0, 1, 2, 3, 4, 5, 6, 7].slice(0, batch));
    const feed = { before: b.before, after: b.after, mask: b.mask as Float32Array };
    await session.step(feed);
    let stepMs = Infinity;
    for (let i = 0; i < 2; i++) {
      const s = performance.now();
      await session.step(feed);
      stepMs = Math.min(stepMs, performance.now() - s);
    }
    await session.release();
    console.log(`Loader vs training step: batch ${batch} of 2x3x${chip}x${chip} GeoTIFF chips (DEFLATE), flips + rot90 + colour jitter, ${threads} ORT threads`);
    console.log(`  load average: ${os.loadavg().map(v => v.toFixed(1)).join(' ')} on ${os.availableParallelism()} cores`);
    console.log(`  loader (main thread)   ${loaderMs.toFixed(0).padStart(7)} ms/batch   (${((batch * 1000) / loaderMs).toFixed(0)} samples/s, mean of ${times.length})`);
    console.log(`  training step (ORT)    ${stepMs.toFixed(0).padStart(7)} ms/batch`);
    console.log(`  ratio loader / step: ${(loaderMs / stepMs).toFixed(3)} (below 1: the loader keeps the model busy)`);
    console.log(`  peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
})();
