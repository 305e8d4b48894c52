// The worker thread behind WorkerRunner: a LocalRunner answering calls posted by the main thread,
// results transferred back (they are fresh arrays: outputs, or copies of stored values).

import { parentPort, workerData } from 'node:worker_threads';

import { ChangelabError } from '../errors';
import { LocalRunner, transferables, type IRunnerRequest, type IRunnerResponse, type IRunnerSettings, type ITensorValue } from './runner';

const port = parentPort;
if (!port) {
  throw new Error('runner-worker must run in a worker thread');
}

let runner: LocalRunner | undefined;
let startError: unknown;
try {
  runner = new LocalRunner(workerData as IRunnerSettings);
} catch (e) {
  startError = e;
}

// One call at a time, in order: a later call (getValues after run) must see the earlier's effect.
let queue: Promise<void> = Promise.resolve();

port.on('message', (request: IRunnerRequest) => {
  queue = queue.then(async () => {
    let response: IRunnerResponse;
    let transfer: ArrayBuffer[] = [];
    try {
      if (!runner) {
        throw startError;
      }
      const method = runner[request.method] as (...args: unknown[]) => Promise<unknown>;
      const result = await method.apply(runner, request.args);
      if (request.method === 'run' || request.method === 'getValues') {
        transfer = transferables(Object.values(result as Record<string, ITensorValue>));
      }
      response = { id: request.id, result };
    } catch (e) {
      const err = e as Error;
      response = {
        id: request.id,
        error: { message: err?.message ?? String(e), name: err?.constructor?.name ?? 'Error', context: e instanceof ChangelabError ? (e.context as Record<string, unknown>) : undefined }
      };
    }
    port.postMessage(response, transfer);
  });
});
