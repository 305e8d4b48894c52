// The PyTorch oracle environment (.venv-oracles, made by scripts/oracles.sh) and tensor exchange
// with the Python scripts in ./oracle: a folder with manifest.json ({name: shape}) and one
// little-endian float32 file per tensor.

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { createRandom } from '../../../kernel-lib/src/synth';

export const ORACLE_DIR = path.join(__dirname, 'oracle');
const ROOT = path.resolve(__dirname, '../../..');
export const ORACLE_PYTHON = path.join(ROOT, '.venv-oracles', 'bin', 'python');

/**
 * The oracle interpreter, or undefined when .venv-oracles is missing — unless
 * CHANGELAB_TEST_REQUIRE_SERVICES=1 (`npm test`, CI), where the comparison must not be skipped.
 */
export function oraclePython(): string | undefined {
  if (fs.existsSync(ORACLE_PYTHON)) {
    return ORACLE_PYTHON;
  }
  if (process.env.CHANGELAB_TEST_REQUIRE_SERVICES === '1') {
    throw new Error(`the PyTorch oracle environment is missing (${ORACLE_PYTHON}); run scripts/oracles.sh to create it`);
  }
  return undefined;
}

export function writeTensors(folder: string, tensors: Record<string, { data: ArrayLike<number>; shape: readonly number[] }>): void {
  fs.mkdirSync(folder, { recursive: true });
  const manifest: Record<string, readonly number[]> = {};
  Object.entries(tensors).forEach(([name, t], i) => {
    const a = Float32Array.from(t.data);
    fs.writeFileSync(path.join(folder, `${i}.bin`), Buffer.from(a.buffer));
    manifest[name] = t.shape;
  });
  fs.writeFileSync(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
}

export function readTensors(folder: string): Record<string, { data: Float32Array; shape: number[] }> {
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'manifest.json'), 'utf8')) as Record<string, number[]>;
  const out: Record<string, { data: Float32Array; shape: number[] }> = {};
  Object.entries(manifest).forEach(([name, shape], i) => {
    const buf = fs.readFileSync(path.join(folder, `${i}.bin`));
    out[name] = { data: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), shape };
  });
  return out;
}

/** Runs an oracle script with the oracle interpreter; returns its stdout. */
export function runOracle(python: string, script: string, args: string[], timeoutMs = 300_000): string {
  return execFileSync(python, [path.join(ORACLE_DIR, script), ...args], { cwd: ORACLE_DIR, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return m;
}

/** ||a - b|| / ||b||, in float64. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/**
 * The batch both oracle tests feed ours and PyTorch: before ~ N(0, 1), after = before plus noise,
 * a 0/1 mask with 30% ones; all seeded.
 */
export function oracleBatch(seed: string, config: { batch: number; bands: number; size: number }) {
  const random = createRandom(seed);
  const shape = [config.batch, config.bands, config.size, config.size];
  const maskShape = [config.batch, 1, config.size, config.size];
  const n = shape.reduce((a, b) => a * b, 1);
  const before = Float32Array.from({ length: n }, () => random.normal());
  const after = Float32Array.from(before, v => v + 0.5 * random.normal());
  const mask = Float32Array.from({ length: n / config.bands }, () => (random.next() < 0.3 ? 1 : 0));
  return { before, after, mask, shape, maskShape };
}
