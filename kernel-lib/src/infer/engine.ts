// Sliding-window inference over a whole scene with memory independent of its size. Windows are
// run one window row at a time (in batches), their blended predictions accumulate in a buffer of a
// few hundred rows, and rows that no later window touches are finished: probability, binary mask
// and (with ground truth) the confusion map go to streaming COG writers tile row by tile row.
// After every window row the state (accumulator rows still open, writers' scratch lengths,
// confusion counts) is checkpointed in a scratch folder, so a crashed run resumes where it was.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import * as ort from 'onnxruntime-node';

import { ChangelabError } from '../errors';
import type { ICrs } from '../raster/types';
import { changeMetrics, type IChangeMetricValues, type IConfusion } from '../train/metrics';
import type { IAlignment, IWindowReader } from './align';
import { CogStreamWriter, type ICogStreamOptions, type ICogStreamState } from './cog-stream';
import { InferenceRuntimeError, type IPreparedModel } from './model';
import type { IGrid } from './raster-source';
import { planWindows, type IWindowLayout } from './windows';

/** The run was cancelled through its AbortSignal; its checkpoint is kept for a later resume. */
export class InferenceCancelledError extends ChangelabError {}

export type ProbabilityEncoding = 'uint8' | 'float32';

/** Input scaling: `(value * scale - mean[band]) / std[band]`. */
export interface INormalize {
  scale: number;
  mean?: number[];
  std?: number[];
}

export interface IEngineOptions {
  tile: number;
  overlap: number;
  margin?: number;
  threshold: number;
  probability: ProbabilityEncoding;
  /** COG tile size of the outputs. Default 256. */
  cogTileSize?: number;
  normalize: INormalize;
  signal?: AbortSignal;
  onProgress?: (windowsDone: number, windowsTotal: number) => void;
  /** Where scratch tiles and the checkpoint live; reused when it holds a matching checkpoint. */
  scratchDir: string;
  /** Identifies the inputs, model and options; a checkpoint with another signature is discarded. */
  signature: string;
  /** Metadata items written into every output COG. */
  metadata: Record<string, string>;
  deflateLevel?: number;
}

export interface IEngineInputs {
  grid: IGrid;
  crs: ICrs;
  before: IWindowReader;
  after: IWindowReader;
  /** A 0/1 ground-truth mask on the same grid (aligned with nearest neighbour). */
  truth?: IWindowReader;
}

export interface IEngineOutputs {
  probability: string;
  mask: string;
  confusion?: string;
}

export interface IEngineResult {
  layout: Pick<IWindowLayout, 'tile' | 'overlap' | 'stride' | 'margin'>;
  windows: number;
  /** Windows computed in this call (fewer than `windows` after a resume). */
  windowsRun: number;
  resumedFromWindowRow: number;
  /** Windows that a checkpoint had finished (0 for a fresh run). */
  resumedFromWindow: number;
  changedPixels: number;
  confusion: IConfusion | null;
  metrics: IChangeMetricValues | null;
  alignment: { after: IAlignment; truth?: IAlignment };
}

interface ICheckpoint {
  version: 1;
  signature: string;
  /** Windows (row-major) already accumulated; the next run starts at this one. */
  nextWindow: number;
  emittedRows: number;
  accStart: number;
  accRows: number;
  accFile: string | null;
  changedPixels: number;
  confusion: IConfusion | null;
  writers: Record<string, ICogStreamState>;
}

/** Confusion map classes and their palette colours. */
export const CONFUSION_CLASSES = { tn: 0, tp: 1, fp: 2, fn: 3 } as const;
const CONFUSION_COLOURS: Array<[number, number, number]> = [
  [0, 0, 0],
  [46, 160, 67], // TP green
  [230, 57, 70], // FP red
  [255, 183, 3] // FN amber
];

