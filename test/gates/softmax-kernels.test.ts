import { describe, expect, it } from 'vitest';
import { fusedNewtonKernel, gradientKernel, logitsKernel, newtonSystemKernel, probabilitiesKernel, accumulatorCount, MAX_ACCUMULATORS } from '../../src/family/softmax-kernels.js';
import { expNonPositive, LOG_BLOCK } from '../../src/numeric/fastmath.js';
import { Rng } from '../../src/numeric/rng.js';
import { LinearSoftmaxCore } from '../../src/family/linear-softmax.js';

/** Naive reference: π, s, Q, g, −H of Σ R log π for linear logits with the last class as reference. */
function reference(theta: Float64Array, F: Float64Array, R: Float64Array, n: number, k: number, m: number) {
  const q = m + 1;
  const p = (k - 1) * q;
  const P = new Float64Array(n * k);
  const S = new Float64Array(n);
  const g = new Float64Array(p);
  const H = new Float64Array(p * p);
  let Q = 0;
  for (let t = 0; t < n; t++) {
    const v = [1, ...Array.from(F.subarray(t * m, t * m + m))];
    const z = Array.from({ length: k }, (_, j) => (j < k - 1 ? v.reduce((acc, vi, a) => acc + theta[j * q + a] * vi, 0) : 0));
    const mx = Math.max(...z);
    const lse = mx + Math.log(z.reduce((acc, zi) => acc + Math.exp(zi - mx), 0));
    let s = 0;
    for (let i = 0; i < k; i++) {
      P[t * k + i] = Math.exp(z[i] - lse);
      s += R[t * k + i];
      Q += R[t * k + i] * (z[i] - lse);
    }
    S[t] = s;
    for (let j = 0; j < k - 1; j++) {
      const c = R[t * k + j] - s * P[t * k + j];
      for (let a = 0; a < q; a++) g[j * q + a] += c * v[a];
      for (let l = 0; l < k - 1; l++) {
        const w = s * P[t * k + j] * ((j === l ? 1 : 0) - P[t * k + l]);
        for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) H[(j * q + a) * p + l * q + b] += w * v[a] * v[b];
      }
    }
  }
  return { P, S, Q, g, H };
}

function correction(s: number, sum: number): number {
  return (s - 1) * Math.log(sum);
}

describe('generated softmax kernels', () => {
  const shapes: [number, number][] = [[2, 2], [3, 1], [3, 2], [4, 2], [5, 1], [2, 5]];
  for (const [k, m] of shapes) {
    it(`k=${k}, m=${m}: probabilities, Q and the Newton system match a naive computation`, () => {
      const rng = new Rng(k * 10 + m);
      const n = 257;
      const q = m + 1;
      const F = new Float64Array(n * m).map(() => 4 * rng.uniform() - 2);
      // weights: rows summing to 1 (posteriors), some rows scaled (general weights), zeros included
      const R = new Float64Array(n * k);
      for (let t = 0; t < n; t++) {
        let s = 0;
        for (let i = 0; i < k; i++) {
          R[t * k + i] = i === t % k ? 0 : rng.uniform();
          s += R[t * k + i];
        }
        const scale = t % 7 === 0 ? 2.5 : 1;
        for (let i = 0; i < k; i++) R[t * k + i] *= scale / s;
      }
      const theta = new Float64Array((k - 1) * q).map(() => 3 * rng.uniform() - 1.5);
      const ref = reference(theta, F, R, n, k, m);
      const probs = probabilitiesKernel(k, m, correction);
      expect(probs).not.toBeNull();
      const P = new Float64Array(n * k);
      const S = new Float64Array(n);
      const Q = probs!(theta, F, R, n, P, S);
      expect(Q).toBeCloseTo(ref.Q, 9);
      for (let i = 0; i < n * k; i++) expect(P[i]).toBeCloseTo(ref.P[i], 14);
      for (let t = 0; t < n; t++) expect(S[t]).toBeCloseTo(ref.S[t], 14);
      // the variant without the objective gives the same π and s
      const P2 = new Float64Array(n * k);
      const S2 = new Float64Array(n);
      expect(probabilitiesKernel(k, m, correction, false)!(theta, F, R, n, P2, S2)).toBe(0);
      expect(Array.from(P2)).toEqual(Array.from(P));
      expect(Array.from(S2)).toEqual(Array.from(S));
      const kernel = newtonSystemKernel(k, m);
      expect(kernel).not.toBeNull();
      const p = (k - 1) * q;
      const g = new Float64Array(p);
      const H = new Float64Array(p * p);
      kernel!(P, R, F, n, g, H);
      for (let i = 0; i < p; i++) expect(g[i]).toBeCloseTo(ref.g[i], 9);
      for (let i = 0; i < p * p; i++) expect(H[i]).toBeCloseTo(ref.H[i], 9);
      const Z = new Float64Array(n * k);
      logitsKernel(k, m)!(theta, F, n, Z);
      for (let t = 0; t < n; t++) {
        const lz = Math.log(Array.from(Z.subarray(t * k, t * k + k)).reduce((acc, v) => acc + Math.exp(v), 0));
        expect(Z[t * k + k - 1]).toBe(0);
        for (let i = 0; i < k; i++) expect(Math.exp(Z[t * k + i] - lz)).toBeCloseTo(ref.P[t * k + i], 13);
      }
      const g2 = new Float64Array(p);
      gradientKernel(k, m)!(P, R, F, n, g2);
      for (let i = 0; i < p; i++) expect(g2[i]).toBeCloseTo(ref.g[i], 9);
    });
  }

  it('the column-wise Newton system of shapes too large to unroll (k=7, m=6) matches the naive computation', () => {
    const k = 7;
    const m = 6;
    const q = m + 1;
    const p = (k - 1) * q;
    expect(newtonSystemKernel(k, m)).toBeNull();
    const rng = new Rng(76);
    const n = 150;
    const F = new Float64Array(n * m).map(() => 2 * rng.uniform() - 1);
    const R = new Float64Array(n * k).map(() => rng.uniform());
    const theta = new Float64Array(p).map(() => rng.uniform() - 0.5);
    const ref = reference(theta, F, R, n, k, m);
    const core = new LinearSoftmaxCore(k, m) as unknown as { fullPass: (th: Float64Array, F: Float64Array, n: number, R: Float64Array, g: Float64Array, H: Float64Array) => number };
    const g = new Float64Array(p);
    const H = new Float64Array(p * p);
    expect(core.fullPass(theta, F, n, R, g, H)).toBeCloseTo(ref.Q, 9);
    for (let i = 0; i < p; i++) expect(g[i]).toBeCloseTo(ref.g[i], 9);
    for (let i = 0; i < p * p; i++) expect(H[i]).toBeCloseTo(ref.H[i], 9);
  });

  it('declines shapes too large to unroll', () => {
    expect(accumulatorCount(6, 6)).toBeGreaterThan(MAX_ACCUMULATORS);
    expect(newtonSystemKernel(6, 6)).toBeNull();
  });
});

