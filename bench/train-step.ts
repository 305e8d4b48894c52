// Benchmark: one training step (forward, BCE loss, backward, Adam) of FC-Siam-diff and of
// siam-resnet18-diff on ONNX Runtime's CPU EP against PyTorch eager on the CPU with the same thread
// count, measured in the same run (PyTorch from .venv-oracles, see scripts/oracles.sh). Prints ms
// per step, the ratio and peak RSS.
//   npm run bench -- train-step [batch=8] [size=256] [width=16] [steps=3] [threads=cores] [model=all]
// model: fc-siam-diff, siam-resnet18-diff or all (each model in its own process, so that each
// peak RSS is that model's). The peak RSS of ours covers both of its sessions (spinning and not,
// one process); PyTorch's is its own process.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as os from 'os';
import * as path from 'path';

import { createRandom } from '../kernel-lib/src/synth';
import { TrainingSession, bceWithLogits, buildChangeModel } from '../kernel-lib/src/train';

const [batch, size, width, steps] = [8, 256, 16, 3].map((d, i) => Number(process.argv[2 + i] ?? d));
const threads = Number(process.argv[6] ?? os.availableParallelism());
const which = process.argv[7] ?? 'all';
const MODELS = ['fc-siam-diff', 'siam-resnet18-diff'] as const;
type Kind = (typeof MODELS)[number];
const kind = which as Kind;
const root = path.resolve(__dirname, '..');
const python = path.join(root, '.venv-oracles', 'bin', 'python');

/**
 * `spin`: ONNX Runtime's intra-op threads busy-wait between ops (its default). On a machine whose
 * cores are shared (notebook kernels, other jobs) spinning threads steal each other's time; the
 * Trainer turns it off (see runner.ts), and this benchmark measures both.
 */
async function ours(spin: boolean): Promise<{ msPerStep: number; buildMs: number; peakRssMb: number }> {
  const started = performance.now();
  const model = buildChangeModel({ kind, bands: 3, width, dropout: 0.2 }, { batch, height: size, width: size });
  const target = model.graph.input('mask', [batch, 1, size, size]);
  const session = await TrainingSession.create({
    graph: model.graph,
    loss: bceWithLogits(model.logits, target),
    trainable: model.trainable,
    buffers: model.bufferUpdates,
    optimizer: { type: 'adam' },
    lr: 1e-3,
    session: { intraOpNumThreads: threads, interOpNumThreads: 1, ...(spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }) }
  });
  const buildMs = performance.now() - started;
  const random = createRandom('bench-train-step');
  const n = batch * 3 * size * size;
  const shape = [batch, 3, size, size];
  const data = {
    before: new ort.Tensor('float32', Float32Array.from({ length: n }, () => random.normal()), shape),
    after: new ort.Tensor('float32', Float32Array.from({ length: n }, () => random.normal()), shape),
    mask: new ort.Tensor('float32', Float32Array.from({ length: n / 3 }, () => (random.next() < 0.2 ? 1 : 0)), [batch, 1, size, size])
  };
  await session.step(data); // warm-up
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await session.step(data);
    times.push(performance.now() - t);
  }
  await session.release();
  return { msPerStep: Math.min(...times), buildMs, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

(async () => {
  if (which === 'all') {
    // One child process per model (same arguments), so that peak RSS is per model.
    for (const m of MODELS) {
      execFileSync(process.execPath, [...process.execArgv, __filename, ...[batch, size, width, steps, threads].map(String), m], { stdio: 'inherit' });
    }
    return;
  }
  if (!MODELS.includes(kind)) {
    throw new Error(`model must be one of ${MODELS.join(', ')} or all, not ${which}`);
  }
  console.log(`${kind} training step: batch ${batch} of 2x3x${size}x${size}, width ${width}, Adam, ${threads} threads, best of ${steps}`);
  console.log(`  load average before: ${os.loadavg().map(v => v.toFixed(1)).join(' ')} on ${os.availableParallelism()} cores`);
  const spinning = await ours(true);
  console.log(`  ours, spinning      ${spinning.msPerStep.toFixed(0).padStart(8)} ms/step   peak RSS ${spinning.peakRssMb.toFixed(0)} MB   (graph build + session ${(spinning.buildMs / 1000).toFixed(1)} s)`);
  const o = await ours(false);
  console.log(`  ours, no spinning   ${o.msPerStep.toFixed(0).padStart(8)} ms/step   peak RSS ${o.peakRssMb.toFixed(0)} MB   (the Trainer's setting)`);
  if (!fs.existsSync(python)) {
    console.log('  PyTorch: .venv-oracles is missing; run scripts/oracles.sh for the comparison');
    return;
  }
  const script = path.join(root, 'test', 'kernel-lib', 'train', 'oracle', 'bench_step.py');
  const out = execFileSync(python, [script, String(batch), String(size), String(width), String(steps), String(threads), kind], {
    cwd: path.dirname(script),
    encoding: 'utf8'
  });
  const t = JSON.parse(out) as { ms_per_step: number; peak_rss_mb: number };
  console.log(`  PyTorch eager CPU   ${t.ms_per_step.toFixed(0).padStart(8)} ms/step   peak RSS ${t.peak_rss_mb.toFixed(0)} MB`);
  console.log(`  ratio ours / PyTorch: ${(o.msPerStep / t.ms_per_step).toFixed(2)}x no spinning, ${(spinning.msPerStep / t.ms_per_step).toFixed(2)}x spinning (goal <= 1.0x)`);
  console.log(`  load average after: ${os.loadavg().map(v => v.toFixed(1)).join(' ')}`);
})();
