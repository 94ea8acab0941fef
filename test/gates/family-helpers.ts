/**
 * Shared checks for the gate family tests (top-K, temperature, activation, modified, hierarchical):
 * finite-difference gradients, M-step optimality, normalisation, seeded sampling (chi-square),
 * EM monotonicity and parameter recovery with asymptotic standard errors.
 */
import { expect } from 'vitest';
import type { Gate } from '../../src/gates/gate.js';
import type { NewtonProblem } from '../../src/numeric/newton.js';
import { Rng } from '../../src/numeric/rng.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { sampleX, type Dataset, type XDesign } from '../../src/model/data.js';
import { fitEM, runEM, logLikelihoodGradient, EMWorkspace } from '../../src/estimate/em.js';
import { initialise } from '../../src/estimate/init.js';
import { choleskyInPlace, choleskySolveInPlace } from '../../src/numeric/linalg.js';

export function uniformX(n: number, d: number, rng: Rng, low = -1, high = 1): Float64Array {
  const X = new Float64Array(n * d);
  for (let i = 0; i < n * d; i++) X[i] = low + (high - low) * rng.uniform();
  return X;
}

import { fdGradient as fdGrad, relMaxDiff as relErr } from '../helpers.js';

export { fdGrad, relErr };

/** Q_W(θ) = Σ_t Σ_i W_ti log π_i(x_t; θ) over the entries with finite log-weight (active experts). */
export function weightedLogWeights(gate: Gate, theta: Float64Array, X: Float64Array, n: number, W: Float64Array): number {
  const lw = new Float64Array(n * gate.k);
  gate.logWeights(theta, X, n, lw);
  let s = 0;
  for (let i = 0; i < n * gate.k; i++) if (lw[i] > -Infinity) s += W[i] * lw[i];
  return s;
}

/** Every row of exp(logWeights) sums to 1; returns the number of non-zero weights per row. */
export function checkNormalised(gate: Gate, theta: Float64Array, X: Float64Array, n: number): Int32Array {
  const k = gate.k;
  const lw = new Float64Array(n * k);
  gate.logWeights(theta, X, n, lw);
  const nz = new Int32Array(n);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let i = 0; i < k; i++) {
      const w = Math.exp(lw[t * k + i]);
      expect(Number.isNaN(lw[t * k + i])).toBe(false);
      s += w;
      if (lw[t * k + i] > -Infinity) nz[t]++;
    }
    expect(Math.abs(s - 1)).toBeLessThan(1e-13);
  }
  return nz;
}

/** gradQ against finite differences of Q_W for random signed W; rowGradQ rows sum to gradQ. */
export function checkGradQ(gate: Gate, theta: Float64Array, X: Float64Array, n: number, rng: Rng, tol = 1e-7): void {
  const k = gate.k;
  const W = new Float64Array(n * k);
  for (let i = 0; i < n * k; i++) W[i] = 2 * rng.uniform() - 1;
  const g = new Float64Array(gate.nParams);
  gate.gradQ(theta, X, n, W, g);
  const fd = fdGrad((th) => weightedLogWeights(gate, th, X, n, W), theta);
  expect(relErr(g, fd)).toBeLessThan(tol);
  if (gate.rowGradQ) {
    const p = gate.nParams;
    const rows = new Float64Array(n * p).fill(NaN);
    gate.rowGradQ(theta, X, n, W, rows);
    const sum = new Float64Array(p);
    for (let t = 0; t < n; t++) for (let j = 0; j < p; j++) sum[j] += rows[t * p + j];
    expect(relErr(sum, g)).toBeLessThan(1e-11);
  }
}

/** Responsibilities-like weights: the gate's weights at θ times random positive factors, normalised (zero where inactive). */
export function softTargets(gate: Gate, theta: Float64Array, X: Float64Array, n: number, rng: Rng): Float64Array {
  const k = gate.k;
  const R = new Float64Array(n * k);
  gate.logWeights(theta, X, n, R);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let i = 0; i < k; i++) {
      R[t * k + i] = Math.exp(R[t * k + i]) * (0.2 + 1.6 * rng.uniform());
      s += R[t * k + i];
    }
    for (let i = 0; i < k; i++) R[t * k + i] /= s;
  }
  return R;
}

