import { describe, it, expect } from 'vitest';
import { ActivationGate, ACTIVATIONS, type ActivationName, type BiasPlacement } from '../../src/gates/activation.js';
import { activationCode, activationDerivatives } from '../../src/family/activations.js';
import { TemperatureGate } from '../../src/gates/temperature.js';
import { parseGateSpec } from '../../src/gates/registry.js';
import { Rng } from '../../src/numeric/rng.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { ModelFormatError, OptionError } from '../../src/errors.js';
import { runEM } from '../../src/estimate/em.js';
import {
  checkEMMonotone, checkGradQ, checkMStep, checkNewtonHessian, checkNormalised, checkRecovery,
  checkSampling, fdGrad, relErr, simulateData, softTargets, uniformX,
} from './family-helpers.js';

const EXPERTS = { type: 'gaussianLinear', a: [[-20], [20]], b: [15, -5], variance: [0.09, 0.16] };
/** tanh, bias outside: z₁ − z₂ = 4·tanh(2x) − 2.5, a soft gate with its boundary at x ≈ 0.37. */
const TRUTH: ModelJSON = { gate: { type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.25, beta0: [-2.5, 0], beta1: [[2], [0]] }, experts: EXPERTS };
const TRUTH_INSIDE: ModelJSON = { gate: { type: 'activation', sigma: 'sigmoid', bias: 'inside', tau: 0.2, beta0: [-1.5, 0], beta1: [[4], [0]] }, experts: EXPERTS };
const DESIGN = { type: 'uniform', low: 0, high: 1 } as const;

type Config = [ActivationName, BiasPlacement, number | undefined];
const CONFIGS: Config[] = [];
for (const s of ACTIVATIONS) for (const b of ['outside', 'inside'] as const) for (const t of [undefined, 0.7]) CONFIGS.push([s, b, t]);

interface Problem { X: Float64Array; R: Float64Array; n: number }

