// The Trainer with the loggers `loggersFromConfig` gives (server workspace + a real `mlflow server`):
// a short FC-Siam-diff fit on synthetic chips, with top-k checkpoints. What the Trainer reports
// (its per-epoch history) is what both stores hold, and MLflow's own client reads back the same
// metric histories and checkpoint bytes as the workspace run.
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { getRun, loggersFromConfig, type MlflowLogger } from '../../kernel-lib/src/tracking';
import { ChangeTask, ModelCheckpoint, syntheticChangeData, Trainer } from '../../kernel-lib/src/train';
import { serverWorkspace, tempDir, testServices, uniqueName } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const ORACLE_PYTHON = path.join(ROOT, '.venv-oracles-mlflow', 'bin', 'python');
const READBACK = path.join(ROOT, 'test', 'kernel-lib', 'tracking', 'mlflow_readback.py');
const services = testServices();
const mlflowUrl = process.env.CHANGELAB_TEST_MLFLOW_URL;
if (process.env.CHANGELAB_TEST_REQUIRE_SERVICES === '1' && (!mlflowUrl || !fs.existsSync(ORACLE_PYTHON))) {
  throw new Error('CHANGELAB_TEST_MLFLOW_URL or .venv-oracles-mlflow is missing: run through `npm test` (scripts/oracles.sh, scripts/services.sh start)');
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.runIf(services && mlflowUrl && fs.existsSync(ORACLE_PYTHON))('Trainer + workspace and MLflow loggers', () => {
  it('both stores hold what the Trainer reported; MLflow reads back the same histories and checkpoints', async () => {
    const ws = await serverWorkspace(cleanups, tempDir('changelab-tracking-trainer-'), { CHANGELAB_MLFLOW_URL: mlflowUrl! });
    cleanups.push(() => ws.close());
    const warnings: string[] = [];
    const loggers = loggersFromConfig(ws, { experiment: uniqueName('trainer'), runName: 'fc-siam-diff-w4', mlflow: { onWarning: w => warnings.push(w) } });
    const data = syntheticChangeData({ seed: 'tracking-trainer', scenes: 4, scene: 64, chip: 32 });
    const ckptDir = tempDir('changelab-tracking-ckpt-');
    const trainer = new Trainer({
      maxEpochs: 3,
      logger: loggers,
      callbacks: [new ModelCheckpoint({ dirpath: ckptDir, monitor: 'val/loss', saveTopK: 1 })],
      progressBar: false,
      threads: 1,
      logEveryNSteps: 1
    });
    const result = await trainer.fit(new ChangeTask({ model: 'fc-siam-diff', width: 4, lr: 0.01 }), { train: data.train, val: data.val, batchSize: 4 });
    await trainer.close();
    expect(result.status).toBe('finished');
    expect(warnings).toEqual([]);

    const run = (await getRun(ws, loggers[0].runId)).run;
    expect(run.status).toBe('FINISHED');
    expect(Object.keys(run.params).length).toBeGreaterThan(0);
    // The Trainer's epoch rows are in the run's histories.
    expect(result.history.length).toBe(3);
    for (const row of result.history) {
      for (const key of ['val/iou', 'val/loss']) {
        expect(run.metrics[key].some(p => p.step === row.step && p.value === row[key]), `${key} at step ${row.step}`).toBe(true);
      }
    }
    const checkpoints = run.artifacts.filter(a => a.path.startsWith('checkpoints/'));
    expect(checkpoints.length).toBeGreaterThan(0);

    const back = JSON.parse(
      execFileSync(ORACLE_PYTHON, [READBACK, mlflowUrl!, (loggers[1] as MlflowLogger).runId!], { encoding: 'utf8', timeout: 180_000, maxBuffer: 64 << 20 })
    ) as { status: string; params: Record<string, string>; metrics: Record<string, [number, number | string, number][]>; artifacts: { path: string; sha256: string }[] };
    expect(back.status).toBe('FINISHED');
    expect(back.params).toEqual(run.params);
    expect(Object.keys(back.metrics).sort()).toEqual(Object.keys(run.metrics).sort());
    for (const [key, history] of Object.entries(run.metrics)) {
      expect(back.metrics[key].map(([s, v]) => [s, v]), key).toEqual(history.map(p => [p.step, Number.isNaN(p.value) ? 'NaN' : p.value]));
    }
    // Checkpoints the callback deleted later (top-1) were logged before; both stores keep every logged file.
    expect(back.artifacts.map(a => [a.path, a.sha256])).toEqual(run.artifacts.map(a => [a.path, a.sha256]));
    for (const a of checkpoints) {
      expect(sha256(await ws.objects.get(a.key))).toBe(a.sha256);
    }
  });
});