/**
 * M-step from theta0 with weights R: Q does not decrease, the reported objective is Q(θ̂), the
 * gradient of Q (checked against finite differences at θ0) vanishes at θ̂, and θ̂ is a local maximum
 * (Q lower at small random perturbations). Returns θ̂.
 */
export function checkMStep(gate: Gate, theta0: Float64Array, X: Float64Array, n: number, R: Float64Array, rng: Rng): Float64Array {
  const Q = (th: Float64Array): number => weightedLogWeights(gate, th, X, n, R);
  const g0 = new Float64Array(gate.nParams);
  gate.gradQ(theta0, X, n, R, g0);
  expect(relErr(g0, fdGrad(Q, theta0))).toBeLessThan(1e-7);
  const q0 = Q(theta0);
  const theta = theta0.slice();
  const info = gate.mStep(theta, X, n, R, { maxIter: 100, tol: 1e-14 });
  const q1 = Q(theta);
  expect(q1).toBeGreaterThanOrEqual(q0);
  expect(Math.abs(info.objective - q1)).toBeLessThan(1e-9 * Math.max(1, Math.abs(q1)));
  expect(info.converged).toBe(true);
  const g = new Float64Array(gate.nParams);
  gate.gradQ(theta, X, n, R, g);
  for (let i = 0; i < g.length; i++) expect(Math.abs(g[i]) / n).toBeLessThan(1e-7);
  const th = theta.slice();
  for (let r = 0; r < 10; r++) {
    for (let i = 0; i < th.length; i++) th[i] = theta[i] + 1e-3 * rng.normal();
    expect(Q(th)).toBeLessThanOrEqual(q1 + 1e-9 * Math.abs(q1));
  }
  // idempotent: a second M-step from the optimum stays there
  const again = theta.slice();
  gate.mStep(again, X, n, R, { maxIter: 100, tol: 1e-14 });
  expect(relErr(again, theta)).toBeLessThan(1e-6);
  return theta;
}

/** The exact −∇²Q of a NewtonProblem against finite differences of its gradient. */
export function checkNewtonHessian(problem: NewtonProblem, theta: Float64Array, tol = 1e-6): void {
  const p = problem.nParams;
  const g = new Float64Array(p);
  const NH = new Float64Array(p * p);
  problem.pass(theta, g, NH);
  const gp = new Float64Array(p);
  const gm = new Float64Array(p);
  const scratch = new Float64Array(p * p);
  const th = theta.slice();
  let scale = 1;
  for (let i = 0; i < p * p; i++) scale = Math.max(scale, Math.abs(NH[i]));
  for (let j = 0; j < p; j++) {
    const h = 1e-5 * Math.max(1, Math.abs(theta[j]));
    th[j] = theta[j] + h;
    problem.pass(th, gp, scratch);
    th[j] = theta[j] - h;
    problem.pass(th, gm, scratch);
    th[j] = theta[j];
    for (let i = 0; i < p; i++) {
      const fd = -(gp[i] - gm[i]) / (2 * h);
      expect(Math.abs(fd - NH[i * p + j]) / scale).toBeLessThan(tol);
    }
  }
}

/**
 * Chi-square goodness of fit of 1e5 seeded draws of the expert index at one input x0 (through
 * MixtureOfExperts.sample) against the gate's weights; experts with weight 0 must never be drawn.
 * Critical value: the 1 − 1e-4 quantile of χ²_df.
 */
