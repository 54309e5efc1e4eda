/**
 * Seeded pseudo-random generators. Every random choice in strategies/ and simulations/ takes an `Rng`
 * so that a run with the same seed reproduces exactly (no Math.random anywhere).
 *
 * mulberry32 is the generator the shared benchmark scenarios are defined with (bench/shared),
 * so the environments we rebuild are bit-identical to the peer's.
 */
export interface Rng {
  /** Uniform on [0, 1). */
  next(): number;
}

/** mulberry32: 32-bit state, period 2^32; fast and good enough for simulation, as specified by the bench. */
export class Mulberry32 implements Rng {
  // Kept as an int32 (`| 0`), not a uint32: V8 then stores it unboxed instead of allocating a heap number
  // on every call. The bits, and so the output stream, are the same.
  private s: number;
  constructor(seed: number) {
    this.s = seed | 0;
  }
  nextU32(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  next(): number {
    return this.nextU32() / 4294967296;
  }
  /** Derive an independent child seed, so results do not depend on how work is split across workers. */
  fork(): Mulberry32 {
    return new Mulberry32(this.nextU32() ^ 0x9e3779b9);
  }
}

/**
 * xoshiro128**: 128-bit state, period 2^128 − 1. Used by the service, which draws far more than 2^32 numbers
 * over its lifetime; seeded through splitmix32 so any 32-bit seed gives a well-mixed state.
 */
export class Xoshiro128 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    let s = seed >>> 0;
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
  }
  nextU32(): number {
    const r = Math.imul(this.rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = this.rotl(this.d, 11);
    return r;
  }
  next(): number {
    return this.nextU32() / 4294967296;
  }
  private rotl(x: number, k: number): number {
    return (x << k) | (x >>> (32 - k));
  }
}
