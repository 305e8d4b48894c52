// `changelab train` from the compiled CLI, as a user runs it: a tracked run on the embedded
// workspace (listed by `changelab runs show` with its params, metrics and model artifact), an
// untracked run resumed from its own checkpoint, and usage errors that exit 2 naming the option.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { afterAll, describe, expect, it } from 'vitest';

import { stopEmbeddedDatabase } from '../../../kernel-lib/src/db/embedded';
import { loadCheckpoint } from '../../../kernel-lib/src/train';
import { tempDir } from '../../helpers';

const CLI = path.resolve(__dirname, '..', '..', '..', 'kernel-lib', 'lib', 'cli.js');
const home = tempDir('changelab-train-cli-');
const out = tempDir('changelab-train-cli-out-');

async function changelab(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: out, env: { PATH: process.env.PATH, CHANGELAB_HOME: home }, maxBuffer: 16 << 20 });
    return { ...r, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

afterAll(async () => {
  await stopEmbeddedDatabase(home);
  fs.rmSync(out, { recursive: true, force: true });
});

const small = ['--synthetic', '--width', '4', '--batch-size', '8', '--threads', '1'];

describe('changelab train', () => {
  it('trains a tracked run that `changelab runs show` lists with params, metrics and the model', async () => {
    const r = await changelab('train', ...small, '--epochs', '2', '--experiment', 'cli-train', '--register', 'cli-model', '--alias', 'candidate', '--out', path.join(out, 'tracked'), '--json');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.status).toBe('finished');
    expect(result.epochs).toBe(2);
    expect(fs.existsSync(result.model)).toBe(true);
    expect(Number.isFinite(result.metrics['test/iou'])).toBe(true);
    const id = result.runIds.workspace as string;
    const shown = await changelab('runs', 'show', id, '--json');
    expect(shown.code).toBe(0);
    const run = JSON.parse(shown.stdout);
    expect(run.status).toBe('FINISHED');
    expect(run.experiment).toBe('cli-train');
    expect(run.params).toMatchObject({ model: 'fc-siam-diff', width: '4', batchSize: '8' });
    expect(JSON.stringify(run)).toContain('model/model.onnx');
    expect(JSON.stringify(run)).toContain('val/iou');
  });

  it('resumes an untracked run from its checkpoint', async () => {
    const first = await changelab('train', ...small, '--max-steps', '3', '--no-track', '--out', path.join(out, 'a'), '--json');
    expect(first.code).toBe(0);
    const last = JSON.parse(first.stdout).lastCheckpoint as string;
    expect((await loadCheckpoint(last)).trainer.position.globalStep).toBe(3);
    const second = await changelab('train', ...small, '--max-steps', '5', '--no-track', '--resume', last, '--out', path.join(out, 'b'), '--json');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).runIds).toEqual({});
    expect((await loadCheckpoint(JSON.parse(second.stdout).lastCheckpoint)).trainer.position.globalStep).toBe(5);
  });

  it('exits 2 with the problem named for bad usage', async () => {
    const noData = await changelab('train', '--epochs', '1');
    expect(noData.code).toBe(2);
    expect(noData.stderr).toMatch(/give one dataset folder, or --synthetic/);
    const bad = await changelab('train', '--synthetic', '--model', 'unet');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--model must be one of fc-ef, fc-siam-conc, fc-siam-diff, siam-resnet18-diff, not "unet"/);
    const help = await changelab('train', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--resume CKPT/);
  });
});
