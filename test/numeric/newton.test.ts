import { describe, it, expect } from 'vitest';
import { MARQUARDT_FINAL_NEWTON, MARQUARDT_NEWTON, NewtonMaximizer, RIDGE_NEWTON, type NewtonProblem } from '../../src/numeric/newton.js';
import { Rng } from '../../src/numeric/rng.js';
import { fitEM } from '../../src/estimate/em.js';
import { parseGateSpec } from '../../src/gates/registry.js';
import { parseExpertSpec } from '../../src/experts/registry.js';

/** Q(θ) = −½ (θ − c)ᵀ A (θ − c) with A = diag(a) + ρ·11ᵀ (concave). */
function quadratic(c: number[], a: number[], rho = 0.3): NewtonProblem {
  const p = c.length;
  return {
    nParams: p,
    pass(theta, g, NH) {
      let q = 0;
      for (let i = 0; i < p; i++) {
        let Ad = 0;
        for (let j = 0; j < p; j++) {
          const Aij = (i === j ? a[i] : 0) + rho;
          NH[i * p + j] = Aij;
          Ad += Aij * (theta[j] - c[j]);
        }
        g[i] = -Ad;
        q -= 0.5 * (theta[i] - c[i]) * Ad;
      }
      return q;
    },
  };
}


/** Q = −w(e^θ − θ) (1-D, maximum at θ = 0, quadratic Newton convergence); onPass counts the passes. */
function expMinusLinear(w: number, onPass: () => void): NewtonProblem {
  return {
    nParams: 1,
    pass: (t, g, NH) => {
      onPass();
      const e = Math.exp(t[0]);
      g[0] = -w * (e - 1);
      NH[0] = w * e;
      return -w * (e - t[0]);
    },
  };
}

