/**
 * Gate family benchmarks (issue 3; n = 1e3 added for issue 16 item 4): one exact fit per gate at
 * n = 1e3, 1e4 and 1e5 (default EM: SQUAREM + L-BFGS finish, nearTruth start, exact number of
 * experts), against the softmax fit of the same
 * size as the baseline (target: every gate ≤ 5× the softmax fit).
 *
 * Truth shape: d = 1, x ~ U[0, 1], the authors' experts (a = (−20, 20), b = (15, −5),
 * ν = (0.09, 0.16)) with a gate whose boundary sits at x ≈ 0.32 like the authors' softmax gate
 * (β₀ = −8, β₁ = 25). The top-K gate needs k ≥ 3 and inputs of both signs (selection by the sign of
 * β₁ᵀx in d = 1), and the hierarchical gate k = K1·K2 = 4, so for those two the softmax fit with the
 * same k, design and experts is listed as well ("softmax k=3" / "softmax k=4"), for a like-for-like
 * comparison.
 *
 * Issue 16 item 4 (activation and hierarchical gates within 1.5× of softmax per iteration): each
 * case also reports `cpuMsPerIt`, the median over its runs of the fit's CPU time (process.cpuUsage,
 * comparable under load) divided by its EM evaluations, and `perItVsSoftmax`, that median over the
 * same quantity of its softmax reference in the same run and group (the k = 2 baseline; "softmax k=3"
 * for top-K, "softmax k=4" for the hierarchical gate): a ratio of medians over all timed runs (`runs`,
 * ≥ 5 by default; tinybench's warm-up call is not a sample), not of one run.
 */
import type { BenchCase } from './types.js';
import { simulated, type SimulatedState } from './simulated.js';
import type { ModelJSON } from '../src/model/model.js';
import { AUTHORS_TRUTH } from '../src/model/presets.js';
import { fitEM } from '../src/estimate/em.js';

const EXPERTS = AUTHORS_TRUTH.experts;
const EXPERTS3 = { type: 'gaussianLinear', a: [[-20], [20], [5]], b: [15, -5, 2], variance: [0.09, 0.16, 0.09] };
const EXPERTS4 = { type: 'gaussianLinear', a: [[-4], [4], [-4], [4]], b: [8, -4, 6, 0], variance: [0.09, 0.16, 0.09, 0.16] };

interface Setting { name: string; truth: ModelJSON; low: number; high: number; baseline?: boolean; ref?: string }

const SETTINGS: Setting[] = [
  { name: 'softmax (baseline)', truth: AUTHORS_TRUTH, low: 0, high: 1, baseline: true },
  { name: 'temperature (τ estimated)', truth: { gate: { type: 'denseToSparse', tau: 0.5, beta0: [-4, 0], beta1: [[12.5], [0]] }, experts: EXPERTS }, low: 0, high: 1 },
  { name: 'temperature:fixed=0.5', truth: { gate: { type: 'denseToSparse', fixedTau: true, tau: 0.5, beta0: [-4, 0], beta1: [[12.5], [0]] }, experts: EXPERTS }, low: 0, high: 1 },
  { name: 'activation:tanh (τ estimated)', truth: { gate: { type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.1, beta0: [-10 * Math.tanh(0.96), 0], beta1: [[3], [0]] }, experts: EXPERTS }, low: 0, high: 1 },
  { name: 'activation:sigmoid,bias=inside', truth: { gate: { type: 'activation', sigma: 'sigmoid', bias: 'inside', tau: 0.1, beta0: [-0.96, 0], beta1: [[3], [0]] }, experts: EXPERTS }, low: 0, high: 1 },
  { name: 'modified:sin', truth: { gate: { type: 'modified', map: 'sin', beta0: [-25 * Math.sin(0.32), 0], beta1: [[25], [0]] }, experts: EXPERTS }, low: 0, high: 1 },
  { name: 'softmax k=3 (same design as topk)', truth: { gate: { type: 'softmax', beta0: [-0.5, 0.5, 0], beta1: [[5], [-5], [0]] }, experts: EXPERTS3 }, low: -1, high: 1 },
  { name: 'topk:2 (k=3, x∈[−1,1])', ref: 'softmax k=3 (same design as topk)', truth: { gate: { type: 'topK', K: 2, beta0: [-0.5, 0.5, 0], beta1: [[5], [-5], [0]] }, experts: EXPERTS3 }, low: -1, high: 1 },
  { name: 'softmax k=4 (same design as hierarchical)', truth: { gate: { type: 'softmax', beta0: [-15, -7.5, -2.5, 0], beta1: [[30], [20], [10], [0]] }, experts: EXPERTS4 }, low: 0, high: 1 },
  { name: 'hierarchical:2x2 (k=4)', ref: 'softmax k=4 (same design as hierarchical)', truth: { gate: { type: 'hierarchical', K1: 2, K2: 2, omega0: [-5, 0], omega1: [[10], [0]], beta0: [[-7.5, 0], [-2.5, 0]], beta1: [[[10], [0]], [[10], [0]]] }, experts: EXPERTS4 }, low: 0, high: 1 },
];

type State = SimulatedState;
const setup = simulated;

/** CPU ms per EM evaluation of every run so far, per group and case. */
const perIteration = new Map<string, number[]>();

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function runner(group: string, setting: Setting): (s: unknown) => unknown {
  const key = `${group}|${setting.name}`;
  const ref = `${group}|${setting.ref ?? SETTINGS[0].name}`;
  return (s: unknown): unknown => {
    const { truth, data } = s as State;
    const c0 = process.cpuUsage();
    const r = fitEM(truth.spec(), data, { init: { type: 'nearTruth', truth }, seed: 5 });
    const c = process.cpuUsage(c0);
    // the first call of a case is tinybench's warm-up (cold kernels, JIT): not a sample
    const samples = perIteration.get(key);
    if (samples === undefined) perIteration.set(key, []);
    else samples.push((c.user + c.system) / 1000 / Math.max(1, r.iterations));
    const own = samples && samples.length > 0 ? median(samples) : NaN;
    const base = perIteration.get(ref);
    return {
      logLik: r.logLikelihood, gradNorm: r.gradientNorm, iterations: r.iterations, converged: r.converged,
      cpuMsPerIt: own, runs: samples?.length ?? 0, ...(base && base.length > 0 && key !== ref ? { perItVsSoftmax: own / median(base) } : {}),
    };
  };
}

export const cases: BenchCase[] = [];
for (const n of [1e3, 1e4, 1e5]) {
  const group = `gates n=${n}`;
  for (const s of SETTINGS) cases.push({ group, name: s.name, setup: setup(s.truth, n, s.low, s.high), run: runner(group, s), baseline: s.baseline });
}
