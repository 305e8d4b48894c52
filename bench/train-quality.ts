// Benchmark: quality after training, ours (Trainer + ChangeTask on ONNX Runtime) against PyTorch
// with the same initial weights, the same batches in the same order with the same augmentation
// (written out from our loader), Adam, BCE with the same pos_weight, dropout off, the same epochs.
// Prints per-epoch train loss / F1 / IoU of both, the test F1 and IoU of the final weights, the
// difference in points (goal: within 1), wall time and peak RSS of each.
//   npm run bench -- train-quality [epochs=15] [width=8] [chip=64] [batch=8] [lr=1e-3] [posWeight=3] [threads=cores] [floor|no-floor] [cosine|constant]
// `floor` (default) also trains PyTorch from weights perturbed at float-rounding level (relative
// 1e-6) and prints how far that alone moves the scores: the scale below which ours vs PyTorch
// cannot be told apart, since the two differ by float rounding (logits agree to ~4e-7).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { ChangeLoader, ChangeTask, Trainer, parameterValues, syntheticChangeData, type IChangeBatch } from '../kernel-lib/src/train';

const root = path.resolve(__dirname, '..');
const python = path.join(root, '.venv-oracles', 'bin', 'python');
const torchScript = path.join(root, 'bench', 'support', 'train_quality.py');
const SEED = 'bench-train-quality';

const [epochs, width, chip, batch, lr, posWeight] = [15, 8, 64, 8, 1e-3, 3].map((d, i) => Number(process.argv[2 + i] ?? d));
const threads = Number(process.argv[8] ?? os.availableParallelism());
const noiseFloor = (process.argv[9] ?? 'floor') !== 'no-floor';
/** Cosine decay of the learning rate to 0 over the run (the default), or constant. */
const cosine = (process.argv[10] ?? 'cosine') === 'cosine';

