/** Shared test helpers: finite differences, small random datasets. */
import { Rng } from '../src/numeric/rng.js';
import { MixtureOfExperts, type ModelJSON } from '../src/model/model.js';
import { sampleX } from '../src/model/data.js';

/** Central finite-difference gradient of f at x (step h·max(1,|x_i|)). */
export function fdGradient(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  const xp = x.slice();
  for (let i = 0; i < x.length; i++) {
    const step = h * Math.max(1, Math.abs(x[i]));
    xp[i] = x[i] + step;
    const fp = f(xp);
    xp[i] = x[i] - step;
    const fm = f(xp);
    xp[i] = x[i];
    g[i] = (fp - fm) / (2 * step);
  }
  return g;
}

/** max_i |a_i − b_i| / max(1, max_i |b_i|). */
export function relMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let s = 1;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / s;
}

/** Random signed weights n×k. */
export function randomWeights(n: number, k: number, rng: Rng, signed = true): Float64Array {
  const W = new Float64Array(n * k);
  for (let i = 0; i < n * k; i++) W[i] = signed ? 2 * rng.uniform() - 1 : rng.uniform();
  return W;
}

/** Simulate a dataset from a model JSON. */
export function simulate(json: ModelJSON, n: number, seed: number, low = 0, high = 1): { truth: MixtureOfExperts; X: Float64Array; y: Float64Array; n: number; d: number } {
  const truth = MixtureOfExperts.fromJSON(json);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', low, high }, n, truth.d, rng.split('x'));
  const { y } = truth.sample(X, n, rng.split('y'));
  return { truth, X, y, n, d: truth.d };
}

/** A d=2, k=3 softmax / Gaussian truth with well-separated experts. */
export const TRUTH_D2K3: ModelJSON = {
  gate: { type: 'softmax', beta0: [0.5, -0.5, 0], beta1: [[4, -3], [-3, 4], [0, 0]] },
  experts: { type: 'gaussianLinear', a: [[2, -1], [-2, 1], [0.5, 3]], b: [1, -1, 4], variance: [0.25, 0.16, 0.36] },
};
