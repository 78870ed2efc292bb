/**
 * A small seeded generator for the fuzzers: 32-bit xorshift state scrambled by a multiply, so a
 * run is reproducible from its seed alone (printed by every run).
 */
export interface Prng {
  /** Uniform in [0, 1). */
  next(): number
  /** Integer in [0, n). */
  int(n: number): number
  pick<T>(list: readonly T[]): T
  chance(p: number): boolean
}

export function prng(seed: number): Prng {
  // Zero is a fixed point of xorshift: mix the seed so every seed gives a live state.
  let s = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0 || 1
  const next = () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return (Math.imul(s, 0x2545f491) >>> 0) / 0x1_0000_0000
  }
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)]!,
    chance: (p) => next() < p,
  }
}