export async function runEngine(model: IPreparedModel, inputs: IEngineInputs, outputs: IEngineOutputs, options: IEngineOptions): Promise<IEngineResult> {
  const { grid } = inputs;
  const W = grid.width;
  const H = grid.height;
  const layout = planWindows(W, H, { tile: options.tile, overlap: options.overlap, margin: options.margin, align: model.align });
  const { tile, xs, ys } = layout;
  const cogTile = options.cogTileSize ?? 256;
  const bands = model.bands;
  for (const [what, reader] of [['before', inputs.before], ['after', inputs.after]] as const) {
    if (reader.bands < bands) {
      throw new ChangelabError(`the ${what} image has ${reader.bands} band(s); the model needs ${bands}`, { bands: reader.bands, needed: bands });
    }
  }
  await fs.mkdir(options.scratchDir, { recursive: true });
  const checkpointPath = path.join(options.scratchDir, 'progress.json');

  const baseCog = (name: string): Omit<ICogStreamOptions, 'dataType' | 'bands'> => ({
    width: W,
    height: H,
    crs: inputs.crs,
    transform: grid.transform,
    tileSize: cogTile,
    deflateLevel: options.deflateLevel ?? 6,
    metadata: { ...options.metadata, CHANGELAB_LAYER: name }
  });
  const writerOptions: Record<string, ICogStreamOptions> = {
    probability: {
      ...baseCog('change-probability'),
      bands: 1,
      dataType: options.probability,
      bandNames: ['change probability'],
      ...(options.probability === 'uint8' ? { bandScale: { scale: 1 / 255, offset: 0 } } : {})
    },
    mask: { ...baseCog('change-mask'), bands: 1, dataType: 'uint8', bandNames: ['change (1) / no change (0)'], overviewResampling: 'nearest' }
  };
  if (inputs.truth && outputs.confusion) {
    writerOptions.confusion = {
      ...baseCog('confusion'),
      bands: 1,
      dataType: 'uint8',
      bandNames: ['0 TN, 1 TP, 2 FP, 3 FN'],
      colorMap: CONFUSION_COLOURS,
      overviewResampling: 'nearest'
    };
  }

  // Accumulated weighted probabilities for rows [accStart, accStart + accRows).
  // Batches run across window rows, so up to ceil(batch / columns) + 1 rows of windows are open.
  const accCapacity = tile + (Math.ceil(model.batch / xs.length) + 1) * layout.stride + 2 * cogTile;
  const acc = new Float32Array(W * accCapacity);
  let accStart = 0;
  let emittedRows = 0;
  let firstWindow = 0;
  let changedPixels = 0;
  let confusion: IConfusion | null = inputs.truth ? { tp: 0, fp: 0, fn: 0, tn: 0 } : null;
  const writers: Record<string, CogStreamWriter> = {};

  const saved = await readCheckpoint(checkpointPath, options.signature);
  if (saved) {
    for (const [name, o] of Object.entries(writerOptions)) {
      writers[name] = await CogStreamWriter.resume(o, path.join(options.scratchDir, name), saved.writers[name]);
    }
    firstWindow = saved.nextWindow;
    emittedRows = saved.emittedRows;
    accStart = saved.accStart;
    changedPixels = saved.changedPixels;
    confusion = saved.confusion;
    if (saved.accFile) {
      const bytes = await fs.readFile(path.join(options.scratchDir, saved.accFile));
      new Uint8Array(acc.buffer).set(bytes.subarray(0, Math.min(bytes.length, acc.byteLength)));
    }
  } else {
    await fs.rm(checkpointPath, { force: true });
    for (const [name, o] of Object.entries(writerOptions)) {
      writers[name] = await CogStreamWriter.create(o, path.join(options.scratchDir, name));
    }
  }

  const total = xs.length * ys.length;
  let windowsRun = 0;
  const batch = model.batch;
  const inputSize = batch * bands * tile * tile;
  const scale = options.normalize.scale;
  const mean = options.normalize.mean ?? new Array(bands).fill(0);
  const std = options.normalize.std ?? new Array(bands).fill(1);
  const plane = tile * tile;

  const readPair = (col: number, row: number) =>
    Promise.all([inputs.before.readWindow(col, row, tile, tile), inputs.after.readWindow(col, row, tile, tile)]);

  const fillInput = (target: Float32Array, slot: number, window: Float32Array) => {
    for (let b = 0; b < bands; b++) {
      const m = mean[b] ?? 0;
      const s = std[b] ?? 1;
      const base = (slot * bands + b) * plane;
      const from = b * plane;
      for (let i = 0; i < plane; i++) {
        target[base + i] = (window[from + i] * scale - m) / s;
      }
    }
  };

  /** Finishes rows [emittedRows, until): divides by the weight sum, thresholds, writes. */
  const emit = async (until: number) => {
    while (emittedRows < until) {
      const rows = Math.min(cogTile, until - emittedRows);
      const offset = (emittedRows - accStart) * W;
      const n = rows * W;
      const probability = options.probability === 'uint8' ? new Uint8Array(n) : new Float32Array(n);
      const mask = new Uint8Array(n);
      const truth = inputs.truth ? await inputs.truth.readWindow(0, emittedRows, W, rows) : null;
      const confusionRows = truth ? new Uint8Array(n) : null;
      for (let r = 0; r < rows; r++) {
        const sy = layout.sumY[emittedRows + r];
        for (let x = 0; x < W; x++) {
          const i = r * W + x;
          const p = acc[offset + i] / (layout.sumX[x] * sy);
          const stored = options.probability === 'uint8' ? Math.round(p * 255) : Math.fround(p);
          probability[i] = stored;
          // The mask thresholds the probability as stored, so the mask and the map agree.
          const decoded = options.probability === 'uint8' ? stored / 255 : stored;
          const positive = decoded > options.threshold;
          mask[i] = positive ? 1 : 0;
          if (positive) {
            changedPixels++;
          }
          if (truth && confusionRows && confusion) {
            const t = truth[i] > 0;
            const cls = positive ? (t ? CONFUSION_CLASSES.tp : CONFUSION_CLASSES.fp) : t ? CONFUSION_CLASSES.fn : CONFUSION_CLASSES.tn;
            confusionRows[i] = cls;
            if (cls === 1) {
              confusion.tp++;
            } else if (cls === 2) {
              confusion.fp++;
            } else if (cls === 3) {
              confusion.fn++;
            } else {
              confusion.tn++;
            }
          }
        }
      }
      await writers.probability.writeRows(probability, rows);
      await writers.mask.writeRows(mask, rows);
      if (confusionRows && writers.confusion) {
        await writers.confusion.writeRows(confusionRows, rows);
      }
      emittedRows += rows;
    }
    // Drop finished rows from the accumulator.
    const drop = emittedRows - accStart;
    if (drop > 0) {
      acc.copyWithin(0, drop * W);
      acc.fill(0, (accCapacity - drop) * W);
      accStart = emittedRows;
    }
  };

  const checkpoint = async (nextWindow: number, sequence: number) => {
    const lastRow = Math.floor((nextWindow - 1) / xs.length);
    const live = Math.max(0, Math.min(accCapacity, Math.min(H, (ys[lastRow] ?? 0) + tile) - accStart));
    const accFile = live > 0 ? `acc-${sequence}.bin` : null;
    if (accFile) {
      await fs.writeFile(path.join(options.scratchDir, accFile), new Uint8Array(acc.buffer, 0, live * W * 4));
    }
    const states: Record<string, ICogStreamState> = {};
    for (const [name, writer] of Object.entries(writers)) {
      states[name] = await writer.checkpoint(String(sequence));
    }
    const state: ICheckpoint = {
      version: 1,
      signature: options.signature,
      nextWindow,
      emittedRows,
      accStart,
      accRows: live,
      accFile,
      changedPixels,
      confusion,
      writers: states
    };
    const temporary = `${checkpointPath}.tmp`;
    await fs.writeFile(temporary, JSON.stringify(state));
    await fs.rename(temporary, checkpointPath);
    // Files of the previous checkpoint are no longer referenced.
    await removeStale(options.scratchDir, String(sequence));
  };

  const input = {
    before: new Float32Array(inputSize),
    after: new Float32Array(inputSize)
  };
  options.onProgress?.(firstWindow, total);
  const columns = xs.length;
  try {
    let index = firstWindow;
    const windowAt = (w: number) => ({ j: Math.floor(w / columns), k: w % columns });
    const readWindowPair = (w: number) => {
      const { j, k } = windowAt(w);
      const promise = readPair(xs[k], ys[j]);
      promise.catch(() => undefined); // awaited (and reported) when its batch is filled
      return promise;
    };
    let next = index < total ? readWindowPair(index) : null;
    while (index < total) {
      options.signal?.throwIfAborted();
      const count = Math.min(batch, total - index);
      input.before.fill(0);
      input.after.fill(0);
      for (let slot = 0; slot < count; slot++) {
        const [before, after] = await next!;
        next = index + slot + 1 < total ? readWindowPair(index + slot + 1) : null; // read ahead while this batch runs
        fillInput(input.before, slot, before);
        fillInput(input.after, slot, after);
      }
      const shape = [batch, bands, tile, tile];
      let result: ort.InferenceSession.OnnxValueMapType;
      try {
        result = await model.session.run({
          [model.inputs[0]]: new ort.Tensor('float32', input.before, shape),
          [model.inputs[1]]: new ort.Tensor('float32', input.after, shape)
        });
      } catch (cause) {
        throw new InferenceRuntimeError(`ONNX Runtime failed on windows ${index}..${index + count - 1}: ${(cause as Error).message}`, { index }, { cause });
      }
      const logits = result[model.output].data as Float32Array;
      for (let slot = 0; slot < count; slot++) {
        const { j, k } = windowAt(index + slot);
        const y0 = ys[j];
        if (y0 + tile - accStart > accCapacity) {
          throw new ChangelabError(`internal: the accumulator holds ${accCapacity} rows, window row ${j} needs ${y0 + tile - accStart}`);
        }
        const wy = layout.weightsY[j];
        const x0 = xs[k];
        const wx = layout.weightsX[k];
        const outBase = slot * model.channels * plane;
        for (let r = 0; r < tile; r++) {
          const gy = y0 + r;
          if (gy >= H || wy[r] === 0) {
            continue;
          }
          const accRow = (gy - accStart) * W;
          const weightRow = wy[r];
          for (let c = 0; c < tile; c++) {
            const gx = x0 + c;
            if (gx >= W || wx[c] === 0) {
              continue;
            }
            const i = outBase + r * tile + c;
            const p = model.channels === 1 ? 1 / (1 + Math.exp(-logits[i])) : 1 / (1 + Math.exp(logits[i] - logits[i + plane]));
            acc[accRow + gx] += p * wx[c] * weightRow;
          }
        }
      }
      const rowsBefore = Math.floor(index / columns);
      index += count;
      windowsRun += count;
      options.onProgress?.(index, total);
      const rowsDone = Math.floor(index / columns);
      if (rowsDone > rowsBefore || index === total) {
        // Rows above the next window row's first weighted row are final.
        const until = rowsDone < ys.length ? Math.floor(Math.min(ys[rowsDone] + layout.margin, H) / cogTile) * cogTile : H;
        await emit(Math.max(emittedRows, until));
        await checkpoint(index, index);
      }
    }
    const result: IEngineResult = {
      layout: { tile, overlap: layout.overlap, stride: layout.stride, margin: layout.margin },
      windows: total,
      windowsRun,
      resumedFromWindowRow: Math.floor(firstWindow / columns),
      resumedFromWindow: firstWindow,
      changedPixels,
      confusion,
      metrics: confusion ? changeMetrics(confusion) : null,
      alignment: { after: inputs.after.alignment, ...(inputs.truth ? { truth: inputs.truth.alignment } : {}) }
    };
    await writers.probability.finish(outputs.probability);
    await writers.mask.finish(outputs.mask);
    if (writers.confusion && outputs.confusion) {
      await writers.confusion.finish(outputs.confusion);
    }
    await fs.rm(options.scratchDir, { recursive: true, force: true });
    return result;
  } catch (error) {
    for (const writer of Object.values(writers)) {
      await writer.abandon();
    }
    if (options.signal?.aborted) {
      throw new InferenceCancelledError('inference was cancelled; run it again with the same inputs to resume from the last finished window row', {
        scratchDir: options.scratchDir
      }, { cause: error });
    }
    throw error;
  }
}

async function readCheckpoint(file: string, signature: string): Promise<ICheckpoint | null> {
  try {
    const state = JSON.parse(await fs.readFile(file, 'utf8')) as ICheckpoint;
    return state.version === 1 && state.signature === signature ? state : null;
  } catch {
    return null;
  }
}

async function removeStale(folder: string, keep: string): Promise<void> {
  const remove = async (dir: string) => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await remove(full);
      } else if (/^(acc|pending)-/.test(entry.name) && !entry.name.startsWith(`acc-${keep}.`) && !entry.name.startsWith(`pending-${keep}-`)) {
        await fs.rm(full, { force: true });
      }
    }
  };
  await remove(folder);
}
