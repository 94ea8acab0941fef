import { describe, it, expect } from 'vitest';
import { scaledNorm, solveDamped, trustRegionStep, updateRadius, type DampedSystem } from '../../src/numeric/lm-trust.js';

function system(A: number[], D: number[], b: number[]): DampedSystem {
  const p = b.length;
  return { p, nb: 0, held: new Uint8Array(p), anyHeld: false, A: Float64Array.from(A), D: Float64Array.from(D), b: Float64Array.from(b), M: new Float64Array(p * p), h: new Float64Array(p) };
}

/** ‖(A + μD)h − b‖∞ */
function residual(w: DampedSystem, mu: number): number {
  let r = 0;
  for (let i = 0; i < w.p; i++) {
    let v = mu * w.D[i] * w.h[i] - w.b[i];
    for (let j = 0; j < w.p; j++) v += w.A[i * w.p + j] * w.h[j];
    r = Math.max(r, Math.abs(v));
  }
  return r;
}

describe('trust-region damped step (lm-trust.ts)', () => {
  it('positive definite A, a large radius: the Newton step (μ = 0)', () => {
    const w = system([4, 1, 1, 3], [1, 2], [1, 2]);
    expect(trustRegionStep(w, 10)).toBe(0);
    // A h = b: h = (1/11, 7/11)
    expect(w.h[0]).toBeCloseTo(1 / 11, 14);
    expect(w.h[1]).toBeCloseTo(7 / 11, 14);
  });

  it('a small radius: μ > 0 with (A + μD)h = b and 0.9Δ ≤ ‖D^½h‖ ≤ Δ', () => {
    const w = system([4, 1, 1, 3], [1, 2], [1, 2]);
    const delta = 0.1;
    const mu = trustRegionStep(w, delta);
    expect(mu).toBeGreaterThan(0);
    const len = scaledNorm(w.D, w.h);
    expect(len).toBeLessThanOrEqual(delta);
    expect(len).toBeGreaterThanOrEqual(0.9 * delta);
    expect(residual(w, mu)).toBeLessThan(1e-12);
  });

  it('indefinite A (eigenvalue −1 along e₂): μ above the smallest positive-definite damping, the step along the negative curvature bounded by Δ', () => {
    const w = system([2, 0, 0, -1], [1, 1], [0.5, 0.5]);
    expect(solveDamped(w, 0)).toBe(false);
    const delta = 1;
    const mu = trustRegionStep(w, delta);
    expect(mu).toBeGreaterThan(1);
    const len = scaledNorm(w.D, w.h);
    expect(len).toBeLessThanOrEqual(delta);
    expect(len).toBeGreaterThanOrEqual(0.9 * delta);
    expect(residual(w, mu)).toBeLessThan(1e-12);
    expect(Math.abs(w.h[1])).toBeGreaterThan(Math.abs(w.h[0])); // the negative-curvature direction dominates
  });

  it('radius update: grows after a good step at the boundary, shrinks after a poor or rejected one', () => {
    expect(updateRadius(1, 0.95, 0.9, true)).toBe(1.5);
    expect(updateRadius(1, 0.5, 0.9, true)).toBe(1); // inside the region: unchanged
    expect(updateRadius(1, 0.95, 0.1, true)).toBeCloseTo(0.475, 15);
    expect(updateRadius(1, 0.95, -3, false)).toBeCloseTo(0.285, 15);
  });
});