function writeTensors(folder: string, tensors: Record<string, { data: ArrayLike<number>; shape: readonly number[] }>): void {
  fs.mkdirSync(folder, { recursive: true });
  const manifest: Record<string, readonly number[]> = {};
  Object.entries(tensors).forEach(([name, t], i) => {
    fs.writeFileSync(path.join(folder, `${i}.bin`), Buffer.from(Float32Array.from(t.data).buffer));
    manifest[name] = t.shape;
  });
  fs.writeFileSync(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
}

/** Stacks batches (in order) into one before / after / mask folder. */
function writeBatches(folder: string, batches: IChangeBatch[]): void {
  const n = batches.reduce((s, b) => s + b.count, 0);
  const { bands, height: h, width: w } = batches[0];
  const before = new Float32Array(n * bands * h * w);
  const after = new Float32Array(n * bands * h * w);
  const mask = new Float32Array(n * h * w);
  let k = 0;
  for (const b of batches) {
    before.set(b.before, k * bands * h * w);
    after.set(b.after, k * bands * h * w);
    mask.set(b.mask as Float32Array, k * h * w);
    k += b.count;
  }
  writeTensors(folder, { before: { data: before, shape: [n, bands, h, w] }, after: { data: after, shape: [n, bands, h, w] }, mask: { data: mask, shape: [n, 1, h, w] } });
}

async function collect(loader: ChangeLoader, epoch: number): Promise<IChangeBatch[]> {
  const out: IChangeBatch[] = [];
  for await (const b of loader.batches(epoch)) {
    out.push(b);
  }
  return out;
}

const pts = (v: number) => (100 * v).toFixed(2);

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'changelab-bench-train-quality-'));
  try {
    const data = syntheticChangeData({ seed: SEED, scenes: 6, scene: 256, chip });
    const changed = (s: typeof data.train) => {
      let ones = 0;
      let all = 0;
      return (async () => {
        for (let i = 0; i < s.length; i++) {
          const l = (await s.get(i)).label as Uint8Array;
          l.forEach(v => (ones += v ? 1 : 0));
          all += l.length;
        }
        return ((100 * ones) / all).toFixed(1);
      })();
    };
    console.log(
      `training quality on syntheticChangeData (seed ${SEED}, 6 scenes of 256 px, ${chip} px chips): ${data.train.length} train chips (${await changed(data.train)}% change), ${data.test.length} test chips (${await changed(data.test)}% change)`
    );
    console.log(
      `  FC-Siam-diff width ${width}, dropout 0, Adam lr ${lr} ${cosine ? 'cosine-decayed to 0 over the run' : 'constant'}, BCE pos_weight ${posWeight}, batch ${batch}, ${epochs} epochs, shuffled, flips + rot90 + colour jitter (identical batches both sides), ${threads} threads`
    );
    console.log(`  load average before: ${os.loadavg().map(v => v.toFixed(1)).join(' ')} on ${os.availableParallelism()} cores`);

    const tMax = epochs * Math.floor(data.train.length / batch);
    const task = new ChangeTask({ model: 'fc-siam-diff', width, dropout: 0, lr, posWeight, modelSeed: SEED, schedule: cosine ? { type: 'cosine', tMax } : { type: 'constant' } });
    // The initial weights (the Trainer builds the same ones from the task's modelSeed).
    const initial = task.configureModel({ batch, height: chip, width: chip }, 'train');
    const initialValues = parameterValues(initial);
    writeTensors(path.join(dir, 'weights'), Object.fromEntries(initial.graph.parameters.map(p => [p.tensor.name, { data: initialValues[p.tensor.name] as Float32Array, shape: p.tensor.shape }])));
    const loader = new ChangeLoader(data.train, { batchSize: batch, shuffle: true, augment: true, dropLast: true, seed: `${SEED}/data` });
    for (let e = 0; e < epochs; e++) {
      writeBatches(path.join(dir, `epoch-${e}`), await collect(loader, e));
    }
    writeBatches(path.join(dir, 'test'), await collect(new ChangeLoader(data.test, { batchSize: data.test.length }), 0));

    const started = performance.now();
    const trainer = new Trainer({ maxEpochs: epochs, seed: SEED, threads, progressBar: false, logger: false });
    const fit = await trainer.fit(task, { train: loader });
    const test = await trainer.test(task, { test: data.test, batchSize: batch });
    await trainer.close();
    const oursSeconds = (performance.now() - started) / 1000;
    const oursRss = process.resourceUsage().maxRSS / 1024;

    if (!fs.existsSync(python)) {
      console.log('  PyTorch: .venv-oracles is missing; run scripts/oracles.sh for the comparison');
    }
    type TorchResult = { epochs: { loss: number; f1: number; iou: number }[]; test: { f1: number; iou: number; loss: number }; seconds: number; peak_rss_mb: number };
    // OMP_WAIT_POLICY=PASSIVE: PyTorch's OpenMP threads do not busy-wait, as ours do not (the
    // Trainer's default); on a shared machine spinning threads only slow both down.
    const runTorch = (perturb: number): TorchResult =>
      JSON.parse(
        execFileSync(python, [torchScript, dir, JSON.stringify({ width, lr, pos_weight: posWeight, epochs, batch, threads, perturb, cosine_t_max: cosine ? tMax : null })], {
          encoding: 'utf8',
          maxBuffer: 64 << 20,
          env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }
        }).trim()
      ) as TorchResult;
    const theirs = fs.existsSync(python) ? runTorch(0) : undefined;
    // The noise floor: PyTorch again from weights that differ by float rounding (relative 1e-6).
    const floor = fs.existsSync(python) && noiseFloor ? runTorch(1e-6) : undefined;

    console.log('  epoch   train loss (ours / PyTorch)   train F1 % (ours / PyTorch)   train IoU % (ours / PyTorch)');
    fit.history.forEach((row, e) => {
      const t = theirs?.epochs[e];
      console.log(
        `  ${String(e + 1).padStart(5)}   ${row['train/loss'].toFixed(4)} / ${t ? t.loss.toFixed(4) : '-'}           ${pts(row['train/f1'])} / ${t ? pts(t.f1) : '-'}             ${pts(row['train/iou'])} / ${t ? pts(t.iou) : '-'}`
      );
    });
    console.log(`  test (final weights, eval mode, ${data.test.length} chips):`);
    console.log(`    ours     F1 ${pts(test['test/f1'])}   IoU ${pts(test['test/iou'])}   loss ${test['test/loss'].toFixed(4)}   ${oursSeconds.toFixed(0)} s   peak RSS ${oursRss.toFixed(0)} MB (status ${fit.status})`);
    if (theirs) {
      console.log(`    PyTorch  F1 ${pts(theirs.test.f1)}   IoU ${pts(theirs.test.iou)}   loss ${theirs.test.loss.toFixed(4)}   ${theirs.seconds.toFixed(0)} s   peak RSS ${theirs.peak_rss_mb.toFixed(0)} MB (torchmetrics, OMP_WAIT_POLICY=PASSIVE)`);
      const dF1 = 100 * (test['test/f1'] - theirs.test.f1);
      const dIoU = 100 * (test['test/iou'] - theirs.test.iou);
      const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
      console.log(`  difference ours - PyTorch: F1 ${signed(dF1)} points, IoU ${signed(dIoU)} points (goal: within 1 point)`);
      if (floor) {
        console.log(`    PyTorch, initial weights x (1 + 1e-6 N(0,1)): F1 ${pts(floor.test.f1)}   IoU ${pts(floor.test.iou)}   ${floor.seconds.toFixed(0)} s`);
        console.log(
          `  noise floor PyTorch(perturbed) - PyTorch: F1 ${signed(100 * (floor.test.f1 - theirs.test.f1))} points, IoU ${signed(100 * (floor.test.iou - theirs.test.iou))} points (rounding-level differences in the start alone)`
        );
      }
    }
    console.log(`  load average after: ${os.loadavg().map(v => v.toFixed(1)).join(' ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})().catch(error => {
  console.error(error);
  process.exit(1);
});
