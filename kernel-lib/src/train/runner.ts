// Where training sessions run. A runner holds the loaded ONNX sessions of one fit (training step,
// evaluation, prediction) and one store of values they share (parameters, running statistics,
// optimizer state): a session's inputs not in the feeds come from the store, and its `updates`
// write outputs back into it, so parameters never cross threads between steps. LocalRunner runs
// in the calling thread; WorkerRunner runs one in a worker thread, since session.run blocks its
// thread for the whole step and a notebook kernel must keep answering meanwhile.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

import { ChangelabError } from '../errors';
import { type Seed } from '../synth/random';
import { type TypedArray } from './onnx/graph';
import { RANDOM_PREFIX, TrainingRuntimeError, randomFeeds } from './step';

export type OrtDType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8';

/** A tensor as plain data, posted between threads and stored in checkpoints. */
export interface ITensorValue {
  dtype: OrtDType;
  dims: number[];
  data: TypedArray | Uint8Array | BigInt64Array | Uint16Array;
}

/** A session to load: its model and which of its outputs replace which stored values. */
export interface ISessionPlan {
  bytes: Uint8Array;
  /** After each run, store[name] = outputs[output]. */
  updates: { name: string; output: string }[];
  /** Shapes of its `random:*` inputs. */
  random: [string, number[]][];
}