describe('the damped Newton maximiser (numeric/newton.ts)', () => {
  it.each([['marquardt', MARQUARDT_NEWTON], ['ridge', RIDGE_NEWTON]] as const)('%s: one exact step to the maximum of a concave quadratic', (_name, settings) => {
    const c = [1.5, -2, 0.25];
    const theta = Float64Array.of(0, 0, 0);
    const r = new NewtonMaximizer(3, settings).run(quadratic(c, [2, 1, 4]), theta, { maxIter: 50, tol: 1e-12 });
    expect(r.converged).toBe(true);
    expect(r.iterations).toBe(1);
    for (let i = 0; i < 3; i++) expect(theta[i]).toBeCloseTo(c[i], 13);
    expect(Math.abs(r.objective)).toBeLessThan(1e-24);
  });

  it('ridge: a gain below the rounding of Q ends the line search (tiny tol: no halving on noise)', () => {
    // Q = 1e6 − (θ − 1)² with rounding-level noise (1e-9 below the true value everywhere but at
    // the start): every trial point looks worse, as a sum over 1e5 rows does at tol 1e-20
    const start = 1 + 1e-6;
    let passes = 0;
    const problem: NewtonProblem = {
      nParams: 1,
      pass(theta, g, NH) {
        passes++;
        const e = theta[0] - 1;
        g[0] = -2 * e;
        NH[0] = 2;
        return 1e6 - e * e - (theta[0] === start ? 0 : 1e-9);
      },
    };
    const theta = Float64Array.of(start);
    const r = new NewtonMaximizer(1, RIDGE_NEWTON).run(problem, theta, { maxIter: 50, tol: 1e-30 });
    expect(passes).toBe(1); // was 1 + 40 halvings
    expect(r.converged).toBe(true);
    expect(r.objective).toBeGreaterThanOrEqual(1e6 - 1e-12);
    // it still takes its last solved step (predicted gain 1e-12, deep in the quadratic region)
    expect(theta[0]).toBeCloseTo(1, 14);
  });

  it('with a box: the coordinates whose maximum lies outside are held at the bound, the others solved', () => {
    // diagonal A: the box maximum is the clipped unconstrained one
    const theta = Float64Array.of(0, 0, 0);
    const r = new NewtonMaximizer(3, RIDGE_NEWTON).run(quadratic([3, -0.5, -7], [1, 2, 3], 0), theta, { maxIter: 50, tol: 1e-14, bound: 2 });
    expect(r.converged).toBe(true);
    expect([...theta]).toEqual([2, expect.closeTo(-0.5, 13), -2]);
    // a start outside the box is clipped into it first
    const t2 = Float64Array.of(10, 10, 10);
    new NewtonMaximizer(3, MARQUARDT_NEWTON).run(quadratic([3, -0.5, -7], [1, 2, 3], 0), t2, { maxIter: 50, tol: 1e-14, bound: 2 });
    expect(t2[0]).toBe(2);
    expect(t2[2]).toBe(-2);
  });

  it('marquardt: ascends a non-concave objective monotonically to a local maximum', () => {
    // Q(θ) = −θ⁴ + θ² − 0.1θ: −Q″ < 0 near 0 (Newton alone would descend); maxima near ±1/√2
    const values: number[] = [];
    const problem: NewtonProblem = {
      nParams: 1,
      pass(theta, g, NH) {
        const x = theta[0];
        g[0] = -4 * x ** 3 + 2 * x - 0.1;
        NH[0] = 12 * x * x - 2;
        const q = -(x ** 4) + x * x - 0.1 * x;
        values.push(q);
        return q;
      },
    };
    const theta = Float64Array.of(0.05);
    const r = new NewtonMaximizer(1, MARQUARDT_NEWTON).run(problem, theta, { maxIter: 100, tol: 1e-14 });
    expect(r.converged).toBe(true);
    expect(Math.abs(-4 * theta[0] ** 3 + 2 * theta[0] - 0.1)).toBeLessThan(1e-7);
    expect(12 * theta[0] ** 2 - 2).toBeGreaterThan(0); // a maximum, not the saddle/minimum
    expect(r.objective).toBeGreaterThanOrEqual(values[0]);
  });

  it('reports no convergence when the start is outside the domain', () => {
    const r = new NewtonMaximizer(1).run({ nParams: 1, pass: () => -Infinity }, Float64Array.of(0), { maxIter: 10, tol: 1e-8 });
    expect(r).toEqual({ iterations: 0, objective: -Infinity, converged: false });
  });

  it('ridge: a long final step along a flat direction is taken only if a trial pass does not lower Q', () => {
    // Q = −c·√(1 + θ²), concave; at θ = 10 the Newton step is −θ(1 + θ²) = −1010 (to θ = −1000, a lower Q)
    // while its predicted gain ½gᵀH⁻¹g ≈ c·500 is below tol: the last step must not be taken blindly
    const c = 1e-16;
    let passes = 0;
    const problem: NewtonProblem = {
      nParams: 1,
      pass: (t, g, NH) => {
        passes++;
        const r = Math.sqrt(1 + t[0] * t[0]);
        g[0] = (-c * t[0]) / r;
        NH[0] = c / (r * r * r);
        return -c * r;
      },
    };
    const theta = Float64Array.of(10);
    const r = new NewtonMaximizer(1, RIDGE_NEWTON).run(problem, theta, { maxIter: 50, tol: 1e-12 });
    expect(theta[0]).toBe(10);
    expect(r.objective).toBe(-c * Math.sqrt(101));
    expect(passes).toBe(2); // the start and the rejected trial
    // a short final step is still taken without a trial (the quadratic case above)
    passes = 0;
    const q = quadratic([1, 2], [1, 1]);
    const counted: NewtonProblem = { nParams: 2, pass: (t, g, NH) => { passes++; return q.pass(t, g, NH); } };
    const t2 = Float64Array.of(1 + 1e-7, 2 - 1e-7);
    new NewtonMaximizer(2, RIDGE_NEWTON).run(counted, t2, { maxIter: 10, tol: 1e-12 });
    expect(passes).toBe(1);
    expect(t2[0]).toBeCloseTo(1, 12);
  });

  it('ridge: the quadratic-convergence stop saves the pass that only confirms the tolerance, at the same accuracy', () => {
    // Q = −w(e^θ − θ), maximum at θ = 0; Newton θ ← θ − 1 + e^{−θ} converges quadratically (θ₀ = 0.5:
    // 0.107, 5.4e-3, 1.5e-5, 1.1e-10), relative decrements r = (e^θ − 1)²e^{−θ}/(e^θ − θ) ≈ θ²
    const w = 1e4;
    let passes = 0;
    const problem = expMinusLinear(w, () => passes++);
    const tol = 1e-12;
    // the passes the plain rule needs: until r ≤ 2·tol
    let th = 0.5;
    let plain = 1;
    for (; ; plain++) {
      const e = Math.exp(th);
      if (((e - 1) ** 2 / e) / (e - th) <= 2 * tol) break;
      th = th - 1 + 1 / e;
    }
    expect(plain).toBe(5);
    const theta = Float64Array.of(0.5);
    const r = new NewtonMaximizer(1, RIDGE_NEWTON).run(problem, theta, { maxIter: 50, tol });
    expect(r.converged).toBe(true);
    expect(passes).toBe(plain - 1); // r₃ ≈ 2e-10 after r₂ ≈ 3e-5: C ≈ 0.25, 16·C·r₃² ≈ 2e-19 ≤ 2·tol; the final step needs no pass
    expect(Math.abs(theta[0])).toBeLessThan(1e-9); // the final step from θ₃ lands at θ₄ ≈ 1e-10
    expect(Math.abs(r.objective + w)).toBeLessThanOrEqual(tol * w);
  });

  it('carryQuadratic: C learnt by one run stops the next run\'s single step before its trial pass (marquardt with the final step)', () => {
    // the same objective, a second run from a start one step from the maximum: without a carried C it needs
    // the trial pass that confirms the tolerance, with it none (the step is taken as the final step)
    const w = 1e4;
    let passes = 0;
    const problem = expMinusLinear(w, () => passes++);
    const tol = 1e-12;
    const counts: number[] = [];
    for (const settings of [MARQUARDT_NEWTON, MARQUARDT_FINAL_NEWTON]) {
      const newton = new NewtonMaximizer(1, settings);
      newton.run(problem, Float64Array.of(0.5), { maxIter: 50, tol }); // learns C
      passes = 0;
      const theta = Float64Array.of(2e-5); // r ≈ 4e-10: 16·C·r² ≈ 6e-19 ≤ 2·tol, but r > 2·tol
      const r = newton.run(problem, theta, { maxIter: 50, tol });
      expect(r.converged).toBe(true);
      expect(r.objective).toBeGreaterThanOrEqual(-w * (Math.exp(2e-5) - 2e-5));
      expect(Math.abs(theta[0])).toBeLessThan(1e-9);
      counts.push(passes);
    }
    expect(counts).toEqual([2, 1]); // start + trial vs start only
  });

  it('uses firstPass (a warm start that already knows the Newton system) for the first system only', () => {
    const base = quadratic([1, 2], [1, 1]);
    let first = 0;
    const problem: NewtonProblem = { nParams: 2, pass: (t, g, NH) => base.pass(t, g, NH), firstPass: (t, g, NH) => { first++; return base.pass(t, g, NH); } };
    const theta = Float64Array.of(0, 0);
    new NewtonMaximizer(2, RIDGE_NEWTON).run(problem, theta, { maxIter: 10, tol: 1e-12 });
    expect(first).toBe(1);
    expect(theta[1]).toBeCloseTo(2, 12);
  });

  it('gradientPass: the trial of a step whose decrement is near tol takes Q and ∇Q only, keeps −∇²Q, and ends at the same maximum', () => {
    // Q(θ) = Σᵢ wᵢθᵢ − log(1 + e^{θᵢ}) − ρ(θ₀ − θ₁)²: smooth, concave, bounded, with a non-constant Hessian
    const w = [0.3, 0.8];
    const rho = 0.05;
    const full = (t: Float64Array, g: Float64Array, NH: Float64Array | null): number => {
      let q = -rho * (t[0] - t[1]) ** 2;
      for (let i = 0; i < 2; i++) {
        const s = 1 / (1 + Math.exp(-t[i]));
        q += w[i] * t[i] - Math.log1p(Math.exp(t[i]));
        g[i] = w[i] - s - 2 * rho * (t[i] - t[1 - i]);
        if (NH) { NH[i * 2 + i] = s * (1 - s) + 2 * rho; NH[i * 2 + 1 - i] = -2 * rho; }
      }
      return q;
    };
    const counts = { full: 0, cheap: 0 };
    const values: number[] = [];
    const withCheap: NewtonProblem = {
      nParams: 2,
      pass: (t, g, NH) => { counts.full++; const q = full(t, g, NH); values.push(q); return q; },
      gradientPass: (t, g) => { counts.cheap++; const q = full(t, g, null); values.push(q); return q; },
    };
    const plain: NewtonProblem = { nParams: 2, pass: (t, g, NH) => full(t, g, NH) };
    for (const settings of [MARQUARDT_NEWTON, RIDGE_NEWTON]) {
      counts.full = counts.cheap = 0;
      values.length = 0;
      const a = Float64Array.of(2, -1);
      const b = Float64Array.of(2, -1);
      const ra = new NewtonMaximizer(2, settings).run(withCheap, a, { maxIter: 50, tol: 1e-10 });
      const rb = new NewtonMaximizer(2, settings).run(plain, b, { maxIter: 50, tol: 1e-10 });
      expect(ra.converged).toBe(true);
      expect(counts).toEqual({ full: 4, cheap: 1 }); // the start and three trials far from the maximum, the last by Q and ∇Q
      for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
      expect(Math.abs(ra.objective - rb.objective)).toBeLessThan(1e-13 * Math.abs(rb.objective));
      for (let i = 0; i < 2; i++) expect(a[i]).toBeCloseTo(b[i], 6);
    }
    // a cheap trial whose next decrement (from the stale −∇²Q) is not below tol is followed by a full
    // one: no chord steps in a row (they can crawl). Q = −e^{10θ} − e^{−θ}, curvature varying fast
    const seq: string[] = [];
    const steep = (t: Float64Array, g: Float64Array, NH: Float64Array | null): number => {
      const x = t[0];
      g[0] = -10 * Math.exp(10 * x) + Math.exp(-x);
      if (NH) NH[0] = 100 * Math.exp(10 * x) + Math.exp(-x);
      return -Math.exp(10 * x) - Math.exp(-x);
    };
    const steepProblem: NewtonProblem = { nParams: 1, pass: (t, g, NH) => { seq.push('F'); return steep(t, g, NH); }, gradientPass: (t, g) => { seq.push('c'); return steep(t, g, null); } };
    const x = Float64Array.of(3);
    const rs = new NewtonMaximizer(1, MARQUARDT_NEWTON).run(steepProblem, x, { maxIter: 50, tol: 1e-6 });
    expect(rs.converged).toBe(true);
    expect(seq.join('').endsWith('cF')).toBe(true);
    expect(seq.join('')).not.toContain('cc');
    expect(x[0]).toBeCloseTo(-Math.log(10) / 11, 4);
    // in a box the trials stay full (the held coordinates change −∇²Q)
    counts.full = counts.cheap = 0;
    new NewtonMaximizer(2, MARQUARDT_NEWTON).run(withCheap, Float64Array.of(2, -1), { maxIter: 50, tol: 1e-10, bound: 10 });
    expect(counts.cheap).toBe(0);
  });
});