const CHI2_9999: Record<number, number> = { 1: 15.137, 2: 18.421, 3: 21.108, 4: 23.513, 5: 25.745, 6: 27.856, 7: 29.878, 8: 31.828, 9: 33.72, 10: 35.564, 11: 37.367 };
export function checkSampling(model: MixtureOfExperts, x0: number[], seed: number, draws = 100_000): { chi2: number; df: number } {
  const { k, d } = model;
  const X = new Float64Array(draws * d);
  for (let t = 0; t < draws; t++) for (let u = 0; u < d; u++) X[t * d + u] = x0[u];
  const { z } = model.sample(X, draws, new Rng(seed));
  const counts = new Float64Array(k);
  for (let t = 0; t < draws; t++) counts[z[t]]++;
  const p = model.gateProbabilities(Float64Array.from(x0), 1);
  let chi2 = 0;
  let df = -1;
  for (let i = 0; i < k; i++) {
    if (p[i] === 0) {
      expect(counts[i]).toBe(0);
      continue;
    }
    const e = draws * p[i];
    chi2 += (counts[i] - e) ** 2 / e;
    df++;
  }
  expect(df).toBeGreaterThanOrEqual(1);
  expect(chi2).toBeLessThan(CHI2_9999[df]);
  return { chi2, df };
}

export function simulateData(truthJson: ModelJSON, n: number, seed: number, design: XDesign): { truth: MixtureOfExperts; data: Dataset } {
  const truth = MixtureOfExperts.fromJSON(truthJson);
  const rng = new Rng(seed);
  const X = sampleX(design, n, truth.d, rng.split('x'));
  const { y } = truth.sample(X, n, rng.split('y'));
  return { truth, data: { X, y, n, d: truth.d } };
}

/** Plain EM (no acceleration, no finish) from θ0: the log-likelihood trace never decreases. */
export function checkEMMonotone(truthJson: ModelJSON, n: number, seed: number, design: XDesign, perturb: number, maxIter = 60): number[] {
  const { truth, data } = simulateData(truthJson, n, seed, design);
  const model = MixtureOfExperts.fromSpec(truth.spec());
  model.expert.prepare?.(data.X, data.y, data.n);
  const rng = new Rng(seed + 1);
  const theta0 = truth.theta.slice();
  for (let i = 0; i < theta0.length; i++) theta0[i] += perturb * rng.normal();
  const run = runEM(model, theta0, data, { accelerate: 'none', polish: false, maxIter, tol: 1e-12 });
  const trace = run.trace;
  expect(trace.length).toBeGreaterThan(5);
  for (let i = 1; i < trace.length; i++) expect(trace[i]).toBeGreaterThanOrEqual(trace[i - 1] - 1e-10 * Math.abs(trace[i - 1]));
  // EM actually moved (the start was perturbed)
  expect(trace[trace.length - 1]).toBeGreaterThan(trace[0]);
  return trace;
}

/**
 * Observed information −∇²ℓ(θ̂) by central differences of the analytic score (Fisher identity),
 * and the asymptotic standard errors sqrt(diag((−∇²ℓ)⁻¹)).
 */
export function standardErrors(model: MixtureOfExperts, theta: Float64Array, data: Dataset): Float64Array {
  const p = theta.length;
  const ws = new EMWorkspace(model, data.n);
  const gp = new Float64Array(p);
  const gm = new Float64Array(p);
  const J = new Float64Array(p * p);
  const th = theta.slice();
  for (let j = 0; j < p; j++) {
    const h = 1e-5 * Math.max(1, Math.abs(theta[j]));
    th[j] = theta[j] + h;
    logLikelihoodGradient(model, th, data, ws, gp);
    th[j] = theta[j] - h;
    logLikelihoodGradient(model, th, data, ws, gm);
    th[j] = theta[j];
    for (let i = 0; i < p; i++) J[i * p + j] = -(gp[i] - gm[i]) / (2 * h);
  }
  for (let i = 0; i < p; i++) for (let j = 0; j < i; j++) J[i * p + j] = J[j * p + i] = 0.5 * (J[i * p + j] + J[j * p + i]);
  expect(choleskyInPlace(J, p)).toBe(true); // θ̂ is a strict local maximum: identifiable parametrisation
  const se = new Float64Array(p);
  const e = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    e.fill(0);
    e[i] = 1;
    choleskySolveInPlace(J, p, e);
    se[i] = Math.sqrt(e[i]);
  }
  return se;
}

