import { describe, expect, it } from 'vitest';
import { combineKernel, combineLoop } from '../../src/estimate/e-step-kernel.js';
import { Rng } from '../../src/numeric/rng.js';

function lse(a: number[]): number {
  const m = Math.max(...a);
  return m === -Infinity ? -Infinity : m + Math.log(a.reduce((s, v) => s + Math.exp(v - m), 0));
}

describe('E-step combine kernel', () => {
  for (const k of [3, 4, 7, 30]) {
    for (const normalised of [true, false]) {
      it(`k=${k}, ${normalised ? 'normalised log-weights' : 'logits'}: posteriors and ℓ = Σ lse(z+S) − lse(z)`, () => {
        const rng = new Rng(k);
        const n = 101;
        const Z = new Float64Array(n * k);
        const S = new Float64Array(n * k);
        for (let t = 0; t < n; t++) {
          for (let i = 0; i < k; i++) {
            Z[t * k + i] = i === 1 && t % 5 === 0 ? -Infinity : 20 * rng.uniform() - 10; // inactive experts included
            S[t * k + i] = -50 * rng.uniform();
          }
          if (normalised) {
            const l = lse(Array.from(Z.subarray(t * k, t * k + k)));
            for (let i = 0; i < k; i++) Z[t * k + i] -= l;
          }
        }
        let expected = 0;
        const post = new Float64Array(n * k);
        for (let t = 0; t < n; t++) {
          const a = Array.from({ length: k }, (_, i) => Z[t * k + i] + S[t * k + i]);
          const la = lse(a);
          expected += la - lse(Array.from(Z.subarray(t * k, t * k + k)));
          for (let i = 0; i < k; i++) post[t * k + i] = Math.exp(a[i] - la);
        }
        for (const run of [combineKernel(k, normalised), (R: Float64Array, s: Float64Array, nn: number) => combineLoop(R, s, nn, k, normalised)]) {
          const R = Z.slice();
          const ll = run(R, S, n);
          expect(ll).toBeCloseTo(expected, 9);
          for (let i = 0; i < n * k; i++) expect(R[i]).toBeCloseTo(post[i], 13);
        }
      });
    }
  }

  it('returns −Infinity when a row has zero likelihood', () => {
    const R = new Float64Array([0, -Infinity, -Infinity, -1, -2, -3]);
    const S = new Float64Array([-Infinity, 0, 0, 0, 0, 0]);
    expect(combineKernel(3, false)(R.slice(), S, 2)).toBe(-Infinity);
    expect(combineLoop(R.slice(), S, 2, 3, false)).toBe(-Infinity);
  });
});
