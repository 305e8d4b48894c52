// The model inference runs: an ONNX file or bytes (from a run, or from anywhere), or a change
// model built by changelab's trainer (architecture options + parameter values), exported here to
// a plain ONNX graph with the window size and batch as fixed input shapes. Sessions run on ONNX
// Runtime's CPU execution provider.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';

import * as ort from 'onnxruntime-node';

import { ChangelabError, ConfigError } from '../errors';
import type { IChangeModelOptions } from '../train/models/fc';
import { RESNET_FACTOR } from '../train/models/resnet';
import { exportFastInference } from './inference-graph';
import type { TypedArray } from '../train/onnx/graph';

/** A trained change model: its ONNX bytes or file, or the options and weights it was trained with. */
export type InferenceModel =
  | Uint8Array
  | { onnx: Uint8Array | string; name?: string; version?: string }
  | { options: IChangeModelOptions; values: Readonly<Record<string, TypedArray>>; name?: string; version?: string };

/** ONNX Runtime failed or refused the model. */
export class InferenceRuntimeError extends ChangelabError {}

export interface IPreparedModel {
  session: ort.InferenceSession;
  name: string;
  version: string;
  /** SHA-256 of the ONNX bytes the session runs. */
  sha256: string;
  bands: number;
  tile: number;
  batch: number;
  inputs: [string, string];
  output: string;
  /** 'logits' when the output has one channel (sigmoid applied), or 2-class softmax. */
  channels: number;
  /**
   * The model's downsampling: window origins are multiples of it, so every window sees the pooling
   * grid of the whole image. 32 for siam-resnet18-diff given as options and weights, else 16 (the
   * FC networks; an ONNX file does not say, so give its windows a stride that is a multiple of its
   * own factor).
   */
  align: number;
  release(): Promise<void>;
}

export interface IPrepareOptions {
  tile: number;
  batch: number;
  threads?: number;
}

/** Loads (or exports) the model and opens an ONNX Runtime session for windows of `tile` pixels. */
export async function prepareModel(model: InferenceModel, options: IPrepareOptions): Promise<IPreparedModel> {
  let bytes: Uint8Array;
  let name = 'model';
  let version = '';
  if (model instanceof Uint8Array) {
    bytes = model;
  } else if ('onnx' in model) {
    if (typeof model.onnx === 'string') {
      try {
        bytes = await fs.readFile(model.onnx);
      } catch (cause) {
        throw new ConfigError(`cannot read the model file ${model.onnx}: ${(cause as Error).message}`, { path: model.onnx }, { cause });
      }
      name = model.name ?? model.onnx.replace(/^.*\//, '');
    } else {
      bytes = model.onnx;
    }
    name = model.name ?? name;
    version = model.version ?? '';
  } else {
    bytes = exportFastInference(model.options, model.values, { batch: options.batch, height: options.tile, width: options.tile });
    name = model.name ?? model.options.kind;
    version = model.version ?? '';
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  version ||= sha256.slice(0, 12);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      intraOpNumThreads: options.threads ?? Math.max(1, os.availableParallelism()),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all'
    });
  } catch (cause) {
    throw new InferenceRuntimeError(`ONNX Runtime cannot load the model ${name}: ${(cause as Error).message}`, { name }, { cause });
  }
  const fail = (message: string, context: Record<string, unknown> = {}): never => {
    void session.release();
    throw new ConfigError(`model ${name}: ${message}`, { name, ...context });
  };
  const inputNames = session.inputNames;
  if (inputNames.length !== 2) {
    fail(`a change model takes two inputs (before, after), this one takes ${inputNames.length}: ${inputNames.join(', ')}`);
  }
  const inputs: [string, string] = inputNames.includes('before') && inputNames.includes('after') ? ['before', 'after'] : [inputNames[0], inputNames[1]];
  const meta = session.inputMetadata.find(m => m.name === inputs[0]);
  const shape = meta && meta.isTensor ? meta.shape : [];
  if (shape.length !== 4) {
    fail(`inputs must be [batch, bands, height, width], got [${shape.join(', ')}]`);
  }
  const [n, c, h, w] = shape;
  if (typeof c !== 'number') {
    fail('the band count of the inputs must be fixed');
  }
  let tile = options.tile;
  if (typeof h === 'number' || typeof w === 'number') {
    if (h !== w) {
      fail(`windows must be square, the model takes ${h} x ${w}`);
    }
    if (h !== tile) {
      fail(`the model takes ${h} x ${w} windows but tile is ${tile}; set tile: ${h} or export the model for ${tile}`, { modelTile: h, tile });
    }
    tile = h as number;
  }
  const batch = typeof n === 'number' ? n : options.batch;
  const output = session.outputNames[0];
  const outMeta = session.outputMetadata.find(m => m.name === output);
  const outShape = outMeta && outMeta.isTensor ? outMeta.shape : [];
  const channels = typeof outShape[1] === 'number' ? outShape[1] : 1;
  if (channels !== 1 && channels !== 2) {
    fail(`the output must have 1 channel (change logit) or 2 (no-change/change logits), got ${channels}`);
  }
  return {
    session,
    name,
    version,
    sha256,
    bands: c as number,
    tile,
    batch,
    inputs,
    output,
    channels,
    align: model instanceof Uint8Array || !('options' in model) || model.options.kind !== 'siam-resnet18-diff' ? 16 : RESNET_FACTOR,
    release: () => session.release()
  };
}
