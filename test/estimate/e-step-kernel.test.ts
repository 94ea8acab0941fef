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
            Z[t * k + i] = i === 1 && t % 5 === 0 && k !== 4 ? -Infinity : 20 * rng.uniform() - 10; // inactive experts included
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
        // gate state: π = softmax(z), Σ r log π at the posteriors (finite only without inactive experts)
        const pi = new Float64Array(n * k);
        let qg = 0;
        for (let t = 0; t < n; t++) {
          const lz = lse(Array.from(Z.subarray(t * k, t * k + k)));
          for (let i = 0; i < k; i++) {
            pi[t * k + i] = Math.exp(Z[t * k + i] - lz);
            if (post[t * k + i] !== 0) qg += post[t * k + i] * (Z[t * k + i] - lz);
          }
        }
        const runs = [
          combineKernel(k, normalised, true),
          (R: Float64Array, s: Float64Array, nn: number, G: Float64Array, info: Float64Array) => combineLoop(R, s, nn, k, normalised, normalised ? undefined : G, info),
        ];
        for (const run of runs) {
          const R = Z.slice();
          const G = new Float64Array(n * k);
          const info = new Float64Array([7]);
          const ll = run(R, S, n, G, info);
          expect(ll).toBeCloseTo(expected, 9);
          for (let i = 0; i < n * k; i++) expect(R[i]).toBeCloseTo(post[i], 13);
          if (normalised) {
            expect(info[0]).toBe(7); // no gate state from normalised log-weights
          } else {
            for (let i = 0; i < n * k; i++) expect(G[i]).toBeCloseTo(pi[i], 13);
            // with inactive experts the unrolled kernel may give NaN (then the gate ignores it)
            if (k === 4 || Number.isFinite(info[0])) expect(info[0]).toBeCloseTo(qg, 8);
          }
        }
      });
    }
  }

  it('returns −Infinity when a row has zero likelihood', () => {
    const R = new Float64Array([0, -Infinity, -Infinity, -1, -2, -3]);
    const S = new Float64Array([-Infinity, 0, 0, 0, 0, 0]);
    const G = new Float64Array(6);
    const info = new Float64Array(1);
    expect(combineKernel(3, false)(R.slice(), S, 2, G, info)).toBe(-Infinity);
    expect(combineLoop(R.slice(), S, 2, 3, false)).toBe(-Infinity);
  });
});
