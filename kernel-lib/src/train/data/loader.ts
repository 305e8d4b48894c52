// Training data: sources of change samples (a built dataset folder, or chips held in memory such
// as the synthetic generator's) and a loader that shuffles, augments and batches them as Float32
// NCHW. Every random choice is drawn from (seed, epoch, sample index), never from a running
// generator, so an epoch's batches are the same whether it is trained straight or resumed midway.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { InvalidRasterError, NotFoundError } from '../../errors';
import { MANIFEST_FILE, type DatasetSplit, type IDatasetManifest } from '../../dataset/manifest';
import { generatePair } from '../../synth/pair';
import { createRandom, type Seed } from '../../synth/random';
import { GraphError } from '../onnx/graph';
import { decodeChip, type IChipPixels } from './decode';

/** One bi-temporal sample, pixels band-interleaved (`[(y * width + x) * bands + b]`), uint8. */
export interface IChangeSample {
  id: string;
  before: Uint8Array;
  after: Uint8Array;
  /** 0/1 change mask, one band; absent for unlabelled data (prediction). */
  label?: Uint8Array;
}

/** Samples of one split, all of the same size and bands. */
export interface IChangeSource {
  readonly name: string;
  readonly length: number;
  readonly bands: number;
  readonly height: number;
  readonly width: number;
  readonly labelled: boolean;
  get(index: number): Promise<IChangeSample>;
}

/** Samples held in memory. */
export class MemoryChangeSource implements IChangeSource {
  readonly labelled: boolean;

  constructor(
    readonly name: string,
    private readonly samples: readonly IChangeSample[],
    readonly bands: number,
    readonly height: number,
    readonly width: number
  ) {
    const size = height * width;
    for (const s of samples) {
      if (s.before.length !== size * bands || s.after.length !== size * bands || (s.label && s.label.length !== size)) {
        throw new GraphError(`sample ${s.id} is not ${width}x${height} with ${bands} bands`, { sample: s.id });
      }
    }
    this.labelled = samples.length > 0 && samples.every(s => s.label !== undefined);
  }

  get length(): number {
    return this.samples.length;
  }

  async get(index: number): Promise<IChangeSample> {
    return this.samples[index];
  }
}

/** The chips of one split of a built dataset folder (`manifest.json` + chip files). */
export class ChipFolderSource implements IChangeSource {
  readonly bands: number;
  readonly height: number;
  readonly width: number;
  readonly labelled: boolean;

  private constructor(
    readonly folder: string,
    readonly manifest: IDatasetManifest,
    readonly split: DatasetSplit | 'all',
    private readonly chips: IDatasetManifest['chips']
  ) {
    this.bands = manifest.bands;
    this.height = manifest.chip;
    this.width = manifest.chip;
    this.labelled = chips.length > 0 && chips.every(c => c.label !== undefined);
  }

  get name(): string {
    return `${this.manifest.name}/${this.split}`;
  }

  get length(): number {
    return this.chips.length;
  }

  /** Reads the manifest; chip files are read when a sample is asked for. */
  static async open(folder: string, split: DatasetSplit | 'all'): Promise<ChipFolderSource> {
    const manifest = await readManifest(folder);
    const chips = manifest.chips.filter(c => split === 'all' || c.split === split);
    return new ChipFolderSource(folder, manifest, split, chips);
  }

  async get(index: number): Promise<IChangeSample> {
    const chip = this.chips[index];
    if (!chip) {
      throw new NotFoundError(`${this.name} has no chip ${index}`, { index, length: this.length });
    }
    const read = async (rel: string, bands: number): Promise<Uint8Array> => {
      const file = path.join(this.folder, ...rel.split('/'));
      let bytes: Buffer;
      try {
        bytes = await fsp.readFile(file);
      } catch (cause) {
        throw new NotFoundError(`chip ${chip.id}: cannot read ${rel}`, { chip: chip.id, file }, { cause });
      }
      return conform(decodeChip(bytes, file), bands, this.width, this.height, chip.id, rel);
    };
    const [before, after, label] = await Promise.all([
      read(chip.before, this.bands),
      read(chip.after, this.bands),
      chip.label ? read(chip.label, 1) : Promise.resolve(undefined)
    ]);
    if (label) {
      for (let i = 0; i < label.length; i++) {
        if (label[i] > 1) {
          throw new InvalidRasterError(`chip ${chip.id}: label ${chip.label} holds ${label[i]}; masks must be 0 (no change) or 1 (change)`, { chip: chip.id, value: label[i] });
        }
      }
    }
    return { id: chip.id, before, after, label };
  }
}

