// GPU check: training on ONNX Runtime's CUDA execution provider, the path `train({gpu: true})`
// takes. Needs a machine with an NVIDIA GPU and the CUDA EP installed (scripts/install-cuda-ep.sh).
//   npm run bench -- gpu-train [batch=8] [size=256] [width=16] [steps=20]
// 1. Agreement: FC-Siam-diff from the same initial weights on the same batches, 5 Adam steps on the
//    CPU EP and on the CUDA EP; prints both losses per step and the largest parameter difference.
// 2. Speed: ms per training step on CUDA (best of `steps`, as bench/train-step.ts), against PyTorch
//    eager on the same GPU in the same run (.venv-oracles' python, or PYTHON: one with CUDA torch),
//    and the ratio.
// 3. Profile: ONNX Runtime's per-node profile of the step, time by op type and provider, and any
//    nodes left on the CPU.
// 4. The notebook API: `train({dataset: {synthetic: true}, gpu: true})` end to end (worker thread,
//    metrics, checkpoint, export), and the exported model run on CUDA against the CPU.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as os from 'os';
import * as path from 'path';

import { createRandom } from '../kernel-lib/src/synth';
import { TrainingSession, bceWithLogits, buildChangeModel, cudaAvailable, train } from '../kernel-lib/src/train';

const [batch, size, width, steps] = [8, 256, 16, 20].map((d, i) => Number(process.argv[2 + i] ?? d));
const root = path.resolve(__dirname, '..');
const python = process.env.PYTHON ?? path.join(root, '.venv-oracles', 'bin', 'python');
const cuda: ort.InferenceSession.SessionOptions = { executionProviders: [{ name: 'cuda', deviceId: 0 }, 'cpu'] };

function batchOf(seed: string, b: number, s: number): Record<string, ort.Tensor> {
  const random = createRandom(seed);
  const n = b * 3 * s * s;
  const shape = [b, 3, s, s];
  return {
    before: new ort.Tensor('float32', Float32Array.from({ length: n }, () => random.normal()), shape),
    after: new ort.Tensor('float32', Float32Array.from({ length: n }, () => random.normal()), shape),
    mask: new ort.Tensor('float32', Float32Array.from({ length: n / 3 }, () => (random.next() < 0.2 ? 1 : 0)), [b, 1, s, s])
  };
}

async function session(b: number, s: number, options: ort.InferenceSession.SessionOptions, dropout: number): Promise<TrainingSession> {
  const model = buildChangeModel({ kind: 'fc-siam-diff', bands: 3, width, dropout }, { batch: b, height: s, width: s });
  return TrainingSession.create({
    graph: model.graph,
    loss: bceWithLogits(model.logits, model.graph.input('mask', [b, 1, s, s])),
    trainable: model.trainable,
    buffers: model.bufferUpdates,
    optimizer: { type: 'adam' },
    lr: 1e-3,
    session: options
  });
}

async function agreement(): Promise<void> {
  const b = 4;
  const s = 64;
  const batches = [0, 1, 2, 3, 4].map(i => batchOf(`gpu-agree-${i}`, b, s));
  const cpu = await session(b, s, { executionProviders: ['cpu'] }, 0);
  const gpu = await session(b, s, cuda, 0);
  console.log(`1. agreement, batch ${b} of 2x3x${s}x${s}, 5 Adam steps from the same weights (dropout off):`);
  for (const [i, data] of batches.entries()) {
    const a = await cpu.step(data);
    const g = await gpu.step(data);
    console.log(`   step ${i + 1}: loss CPU ${a.loss.toFixed(6)}  CUDA ${g.loss.toFixed(6)}  |diff| ${Math.abs(a.loss - g.loss).toExponential(2)}`);
  }
  let worst = 0;
  let worstName = '';
  for (const p of cpu.model.trainable) {
    const x = cpu.value(p.name);
    const y = gpu.value(p.name);
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(Number(x[i]) - Number(y[i]));
      if (d > worst) {
        worst = d;
        worstName = p.name;
      }
    }
  }
  console.log(`   largest parameter difference after 5 steps: ${worst.toExponential(2)} (${worstName}; Adam's steps are 1e-3)`);
  await cpu.release();
  await gpu.release();
}

async function speed(): Promise<void> {
  const t0 = performance.now();
  const gpu = await session(batch, size, cuda, 0.2);
  const buildMs = performance.now() - t0;
  const data = batchOf('gpu-speed', batch, size);
  for (let i = 0; i < 3; i++) {
    await gpu.step(data);
  }
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await gpu.step(data);
    times.push(performance.now() - t);
  }
  await gpu.release();
  const ours = Math.min(...times);
  console.log(`2. speed, batch ${batch} of 2x3x${size}x${size}, width ${width}, Adam, best of ${steps}:`);
  console.log(`   ours, ORT CUDA EP   ${ours.toFixed(1).padStart(8)} ms/step   (graph build + session ${(buildMs / 1000).toFixed(1)} s)`);
  try {
    const oracle = path.join(root, 'test', 'kernel-lib', 'train', 'oracle');
    const args = [String(batch), String(size), String(width), String(steps), '1', 'fc-siam-diff', 'cuda'];
    const out = execFileSync(python, [path.join(oracle, 'bench_step.py'), ...args], { cwd: oracle, encoding: 'utf8' });
    const t = JSON.parse(out) as { ms_per_step: number; device: string };
    console.log(`   PyTorch eager CUDA  ${t.ms_per_step.toFixed(1).padStart(8)} ms/step   on ${t.device}`);
    console.log(`   ratio ours / PyTorch: ${(ours / t.ms_per_step).toFixed(2)}x`);
  } catch (e) {
    console.log(`   PyTorch with CUDA did not run (${String(e).split('\n')[0]})`);
  }
}

