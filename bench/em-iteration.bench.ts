/**
 * Cost of one EM iteration (issue 16 item 2): E-step, gate Newton M-step to tolerance, expert
 * M-step, at n = 1e5 for d=1 k=2 (the authors' truth) and d=2 k=3 exact. Each run does 10 plain EM
 * iterations from the same point (the generic start after 3 EM iterations, so the gate M-step
 * still takes Newton steps); the median ms per run / 10 is the cost per iteration. The baseline of
 * each group is 10 E-steps alone at that point (the floor an iteration cannot go below).
 * Targets (quiet machine, warm): ≤ 4 ms per iteration for k = 2, d = 1 and ≤ 10 ms for k = 3, d = 2,
 * i.e. ≤ 40 ms and ≤ 100 ms per run of 10. The "(gateInexact: 1)" case runs the same iterations
 * with the generalized-EM gate M-step (EMOptions.gateInexact, off by default): one Newton step per
 * M-step while EM is far from converged, to tolerance near it; "(… 'likelihood')" takes that step
 * without a trial pass and lets the next E-step check ℓ (EMOptions.gateInexactCheck, em-step.ts emMap).
 */
import type { BenchCase } from './types.js';
import { simulated } from './simulated.js';
import { AUTHORS_TRUTH } from '../src/model/presets.js';
import { MixtureOfExperts, type ModelJSON } from '../src/model/model.js';
import { fitEM } from '../src/estimate/em.js';
import { EMWorkspace, emMap, eStep, mStepSettings } from '../src/estimate/em-step.js';
import { resolveEMOptions } from '../src/estimate/options.js';
import type { Dataset } from '../src/model/data.js';
import { genericStart } from './generic-start.js';

const TRUTH_D2K3: ModelJSON = {
  gate: { type: 'softmax', beta0: [0.5, -0.5, 0], beta1: [[4, -3], [-3, 4], [0, 0]] },
  experts: { type: 'gaussianLinear', a: [[2, -1], [-2, 1], [0.5, 3]], b: [1, -1, 4], variance: [0.25, 0.16, 0.36] },
};

interface State { model: MixtureOfExperts; theta: Float64Array; data: Dataset; ws: EMWorkspace }

function setup(json: ModelJSON, low: number, high: number): () => State {
  const base = simulated(json, 1e5, low, high);
  return () => {
    const { truth, data } = base();
    const spec = truth.spec();
    const start = genericStart(spec, data, 5);
    const warm = fitEM(spec, data, { init: { type: 'model', model: start }, accelerate: 'none', polish: false, maxIter: 3, standardize: false });
    const model = MixtureOfExperts.fromSpec(spec);
    model.expert.prepare?.(data.X, data.y, data.n);
    return { model, theta: warm.model.theta.slice(), data, ws: new EMWorkspace(model, data.n) };
  };
}

const ITERATIONS = 10;
const settings = mStepSettings(resolveEMOptions({}));
const inexactSettings = mStepSettings(resolveEMOptions({ gateInexact: 1 }));
const likelihoodSettings = mStepSettings(resolveEMOptions({ gateInexact: 1, gateInexactCheck: 'likelihood' }));

function iterations(s: unknown): unknown {
  return run(s, settings);
}

function inexactIterations(s: unknown): unknown {
  return run(s, inexactSettings);
}

function likelihoodIterations(s: unknown): unknown {
  return run(s, likelihoodSettings);
}

function run(s: unknown, settings: ReturnType<typeof mStepSettings>): unknown {
  const { model, theta, data, ws } = s as State;
  const th = theta.slice();
  let ll = eStep(model, th, data, ws);
  const t0 = performance.now();
  const redone = ws.redone;
  for (let i = 0; i < ITERATIONS; i++) ll = emMap(model, th, ll, data, ws, settings);
  return { logLik: ll, msPerIteration: (performance.now() - t0) / ITERATIONS, redone: ws.redone - redone };
}

function eSteps(s: unknown): unknown {
  const { model, theta, data, ws } = s as State;
  let ll = 0;
  for (let i = 0; i < ITERATIONS; i++) ll = eStep(model, theta, data, ws);
  return { logLik: ll };
}

export const cases: BenchCase[] = [];
for (const [label, json, low, high] of [['d=1 k=2', AUTHORS_TRUTH, 0, 1], ['d=2 k=3', TRUTH_D2K3, -1, 1]] as const) {
  const group = `EM iteration ${label} n=1e5 (x${ITERATIONS})`;
  const s = setup(json, low, high);
  cases.push({ group, name: `${ITERATIONS} E-steps (baseline)`, setup: s, run: eSteps, baseline: true, iterations: 15 });
  cases.push({ group, name: `${ITERATIONS} EM iterations`, setup: s, run: iterations, iterations: 15 });
  cases.push({ group, name: `${ITERATIONS} EM iterations (gateInexact: 1)`, setup: s, run: inexactIterations, iterations: 15 });
  cases.push({ group, name: `${ITERATIONS} EM iterations (gateInexact: 1, 'likelihood')`, setup: s, run: likelihoodIterations, iterations: 15 });
}