/** Checks a decoded chip against the manifest; drops a PNG's alpha band. */
function conform(p: IChipPixels, bands: number, width: number, height: number, chip: string, file: string): Uint8Array {
  if (p.width !== width || p.height !== height) {
    throw new InvalidRasterError(`chip ${chip}: ${file} is ${p.width}x${p.height}, the manifest says ${width}x${height}`, { chip, file });
  }
  if (p.bands === bands) {
    return p.data;
  }
  if (p.bands === bands + 1) {
    const out = new Uint8Array(width * height * bands);
    for (let i = 0, j = 0; i < out.length; i += bands, j += p.bands) {
      out.set(p.data.subarray(j, j + bands), i);
    }
    return out;
  }
  throw new InvalidRasterError(`chip ${chip}: ${file} has ${p.bands} bands, the manifest says ${bands}`, { chip, file });
}

export async function readManifest(folder: string): Promise<IDatasetManifest> {
  const file = path.join(folder, MANIFEST_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (cause) {
    throw new NotFoundError(`no dataset at ${folder}: ${MANIFEST_FILE} is missing`, { folder }, { cause });
  }
  let manifest: IDatasetManifest;
  try {
    manifest = JSON.parse(text) as IDatasetManifest;
  } catch (cause) {
    throw new InvalidRasterError(`${file} is not valid JSON`, { file }, { cause });
  }
  if (manifest.version !== 1 || !Array.isArray(manifest.chips) || !(manifest.chip > 0) || !(manifest.bands > 0)) {
    throw new InvalidRasterError(`${file} is not a version 1 dataset manifest (needs version, chip, bands, chips)`, { file, version: manifest.version });
  }
  return manifest;
}

/** The train / val / test splits of a dataset folder (an empty split has length 0). */
export async function datasetSplits(folder: string): Promise<Record<DatasetSplit, ChipFolderSource>> {
  const [train, val, test] = await Promise.all((['train', 'val', 'test'] as const).map(s => ChipFolderSource.open(folder, s)));
  return { train, val, test };
}

export interface ISyntheticDataOptions {
  seed?: Seed;
  /** Synthetic scenes generated (each `scene` pixels square). Default 6. */
  scenes?: number;
  /** Default 256. */
  scene?: number;
  /** Chip size; scenes are cut into non-overlapping chips. Default 64. */
  chip?: number;
  /** Scenes for validation and test, taken from the end. Default 1 each. */
  valScenes?: number;
  testScenes?: number;
}

/**
 * Chips cut from scenes of the synthetic generator (buildings appearing and disappearing under
 * changing light and slight misregistration), split by scene so no split sees another's place.
 * Generated in memory, for notebooks and tests that need no dataset on disk.
 */
export function syntheticChangeData(options: ISyntheticDataOptions = {}): Record<DatasetSplit, MemoryChangeSource> {
  const seed = options.seed ?? 'synthetic-change';
  const scenes = options.scenes ?? 6;
  const scene = options.scene ?? 256;
  const chip = options.chip ?? 64;
  const nVal = options.valScenes ?? 1;
  const nTest = options.testScenes ?? 1;
  if (scene % chip !== 0 || nVal + nTest >= scenes) {
    throw new GraphError(`need scene a multiple of chip and more scenes than val + test (scenes ${scenes}, val ${nVal}, test ${nTest})`, { scene, chip, scenes });
  }
  const splits: Record<DatasetSplit, IChangeSample[]> = { train: [], val: [], test: [] };
  for (let s = 0; s < scenes; s++) {
    const pair = generatePair({ seed: `${seed}/${s}`, width: scene, height: scene, gps: false, deflateLevel: 1, tileSize: 256 });
    const split: DatasetSplit = s >= scenes - nTest ? 'test' : s >= scenes - nTest - nVal ? 'val' : 'train';
    const { before, after, mask } = pair.rasters;
    for (let y = 0; y < scene; y += chip) {
      for (let x = 0; x < scene; x += chip) {
        splits[split].push({
          id: `s${s}-r${y / chip}-c${x / chip}`,
          before: crop(before.data, scene, 3, x, y, chip),
          after: crop(after.data, scene, 3, x, y, chip),
          label: crop(mask.data, scene, 1, x, y, chip)
        });
      }
    }
  }
  const make = (name: DatasetSplit) => new MemoryChangeSource(`synthetic/${name}`, splits[name], 3, chip, chip);
  return { train: make('train'), val: make('val'), test: make('test') };
}

function crop(data: Uint8Array, width: number, bands: number, x: number, y: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size * bands);
  for (let r = 0; r < size; r++) {
    const start = ((y + r) * width + x) * bands;
    out.set(data.subarray(start, start + size * bands), r * size * bands);
  }
  return out;
}

