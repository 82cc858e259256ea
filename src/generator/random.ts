/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32), so that a seeded
 * generator run is reproducible on every machine and Node version: Math.random cannot be seeded.
 */

/** Returns numbers uniformly in [0, 1). */
export type Random = () => number;

/** sfc32 seeded from any safe integer (its low and high 32 bits both count). */
export function createRandom(seed: number): Random {
  const low = seed >>> 0;
  const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
  const mix = splitmix32(low ^ Math.imul(high, 0x9e3779b9));
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix() | 1;
  const next: Random = () => {
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
    return (t >>> 0) / 0x1_0000_0000;
  };
  // The first outputs still carry the structure of the seed; skip them.
  for (let i = 0; i < 15; i++) next();
  return next;
}

function splitmix32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** Picks an index by cumulative weights (ascending, last = total). */
export function pickCumulative(random: Random, cumulative: readonly number[]): number {
  const total = cumulative[cumulative.length - 1] ?? 0;
  const x = random() * total;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < cumulative[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