/** The fixed-seed data of the pinned fits (notes: /work/notes/i10/s4/pin-cases.mts). */
function pinData(n: number, d: number, seed: number, classes: boolean) {
  const rng = new Rng(seed);
  const X = new Float64Array(n * d);
  const y = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let u = 0; u < d; u++) { const x = 2 * rng.uniform() - 1; X[t * d + u] = x; s += x * (u + 1); }
    const z = rng.uniform() < 1 / (1 + Math.exp(-3 * s)) ? 1 : 0;
    y[t] = classes ? Math.min(2, Math.max(0, Math.floor((z ? 1.2 : 0.2) + s + rng.uniform()))) : (z ? 2 + 1.5 * s : -1 - s) + 0.5 * rng.normal();
  }
  return { X, y, n, d };
}

describe('one maximiser for the softmax core and the gates: fits unchanged by the merge', () => {
  // log-likelihood, EM iterations and θ₀ of fits with the two former Newton loops (gates/newton.ts
  // and LinearSoftmaxCore.mStep, main at 18e20dd); the shared maximiser reproduces them exactly.
  // The activation and multinomial fits are standardised since ed0bc40 (another EM path): pinned unstandardised
  // Re-pinned with the quadratic-convergence stop of the ridge maximiser (s8, numeric/newton.ts): the
  // M-steps stop one Newton pass earlier at the same tolerance, so EM takes a path that differs in the
  // last digits: k=3 d=2 ℓ +3.2e-9 (−481.4673878880933, 133 evaluations before), top-K (capped, not
  // converged) ℓ −1.3e-9 (−531.7898258425404), multinomial ℓ +2.3e-10 in 87 evaluations instead of 147.
  const PINNED: [string, string, number, number, Record<string, unknown>, number, number, number][] = [
    ['softmax', 'gaussian', 3, 2, {}, -481.46738789129824, 132, -0.21416240687734656],
    ['softmax', 'gaussian', 3, 1, { gateBound: 1.5 }, -577.3605870600777, 85, 0.5349931576439482],
    ['topk:2', 'gaussian', 3, 2, { maxIter: 60 }, -531.7898258411919, 35, -0.16803416451968278],
    // the activation gate's one-pass kernels (gates/activation-kernels.ts) agree with the block-wise loops to 1e-15,
    // but this fit's early damped-Newton M-steps amplify rounding: the same maximum (ℓ to 1e-14), 22 EM evaluations instead of 28
    // (also with the value-and-gradient trials near the end of an M-step, numeric/newton.ts gradientPass); with the
    // final step and the carried quadratic-convergence stop (MARQUARDT_FINAL_NEWTON) 19, ℓ 1.7e-14 higher, θ₀ 2e-7 away
    ['activation:tanh', 'gaussian', 2, 1, { maxIter: 60, standardize: false }, -566.271825175327, 19, -0.04439900642097501],
    // quasi-separated data (expert coefficients run off to 1e4…1e12): until the guarded final Newton step
    // (numeric/newton.ts finalStep) a blind last step moved a coefficient from −4e3 to 2e7, EM's ℓ fell from
    // −297.47 to −1.5e6 and the fit ended at −301.773899 (142 evaluations); now the trace is monotone and ends higher
    ['softmax', 'multinomial:3', 2, 1, { standardize: false }, -297.46655304443624, 87, 1.0025756290282597],
  ];
  it.each(PINNED)('%s gate, %s experts, k=%i, d=%i, %o', (g, e, k, d, o, ll, iterations, theta0) => {
    const r = fitEM({ gate: parseGateSpec(g), experts: parseExpertSpec(e), k, d }, pinData(500, d, 5 + k + d, e.startsWith('multi')), { init: { type: 'kmeans++' }, seed: 3, ...o });
    expect(Math.abs(r.logLikelihood - ll) / Math.abs(ll)).toBeLessThan(1e-12);
    expect(r.iterations).toBe(iterations);
    for (let t = 1; t < r.trace.length; t++) expect(r.trace[t]).toBeGreaterThanOrEqual(r.trace[t - 1] - 1e-12 * Math.abs(r.trace[t - 1]));
    // θ₀ of the capped (maxIter 60) activation fit sits on a flat ridge of ℓ: later last-digit changes move it by ~4e-8
    expect(Math.abs(r.model.theta[0] - theta0)).toBeLessThan(g.startsWith('activation') ? 1e-6 : 1e-9);
  });
});