// ---- augmentation and batching ----------------------------------------------------------------

export interface IAugmentOptions {
  /** Random horizontal and vertical flips. Default true. */
  flips?: boolean;
  /** Random rotation by 0, 90, 180 or 270 degrees (square chips). Default true. */
  rot90?: boolean;
  /**
   * Colour jitter, drawn separately for each date (illumination differs between dates):
   * brightness scales by 1 +- b, contrast around mid-grey by 1 +- c. Default { 0.2, 0.2 }; false: off.
   */
  colourJitter?: false | { brightness?: number; contrast?: number };
}

export interface ILoaderOptions {
  batchSize: number;
  /** Shuffle each epoch (train). Default false. */
  shuffle?: boolean;
  /** Augment (train); false or absent: none. */
  augment?: IAugmentOptions | boolean;
  seed?: Seed;
  /** Drop the last incomplete batch. Default false. */
  dropLast?: boolean;
  /** Per-band mean and std applied after scaling to [0, 1]. Default: none (0 and 1). */
  normalize?: { mean: readonly number[]; std: readonly number[] };
}

/** A batch, Float32 NCHW; `count` samples (the last batch may be smaller than the batch size). */
export interface IChangeBatch {
  count: number;
  ids: string[];
  /** Sample indices within the source. */
  indices: number[];
  bands: number;
  height: number;
  width: number;
  before: Float32Array;
  after: Float32Array;
  /** [N, 1, H, W] 0/1; absent for unlabelled data. */
  mask?: Float32Array;
}

interface IAugmentDraw {
  flipX: boolean;
  flipY: boolean;
  rot: number;
  jitter: [number, number, number, number];
}

/** Shuffles, augments and batches one source. */
export class ChangeLoader {
  readonly batchSize: number;
  private readonly seed: Seed;
  private readonly augment: Required<IAugmentOptions> | undefined;

  constructor(
    readonly source: IChangeSource,
    readonly options: ILoaderOptions
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new GraphError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    this.batchSize = options.batchSize;
    this.seed = options.seed ?? 'changelab';
    const a = options.augment === true ? {} : options.augment || undefined;
    this.augment = a && {
      flips: a.flips ?? true,
      rot90: (a.rot90 ?? true) && source.width === source.height,
      colourJitter: a.colourJitter === undefined ? { brightness: 0.2, contrast: 0.2 } : a.colourJitter
    };
    const n = options.normalize;
    if (n && (n.mean.length !== source.bands || n.std.length !== source.bands || n.std.some(s => !(s > 0)))) {
      throw new GraphError(`normalize needs ${source.bands} means and ${source.bands} positive stds`, { normalize: n });
    }
  }