describe('fused Newton pass (probabilities + Newton system in one loop)', () => {
  /** LinearSoftmaxCore's weightCorrection (the probabilities kernel's `correction`). */
  const weightCorrection = (s: number, sum: number): number => {
    const d = s - 1;
    return d > -1e-14 && d < 1e-14 ? (2 * d * (sum - 1)) / (sum + 1) : d * Math.log(sum);
  };
  /** The two-pass path it replaces: π into P (the hand-written two-class loop for k = 2, m = 1), then the Newton kernel. */
  function twoPass(theta: Float64Array, F: Float64Array, R: Float64Array, n: number, k: number, m: number, g: Float64Array, H: Float64Array): number {
    const P = new Float64Array(n * k);
    const S = new Float64Array(n);
    let Q: number;
    if (k === 2 && m === 1) {
      Q = 0;
      let prod = 1;
      let count = 0;
      let corr = 0;
      for (let t = 0; t < n; t++) {
        const z = theta[0] + theta[1] * F[t];
        const r0 = R[2 * t];
        const r1 = R[2 * t + 1];
        const e = expNonPositive(-Math.abs(z));
        const p0 = z > 0 ? 1 / (1 + e) : e / (1 + e);
        P[2 * t] = p0;
        P[2 * t + 1] = 1 - p0;
        const s = r0 + r1;
        Q += r0 * z - s * (z > 0 ? z : 0);
        prod *= 1 + e;
        if (s !== 1) corr += weightCorrection(s, 1 + e);
        if (++count === LOG_BLOCK) { Q -= Math.log(prod); prod = 1; count = 0; }
      }
      Q = Q - Math.log(prod) - corr;
    } else {
      Q = probabilitiesKernel(k, m, weightCorrection)!(theta, F, R, n, P, S);
    }
    newtonSystemKernel(k, m)!(P, R, F, n, g, H);
    return Q;
  }
  for (const [k, m] of [[2, 1], [2, 3], [3, 2], [4, 3]] as const) {
    it(`k=${k}, m=${m}: the same Q, g and −H bit for bit as the two passes`, () => {
      const rng = new Rng(100 + k * 10 + m);
      const n = 1000;
      const p = (k - 1) * (m + 1);
      const F = new Float64Array(n * m).map(() => 4 * rng.uniform() - 2);
      const R = new Float64Array(n * k);
      for (let t = 0; t < n; t++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += (R[t * k + i] = rng.uniform());
        // posterior rows (sum 1 up to an ulp), rows off by 1e-15, general weights
        const scale = t % 5 === 0 ? 2.5 : t % 5 === 1 ? 1 + 1e-15 : 1;
        for (let i = 0; i < k; i++) R[t * k + i] *= scale / s;
      }
      for (const spread of [1, 40]) { // far logits: terms that underflow
        const theta = new Float64Array(p).map(() => spread * rng.normal());
        const g1 = new Float64Array(p);
        const H1 = new Float64Array(p * p);
        const g2 = new Float64Array(p);
        const H2 = new Float64Array(p * p);
        const Q1 = twoPass(theta, F, R, n, k, m, g1, H1);
        const Q2 = fusedNewtonKernel(k, m)!(theta, F, R, n, g2, H2);
        expect(Number.isFinite(Q2)).toBe(true);
        expect(Object.is(Q2, Q1)).toBe(true);
        expect(Array.from(g2)).toEqual(Array.from(g1));
        expect(Array.from(H2)).toEqual(Array.from(H1));
      }
    });
  }
  it('is null where a part is too large to unroll', () => {
    expect(fusedNewtonKernel(20, 10)).toBeNull();
  });
});
