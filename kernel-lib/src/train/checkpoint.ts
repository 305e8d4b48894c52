// Checkpoint files: everything a Trainer needs to continue a run exactly where it stopped. One
// file: an 8-byte magic, a JSON header (hyper-parameters, trainer position, callback states,
// metric counts, history, tensor index) and then the raw little-endian tensor data and the ONNX
// training-step graph, each 8-byte aligned. Written to a temporary name and renamed, so a crash
// while saving never leaves a truncated checkpoint under the real name.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { ChangelabError, NotFoundError } from '../errors';
import { type IConfusion } from './metrics';
import { type ITensorValue, type OrtDType } from './runner';
import { type ChangeTaskHparams, type Stage } from './task';

/** A checkpoint file that cannot be read: wrong format, truncated, or for a different model. */
export class CheckpointError extends ChangelabError {}

const MAGIC = 'CLCKPT01';
export const CHECKPOINT_FORMAT = 1;

/** Where in the run a checkpoint was taken: the next batch to train is (epoch, batchInEpoch). */
export interface ITrainerPosition {
  epoch: number;
  batchInEpoch: number;
  /** Optimizer steps taken (Lightning's global_step). */
  globalStep: number;
  /** Batches trained (differs from globalStep with gradient accumulation); numbers the noise draws. */
  microStep: number;
}

export interface ICheckpointState {
  format: number;
  created: string;
  hparams: ChangeTaskHparams;
  /** Batch, chip size and bands the graphs were built for. */
  input: { batch: number; height: number; width: number; bands: number };
  trainer: {
    position: ITrainerPosition;
    seed: string;
    accumulate: number;
    gradClip: number | null;
  };
  /** Running sums of the unfinished epoch (train loss and metric counts). */
  epochState: { lossSum: number; samples: number; confusion: Partial<Record<Stage, IConfusion>> };
  history: Record<string, number>[];
  callbacks: Record<string, unknown>;
}

export interface ICheckpoint extends ICheckpointState {
  /** Parameters, running statistics, optimizer state and gradient accumulators. */
  tensors: Record<string, ITensorValue>;
  /** The ONNX training-step model the values belong to. */
  trainingGraph: Uint8Array;
}

interface ITensorEntry {
  name: string;
  dtype: OrtDType;
  dims: number[];
  offset: number;
  byteLength: number;
}

const ARRAYS: Record<string, new (b: ArrayBuffer, o: number, n: number) => ITensorValue['data']> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  float16: Uint16Array
};

const align = (n: number) => Math.ceil(n / 8) * 8;

export async function saveCheckpoint(file: string, checkpoint: ICheckpoint): Promise<void> {
  const entries: ITensorEntry[] = [];
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const push = (bytes: Uint8Array) => {
    const at = offset;
    blobs.push(bytes);
    const padded = align(bytes.byteLength);
    if (padded > bytes.byteLength) {
      blobs.push(new Uint8Array(padded - bytes.byteLength));
    }
    offset += padded;
    return at;
  };
  for (const name of Object.keys(checkpoint.tensors).sort()) {
    const t = checkpoint.tensors[name];
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    entries.push({ name, dtype: t.dtype, dims: t.dims, offset: push(bytes), byteLength: bytes.byteLength });
  }
  const graphAt = push(checkpoint.trainingGraph);
  const { tensors: _t, trainingGraph: _g, ...state } = checkpoint;
  const header = Buffer.from(JSON.stringify({ ...state, tensorIndex: entries, graph: { offset: graphAt, byteLength: checkpoint.trainingGraph.byteLength } }), 'utf8');
  const head = Buffer.alloc(align(8 + 4 + header.byteLength));
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(header.byteLength, 8);
  header.copy(head, 12);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await fsp.open(tmp, 'w');
  try {
    await handle.writev([head, ...blobs]);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, file);
}

export async function loadCheckpoint(file: string): Promise<ICheckpoint> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (cause) {
    throw new NotFoundError(`no checkpoint at ${file}`, { file }, { cause });
  }
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== MAGIC) {
    throw new CheckpointError(`${file} is not a changelab checkpoint`, { file });
  }
  const length = bytes.readUInt32LE(8);
  if (12 + length > bytes.length) {
    throw new CheckpointError(`${file} is truncated (header)`, { file });
  }
  const header = JSON.parse(bytes.toString('utf8', 12, 12 + length)) as ICheckpointState & {
    tensorIndex: ITensorEntry[];
    graph: { offset: number; byteLength: number };
  };
  if (header.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${file} has checkpoint format ${header.format}; this changelab reads format ${CHECKPOINT_FORMAT}`, { file, format: header.format });
  }
  const base = align(12 + length);
  const slice = (offset: number, byteLength: number) => {
    if (base + offset + byteLength > bytes.length) {
      throw new CheckpointError(`${file} is truncated (data)`, { file });
    }
    // A fresh, aligned copy: typed arrays need their element alignment.
    const copy = new ArrayBuffer(byteLength);
    new Uint8Array(copy).set(bytes.subarray(base + offset, base + offset + byteLength));
    return copy;
  };
  const tensors: Record<string, ITensorValue> = {};
  for (const e of header.tensorIndex) {
    const Array = ARRAYS[e.dtype];
    if (!Array) {
      throw new CheckpointError(`${file}: tensor ${e.name} has unknown type ${e.dtype}`, { file });
    }
    const buffer = slice(e.offset, e.byteLength);
    tensors[e.name] = { dtype: e.dtype, dims: e.dims, data: new Array(buffer, 0, e.byteLength / (Array as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT) };
  }
  const trainingGraph = new Uint8Array(slice(header.graph.offset, header.graph.byteLength));
  const { tensorIndex: _i, graph: _g, ...state } = header;
  return { ...state, tensors, trainingGraph };
}
