// Shared inputs of the inference tests: a small seeded synthetic pair written as COG files, and an
// untrained FC-Siam-diff whose convolution weights are scaled up from PyTorch's default
// initialisation so that its change probability actually varies over the scene (with the default
// initialisation it stays within 0.45..0.46, which would let a stitching error hide).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { generatePair } from '../../../kernel-lib/src/synth';
import { buildChangeModel, parameterValues, type IChangeModelOptions } from '../../../kernel-lib/src/train/models/fc';
import type { TypedArray } from '../../../kernel-lib/src/train/onnx/graph';

export const MODEL_OPTIONS: IChangeModelOptions = { kind: 'fc-siam-diff', width: 4, seed: 'infer-tests' };

export function testModelValues(scale = 2): Record<string, TypedArray> {
  const values = parameterValues(buildChangeModel(MODEL_OPTIONS, { batch: 1, height: 16, width: 16 }, 'eval'));
  for (const [name, value] of Object.entries(values)) {
    if (/^(up)?conv.*weight$/.test(name)) {
      for (let i = 0; i < value.length; i++) {
        (value as Float32Array)[i] *= scale;
      }
    }
  }
  return values;
}

export interface IPairFiles {
  dir: string;
  before: string;
  after: string;
  mask: string;
}

export function writePairFiles(dir: string, size = 320, seed = 'infer-tests'): IPairFiles {
  fs.mkdirSync(dir, { recursive: true });
  const pair = generatePair({ seed, width: size, height: size });
  const files = { dir, before: path.join(dir, 'before.tif'), after: path.join(dir, 'after.tif'), mask: path.join(dir, 'mask.tif') };
  fs.writeFileSync(files.before, pair.before);
  fs.writeFileSync(files.after, pair.after);
  fs.writeFileSync(files.mask, pair.mask);
  return files;
}

export const SYSTEM_PYTHON = '/usr/bin/python3';

/** GDAL's Python bindings (python3-gdal) run the oracle script; the tests need them. */
export function gdalOracle(args: string[]): unknown {
  const script = path.join(__dirname, 'oracle', 'gdal_oracle.py');
  return JSON.parse(execFileSync(SYSTEM_PYTHON, [script, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 }));
}

export function gdalinfo(file: string): Record<string, any> {
  return JSON.parse(execFileSync('gdalinfo', ['-json', file], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}
