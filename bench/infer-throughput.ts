// Benchmark: inference throughput (chip pairs per second) of the exported FC-Siam-diff ONNX model
// (exportInference) on onnxruntime-node's CPU EP, under several session settings, against the same
// weights in PyTorch eager (torch.inference_mode, same thread count), measured in the same run.
// Prints every run, the best of each, the ratio, the largest logit difference and peak RSS.
//   npm run bench -- infer-throughput [batch=8] [sizes=128,256] [width=16] [runs=3] [threads=cores]
// Each side runs in its own child process (one per ONNX Runtime setting), so each peak RSS is its
// own; sizes run smallest first, so the RSS printed after a size covers that size and the smaller.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as os from 'os';
import * as path from 'path';

import { createRandom } from '../kernel-lib/src/synth';
import { buildChangeModel, exportInference, parameterValues } from '../kernel-lib/src/train';

const root = path.resolve(__dirname, '..');
const python = path.join(root, '.venv-oracles', 'bin', 'python');
const torchScript = path.join(root, 'bench', 'support', 'infer_throughput.py');
const SEED = 'bench-infer-throughput';

interface ISizeResult {
  size: number;
  msPerBatch: number[];
  peakRssMb: number;
}

/** The ONNX Runtime settings measured; `threads` is filled in by settingsFor. */
const SETTINGS = ['ort-defaults', 'basic+spin', 'all+spin', 'all+no-spin'] as const;
type Setting = (typeof SETTINGS)[number];

