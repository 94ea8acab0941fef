import { describe, it, expect } from 'vitest';
import { levenbergMarquardt, type LeastSquaresProblem } from '../../src/numeric/lm.js';
import { lbfgs } from '../../src/numeric/lbfgs.js';

/** f_t(θ) = θ0·exp(−θ1·t) + θ2 on t = 0, 0.1, …; J and the gradient analytic. */
function expDecay(y: Float64Array, withGradient: boolean): LeastSquaresProblem {
  const n = y.length;
  const tAt = (i: number): number => i / 10;
  const value = (th: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (y[i] - th[0] * Math.exp(-th[1] * tAt(i)) - th[2]) ** 2;
    return s;
  };
  const problem: LeastSquaresProblem = {
    p: 3,
    n,
    value,
    normal: (th, JtJ, Jte) => {
      JtJ.fill(0);
      Jte.fill(0);
      const J = [0, 0, 0];
      for (let i = 0; i < n; i++) {
        const ex = Math.exp(-th[1] * tAt(i));
        const e = y[i] - th[0] * ex - th[2];
        J[0] = ex; J[1] = -th[0] * tAt(i) * ex; J[2] = 1;
        for (let a = 0; a < 3; a++) {
          Jte[a] += J[a] * e;
          for (let b = 0; b < 3; b++) JtJ[a * 3 + b] += J[a] * J[b];
        }
      }
      return value(th);
    },
  };
  if (withGradient) {
    problem.gradient = (th, g) => {
      const JtJ = new Float64Array(9);
      const Jte = new Float64Array(3);
      const s = problem.normal(th, JtJ, Jte);
      for (let a = 0; a < 3; a++) g[a] = -2 * Jte[a];
      return s;
    };
  }
  return problem;
}