/**
 * Fit with the exact number of experts from a nearTruth start and compare every working parameter
 * with the truth in units of its asymptotic standard error: |θ̂ᵢ − θ*ᵢ| ≤ zMax·SEᵢ. With p ≤ 20
 * parameters and zMax = 4.5 a correct estimator fails with probability < 20·6.8e-6 ≈ 1.4e-4 (the
 * seed is fixed, so the test is deterministic); a biased likelihood or a wrong M-step moves the
 * estimate by many SEs at n = 5e4. Also checks the SEs are small (the test has power).
 */
export function checkRecovery(truthJson: ModelJSON, n: number, seed: number, design: XDesign, zMax = 4.5): { z: number[]; se: number[] } {
  const { truth, data } = simulateData(truthJson, n, seed, design);
  const fit = fitEM(truth.spec(), data, { init: { type: 'nearTruth', truth }, seed });
  expect(fit.converged).toBe(true);
  const model = alignToTruth(fit.model, truth);
  const se = standardErrors(model, model.theta, data);
  const z: number[] = [];
  for (let i = 0; i < model.nParams; i++) {
    z.push((model.theta[i] - truth.theta[i]) / se[i]);
    expect(se[i]).toBeLessThan(0.2 * Math.max(1, Math.abs(truth.theta[i])));
  }
  for (const zi of z) expect(Math.abs(zi)).toBeLessThan(zMax);
  return { z, se: Array.from(se) };
}

/** θ from a nearTruth start (for tests that need a start without running a fit). */
export function nearTruthStart(truth: MixtureOfExperts, data: Dataset, seed: number): Float64Array {
  const model = MixtureOfExperts.fromSpec(truth.spec());
  return initialise(model, data, { type: 'nearTruth', truth }, new Rng(seed));
}

function permutations(m: number): number[][] {
  if (m === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(m - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), m - 1, ...p.slice(i)]);
  return out;
}

/**
 * The nearTruth start assigns fitted atoms to true atoms by a random surjection (a permutation of
 * the non-reference experts when k = k*): relabel the fitted experts (all per-expert blocks of gate
 * and experts) by the permutation of the first k−1 experts that best matches the expert parameters.
 */
export function alignToTruth(fit: MixtureOfExperts, truth: MixtureOfExperts): MixtureOfExperts {
  const k = fit.k;
  if (fit.gate.blocks.some((b) => !b.perExpert && b.kind === 'gate')) return fit; // kept in order
  const fj = fit.toJSON();
  const tj = truth.toJSON();
  const expertVec = (json: Record<string, unknown>, i: number): number[] =>
    fit.expert.blocks.filter((b) => b.perExpert).flatMap((b) => [(json[b.name] as unknown[])[i]].flat(2) as number[]);
  let best: number[] = [];
  let bestD = Infinity;
  for (const perm of permutations(k - 1)) {
    const order = [...perm, k - 1]; // fitted index for true index i
    let dist = 0;
    for (let i = 0; i < k; i++) {
      const a = expertVec(fj.experts, order[i]);
      const b = expertVec(tj.experts, i);
      for (let u = 0; u < a.length; u++) dist += Math.abs(a[u] - b[u]);
    }
    if (dist < bestD) { bestD = dist; best = order; }
  }
  const reorder = (json: Record<string, unknown>, blocks: readonly { name: string; perExpert: boolean }[]): Record<string, unknown> => {
    const out = { ...json };
    for (const b of blocks) if (b.perExpert) out[b.name] = best.map((i) => (json[b.name] as unknown[])[i]);
    return out;
  };
  return MixtureOfExperts.fromJSON({
    gate: reorder(fj.gate, fit.gate.blocks) as ModelJSON['gate'],
    experts: reorder(fj.experts, fit.expert.blocks) as ModelJSON['experts'],
  });
}
