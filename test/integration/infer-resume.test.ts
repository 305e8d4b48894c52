// Crash and resume: a child process running inference is killed with SIGKILL in the middle of the
// scene; the next run with the same inputs starts from the last checkpointed window row and
// writes COGs byte-identical to an uninterrupted run.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { afterAll, describe, expect, it } from 'vitest';

import { infer } from '../../kernel-lib/src/infer';
import { exportInference } from '../../kernel-lib/src/train/models/fc';
import { tempDir } from '../helpers';
import { MODEL_OPTIONS, testModelValues, writePairFiles } from '../kernel-lib/infer/fixtures';

const root = tempDir('changelab-infer-resume-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('inference after a crash', () => {
  it('resumes from the checkpoint of a killed process and matches an uninterrupted run byte for byte', async () => {
    const files = writePairFiles(path.join(root, 'scene'), 640, 'resume');
    const modelPath = path.join(root, 'model.onnx');
    fs.writeFileSync(modelPath, exportInference(MODEL_OPTIONS, testModelValues(), { batch: 1, height: 128, width: 128 }));
    const prefix = path.join(root, 'crashed');
    // 640 px, windows of 128 at stride 64: 9 x 9 windows; kill once two window rows (18) are done.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '../kernel-lib/infer/fixtures/run-infer.ts'), modelPath, files.before, files.after, prefix, 'resume-run'], {
      stdio: ['ignore', 'pipe', 'inherit']
    });
    let killedAt = -1;
    let finished = false;
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          finished ||= line === 'finished';
          const done = Number(line.replace('progress ', ''));
          if (killedAt < 0 && done >= 22) {
            killedAt = done;
            child.kill('SIGKILL');
          }
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    expect(finished).toBe(false);
    expect(killedAt).toBeGreaterThanOrEqual(22);
    expect(fs.existsSync(`${prefix}.change-mask.tif`)).toBe(false);

    const options = { tile: 128, overlap: 64, batch: 1, polygons: false as const, progress: 'none' as const, runId: 'resume-run' };
    const resumed = await infer({ onnx: modelPath }, { before: files.before, after: files.after }, { ...options, outputPrefix: prefix });
    expect(resumed.windows).toBe(81);
    expect(resumed.resumedFromWindowRow).toBeGreaterThanOrEqual(2);
    expect(resumed.windowsRun).toBe(81 - 9 * resumed.resumedFromWindowRow);
    const clean = await infer({ onnx: modelPath }, { before: files.before, after: files.after }, { ...options, outputPrefix: path.join(root, 'clean') });
    expect(clean.windowsRun).toBe(81);
    expect(fs.readFileSync(resumed.outputs.probability).equals(fs.readFileSync(clean.outputs.probability))).toBe(true);
    expect(fs.readFileSync(resumed.outputs.mask).equals(fs.readFileSync(clean.outputs.mask))).toBe(true);
    expect(resumed.changedPixels).toBe(clean.changedPixels);
    // The checkpoint folder is gone once the run finished.
    expect(fs.readdirSync(root).filter(f => f.includes('partial'))).toEqual([]);
  }, 180_000);
});
