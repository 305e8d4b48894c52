// siam-resnet18-diff, the stronger change model: its parameters carry the PyTorch module's names
// and shapes (torchvision's for the encoder) and PyTorch's default initialisation; it trains
// through train() and exports a model onnxruntime runs; and against PyTorch
// (oracle/siam_resnet.py), the same initial weights and batch give the same eval-mode logits
// (also from the exported ONNX in Python's onnxruntime), the same loss and parameter gradients at
// every step, and the same Adam update from the same point at every step. The oracle runs
// from .venv-oracles (scripts/oracles.sh).

import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

import { ChangeLoader, TrainingSession, bceWithLogits, buildChangeModel, exportInference, parameterValues, syntheticChangeData, train } from '../../../../kernel-lib/src/train';
import { tempDir } from '../../../helpers';
import { maxAbsDiff, oracleBatch, oraclePython, readTensors, relativeError, runOracle, writeTensors } from '../oracle';

const python = oraclePython();

describe('siam-resnet18-diff', () => {
  it('has the PyTorch module names and shapes, shares the encoder, and initialises as PyTorch', () => {
    const m = buildChangeModel({ kind: 'siam-resnet18-diff', bands: 4, width: 8 }, { batch: 2, height: 64, width: 64 });
    const shapes = Object.fromEntries(m.graph.parameters.map(p => [p.tensor.name, p.tensor.shape]));
    expect(shapes['encoder.conv1.weight']).toEqual([8, 4, 7, 7]);
    expect(shapes['encoder.layer1.0.conv1.weight']).toEqual([8, 8, 3, 3]);
    expect(shapes['encoder.layer1.0.downsample.0.weight']).toBeUndefined();
    expect(shapes['encoder.layer2.0.conv1.weight']).toEqual([16, 8, 3, 3]);
    expect(shapes['encoder.layer2.0.downsample.0.weight']).toEqual([16, 8, 1, 1]);
    expect(shapes['encoder.layer4.1.bn2.running_var']).toEqual([64]);
    // Decoder stage 0 takes the /32 difference (64) upsampled and the /16 skip (32).
    expect(shapes['decoder.0.conv1.weight']).toEqual([32, 96, 3, 3]);
    expect(shapes['decoder.3.conv1.weight']).toEqual([8, 16, 3, 3]);
    expect(shapes['head.conv2.weight']).toEqual([1, 8, 3, 3]);
    expect(shapes['head.conv2.bias']).toEqual([1]);
    // Convolutions ahead of batch norm have no bias, as in torchvision.
    expect(Object.keys(shapes).filter(n => n.endsWith('.bias') && !/bn|downsample\.1/.test(n))).toEqual(['head.conv2.bias']);
    // One set of encoder weights for both dates: 2 + 4 * 2 * 2 convs' worth, listed once.
    expect(m.graph.parameters.filter(p => p.tensor.name.startsWith('encoder.') && p.tensor.name.endsWith('.weight') && p.tensor.shape.length === 4)).toHaveLength(1 + 16 + 3);
    expect(m.buffers.map(b => b.name)).toContain('encoder.bn1.running_mean');
    expect(m.trainable.map(t => t.name)).not.toContain('encoder.bn1.running_mean');
    expect(m.logits.shape).toEqual([2, 1, 64, 64]);
    // kaiming_uniform(a = sqrt(5)): uniform in +-1/sqrt(fan_in), fan_in = 4 * 7 * 7.
    const stem = parameterValues(m)['encoder.conv1.weight'] as Float32Array;
    const bound = 1 / Math.sqrt(4 * 49);
    expect(Math.max(...stem.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...stem.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    expect(Array.from(parameterValues(m)['encoder.bn1.weight'] as Float32Array)).toEqual(new Array(8).fill(1));
    expect(() => buildChangeModel({ kind: 'siam-resnet18-diff' }, { batch: 1, height: 48, width: 64 })).toThrow(/multiple of 32/);
    expect(() => buildChangeModel({ kind: 'siam-resnet-50' as 'fc-ef' }, { batch: 1, height: 64, width: 64 })).toThrow(/unknown change model siam-resnet-50/);
  });

  it('trains with train() on chips and exports a model onnxruntime runs with predict()\'s output', async () => {
    const dir = tempDir('changelab-resnet-');
    const run = await train({
      dataset: { synthetic: true, seed: 'resnet', scenes: 4, scene: 64, chip: 32 },
      model: 'siam-resnet18-diff',
      width: 4,
      epochs: 2,
      batchSize: 4,
      lr: 0.01,
      threads: 1,
      display: false,
      progressBar: false,
      dir
    });
    try {
      expect(run.status).toBe('finished');
      expect(run.task.hparams.model).toBe('siam-resnet18-diff');
      expect(run.history).toHaveLength(2);
      expect(Number.isFinite(run.history[1]['train/loss'])).toBe(true);
      const data = syntheticChangeData({ seed: 'resnet', scenes: 4, scene: 64, chip: 32 });
      const predictions = await run.predict(data.test);
      const session = await ort.InferenceSession.create(run.modelPath);
      const batch = await new ChangeLoader(data.test, { batchSize: 1 }).batch(0, [0]);
      const out = await session.run({ before: new ort.Tensor('float32', batch.before, [1, 3, 32, 32]), after: new ort.Tensor('float32', batch.after, [1, 3, 32, 32]) });
      await session.release();
      const logits = out.logits.data as Float32Array;
      let maxDiff = 0;
      logits.forEach((l, i) => (maxDiff = Math.max(maxDiff, Math.abs(1 / (1 + Math.exp(-l)) - predictions[0].probability[i]))));
      expect(maxDiff).toBeLessThan(1e-5);
    } finally {
      await run.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  // The network's gradients are discontinuous in its parameters (ReLU, max-pool and |f1 - f2|
  // kinks): PyTorch against itself, with the weights scaled by 1 + 1e-6 noise, measured at this
  // size 4e-4 (step 1), 3e-2 (step 2) and 0.27 (step 3) relative gradient difference with Adam at
  // lr 1e-4 (0.46 at step 2 with lr 1e-3), so two float32 trajectories cannot be compared step
  // for step beyond the first. Step 1 starts from the same initial weights on both sides; from
  // then on PyTorch loads the parameters we had before each step (stepwise_oracle.py), computes
  // loss and gradients there, and takes its own Adam step (its state carried), which we compare
  // with ours: the loss, every gradient and every update are checked at every step. PyTorch also
  // gives the float64 gradient at each point, for the report.
  it.skipIf(!python)('matches PyTorch: logits, and loss, gradients and Adam update at every step', async () => {
    const config = { model: 'siam-resnet18-diff', bands: 4, width: 4, batch: 2, size: 64, steps: 4, lr: 1e-3 };
    const input = { batch: config.batch, height: config.size, width: config.size };
    const options = { kind: 'siam-resnet18-diff' as const, bands: config.bands, width: config.width, dropout: 0, seed: 'resnet-oracle' };
    const model = buildChangeModel(options, input);
    const names = model.graph.parameters.map(p => p.tensor.name);
    const initial = Object.fromEntries(Object.entries(parameterValues(model)).map(([k, v]) => [k, Float32Array.from(v as Float32Array)]));

    const { before, after, mask, shape, maskShape } = oracleBatch('resnet-oracle-batch', config);

    const target = model.graph.input('mask', maskShape);
    const session = await TrainingSession.create({
      graph: model.graph,
      loss: bceWithLogits(model.logits, target),
      trainable: model.trainable,
      buffers: model.bufferUpdates,
      optimizer: { type: 'adam' },
      lr: config.lr,
      returnGradients: true
    });
    // Our run: the parameters and running statistics before each step, the loss and gradients,
    // and the values after the last step.
    const states: Record<string, Float32Array>[] = [];
    const results: { loss: number; grads: Record<string, Float32Array> }[] = [];
    try {
      for (let step = 1; step <= config.steps; step++) {
        states.push(Object.fromEntries(names.map(name => [name, Float32Array.from(session.value(name) as Float32Array)])));
        const r = await session.step({ before, after, mask });
        results.push({ loss: r.loss, grads: Object.fromEntries(model.trainable.map(p => [p.name, Float32Array.from(r.outputs[`grad:${p.name}`].data as Float32Array)])) });
      }
      states.push(Object.fromEntries(names.map(name => [name, Float32Array.from(session.value(name) as Float32Array)])));
    } finally {
      await session.release();
    }
    for (const name of names) {
      expect(states[0][name], `${name} starts at the initial value`).toEqual(initial[name]);
    }

    const work = tempDir('changelab-resnet-oracle-');
    const onnxPath = path.join(work, 'model.onnx');
    const exported = exportInference(options, initial, input);
    fs.writeFileSync(onnxPath, exported);
    const shapes = Object.fromEntries(model.graph.parameters.map(p => [p.tensor.name, p.tensor.shape]));
    writeTensors(path.join(work, 'in'), {
      ...Object.fromEntries(states.slice(0, config.steps).flatMap((st, k) => names.map(name => [`step${k + 1}:${name}`, { data: st[name], shape: shapes[name] }]))),
      before: { data: before, shape },
      after: { data: after, shape },
      mask: { data: mask, shape: maskShape }
    });
    runOracle(python as string, 'stepwise_oracle.py', [path.join(work, 'in'), path.join(work, 'out'), JSON.stringify({ ...config, onnx: onnxPath, float64: true })]);
    const torch = readTensors(path.join(work, 'out'));
    fs.rmSync(work, { recursive: true, force: true });
    // PyTorch's state_dict has exactly our parameters and buffers (besides num_batches_tracked).
    expect(Object.keys(torch).filter(k => k.startsWith('next1:')).map(k => k.slice(6)).sort()).toEqual([...names].sort());

    // Inference, float32 both sides in different summation orders through 24 convolutions:
    // 1e-4 of the output's norm is far below any real error (a wrong pad, stride or upsampling
    // mode gives O(1)).
    const inference = await ort.InferenceSession.create(exported);
    const node = (await inference.run({ before: new ort.Tensor('float32', before, shape), after: new ort.Tensor('float32', after, shape) })).logits.data as Float32Array;
    await inference.release();
    expect(relativeError(node, torch.eval_logits.data)).toBeLessThan(1e-4);
    expect(relativeError(torch.onnx_logits.data, torch.eval_logits.data)).toBeLessThan(1e-4);

    const report: string[] = [];
    const undetermined: Record<string, Set<number>> = {};
    for (let step = 1; step <= config.steps; step++) {
      const ours = results[step - 1];
      // Loss: a mean of 8192 float32 terms in different orders; 1e-5 relative is ~10x rounding.
      expect(Math.abs(ours.loss - torch.losses.data[step - 1]) / Math.abs(torch.losses.data[step - 1]), `loss at step ${step}`).toBeLessThan(1e-5);
      // Gradients at the same point, float32 both sides in different orders. A unit whose
      // pre-activation sits within rounding of a ReLU / max-pool / |x| kink falls on either side
      // and moves every gradient upstream of it together: at step 1 here every encoder gradient
      // of ours is ~4e-4 (worst 9.6e-4, a bias of 8 elements) from the float64 gradient
      // (PyTorch's float32: 2e-5), while at steps 2-4 ours agree to 4e-5 (at step 2 the float64
      // gradient is itself across a kink: both float32 sides are 2e-2 from it); PyTorch against
      // itself, with the weights scaled by 1 + 1e-6 noise, moves 4e-4 at step 1. So 2e-3
      // relative (norm of the difference over the norm), while any wrong rule (a missing term,
      // a flipped kernel, a misrouted max-pool or upsampling gradient) gives O(1). No tensor is
      // exempt: no convolution ahead of batch norm has a bias. The report gives the worst
      // tensor's distance to the float64 gradient on both sides.
      let worst = 0;
      let worstName = '';
      for (const p of model.trainable) {
        const theirs = torch[`step${step}.grad:${p.name}`];
        expect(theirs, `PyTorch has ${p.name}`).toBeDefined();
        const err = relativeError(ours.grads[p.name], theirs.data);
        const exact = torch[`exact${step}.grad:${p.name}`].data;
        if (err > worst) {
          worst = err;
          worstName = `${p.name}; to float64: ours ${relativeError(ours.grads[p.name], exact).toExponential(2)}, PyTorch's ${relativeError(theirs.data, exact).toExponential(2)}`;
        }
        expect(err, `gradient of ${p.name} at step ${step}`).toBeLessThan(2e-3);
        // Elements whose gradient sign the two sides disagree on: only where the gradient is
        // within the tolerance above of zero, next to the tensor's largest (|g| < 1e-3 max |g|;
        // observed up to 1.5e-4 max |g|). Adam turns such an
        // element into a +-lr step on either side, and its moments carry that on, so these
        // elements (noted here, counted in the report) get the elementwise bound below only.
        let largest = 0;
        theirs.data.forEach(v => (largest = Math.max(largest, Math.abs(v))));
        const flipped = (undetermined[p.name] ??= new Set<number>());
        ours.grads[p.name].forEach((v, i) => {
          if (Math.sign(v) !== Math.sign(theirs.data[i])) {
            expect(Math.abs(theirs.data[i]), `${p.name}[${i}] has gradient ${v} here, ${theirs.data[i]} in PyTorch, at step ${step}`).toBeLessThan(1e-3 * largest);
            flipped.add(i);
          }
        });
      }
      // The step's update from the same point: Adam moves each element by about lr whatever its
      // gradient's size, so an element whose gradient is at rounding level may move +-lr either
      // way (elementwise bound 2 lr for every element); the update of the other elements must
      // agree to 2% in norm. Running statistics (updated twice a step, once per date) likewise.
      let worstUpdate = 0;
      let worstUpdateName = '';
      for (const name of names) {
        const start = states[step - 1][name];
        const next = states[step][name];
        const theirs = torch[`next${step}:${name}`].data;
        expect(maxAbsDiff(next, theirs), `${name} after step ${step}`).toBeLessThanOrEqual(2 * config.lr * 1.01);
        const skip = undetermined[name] ?? new Set<number>();
        const err = relativeError(
          next.map((v, i) => (skip.has(i) ? 0 : v - start[i])),
          theirs.map((v, i) => (skip.has(i) ? 0 : v - start[i]))
        );
        if (err > worstUpdate) {
          worstUpdate = err;
          worstUpdateName = name;
        }
        expect(err, `update of ${name} at step ${step}`).toBeLessThan(2e-2);
      }
      report.push(
        `step ${step}: loss ${ours.loss.toFixed(6)} vs ${torch.losses.data[step - 1].toFixed(6)}, worst gradient error ${worst.toExponential(2)} (${worstName}), worst update error ${worstUpdate.toExponential(2)} (${worstUpdateName}), ${Object.values(undetermined).reduce((a, x) => a + x.size, 0)} elements with rounding-level gradients of opposite sign so far`
      );
    }
    console.log(report.join('\n'));
  }, 300_000);
});
