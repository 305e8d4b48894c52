// `changelab train`: the one-call training API from a terminal or a job, tracked in the workspace
// (and MLflow when configured) like a notebook run.

import { parseArgs } from 'node:util';

import { ChangelabError } from '../errors';
import { train, type ITrainOptions } from './api';
import { type ITrainLogger } from './logger';
import { CHANGE_MODELS } from './models/fc';

export class TrainUsageError extends ChangelabError {}

export const TRAIN_USAGE = `usage: changelab train <dataset folder> | --synthetic [options]

  --model ${CHANGE_MODELS.join('|')}   (default fc-siam-diff)
  --epochs N (default 10)   --max-steps N   --batch-size N (default 8)
  --lr F   --optimizer adam|adamw|sgd   --loss bce|dice|bce+dice   --pos-weight F
  --schedule constant|cosine|step   --width N (default 16)   --dropout F
  --grad-clip F   --accumulate N   --early-stopping PATIENCE   --seed S   --threads N
  --gpu [--device ID] [--fallback-cpu]   (CUDA execution provider)
  --out DIR          checkpoints and model.onnx (default .changelab/runs/<time>)
  --resume CKPT      continue from a checkpoint
  --experiment E  --register NAME [--alias A]   tracking (workspace run store, MLflow when configured)
  --no-track         do not record the run in the workspace
  --json             print the result as JSON`;

const int = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) {
    return undefined;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new TrainUsageError(`--${name} must be a positive integer, not ${JSON.stringify(v)}`);
  }
  return n;
};

const float = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) {
    return undefined;
  }
  const n = Number(v);
  if (!Number.isFinite(n)) {
    throw new TrainUsageError(`--${name} must be a number, not ${JSON.stringify(v)}`);
  }
  return n;
};

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v !== undefined && !allowed.includes(v as T)) {
    throw new TrainUsageError(`--${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(v)}`);
  }
  return v as T | undefined;
}

export async function trainCommand(args: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: Object.fromEntries(
      [
        ['synthetic', 'boolean'], ['model', 'string'], ['epochs', 'string'], ['max-steps', 'string'], ['batch-size', 'string'],
        ['lr', 'string'], ['optimizer', 'string'], ['loss', 'string'], ['pos-weight', 'string'], ['schedule', 'string'],
        ['width', 'string'], ['dropout', 'string'], ['grad-clip', 'string'], ['accumulate', 'string'], ['early-stopping', 'string'],
        ['seed', 'string'], ['threads', 'string'], ['gpu', 'boolean'], ['device', 'string'], ['fallback-cpu', 'boolean'],
        ['out', 'string'], ['resume', 'string'], ['experiment', 'string'], ['register', 'string'], ['alias', 'string'],
        ['no-track', 'boolean'], ['json', 'boolean']
      ].map(([k, t]) => [k, { type: t as 'string' | 'boolean' }])
    )
  });
  const s = (k: string) => v[k] as string | undefined;
  if ((positionals.length === 0) === !v.synthetic || positionals.length > 1) {
    throw new TrainUsageError('give one dataset folder, or --synthetic');
  }
  const device = s('device') === undefined ? undefined : Number(s('device'));
  if (device !== undefined && !(Number.isInteger(device) && device >= 0)) {
    throw new TrainUsageError(`--device must be a GPU id (0, 1, ...), not ${JSON.stringify(s('device'))}`);
  }
  const options: ITrainOptions = {
    dataset: v.synthetic ? { synthetic: true } : positionals[0],
    model: oneOf('model', s('model'), CHANGE_MODELS),
    epochs: int('epochs', s('epochs')),
    maxSteps: int('max-steps', s('max-steps')),
    batchSize: int('batch-size', s('batch-size')),
    lr: float('lr', s('lr')),
    optimizer: oneOf('optimizer', s('optimizer'), ['adam', 'adamw', 'sgd'] as const),
    loss: oneOf('loss', s('loss'), ['bce', 'dice', 'bce+dice'] as const),
    posWeight: float('pos-weight', s('pos-weight')),
    schedule: oneOf('schedule', s('schedule'), ['constant', 'cosine', 'step'] as const),
    width: int('width', s('width')),
    dropout: float('dropout', s('dropout')),
    gradClip: float('grad-clip', s('grad-clip')),
    accumulateGrad: int('accumulate', s('accumulate')),
    earlyStopping: int('early-stopping', s('early-stopping')),
    seed: s('seed'),
    threads: int('threads', s('threads')),
    gpu: v.gpu ? (device ?? true) : false,
    fallback: v['fallback-cpu'] ? 'cpu' : undefined,
    dir: s('out'),
    resume: s('resume'),
    registerAs: s('register'),
    alias: s('alias'),
    display: false,
    // Epoch lines go to stderr, so that --json output stays parseable.
    progressBar: { mode: 'lines', print: line => console.error(line) }
  };
  for (const key of Object.keys(options) as (keyof ITrainOptions)[]) {
    if (options[key] === undefined) {
      delete options[key];
    }
  }
  const run = async (loggers: ITrainLogger[]) => {
    const result = await train({ ...options, loggers });
    await result.close();
    const out = {
      status: result.status,
      epochs: result.history.length,
      metrics: result.metrics,
      bestCheckpoint: result.bestCheckpoint,
      lastCheckpoint: result.lastCheckpoint,
      model: result.modelPath,
      runIds: result.runIds
    };
    if (v.json) {
      console.log(JSON.stringify(out, null, 2));
    } else {
      console.log(`${out.status} after ${out.epochs} epochs`);
      for (const [k, value] of Object.entries(result.testMetrics)) {
        console.log(`  ${k}: ${value.toFixed(4)}`);
      }
      console.log(`model: ${out.model}\nbest checkpoint: ${out.bestCheckpoint ?? '-'}\nlast checkpoint: ${out.lastCheckpoint}`);
      for (const [name, id] of Object.entries(out.runIds)) {
        console.log(`${name} run: ${id ?? '-'}`);
      }
    }
    return 0;
  };
  if (v['no-track']) {
    return run([]);
  }
  const { connect } = await import('../workspace');
  const { loggersFromConfig } = await import('../tracking');
  const workspace = await connect();
  try {
    return await run(loggersFromConfig(workspace, { experiment: s('experiment') }));
  } finally {
    await workspace.close();
  }
}
