// Inference as a job on the workspace's queue (in-process, or BullMQ workers on Redis): job data is
// JSON, so the model travels as an ONNX file path or object key, and the pair as keys or paths.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IJobContext } from '../jobs/queue';
import type { Workspace } from '../workspace';
import { infer, type IInferOptions, type IInferenceResult } from './infer';

export const INFER_JOB = 'infer';

export interface IInferJobData {
  /** An ONNX model: a local path, or a key in the workspace's object store. */
  model: string;
  before: string;
  after: string;
  groundTruth?: string;
  options?: Omit<IInferOptions, 'workspace' | 'signal' | 'progress' | 'onProgress' | 'groundTruth'>;
}

export type InferJobResult = Omit<IInferenceResult, 'toDisplay'>;

/** Registers the `infer` job handler on the workspace's queue. */
export function registerInferJob(workspace: Workspace, options: { concurrency?: number } = {}): void {
  workspace.jobs.register<IInferJobData, InferJobResult>(INFER_JOB, (data, job) => runInferJob(workspace, data, job), options);
}

export async function runInferJob(workspace: Workspace, data: IInferJobData, job: IJobContext): Promise<InferJobResult> {
  let modelPath = data.model;
  let staged: string | null = null;
  if (!path.isAbsolute(modelPath) && !modelPath.startsWith('./')) {
    staged = await fs.mkdtemp(path.join(os.tmpdir(), 'changelab-model-'));
    modelPath = path.join(staged, 'model.onnx');
    await fs.writeFile(modelPath, await workspace.objects.get(data.model));
  }
  try {
    const result = await infer(
      { onnx: modelPath, name: data.options?.name ?? path.basename(data.model) },
      { before: data.before, after: data.after },
      {
        ...data.options,
        workspace,
        groundTruth: data.groundTruth,
        progress: 'none',
        onProgress: (done, total) => void job.progress(total ? done / total : 0)
      }
    );
    const { toDisplay: _unused, ...plain } = result;
    return plain;
  } finally {
    if (staged) {
      await fs.rm(staged, { recursive: true, force: true });
    }
  }
}