describe('activation gate', () => {
  it('σ, σ′, σ″ of tanh, sigmoid, gelu, identity match finite differences', () => {
    const out = new Float64Array(3);
    const f = (code: number, i: number) => (u: Float64Array): number => { activationDerivatives(code, u[0], out); return out[i]; };
    for (const code of ACTIVATIONS.map(activationCode)) {
      expect(code).toBeGreaterThanOrEqual(0);
      for (const u of [-3.1, -0.4, 0, 0.2, 1.7, 5]) {
        activationDerivatives(code, u, out);
        const [, s1, s2] = out;
        expect(Math.abs(fdGrad(f(code, 0), Float64Array.of(u))[0] - s1)).toBeLessThan(1e-8);
        expect(Math.abs(fdGrad(f(code, 1), Float64Array.of(u))[0] - s2)).toBeLessThan(1e-8);
      }
    }
    activationDerivatives(activationCode('gelu'), 1, out);
    expect(out[0]).toBeCloseTo(0.8413447460685429, 14); // gelu(1) = Φ(1)
  });

  it.each(CONFIGS)('weights sum to 1; gradQ and the Newton Hessian match finite differences (σ=%s, bias %s, fixed τ=%s)', (sigma, bias, tau) => {
    const rng = new Rng(200 + ACTIVATIONS.indexOf(sigma) * 4 + (bias === 'inside' ? 2 : 0) + (tau ? 1 : 0));
    const k = 3;
    const d = 2;
    const gate = new ActivationGate(k, d, { sigma, bias, fixedTau: tau });
    const theta = new Float64Array(gate.nParams).map(() => rng.normal());
    const n = 60;
    const X = uniformX(n, d, rng);
    checkNormalised(gate, theta, X, n);
    checkGradQ(gate, theta, X, n, rng);
    const R = softTargets(gate, theta.map((v) => v + 0.5 * rng.normal()), X, n, rng);
    Object.assign(gate as unknown as Problem, { X, R, n });
    checkNewtonHessian(gate, theta);
  });

  it.each([['tanh', 'outside'], ['sigmoid', 'inside'], ['gelu', 'outside'], ['identity', 'outside']] as const)('M-step reaches the maximum and never decreases Q (σ=%s, bias %s, τ estimated)', (sigma, bias) => {
    const rng = new Rng(300);
    const gate = new ActivationGate(3, 1, { sigma, bias });
    const n = 3000;
    const X = uniformX(n, 1, rng, -2, 2);
    const truth = gate.paramsFromJSON({ type: 'activation', sigma, bias, tau: 0.5, beta0: [0.5, -0.3, 0], beta1: [[1.5], [-1], [0]] });
    const R = softTargets(gate, truth, X, n, rng);
    // start away from the optimum (the Hessian is indefinite far from it: damped Newton)
    const start = truth.map((v) => v + 0.3 * rng.normal());
    checkMStep(gate, start, X, n, R, rng);
  });

  it('σ = identity reduces to the linear temperature gate (oracle 18), with the same scale convention', () => {
    const rng = new Rng(5);
    const X = uniformX(40, 2, rng);
    const temp = new TemperatureGate(3, 2);
    const tj = { type: 'denseToSparse', tau: 0.8, beta0: [1, -0.5, 0.2], beta1: [[2, -1], [0.5, 1.5], [0.3, 0.1]] };
    const tTheta = temp.paramsFromJSON(tj);
    const ident = new ActivationGate(3, 2, { sigma: 'identity', bias: 'inside' });
    const aTheta = ident.paramsFromJSON({ ...tj, type: 'activation', sigma: 'identity', bias: 'inside' });
    const a = new Float64Array(120);
    const b = new Float64Array(120);
    temp.logWeights(tTheta, X, 40, a);
    ident.logWeights(aTheta, X, 40, b);
    expect(relErr(a, b)).toBeLessThan(1e-13);
    const ta = temp.natural(tTheta);
    const na = ident.natural(aTheta);
    expect(relErr([na.tau, ...na.beta0, ...na.beta1.flat()], [ta.tau, ...ta.beta0, ...ta.beta1.flat()])).toBeLessThan(1e-14);
    // identity, bias outside: (β₁, τ) → c(β₁, τ) with β₀ fixed is an invariance
    const out = new ActivationGate(3, 2, { sigma: 'identity' });
    const j1 = { type: 'activation', sigma: 'identity', bias: 'outside', tau: 0.8, beta0: [1, -0.5, 0], beta1: [[2, -1], [0.5, 1.5], [0, 0]] };
    const j2 = { ...j1, tau: 2.4, beta1: j1.beta1.map((r) => r.map((v) => 3 * v)) };
    expect(relErr(out.paramsFromJSON(j2), out.paramsFromJSON(j1))).toBeLessThan(1e-15);
  });

  it('non-linear σ breaks the scale invariance: (β₁, τ) → c(β₁, τ) changes the weights', () => {
    for (const sigma of ['tanh', 'sigmoid', 'gelu'] as const) {
      const gate = new ActivationGate(2, 1, { sigma });
      const j1 = { type: 'activation', sigma, bias: 'outside', tau: 0.5, beta0: [0.3, 0], beta1: [[1.2], [0]] };
      const j2 = { ...j1, tau: 1.5, beta1: [[3.6], [0]] };
      const a = new Float64Array(2);
      const b = new Float64Array(2);
      gate.logWeights(gate.paramsFromJSON(j1), Float64Array.of(0.8), 1, a);
      gate.logWeights(gate.paramsFromJSON(j2), Float64Array.of(0.8), 1, b);
      expect(Math.abs(a[0] - b[0])).toBeGreaterThan(1e-3);
    }
  });

  it('canonical form: translating the biases (bias outside) leaves θ and the density unchanged; the reference slope is part of the model', () => {
    const { truth, data } = simulateData(TRUTH, 400, 21, DESIGN);
    const ll = truth.logLikelihood(data.X, data.y, data.n);
    const g = TRUTH.gate as unknown as { beta0: number[] };
    const shifted: ModelJSON = { gate: { ...TRUTH.gate, beta0: g.beta0.map((v) => v + 2.2) }, experts: EXPERTS };
    const m = MixtureOfExperts.fromJSON(shifted);
    expect(relErr(m.theta, truth.theta)).toBeLessThan(1e-15);
    expect(Math.abs(m.logLikelihood(data.X, data.y, data.n) - ll)).toBeLessThan(1e-12 * Math.abs(ll));
    const before = truth.theta.slice();
    truth.canonicalize();
    expect(Array.from(truth.theta)).toEqual(Array.from(before));
    // round trip
    expect(relErr(MixtureOfExperts.fromJSON(truth.toJSON()).theta, truth.theta)).toBeLessThan(1e-15);
    // a non-zero reference β₁ (or β₀ with the bias inside) is rejected, naming the field
    expect(() => MixtureOfExperts.fromJSON({ gate: { ...TRUTH.gate, beta1: [[2], [0.1]] }, experts: EXPERTS })).toThrow(/gate\.beta1\[1\]\[0\]/);
    expect(() => MixtureOfExperts.fromJSON({ gate: { ...TRUTH_INSIDE.gate, beta0: [-1.5, 0.2] }, experts: EXPERTS })).toThrow(ModelFormatError);
  });

  it('JSON, blocks and CLI specs', () => {
    const m = MixtureOfExperts.fromJSON(TRUTH);
    const gj = m.toJSON().gate;
    expect(gj.sigma).toBe('tanh');
    expect(gj.bias).toBe('outside');
    expect(gj.tau).toBeCloseTo(0.25, 15);
    expect(m.gate.blocks.map((b) => `${b.name}:${b.fixedReference ? 'fixed' : ''}`)).toEqual(['beta0:', 'beta1:fixed', 'tau:']);
    expect(parseGateSpec('activation:tanh')).toEqual({ type: 'activation', sigma: 'tanh', bias: 'outside' });
    expect(parseGateSpec('activation:gelu,bias=inside')).toEqual({ type: 'activation', sigma: 'gelu', bias: 'inside' });
    expect(parseGateSpec('activation:sigmoid,fixed=0.5')).toEqual({ type: 'activation', sigma: 'sigmoid', bias: 'outside', fixedTau: true, tau: 0.5 });
    expect(() => parseGateSpec('activation:relu')).toThrow(OptionError);
    expect(() => parseGateSpec('activation:tanh,bias=middle')).toThrow(OptionError);
    expect(() => parseGateSpec('activation')).toThrow(OptionError);
  });

  it('seeded sampling matches the weights (χ² on 1e5 draws)', () => {
    checkSampling(MixtureOfExperts.fromJSON(TRUTH), [0.4], 31);
    checkSampling(MixtureOfExperts.fromJSON(TRUTH_INSIDE), [0.3], 32);
  });

  it('plain EM never decreases the log-likelihood (bias outside and inside)', () => {
    checkEMMonotone(TRUTH, 3000, 41, DESIGN, 0.3);
    checkEMMonotone(TRUTH_INSIDE, 3000, 42, DESIGN, 0.3);
  });

  it.each(CONFIGS)('the one-pass kernels equal the block-wise loops: Q, ∇Q, −∇²Q, gradQ, logits, the first pass from π (σ=%s, bias %s, fixed τ=%s)', (sigma, bias, tau) => {
    const rng = new Rng(900 + ACTIVATIONS.indexOf(sigma) * 4 + (bias === 'inside' ? 2 : 0) + (tau ? 1 : 0));
    for (const [k, d] of [[2, 1], [3, 2], [4, 1]]) {
      const fast = new ActivationGate(k, d, { sigma, bias, fixedTau: tau });
      const plain = new ActivationGate(k, d, { sigma, bias, fixedTau: tau, plain: true });
      const p = fast.nParams;
      const n = 150;
      const X = uniformX(n, d, rng, -2, 2);
      // rows that do not sum to 1 (the log correction) and some zero weights
      const R = new Float64Array(n * k).map(() => (rng.uniform() < 0.1 ? 0 : rng.uniform()));
      const theta = new Float64Array(p).map(() => rng.normal());
      for (const g of [fast, plain]) Object.assign(g as unknown as Problem, { X, R, n });
      const [g1, g2, H1, H2] = [new Float64Array(p), new Float64Array(p), new Float64Array(p * p), new Float64Array(p * p)];
      const Q1 = fast.pass(theta, g1, H1);
      const Q2 = plain.pass(theta, g2, H2);
      expect(Math.abs(Q1 - Q2)).toBeLessThan(1e-13 * Math.abs(Q2));
      expect(relErr(g1, g2)).toBeLessThan(1e-12);
      expect(relErr(H1, H2)).toBeLessThan(1e-12);
      // the value-and-gradient pass (Newton trials near the end): the full pass's Q and ∇Q, bit for bit
      const g3 = new Float64Array(p);
      expect(fast.gradientPass!(theta, g3)).toBe(Q1);
      expect([...g3]).toEqual([...g1]);
      expect(plain.gradientPass).toBeUndefined();
      // gradQ for signed W, with π computed and with π given
      const W = new Float64Array(n * k).map(() => 2 * rng.uniform() - 1);
      plain.gradQ(theta, X, n, W, g2);
      fast.gradQ(theta, X, n, W, g1);
      expect(relErr(g1, g2)).toBeLessThan(1e-12);
      const lw = new Float64Array(n * k);
      plain.logWeights(theta, X, n, lw);
      const pi = lw.map(Math.exp);
      fast.gradQ(theta, X, n, W, g1, pi);
      expect(relErr(g1, g2)).toBeLessThan(1e-12);
      // logits: log π = δ − lse δ, and the reference column is 0
      const z = new Float64Array(n * k);
      fast.logits(theta, X, n, z);
      for (let t = 0; t < n; t++) {
        let mx = -Infinity;
        for (let i = 0; i < k; i++) mx = Math.max(mx, z[t * k + i]);
        let sum = 0;
        for (let i = 0; i < k; i++) sum += Math.exp(z[t * k + i] - mx);
        expect(z[t * k + k - 1]).toBe(0);
        for (let i = 0; i < k; i++) expect(Math.abs(z[t * k + i] - mx - Math.log(sum) - lw[t * k + i])).toBeLessThan(1e-13 * Math.max(1, Math.abs(lw[t * k + i])));
      }
      // the first Newton system from the E-step's π and Q equals a full pass
      const Qstart = Q2;
      Object.assign(fast as unknown as { start: unknown }, { start: { weights: pi, objective: Qstart } });
      expect(fast.firstPass(theta, g1, H1)).toBe(Qstart);
      plain.pass(theta, g2, H2);
      expect(relErr(g1, g2)).toBeLessThan(1e-12);
      expect(relErr(H1, H2)).toBeLessThan(1e-12);
    }
  });

  it.each([['tanh', 'outside'], ['sigmoid', 'inside'], ['gelu', 'inside']] as const)('EM with the kernels reaches the block-wise loops\' maximum (σ=%s, bias %s, d = 2, k = 3): ℓ to 1e-9, monotone', (sigma, bias) => {
    const truthJson: ModelJSON = {
      gate: { type: 'activation', sigma, bias, tau: 0.5, beta0: [0.5, -0.3, 0], beta1: [[1.5, -1], [-1, 0.5], [0, 0]] },
      experts: { type: 'gaussianLinear', a: [[-3, 1], [3, 0], [0, 2]], b: [1, -1, 0], variance: [0.3, 0.3, 0.3] },
    };
    const { truth, data } = simulateData(truthJson, 3000, 61, { type: 'uniform', low: -1, high: 1 });
    const lls: number[] = [];
    for (const plain of [false, true]) {
      const gate = new ActivationGate(3, 2, { sigma, bias, plain });
      const model = new MixtureOfExperts(gate, MixtureOfExperts.fromSpec(truth.spec()).expert);
      model.expert.prepare?.(data.X, data.y, data.n);
      const theta0 = truth.theta.map((v, i) => v + 0.2 * Math.sin(i + 1));
      const run = runEM(model, theta0, data, { accelerate: 'none', polish: false, maxIter: 400, tol: 1e-13 });
      for (let i = 1; i < run.trace.length; i++) expect(run.trace[i]).toBeGreaterThanOrEqual(run.trace[i - 1] - 1e-10 * Math.abs(run.trace[i - 1]));
      lls.push(run.trace[run.trace.length - 1]);
    }
    expect(Math.abs(lls[0] - lls[1])).toBeLessThan(1e-9 * Math.abs(lls[1]));
  });

  it('recovers the truth (β₀, β₁, log τ and experts) at n = 5e4 within 4.5 asymptotic standard errors (nearTruth start)', () => {
    checkRecovery(TRUTH, 50_000, 51, DESIGN);
  });
});