/** Per-node profile of training steps on CUDA: time by op type and provider, and the nodes left on the CPU. */
async function profile(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'changelab-gpu-profile-'));
  const prefix = path.join(dir, 'gpu-profile');
  const gpu = await session(batch, size, { ...cuda, enableProfiling: true, profileFilePrefix: prefix }, 0.2);
  const data = batchOf('gpu-speed', batch, size);
  for (let i = 0; i < 6; i++) {
    await gpu.step(data);
  }
  await gpu.release();
  const counted = 4; // the last four steps: the first two pick cuDNN's algorithms
  const file = fs.readdirSync(dir).find(f => f.endsWith('.json'));
  if (!file) {
    console.log('3. profile: onnxruntime wrote no profile');
    return;
  }
  type Event = { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string; provider?: string } };
  const all = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Event[];
  fs.rmSync(dir, { recursive: true, force: true });
  const runs = all.filter(e => e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const from = runs[runs.length - counted]?.ts ?? 0;
  const events = all.filter(e => e.ts >= from);
  const byOp = new Map<string, { us: number; n: number }>();
  const onCpu = new Set<string>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) {
      continue;
    }
    const key = `${e.args?.op_name ?? '?'} @ ${e.args?.provider ?? '?'}`;
    const v = byOp.get(key) ?? { us: 0, n: 0 };
    v.us += e.dur;
    v.n++;
    byOp.set(key, v);
    total += e.dur;
    if (e.args?.provider === 'CPUExecutionProvider') {
      onCpu.add(`${e.args.op_name}:${e.name.replace(/_kernel_time$/, '')}`);
    }
  }
  const nodes = [...byOp.values()].reduce((a, v) => a + v.n, 0) / counted;
  console.log(`3. profile of ${counted} steps after 2 warm-up steps: ${nodes} nodes, kernel time ${(total / counted / 1000).toFixed(1)} ms/step; by op type and provider:`);
  for (const [k, v] of [...byOp].sort((a, b) => b[1].us - a[1].us).slice(0, 12)) {
    console.log(`   ${k.padEnd(48)} ${(v.us / counted / 1000).toFixed(2).padStart(8)} ms/step  ${v.n / counted} nodes`);
  }
  console.log(`   ${onCpu.size} nodes on the CPU EP: ${[...onCpu].slice(0, 40).join(', ')}`);
}

async function notebookApi(): Promise<void> {
  const dir = path.join(os.tmpdir(), `changelab-gpu-train-${process.pid}`);
  const t0 = performance.now();
  const run = await train({
    dataset: { synthetic: true, scenes: 8, scene: 256, chip: 64 },
    model: 'fc-siam-diff',
    epochs: 3,
    batchSize: 8,
    gpu: true,
    dir,
    display: false,
    progressBar: false
  });
  const seconds = (performance.now() - t0) / 1000;
  const last = run.history[run.history.length - 1];
  console.log(`4. train({dataset: {synthetic: true}, gpu: true, epochs: 3}): ${run.status} in ${seconds.toFixed(1)} s`);
  console.log(`   last epoch: ${Object.entries(last).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : v}`).join(', ')}`);
  console.log(`   test: ${Object.entries(run.testMetrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
  console.log(`   exported model: ${run.modelPath}`);
  const data = batchOf('gpu-export', 1, 64);
  const cpu = await ort.InferenceSession.create(run.modelPath, { executionProviders: ['cpu'] });
  const gpu = await ort.InferenceSession.create(run.modelPath, cuda);
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of cpu.inputNames) {
    feeds[name] = data[name];
  }
  const a = (await cpu.run(feeds))[cpu.outputNames[0]].data as Float32Array;
  const g = (await gpu.run(feeds))[gpu.outputNames[0]].data as Float32Array;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - g[i]));
  }
  console.log(`   exported model, CUDA vs CPU on one batch: largest output difference ${worst.toExponential(2)} over ${a.length} values`);
  await Promise.all([cpu.release(), gpu.release(), run.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
}

(async () => {
  if (!cudaAvailable()) {
    console.error("needs onnxruntime-node's CUDA execution provider (scripts/install-cuda-ep.sh) and an NVIDIA GPU");
    process.exit(2);
  }
  console.log(`GPU check on ${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.availableParallelism()}, onnxruntime-node ${ort.env.versions.common}`);
  await agreement();
  await speed();
  await profile();
  await notebookApi();
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
})().catch(e => {
  console.error(e);
  process.exit(1);
});
