/**
 * Least squares (issue 16, item 5): the P3 truths of studies/lse-linear.yaml and lse-gelu.yaml
 * (k* = 2, softmax(3x − 0.5, 0), experts (a, b) = (2, 1), (−3, 0.5), ν = 0.04, x ~ U[−3, 3]) fitted
 * with k = 2 (exact) and k = 3 (over-specified) from the studies' nearTruth start (one start), at
 * n = 5e3 and 5e4. Baseline: L-BFGS (the solver before issue 16); against it Levenberg–Marquardt on
 * the residual Jacobian (src/numeric/lm.ts; the default for GELU experts) and, for linear experts,
 * variable projection (src/estimate/lse-varpro.ts; the default 'auto' there). Diagnostics: SSE (lower
 * is better), ‖∇MSE‖, iterations, converged (gradient test), the solver that ran.
 *
 * Generic-start groups ("LSE … over n=… generic start", issue 16 item 5): the over-specified fit
 * (k = 3) of the linear, GELU and sigmoid truths from a start that knows nothing of the truth
 * (bench/generic-start.ts: k-means++ experts, gate slopes 0); baseline Levenberg–Marquardt over an
 * unbounded Θ, against it the presets' compact Θ (gateBound 10, studies/lse-*.yaml), and for linear
 * experts variable projection with gateBound 10 (the presets' default solver).
 *
 * Over-specified GELU groups also time the opt-in `lmTrustRegion` (Newton phase after 3 steps under a
 * trust radius, numeric/lm-trust.ts).
 *
 * At n = 5e4 each group also times the subsample warm start of lse.ts the other way round: variable
 * projection with `warmStart: false` (it is on by default there), LM with `warmStart: true` (opt-in).
 */
import type { BenchCase } from './types.js';
import { simulated, type SimulatedState } from './simulated.js';
import type { ModelJSON } from '../src/model/model.js';
import { fitLSE, type LSEOptions } from '../src/estimate/lse.js';
import { genericStart } from './generic-start.js';
import type { MixtureOfExperts } from '../src/model/model.js';

function truth(activation: string): ModelJSON {
  return {
    gate: { type: 'softmax', beta0: [-0.5, 0], beta1: [[3], [0]] },
    experts: { type: 'regression', activation, a: [[2], [-3]], b: [1, 0.5], noiseVariance: 0.04 },
  };
}

interface State extends SimulatedState { k: number; start?: MixtureOfExperts }

function lse(k: number, options: LSEOptions) {
  return (s: unknown) => {
    const { truth: t, data, start } = s as State;
    const init = start ? { type: 'model' as const, model: start } : { type: 'nearTruth' as const, truth: t };
    const r = fitLSE({ ...t.spec(), k }, data, { init, seed: 3, ...options });
    return { sse: r.sse, gradNorm: r.gradientNorm, iterations: r.iterations, converged: r.converged, solver: r.solver };
  };
}

export const cases: BenchCase[] = [];
for (const activation of ['linear', 'gelu']) {
  for (const n of [5e3, 5e4]) {
    for (const k of [2, 3]) {
      const group = `LSE ${activation} k=${k} ${k === 2 ? 'exact' : 'over'} n=${n}`;
      const base = simulated(truth(activation), n, -3, 3);
      const setup = (): State => ({ ...base(), k });
      const iterations = n >= 5e4 && k === 3 ? 3 : 5;
      cases.push({ group, name: 'L-BFGS (baseline)', setup, run: lse(k, { solver: 'lbfgs' }), baseline: true, iterations });
      // LM on linear over at n = 5e4 takes ~50 s a fit idle (1460 iterations): one timed run keeps the group under 3 min
      const lmIterations = activation === 'linear' && k === 3 && n >= 5e4 ? 1 : iterations;
      cases.push({ group, name: activation === 'linear' ? 'Levenberg–Marquardt' : 'Levenberg–Marquardt (default)', setup, run: lse(k, { solver: 'lm' }), iterations: lmIterations });
      if (activation === 'linear') cases.push({ group, name: 'variable projection (default)', setup, run: lse(k, { solver: 'varpro' }), iterations });
      // opt-in: Newton after 3 steps under a trust radius (options.ts lmTrustRegion; another path in over-specified fits)
      if (activation === 'gelu' && k === 3) cases.push({ group, name: 'Levenberg–Marquardt, lmTrustRegion', setup, run: lse(k, { solver: 'lm', lmTrustRegion: true }), iterations });
      // the subsample warm start (n ≥ 15000): on by default for varpro (here turned off), opt-in for LM
      if (n >= 5e4) cases.push({ group, name: `${activation === 'linear' ? 'variable projection, no warm start' : 'Levenberg–Marquardt, warm start'}`, setup, run: lse(k, activation === 'linear' ? { solver: 'varpro', warmStart: false } : { solver: 'lm', warmStart: true }), iterations });
    }
  }
}
for (const activation of ['linear', 'gelu', 'sigmoid']) {
  for (const n of [1e4, 5e4]) {
    const group = `LSE ${activation} k=3 over n=${n} generic start`;
    const base = simulated(truth(activation), n, -3, 3);
    const setup = (): State => {
      const s = base();
      return { ...s, k: 3, start: genericStart({ ...s.truth.spec(), k: 3 }, s.data, 5) };
    };
    cases.push({ group, name: 'Levenberg–Marquardt, unbounded (baseline)', setup, run: lse(3, { solver: 'lm' }), baseline: true, iterations: 3 });
    cases.push({ group, name: `Levenberg–Marquardt, gateBound 10${activation === 'linear' ? '' : ' (presets)'}`, setup, run: lse(3, { solver: 'lm', gateBound: 10 }), iterations: 3 });
    if (activation === 'linear') cases.push({ group, name: 'variable projection, gateBound 10 (presets)', setup, run: lse(3, { solver: 'varpro', gateBound: 10 }), iterations: 3 });
    if (n >= 5e4) cases.push({ group, name: `${activation === 'linear' ? 'variable projection, gateBound 10, no warm start' : 'Levenberg–Marquardt, gateBound 10, warm start'}`, setup, run: lse(3, activation === 'linear' ? { solver: 'varpro', gateBound: 10, warmStart: false } : { solver: 'lm', gateBound: 10, warmStart: true }), iterations: 3 });
  }
}