  get batchesPerEpoch(): number {
    const n = this.source.length;
    return this.options.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of an epoch. */
  order(epoch: number): number[] {
    const order = Array.from({ length: this.source.length }, (_, i) => i);
    if (this.options.shuffle) {
      const random = createRandom(`${this.seed}/shuffle/${epoch}`);
      for (let i = order.length - 1; i > 0; i--) {
        const j = random.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    return order;
  }

  /** The batches of an epoch, from batch `start` on (resuming skips without reading). */
  async *batches(epoch: number, start = 0): AsyncGenerator<IChangeBatch> {
    const order = this.order(epoch);
    for (let b = start; b < this.batchesPerEpoch; b++) {
      yield this.batch(epoch, order.slice(b * this.batchSize, (b + 1) * this.batchSize));
    }
  }

  /** Reads, augments and packs the samples at `indices` (positions within the source). */
  async batch(epoch: number, indices: readonly number[]): Promise<IChangeBatch> {
    const { bands, height, width, labelled } = this.source;
    const plane = height * width;
    const count = indices.length;
    const out: IChangeBatch = {
      count,
      ids: [],
      indices: [...indices],
      bands,
      height,
      width,
      before: new Float32Array(count * bands * plane),
      after: new Float32Array(count * bands * plane),
      mask: labelled ? new Float32Array(count * plane) : undefined
    };
    const samples = await Promise.all(indices.map(i => this.source.get(i)));
    samples.forEach((s, k) => {
      out.ids.push(s.id);
      const draw = this.draw(epoch, indices[k]);
      this.pack(s.before, bands, draw, draw.jitter[0], draw.jitter[1], out.before, k * bands * plane);
      this.pack(s.after, bands, draw, draw.jitter[2], draw.jitter[3], out.after, k * bands * plane);
      if (out.mask) {
        if (!s.label) {
          throw new GraphError(`sample ${s.id} has no label`, { sample: s.id });
        }
        this.pack(s.label, 1, draw, 1, 1, out.mask, k * plane, true);
      }
    });
    return out;
  }

  private draw(epoch: number, index: number): IAugmentDraw {
    const a = this.augment;
    if (!a) {
      return { flipX: false, flipY: false, rot: 0, jitter: [1, 1, 1, 1] };
    }
    const r = createRandom(`${this.seed}/augment/${epoch}/${index}`);
    const flipX = a.flips && r.chance(0.5);
    const flipY = a.flips && r.chance(0.5);
    const rot = a.rot90 ? r.int(0, 3) : 0;
    const j = a.colourJitter;
    const factor = (x: number | undefined) => (x ? r.range(1 - x, 1 + x) : 1);
    const jitter: [number, number, number, number] = j ? [factor(j.brightness), factor(j.contrast), factor(j.brightness), factor(j.contrast)] : [1, 1, 1, 1];
    return { flipX, flipY, rot, jitter };
  }

  /** Writes one image as CHW floats at `offset`, transformed as drawn. */
  private pack(src: Uint8Array, bands: number, d: IAugmentDraw, brightness: number, contrast: number, dst: Float32Array, offset: number, isMask = false): void {
    const { height: h, width: w } = this.source;
    const plane = h * w;
    const n = this.options.normalize;
    const scales = Array.from({ length: bands }, (_, b) => (isMask ? 1 : 1 / 255 / (n ? n.std[b] : 1)));
    const shifts = Array.from({ length: bands }, (_, b) => (isMask || !n ? 0 : n.mean[b] / n.std[b]));
    const jitter = !isMask && (brightness !== 1 || contrast !== 1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        // Output pixel (x, y) reads the source pixel that the flips and rotation bring there.
        let sx = d.flipX ? w - 1 - x : x;
        let sy = d.flipY ? h - 1 - y : y;
        for (let k = 0; k < d.rot; k++) {
          const t = sx;
          sx = sy;
          sy = w - 1 - t;
        }
        const s = (sy * w + sx) * bands;
        const o = offset + y * w + x;
        for (let b = 0; b < bands; b++) {
          let v = src[s + b];
          if (jitter) {
            v = Math.min(255, Math.max(0, ((v * brightness) - 127.5) * contrast + 127.5));
          }
          dst[o + b * plane] = isMask ? v : v * scales[b] - shifts[b];
        }
      }
    }
  }
}