/** Execution settings shared by every session of a runner. */
export interface IRunnerSettings {
  /** 'cpu' or a CUDA device id. */
  device: 'cpu' | { cuda: number };
  intraOpThreads?: number;
  interOpThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let intra-op threads busy-wait between ops (ONNX Runtime's default). Off by default here: on
   * shared cores (notebook kernels, other jobs) spinning threads take each other's time, and
   * bench/train-step.ts measured a step 2.6x faster without it on a loaded 2-core machine.
   */
  spinning?: boolean;
}

/** Seeded noise for the `random:*` inputs of one run. */
export interface IRandomDraw {
  seed: Seed;
  step: number;
}

export interface IStepRunner {
  load(id: string, plan: ISessionPlan): Promise<void>;
  unload(id: string): Promise<void>;
  setValues(values: Readonly<Record<string, ITensorValue>>): Promise<void>;
  /** Copies of stored values (all when `names` is omitted). */
  getValues(names?: readonly string[]): Promise<Record<string, ITensorValue>>;
  /** Runs a session; returns the outputs named in `fetch`. */
  run(id: string, feeds: Readonly<Record<string, ITensorValue>>, fetch: readonly string[], random?: IRandomDraw): Promise<Record<string, ITensorValue>>;
  close(): Promise<void>;
}

/** The CUDA execution provider is not installed, or not usable on this machine. */
export class DeviceUnavailableError extends ChangelabError {}

/** Where onnxruntime-node keeps its native libraries on this platform. */
function ortBinaryFolder(): string | undefined {
  try {
    const root = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const bin = path.join(root, 'bin');
    for (const napi of fs.readdirSync(bin)) {
      const folder = path.join(bin, napi, process.platform, process.arch);
      if (fs.existsSync(folder)) {
        return folder;
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

const CUDA_INSTALL_HINT =
  "onnxruntime-node's installer fetches its CUDA execution provider from NuGet, and this installation skipped that step. " +
  'Run `bash scripts/install-cuda-ep.sh`: it takes the provider of the same onnxruntime version from PyPI (onnxruntime-gpu) ' +
  'and, with --with-cuda-libs, the CUDA 13 and cuDNN 9 libraries too (the machine needs an NVIDIA driver); then restart with `npm start`. ' +
  "Or train on the CPU with accelerator: 'cpu' (or fallback: 'cpu' to use the CPU whenever CUDA is missing).";

/** Whether this machine shows an NVIDIA GPU to processes (the driver's device nodes). */
function nvidiaDevicePresent(): boolean {
  try {
    return fs.readdirSync('/dev').some(f => /^nvidia\d+$/.test(f));
  } catch {
    return false;
  }
}

/** Whether onnxruntime-node's CUDA execution provider library is installed (scripts/install-cuda-ep.sh). */
export function cudaProviderInstalled(folder = ortBinaryFolder()): boolean {
  return folder !== undefined && fs.existsSync(path.join(folder, 'libonnxruntime_providers_cuda.so'));
}

/** Whether onnxruntime-node's CUDA execution provider is installed and an NVIDIA GPU is present. */
export function cudaAvailable(): boolean {
  return cudaProviderInstalled() && nvidiaDevicePresent();
}

/** Throws DeviceUnavailableError with install instructions when CUDA cannot be used. */
export function assertCudaAvailable(deviceId: number): void {
  if (process.platform !== 'linux' && process.platform !== 'win32') {
    throw new DeviceUnavailableError(`onnxruntime-node has no CUDA execution provider on ${process.platform}`, { platform: process.platform });
  }
  if (process.platform !== 'linux') {
    return;
  }
  const folder = ortBinaryFolder();
  if (!cudaProviderInstalled(folder)) {
    throw new DeviceUnavailableError(`GPU ${deviceId} requested, but the CUDA execution provider is not installed. ${CUDA_INSTALL_HINT}`, {
      device: deviceId,
      folder
    });
  }
  if (!nvidiaDevicePresent()) {
    throw new DeviceUnavailableError(
      `GPU ${deviceId} requested, but this machine shows no NVIDIA GPU (no /dev/nvidia<N>: no GPU, or its driver is not loaded). ` +
        "Train on the CPU with accelerator: 'cpu', or pass fallback: 'cpu'.",
      { device: deviceId }
    );
  }
}

export function sessionOptions(settings: IRunnerSettings): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: settings.graphOptimizationLevel ?? 'all' };
  if (settings.intraOpThreads !== undefined) {
    options.intraOpNumThreads = settings.intraOpThreads;
  }
  if (settings.interOpThreads !== undefined) {
    options.interOpNumThreads = settings.interOpThreads;
  }
  if (!settings.spinning) {
    options.extra = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
  }
  if (settings.device !== 'cpu') {
    options.executionProviders = [{ name: 'cuda', deviceId: settings.device.cuda }, 'cpu'];
  }
  return options;
}

const toOrt = (v: ITensorValue) => new ort.Tensor(v.dtype as never, v.data as never, v.dims);
const fromOrt = (t: ort.Tensor, copy: boolean): ITensorValue => ({
  dtype: t.type as OrtDType,
  dims: [...t.dims],
  data: (copy ? (t.data as TypedArray).slice() : t.data) as TypedArray
});

interface ILoaded {
  session: ort.InferenceSession;
  plan: ISessionPlan;
  shapes: Map<string, readonly number[]>;
  randomNames: string[];
}

/** Sessions and their shared store in this thread. */
export class LocalRunner implements IStepRunner {
  private readonly sessions = new Map<string, ILoaded>();
  private readonly store = new Map<string, ort.Tensor>();

  constructor(readonly settings: IRunnerSettings = { device: 'cpu' }) {
    if (settings.device !== 'cpu') {
      assertCudaAvailable(settings.device.cuda);
    }
  }

  async load(id: string, plan: ISessionPlan): Promise<void> {
    await this.unload(id);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(plan.bytes, sessionOptions(this.settings));
    } catch (cause) {
      throw new TrainingRuntimeError(`onnxruntime could not load the ${id} model: ${String(cause)}`, { session: id }, { cause });
    }
    const shapes = new Map<string, readonly number[]>(plan.random);
    this.sessions.set(id, { session, plan, shapes, randomNames: session.inputNames.filter(n => n.startsWith(RANDOM_PREFIX)) });
  }

  async unload(id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (s) {
      this.sessions.delete(id);
      await s.session.release();
    }
  }

  async setValues(values: Readonly<Record<string, ITensorValue>>): Promise<void> {
    for (const [name, v] of Object.entries(values)) {
      this.store.set(name, toOrt(v));
    }
  }

  async getValues(names?: readonly string[]): Promise<Record<string, ITensorValue>> {
    const out: Record<string, ITensorValue> = {};
    for (const name of names ?? [...this.store.keys()]) {
      const t = this.store.get(name);
      if (!t) {
        throw new TrainingRuntimeError(`no stored value named ${name}`, { name });
      }
      out[name] = fromOrt(t, true);
    }
    return out;
  }

  async run(id: string, feeds: Readonly<Record<string, ITensorValue>>, fetch: readonly string[], random?: IRandomDraw): Promise<Record<string, ITensorValue>> {
    const loaded = this.sessions.get(id);
    if (!loaded) {
      throw new TrainingRuntimeError(`no session ${id} is loaded`, { session: id });
    }
    const inputs: Record<string, ort.Tensor> = {};
    if (loaded.randomNames.length > 0) {
      if (!random) {
        throw new TrainingRuntimeError(`the ${id} model draws random values and needs a seed`, { session: id });
      }
      Object.assign(inputs, randomFeeds(loaded.randomNames, loaded.shapes, random.seed, random.step));
    }
    for (const name of loaded.session.inputNames) {
      if (inputs[name]) {
        continue;
      }
      const fed = feeds[name];
      const stored = fed ? undefined : this.store.get(name);
      if (!fed && !stored) {
        throw new TrainingRuntimeError(`the ${id} model needs input ${name}, which is neither fed nor stored`, { session: id, name });
      }
      inputs[name] = fed ? toOrt(fed) : (stored as ort.Tensor);
    }
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await loaded.session.run(inputs);
    } catch (cause) {
      throw new TrainingRuntimeError(`the ${id} model failed: ${String(cause)}`, { session: id }, { cause });
    }
    const stored = new Set<string>();
    for (const u of loaded.plan.updates) {
      this.store.set(u.name, out[u.output] as ort.Tensor);
      stored.add(u.output);
    }
    const result: Record<string, ITensorValue> = {};
    for (const name of fetch) {
      const t = out[name] as ort.Tensor | undefined;
      if (!t) {
        throw new TrainingRuntimeError(`the ${id} model has no output ${name}`, { session: id, name });
      }
      // A stored output is copied: the caller (or the thread transfer) may take the array.
      result[name] = fromOrt(t, stored.has(name));
    }
    return result;
  }

  async close(): Promise<void> {
    for (const id of [...this.sessions.keys()]) {
      await this.unload(id);
    }
    this.store.clear();
  }
}

// ---- the worker-thread runner -----------------------------------------------------------------

type Method = 'load' | 'unload' | 'setValues' | 'getValues' | 'run' | 'close';

export interface IRunnerRequest {
  id: number;
  method: Method;
  args: unknown[];
}

export interface IRunnerResponse {
  id: number;
  result?: unknown;
  error?: { message: string; name: string; context?: Record<string, unknown> };
}

/** The typed arrays a value holds, to transfer instead of copy. */
export function transferables(values: Iterable<ITensorValue>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of values) {
    const b = v.data.buffer;
    // Only whole, unshared buffers can be moved; ORT's outputs own theirs.
    if (b instanceof ArrayBuffer && v.data.byteOffset === 0 && v.data.byteLength === b.byteLength) {
      out.add(b);
    }
  }
  return [...out];
}