function settingsFor(setting: Setting, threads: number): ort.InferenceSession.SessionOptions {
  const noSpin = { session: { intra_op: { allow_spinning: '0' } } };
  switch (setting) {
    case 'ort-defaults':
      return {};
    case 'basic+spin':
      return { graphOptimizationLevel: 'basic', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
    case 'all+spin':
      return { graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
    case 'all+no-spin':
      return { graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', extra: noSpin } as ort.InferenceSession.SessionOptions;
  }
}

function describe(setting: Setting, threads: number): string {
  return setting === 'ort-defaults' ? "ONNX Runtime's defaults (level all, threads = physical cores, spinning)" : `level ${setting.split('+')[0]}, ${threads} intra-op threads, 1 inter-op, ${setting.endsWith('no-spin') ? 'no spinning' : 'spinning'}`;
}

function writeTensors(folder: string, tensors: Record<string, { data: ArrayLike<number>; shape: readonly number[] }>): void {
  fs.mkdirSync(folder, { recursive: true });
  const manifest: Record<string, readonly number[]> = {};
  Object.entries(tensors).forEach(([name, t], i) => {
    fs.writeFileSync(path.join(folder, `${i}.bin`), Buffer.from(Float32Array.from(t.data).buffer));
    manifest[name] = t.shape;
  });
  fs.writeFileSync(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
}

function readTensor(folder: string, index = 0): Float32Array {
  const buf = fs.readFileSync(path.join(folder, `${index}.bin`));
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** Child: one ONNX Runtime setting, every size; prints JSON ISizeResult[]. */
async function oursChild(args: string[]): Promise<void> {
  const [dir, setting, threadsArg, runsArg, ...sizeArgs] = args;
  const threads = Number(threadsArg);
  const runs = Number(runsArg);
  const out: ISizeResult[] = [];
  for (const size of sizeArgs.map(Number)) {
    const session = await ort.InferenceSession.create(path.join(dir, `model-${size}.onnx`), settingsFor(setting as Setting, threads));
    const inputs = JSON.parse(fs.readFileSync(path.join(dir, `inputs-${size}`, 'manifest.json'), 'utf8')) as Record<string, number[]>;
    const feeds = {
      before: new ort.Tensor('float32', readTensor(path.join(dir, `inputs-${size}`), 0), inputs.before),
      after: new ort.Tensor('float32', readTensor(path.join(dir, `inputs-${size}`), 1), inputs.after)
    };
    await session.run(feeds); // warm-up
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const result = await session.run(feeds);
      times.push(performance.now() - t);
      if (i === 0) {
        const logits = result.logits;
        writeTensors(path.join(dir, `ours-${setting}-${size}`), { logits: { data: logits.data as Float32Array, shape: logits.dims } });
      }
    }
    await session.release();
    out.push({ size, msPerBatch: times, peakRssMb: process.resourceUsage().maxRSS / 1024 });
  }
  console.log(JSON.stringify(out));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) {
    throw new Error(`logits differ in length: ${a.length} vs ${b.length}`);
  }
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return m;
}

async function main(args: string[]): Promise<void> {
  const batch = Number(args[0] ?? 8);
  const sizes = (args[1] ?? '128,256').split(',').map(Number).sort((a, b) => a - b);
  const width = Number(args[2] ?? 16);
  const runs = Number(args[3] ?? 3);
  const threads = Number(args[4] ?? os.availableParallelism());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'changelab-bench-infer-throughput-'));
  try {
    const options = { kind: 'fc-siam-diff' as const, bands: 3, width, seed: SEED };
    const model = buildChangeModel(options, { batch: 1, height: 16, width: 16 }, 'eval');
    // Running statistics away from (0, 1), so the agreement check covers batch norm's eval path.
    const random = createRandom(`${SEED}/weights`);
    const values = parameterValues(model);
    for (const [name, v] of Object.entries(values)) {
      if (name.endsWith('running_mean')) {
        v.forEach((_, i) => (v[i] = random.normal(0, 0.1)));
      } else if (name.endsWith('running_var')) {
        v.forEach((_, i) => (v[i] = random.range(0.5, 1.5)));
      }
    }
    writeTensors(path.join(dir, 'weights'), Object.fromEntries(model.graph.parameters.map(p => [p.tensor.name, { data: values[p.tensor.name] as Float32Array, shape: p.tensor.shape }])));
    for (const size of sizes) {
      fs.writeFileSync(path.join(dir, `model-${size}.onnx`), exportInference(options, values, { batch, height: size, width: size }));
      const n = batch * 3 * size * size;
      const r = createRandom(`${SEED}/inputs/${size}`);
      const shape = [batch, 3, size, size];
      writeTensors(path.join(dir, `inputs-${size}`), {
        before: { data: Float32Array.from({ length: n }, () => r.normal()), shape },
        after: { data: Float32Array.from({ length: n }, () => r.normal()), shape }
      });
    }
    console.log(`FC-Siam-diff inference, width ${width}, batch ${batch} pairs of 2x3xSxS, S in ${sizes.join(', ')}; ${threads} threads; 1 warm-up then ${runs} timed batches, best reported`);
    console.log(`  load average before: ${os.loadavg().map(v => v.toFixed(1)).join(' ')} on ${os.availableParallelism()} cores`);

    const ours: Record<string, ISizeResult[]> = {};
    for (const setting of SETTINGS) {
      const child = spawnSync(path.join(root, 'node_modules/.bin/tsx'), [__filename, 'ours', dir, setting, String(threads), String(runs), ...sizes.map(String)], {
        encoding: 'utf8',
        maxBuffer: 64 << 20
      });
      if (child.status !== 0) {
        throw new Error(`our run (${setting}) failed: ${child.stderr}`);
      }
      ours[setting] = JSON.parse(child.stdout.trim().split('\n').pop() as string) as ISizeResult[];
    }
    if (!fs.existsSync(python)) {
      console.log('  PyTorch: .venv-oracles is missing; run scripts/oracles.sh for the comparison');
    }
    type TorchResult = { sizes: { size: number; ms_per_batch: number[]; peak_rss_mb: number }[]; threads: number };
    // PyTorch twice: OpenMP's default (threads busy-wait between ops) and OMP_WAIT_POLICY=PASSIVE
    // (no spinning, like our all+no-spin); the faster of the two is the reference for the ratio.
    const runTorch = (passive: boolean): TorchResult =>
      JSON.parse(
        execFileSync(python, [torchScript, dir, String(width), String(threads), String(runs), ...sizes.map(String)], {
          encoding: 'utf8',
          maxBuffer: 64 << 20,
          env: passive ? { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } : process.env
        }).trim()
      ) as TorchResult;
    const torchRuns = fs.existsSync(python) ? { spin: runTorch(false), passive: runTorch(true) } : undefined;

    const pps = (ms: number) => batch / (ms / 1000);
    for (const [k, size] of sizes.entries()) {
      console.log(`\n  S = ${size} (batch ${batch}):`);
      const torchLogits = torchRuns && readTensor(path.join(dir, `torch-${size}`));
      const tSpin = torchRuns?.spin.sizes[k];
      const tPassive = torchRuns?.passive.sizes[k];
      const torchBest = tSpin && tPassive ? Math.min(...tSpin.ms_per_batch, ...tPassive.ms_per_batch) : undefined;
      for (const setting of SETTINGS) {
        const r = ours[setting][k];
        const best = Math.min(...r.msPerBatch);
        const diff = torchLogits ? `  max|logits - PyTorch's| ${maxAbsDiff(readTensor(path.join(dir, `ours-${setting}-${size}`)), torchLogits).toExponential(2)}` : '';
        const ratio = torchBest ? `  ${(torchBest / best).toFixed(2)}x PyTorch` : '';
        console.log(
          `    ours ${setting.padEnd(16)} ${best.toFixed(0).padStart(7)} ms/batch ${pps(best).toFixed(1).padStart(7)} pairs/s${ratio}  peak RSS ${r.peakRssMb.toFixed(0)} MB${diff}   runs ${r.msPerBatch.map(v => v.toFixed(0)).join(', ')}  (${describe(setting, threads)})`
        );
      }
      if (torchRuns && tSpin && tPassive && torchBest) {
        for (const [name, t] of [['PyTorch OMP spin', tSpin], ['PyTorch OMP passive', tPassive]] as const) {
          const best = Math.min(...t.ms_per_batch);
          console.log(`    ${name.padEnd(21)} ${best.toFixed(0).padStart(7)} ms/batch ${pps(best).toFixed(1).padStart(7)} pairs/s               peak RSS ${t.peak_rss_mb.toFixed(0)} MB   runs ${t.ms_per_batch.map(v => v.toFixed(0)).join(', ')}  (${torchRuns.spin.threads} threads, eager, inference_mode)`);
        }
        const best = SETTINGS.map(s => ({ s, ms: Math.min(...ours[s][k].msPerBatch) })).reduce((a, b) => (b.ms < a.ms ? b : a));
        console.log(`    ratio ours / PyTorch throughput (best of each side): ${(torchBest / best.ms).toFixed(2)}x with ${best.s}; ${(torchBest / Math.min(...ours['all+no-spin'][k].msPerBatch)).toFixed(2)}x with all+no-spin (goal >= 1.5x)`);
      }
    }
    console.log(`\n  load average after: ${os.loadavg().map(v => v.toFixed(1)).join(' ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, ...rest] = process.argv.slice(2);
(mode === 'ours' ? oursChild(rest) : main(mode === undefined ? [] : [mode, ...rest])).catch(error => {
  console.error(error);
  process.exit(1);
});
