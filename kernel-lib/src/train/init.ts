// Parameter initialisation as PyTorch's defaults for Conv/Linear layers, so models built here start
// from the same distribution as their PyTorch references: weights and biases uniform in
// +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5) reduces to that bound).

import { createRandom, type Seed } from '../synth/random';

/** fan_in of a weight shaped [out, in/group, k...] (or [out, in] for a linear layer). */
export function fanIn(shape: readonly number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/** Uniform values in [-bound, bound), seeded. */
export function uniform(seed: Seed, size: number, bound: number): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: size }, () => (2 * random.next() - 1) * bound);
}

/** PyTorch's default Conv / Linear weight initialisation. */
export function defaultWeight(seed: Seed, shape: readonly number[]): Float32Array {
  return uniform(seed, shape.reduce((a, b) => a * b, 1), 1 / Math.sqrt(fanIn(shape)));
}

/** PyTorch's default bias initialisation for a layer with the given weight shape. */
export function defaultBias(seed: Seed, weightShape: readonly number[]): Float32Array {
  return uniform(seed, weightShape[0], 1 / Math.sqrt(fanIn(weightShape)));
}
