// `changelab runs` on the embedded default, as a user runs it from a terminal: a run logged through
// the library is listed, shown and its model version found by alias, from the compiled CLI.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { workspaceLogger } from '../../kernel-lib/src/tracking';
import { connect } from '../../kernel-lib/src/workspace';
import { tempDir } from '../helpers';

const CLI = path.resolve(__dirname, '..', '..', 'kernel-lib', 'lib', 'cli.js');
const home = tempDir('changelab-runs-cli-');

async function changelab(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await promisify(execFile)(process.execPath, [CLI, ...args], {
      cwd: tempDir(),
      env: { PATH: process.env.PATH, CHANGELAB_HOME: home },
      maxBuffer: 16 << 20
    });
    return { ...r, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

let runId: string;
beforeAll(async () => {
  const ws = await connect({ cwd: tempDir(), env: { CHANGELAB_HOME: home } });
  try {
    const logger = workspaceLogger(ws, { experiment: 'cli', runName: 'fc-ef' });
    await logger.logHyperparams({ lr: 0.01 });
    await logger.logMetrics({ 'val/iou': 0.5 }, 0);
    await logger.logMetrics({ 'val/iou': 0.625 }, 1);
    const model = path.join(tempDir(), 'model.onnx');
    fs.writeFileSync(model, 'onnx bytes');
    await logger.logArtifact(model, 'model/model.onnx');
    await logger.registerModel('cd-cli', 'model', 'champion');
    await logger.finalize('FINISHED');
    runId = logger.runId;
  } finally {
    await ws.close();
  }
});
afterAll(async () => {
  await stopEmbeddedDatabase(home);
});

describe('changelab runs (embedded workspace)', () => {
  it('lists runs with their last metric values', async () => {
    const { stdout, code } = await changelab('runs', '--experiment', 'cli', '--json');
    expect(code).toBe(0);
    const runs = JSON.parse(stdout);
    expect(runs.map((r: { id: string; name: string; status: string; latestMetrics: unknown }) => [r.id, r.name, r.status, r.latestMetrics])).toEqual([
      [runId, 'fc-ef', 'FINISHED', { 'val/iou': 0.625 }]
    ]);
    const text = await changelab('runs', 'list', '--experiment', 'cli');
    expect(text.stdout).toContain('1 training run in cli');
    expect(text.stdout).toContain('0.6250');
  });

  it('shows one run with its metric histories and artifacts, and finds a model version by alias', async () => {
    const { stdout } = await changelab('runs', 'show', runId, '--json');
    const run = JSON.parse(stdout);
    expect(run.params).toEqual({ lr: '0.01' });
    expect(run.metrics['val/iou'].map((p: { step: number; value: number }) => [p.step, p.value])).toEqual([[0, 0.5], [1, 0.625]]);
    expect(run.artifacts.map((a: { path: string; key: string }) => [a.path, a.key])).toEqual([['model/model.onnx', `runs/${runId}/model/model.onnx`]]);
    const model = await changelab('runs', 'model', 'cd-cli', 'champion');
    expect(model.stdout.trim()).toBe(`cd-cli version 1 (champion): run ${runId}, model`);
  });

  it('names the problem for an unknown run, subcommand or status', async () => {
    const missing = await changelab('runs', 'show', 'f'.repeat(32));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no training run ${'f'.repeat(32)} in project default`);
    const bad = await changelab('runs', 'frobnicate');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown runs subcommand "frobnicate"');
    const status = await changelab('runs', '--status', 'done');
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('--status must be one of RUNNING, FINISHED, FAILED, KILLED');
  });
});