/**
 * The worker script: the compiled one next to this file, or (tests and benchmarks running the
 * TypeScript sources) a bootstrap that registers tsx's require hook and loads the source.
 */
function workerEntry(): { file: string; eval: boolean } {
  const js = path.join(__dirname, 'runner-worker.js');
  if (fs.existsSync(js)) {
    return { file: js, eval: false };
  }
  const ts = path.join(__dirname, 'runner-worker.ts');
  return { file: `require('tsx/cjs'); require(${JSON.stringify(ts)});`, eval: true };
}

/** A LocalRunner in a worker thread; calls are queued and answered in order. */
export class WorkerRunner implements IStepRunner {
  private readonly worker: Worker;
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  constructor(readonly settings: IRunnerSettings = { device: 'cpu' }) {
    if (settings.device !== 'cpu') {
      assertCudaAvailable(settings.device.cuda);
    }
    const entry = workerEntry();
    this.worker = new Worker(entry.file, { workerData: settings, eval: entry.eval });
    this.worker.on('message', (m: IRunnerResponse) => {
      const p = this.pending.get(m.id);
      if (!p) {
        return;
      }
      this.pending.delete(m.id);
      if (this.pending.size === 0) {
        this.worker.unref();
      }
      if (m.error) {
        const ErrorClass = m.error.name === 'DeviceUnavailableError' ? DeviceUnavailableError : TrainingRuntimeError;
        p.reject(new ErrorClass(m.error.message, m.error.context ?? {}));
      } else {
        p.resolve(m.result);
      }
    });
    const fail = (e: Error) => {
      this.failure = e;
      for (const p of this.pending.values()) {
        p.reject(e);
      }
      this.pending.clear();
    };
    this.worker.on('error', e => fail(new TrainingRuntimeError(`the training worker failed: ${e.message}`, {}, { cause: e })));
    this.worker.on('exit', code => fail(new TrainingRuntimeError(`the training worker exited (code ${code})`, { code })));
    // An idle worker must not keep a CLI alive by itself; a call in flight must (see call()).
    this.worker.unref();
  }

  private call<T>(method: Method, args: unknown[], transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) {
      return Promise.reject(this.failure);
    }
    const id = this.next++;
    this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, method, args } satisfies IRunnerRequest, transfer);
    });
  }

  load(id: string, plan: ISessionPlan): Promise<void> {
    return this.call('load', [id, plan]);
  }

  unload(id: string): Promise<void> {
    return this.call('unload', [id]);
  }

  setValues(values: Readonly<Record<string, ITensorValue>>): Promise<void> {
    return this.call('setValues', [values]);
  }

  getValues(names?: readonly string[]): Promise<Record<string, ITensorValue>> {
    return this.call('getValues', [names]);
  }

  /** Feeds are transferred: their arrays are unusable in this thread afterwards. */
  run(id: string, feeds: Readonly<Record<string, ITensorValue>>, fetch: readonly string[], random?: IRandomDraw): Promise<Record<string, ITensorValue>> {
    return this.call('run', [id, feeds, fetch, random], transferables(Object.values(feeds)));
  }

  async close(): Promise<void> {
    if (!this.failure) {
      await this.call('close', []).catch(() => undefined);
    }
    this.failure ??= new TrainingRuntimeError('the training worker was closed');
    await this.worker.terminate();
  }

  /** Stops the worker at once, also in the middle of a step. */
  async terminate(): Promise<void> {
    this.failure ??= new TrainingRuntimeError('training was cancelled');
    await this.worker.terminate();
  }
}