describe('levenbergMarquardt', () => {
  it('zero-residual exponential fit: recovers the parameters to 1e-9 in few iterations', () => {
    const y = Float64Array.from({ length: 40 }, (_, i) => 2.5 * Math.exp(-1.3 * (i / 10)) + 0.7);
    const r = levenbergMarquardt(expDecay(y, false), Float64Array.from([1, 0.5, 0]), { gtol: 1e-14 });
    expect(r.converged).toBe(true);
    expect(r.reason).toBe('gtol');
    expect(r.x[0]).toBeCloseTo(2.5, 9);
    expect(r.x[1]).toBeCloseTo(1.3, 9);
    expect(r.x[2]).toBeCloseTo(0.7, 9);
    expect(r.f).toBeLessThan(1e-18);
    expect(r.iterations).toBeLessThan(40);
  });

  it('large residuals: converges to the gradient test, to the same minimum as L-BFGS, never above it', () => {
    // y far from the model family (alternating ±1 added): a large-residual problem
    const y = Float64Array.from({ length: 60 }, (_, i) => 2 * Math.exp(-0.8 * (i / 10)) + (i % 2 === 0 ? 1 : -1) * 0.9 + 0.1 * Math.sin(i));
    for (const withGradient of [false, true]) {
      const problem = expDecay(y, withGradient);
      const r = levenbergMarquardt(problem, Float64Array.from([0.5, 3, 1]), { gtol: 1e-12 });
      expect(r.converged).toBe(true);
      // the gradient of S/n at the returned point is ≈ 0, recomputed here
      const JtJ = new Float64Array(9);
      const Jte = new Float64Array(3);
      const s = problem.normal(r.x, JtJ, Jte);
      expect(s).toBe(r.f);
      for (let a = 0; a < 3; a++) expect(Math.abs((2 * Jte[a]) / y.length)).toBeLessThan(1e-11);
      const ref = lbfgs((x, g) => {
        const v = problem.normal(x, JtJ, Jte);
        for (let a = 0; a < 3; a++) g[a] = -2 * Jte[a];
        return v;
      }, Float64Array.from([0.5, 3, 1]), { gtol: 1e-12, maxIter: 5000 });
      expect(r.f).toBeLessThanOrEqual(ref.f * (1 + 1e-12));
      expect(Math.abs(r.f - ref.f) / ref.f).toBeLessThan(1e-9);
    }
  });

  it('ill-conditioned large-residual problem: the Newton phase takes over when Gauss–Newton crawls', () => {
    // f_t = θ0 exp(−θ1 t) + θ2 exp(−θ3 t) with nearly equal rates: JᵀJ nearly singular
    const n = 80;
    const tAt = (i: number): number => i / 16;
    const y = Float64Array.from({ length: n }, (_, i) => Math.exp(-tAt(i)) + Math.exp(-1.05 * tAt(i)) + 0.3 * Math.cos(3 * i));
    const fAt = (th: Float64Array, i: number): number => th[0] * Math.exp(-th[1] * tAt(i)) + th[2] * Math.exp(-th[3] * tAt(i));
    const value = (th: Float64Array): number => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (y[i] - fAt(th, i)) ** 2;
      return s;
    };
    const normal = (th: Float64Array, JtJ: Float64Array, Jte: Float64Array): number => {
      JtJ.fill(0);
      Jte.fill(0);
      for (let i = 0; i < n; i++) {
        const t = tAt(i);
        const e1 = Math.exp(-th[1] * t);
        const e2 = Math.exp(-th[3] * t);
        const J = [e1, -th[0] * t * e1, e2, -th[2] * t * e2];
        const e = y[i] - fAt(th, i);
        for (let a = 0; a < 4; a++) {
          Jte[a] += J[a] * e;
          for (let b = 0; b < 4; b++) JtJ[a * 4 + b] += J[a] * J[b];
        }
      }
      return value(th);
    };
    const JtJ = new Float64Array(16);
    const Jte = new Float64Array(4);
    const problem: LeastSquaresProblem = {
      p: 4, n, value, normal,
      gradient: (th, g) => {
        const s = normal(th, JtJ, Jte);
        for (let a = 0; a < 4; a++) g[a] = -2 * Jte[a];
        return s;
      },
    };
    const x0 = Float64Array.from([1.5, 0.5, 0.5, 2]);
    const r = levenbergMarquardt(problem, x0, { gtol: 1e-13, maxIter: 3000 });
    expect(r.newtonIterations).toBeGreaterThan(0);
    expect(r.converged).toBe(true);
    // plain Levenberg–Marquardt (no learnt term, no Newton phase) reaches the same minimum
    const gn = levenbergMarquardt(problem, x0, { gtol: 1e-13, maxIter: 3000, secondOrder: false, newtonWindow: 0 });
    expect(gn.newtonIterations).toBe(0);
    expect(Math.abs(gn.f - r.f) / r.f).toBeLessThan(1e-9);
    expect(r.f).toBeLessThan(value(x0));
    const s = normal(r.x, JtJ, Jte);
    expect(s).toBe(r.f);
    for (let a = 0; a < 4; a++) expect(Math.abs((2 * Jte[a]) / n)).toBeLessThan(1e-12);
  });

  it('returns nonFinite for an infeasible start and stops at maxIter', () => {
    const y = Float64Array.from({ length: 10 }, (_, i) => i);
    const bad = levenbergMarquardt(expDecay(y, false), Float64Array.from([NaN, 0, 0]));
    expect(bad.reason).toBe('nonFinite');
    expect(bad.converged).toBe(false);
    const capped = levenbergMarquardt(expDecay(Float64Array.from({ length: 40 }, (_, i) => 2.5 * Math.exp(-1.3 * (i / 10))), false), Float64Array.from([1, 0.5, 0]), { maxIter: 2, gtol: 0 });
    expect(capped.steps).toBe(2);
    expect(capped.iterations).toBeLessThanOrEqual(2);
    expect(capped.reason).toBe('maxIter');
  });
});
