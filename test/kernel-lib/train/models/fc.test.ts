// The FC change-detection models: each variant trains (loss falls, running statistics move), its
// parameters carry PyTorch's names and default initialisation, and the exported inference model
// runs in plain onnxruntime with the trained weights and running statistics.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { createRandom } from '../../../../kernel-lib/src/synth';
import { TrainingSession, bceWithLogits, buildChangeModel, exportInference, parameterValues, type ChangeModelKind } from '../../../../kernel-lib/src/train';

const input = { batch: 2, height: 16, width: 16 };

function batch(bands: number) {
  const random = createRandom('fc-test');
  const n = input.batch * bands * input.height * input.width;
  const before = Float32Array.from({ length: n }, () => random.normal());
  const after = Float32Array.from(before);
  const mask = new Float32Array(input.batch * input.height * input.width);
  // A bright square appears in the second date: the change to learn.
  for (let b = 0; b < input.batch; b++) {
    for (let y = 4; y < 10; y++) {
      for (let x = 5; x < 11; x++) {
        mask[(b * input.height + y) * input.width + x] = 1;
        for (let c = 0; c < bands; c++) {
          after[((b * bands + c) * input.height + y) * input.width + x] += 2;
        }
      }
    }
  }
  return { before, after, mask };
}

describe('FC change models', () => {
  it('names parameters as the PyTorch state_dict and initialises them as PyTorch does', () => {
    const m = buildChangeModel({ kind: 'fc-siam-diff', bands: 4, width: 8 }, input);
    const shapes = Object.fromEntries(m.graph.parameters.map(p => [p.tensor.name, p.tensor.shape]));
    expect(shapes['conv11.weight']).toEqual([8, 4, 3, 3]);
    expect(shapes['upconv4.weight']).toEqual([64, 64, 3, 3]);
    expect(shapes['conv43d.weight']).toEqual([128, 64, 3, 3]);
    expect(shapes['conv11d.weight']).toEqual([8, 1, 3, 3]);
    expect(shapes['bn43d.running_var']).toEqual([64]);
    expect(m.buffers.map(b => b.name)).toContain('bn11.running_mean');
    expect(m.trainable.map(t => t.name)).not.toContain('bn11.running_mean');
    // ConvTranspose2d: fan-in from dimension 1, out * k * k = 64 * 9.
    const up = parameterValues(m)['upconv4.weight'] as Float32Array;
    const bound = 1 / Math.sqrt(64 * 9);
    expect(Math.max(...up.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...up.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    const conc = buildChangeModel({ kind: 'fc-siam-conc', width: 8 }, input);
    expect(conc.graph.parameters.find(p => p.tensor.name === 'conv43d.weight')?.tensor.shape).toEqual([192, 64, 3, 3]);
    expect(() => buildChangeModel({ kind: 'fc-ef' }, { batch: 1, height: 20, width: 16 })).toThrow(/multiple of 16/);
  });

  it.each<ChangeModelKind>(['fc-ef', 'fc-siam-conc', 'fc-siam-diff'])('%s trains and exports a model onnxruntime runs', async kind => {
    const options = { kind, width: 4, dropout: 0.1, seed: kind };
    const m = buildChangeModel(options, input);
    const target = m.graph.input('mask', [input.batch, 1, input.height, input.width]);
    const session = await TrainingSession.create({
      graph: m.graph,
      loss: bceWithLogits(m.logits, target),
      trainable: m.trainable,
      buffers: m.bufferUpdates,
      optimizer: { type: 'adam' },
      lr: 0.01
    });
    const data = batch(3);
    const losses: number[] = [];
    for (let s = 0; s < 8; s++) {
      losses.push((await session.step(data)).loss);
    }
    expect(losses[7]).toBeLessThan(losses[0]);
    const runningMean = session.value('bn11.running_mean') as Float32Array;
    expect(runningMean.some(v => v !== 0)).toBe(true);
    session.syncParameters();
    await session.release();

    const bytes = exportInference(options, parameterValues(m), input);
    const inference = await ort.InferenceSession.create(bytes);
    expect(inference.inputNames).toEqual(['before', 'after']);
    const shape = [input.batch, 3, input.height, input.width];
    const out = await inference.run({ before: new ort.Tensor('float32', data.before, shape), after: new ort.Tensor('float32', data.after, shape) });
    const logits = out.logits.data as Float32Array;
    expect(out.logits.dims).toEqual([input.batch, 1, input.height, input.width]);
    expect(logits.every(Number.isFinite)).toBe(true);
    await inference.release();
  }, 60_000);

  it('refuses values for parameters the model lacks', () => {
    const m = buildChangeModel({ kind: 'fc-siam-diff', width: 4 }, input);
    expect(() => exportInference({ kind: 'fc-ef', width: 4 }, parameterValues(m), input)).toThrow();
  });
});
