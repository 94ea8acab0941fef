/**
 * Seeded, splittable random numbers.
 *
 * The stream is xoroshiro128+ from `pure-rand`; integer seeds are hashed with
 * splitmix64 first (raw xoroshiro seeded with 0, 1, 42 starts with near-1 draws).
 * Child streams are derived by hashing (seed, key…) so a job's stream depends
 * only on the study seed and the job's coordinates, never on execution order.
 */
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

const MASK64 = (1n << 64n) - 1n;

/** splitmix64 finaliser (Steele, Lea & Flood 2014): a 64-bit bijective mix. */
export function splitmix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

function keyToBigInt(key: number | string): bigint {
  if (typeof key === 'number') {
    if (!Number.isFinite(key)) throw new RangeError(`seed key must be finite, got ${key}`);
    if (Number.isInteger(key)) return BigInt.asUintN(64, BigInt(key));
    // non-integers (e.g. a sample size written as 1e5 is an integer, but 0.5 is not): hash the bits
    const buf = new DataView(new ArrayBuffer(8));
    buf.setFloat64(0, key);
    return buf.getBigUint64(0);
  }
  // FNV-1a 64 over UTF-16 code units for string keys (setting names etc.)
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < key.length; i++) {
    h ^= BigInt(key.charCodeAt(i));
    h = (h * 0x100000001b3n) & MASK64;
  }
  return h;
}

/** Derive a 64-bit seed (as a decimal string-safe bigint) from a parent seed and coordinates. */
export function deriveSeed(seed: number | bigint, ...keys: (number | string)[]): bigint {
  let h = splitmix64(typeof seed === 'bigint' ? BigInt.asUintN(64, seed) : keyToBigInt(seed));
  for (const k of keys) h = splitmix64(h ^ keyToBigInt(k));
  return h;
}

const TWO_POW_M53 = 1 / 9007199254740992;

export class Rng {
  private gen: RandomGenerator;
  private spareNormal = 0;
  private hasSpare = false;
  /** The 64-bit seed this stream was built from (after hashing). */
  readonly seed: bigint;

  constructor(seed: number | bigint) {
    this.seed = deriveSeed(seed);
    // Fill all 128 bits of xoroshiro128+ state from two splitmix64 outputs (never all-zero).
    const w0 = splitmix64(this.seed);
    const w1 = splitmix64(w0) | 1n;
    const i32 = (w: bigint, shift: bigint): number => Number(BigInt.asIntN(32, w >> shift));
    this.gen = xoroshiro128plusFromState([i32(w0, 32n), i32(w0, 0n), i32(w1, 32n), i32(w1, 0n)]);
  }

  /** A child stream determined by this stream's seed and the keys (not by how much was drawn). */
  split(...keys: (number | string)[]): Rng {
    return new Rng(deriveSeed(this.seed, ...keys));
  }

  /** Uniform on [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.gen.next() >>> 5; // 27 bits
    const b = this.gen.next() >>> 6; // 26 bits
    return (a * 67108864 + b) * TWO_POW_M53;
  }

  /** Uniform on (0, 1): never exactly 0, safe for logs. */
  uniformOpen(): number {
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    return u;
  }

  /** Uniform integer in [0, m). */
  int(m: number): number {
    return Math.floor(this.uniform() * m);
  }

  /** Standard normal by the Marsaglia polar method (pairs cached). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spareNormal;
    }
    let u = 0;
    let v = 0;
    let s = 0;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * f;
    this.hasSpare = true;
    return u * f;
  }

  /**
   * Draw an index in [0, k) with probabilities p[off..off+k) (need not be normalised;
   * entries must be ≥ 0 with a positive sum).
   */
  categorical(p: ArrayLike<number>, off = 0, k = p.length - off): number {
    let total = 0;
    for (let i = 0; i < k; i++) total += p[off + i];
    let u = this.uniform() * total;
    for (let i = 0; i < k; i++) {
      u -= p[off + i];
      if (u < 0) return i;
    }
    // rounding: return the last index with positive mass
    for (let i = k - 1; i >= 0; i--) if (p[off + i] > 0) return i;
    throw new RangeError('categorical: all probabilities are zero');
  }

  /** 32 random bits as an unsigned integer (for hashing / ids). */
  uint32(): number {
    return this.gen.next() >>> 0;
  }
}
