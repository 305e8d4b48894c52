// A small seeded PRNG so synthetic scenes are byte-for-byte reproducible from a seed, on every
// platform and Node version (Math.random cannot be seeded). sfc32 is fast, passes PractRand to
// large sizes and needs only 32-bit integer arithmetic.

export type Seed = number | string;

export interface IRandom {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [min, max). */
  range(min: number, max: number): number;
  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number;
  /** Normal distribution (Box-Muller). */
  normal(mean?: number, sd?: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
  /**
   * An independent stream for one part of the generator. Streams are keyed by label, so adding
   * draws to one part (say, more roads) does not reshuffle another (the buildings).
   */
  fork(label: string): IRandom;
}

export function createRandom(seed: Seed): IRandom {
  const key = String(seed);
  const [a, b, c, d] = hashString(key);
  const next = sfc32(a, b, c, d);
  // Warm-up: the first outputs of sfc32 from a hashed state are still correlated with the seed.
  for (let i = 0; i < 12; i++) {
    next();
  }
  const random: IRandom = {
    next,
    range: (min, max) => min + (max - min) * next(),
    int: (min, max) => min + Math.floor((max - min + 1) * next()),
    normal: (mean = 0, sd = 1) => {
      const u = 1 - next(); // (0, 1], so the log is finite
      return (
        mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next())
      );
    },
    chance: probability => next() < probability,
    pick: items => items[Math.floor(next() * items.length)],
    fork: label => createRandom(`${key}/${label}`)
  };
  return random;
}

/** A 32-bit seed derived from any seed, for the hash-based noise lattices. */
export function seedToUint32(seed: Seed): number {
  return hashString(String(seed))[0];
}

function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/** cyrb128: spreads a string over four 32-bit words of state. */
function hashString(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}
