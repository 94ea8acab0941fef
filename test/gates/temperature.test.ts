import { describe, it, expect } from 'vitest';
import { TemperatureGate } from '../../src/gates/temperature.js';
import { SoftmaxGate } from '../../src/gates/softmax.js';
import { parseGateSpec } from '../../src/gates/registry.js';
import { Rng } from '../../src/numeric/rng.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { ModelFormatError, OptionError } from '../../src/errors.js';
import {
  checkEMMonotone, checkGradQ, checkMStep, checkNormalised, checkRecovery, checkSampling, relErr,
  simulateData, softTargets, uniformX,
} from './family-helpers.js';

const EXPERTS = { type: 'gaussianLinear', a: [[-20], [20]], b: [15, -5], variance: [0.09, 0.16] };
/** The authors' gate (β₀ = −8, β₁ = 25, math-spec §8.1) written with τ = 0.5. */
const TRUTH: ModelJSON = { gate: { type: 'denseToSparse', tau: 0.5, beta0: [-4, 0], beta1: [[12.5], [0]] }, experts: EXPERTS };
const TRUTH_FIXED: ModelJSON = { gate: { type: 'denseToSparse', fixedTau: true, tau: 0.5, beta0: [-4, 0], beta1: [[12.5], [0]] }, experts: EXPERTS };
const DESIGN = { type: 'uniform', low: 0, high: 1 } as const;

describe('temperature (dense-to-sparse) gate', () => {
  it.each([[2, 1, undefined], [3, 2, undefined], [4, 3, 0.3], [3, 1, 2]])('weights sum to 1 and gradQ matches finite differences (k=%i, d=%i, fixed τ=%s)', (k, d, tau) => {
    const rng = new Rng(100 + k * 10 + d);
    const gate = new TemperatureGate(k, d, tau);
    const theta = new Float64Array(gate.nParams).map(() => rng.normal());
    const n = 80;
    const X = uniformX(n, d, rng);
    const nz = checkNormalised(gate, theta, X, n);
    for (const c of nz) expect(c).toBe(k);
    checkGradQ(gate, theta, X, n, rng);
  });

  it('equals the softmax gate on β/τ (math-spec §6.1)', () => {
    const rng = new Rng(3);
    for (const tau of [undefined, 0.25]) {
      const gate = new TemperatureGate(3, 2, tau);
      const json = { type: 'denseToSparse', tau: tau ?? 0.7, ...(tau ? { fixedTau: true } : {}), beta0: [1, -2, 0.5], beta1: [[2, -1], [0.5, 3], [1, 1]] };
      const theta = gate.paramsFromJSON(json);
      const t = tau ?? 0.7;
      const soft = new SoftmaxGate(3, 2);
      const sTheta = soft.paramsFromJSON({ type: 'softmax', beta0: json.beta0.map((v) => v / t), beta1: json.beta1.map((r) => r.map((v) => v / t)) });
      const X = uniformX(50, 2, rng);
      const a = new Float64Array(150);
      const b = new Float64Array(150);
      gate.logWeights(theta, X, 50, a);
      soft.logWeights(sTheta, X, 50, b);
      expect(relErr(a, b)).toBeLessThan(1e-13);
    }
  });

  it.each([[undefined], [0.4]])('M-step reaches the maximum and never decreases Q (fixed τ=%s)', (tau) => {
    const rng = new Rng(7);
    const gate = new TemperatureGate(3, 2, tau);
    const n = 1500;
    const X = uniformX(n, 2, rng);
    const truth = new Float64Array(gate.nParams).map(() => 1.5 * rng.normal());
    const R = softTargets(gate, truth, X, n, rng);
    checkMStep(gate, new Float64Array(gate.nParams), X, n, R, rng);
  });

  it('canonical form: translation and the scale (β, τ) → c(β, τ) leave θ and the density unchanged; ‖β₁‖_F = 1', () => {
    const { truth, data } = simulateData(TRUTH, 400, 9, DESIGN);
    const ll = truth.logLikelihood(data.X, data.y, data.n);
    for (const c of [0.1, 3, 40]) {
      for (const shift of [0, 1.3]) {
        const g = TRUTH.gate as unknown as { tau: number; beta0: number[]; beta1: number[][] };
        const json: ModelJSON = {
          gate: { type: 'denseToSparse', tau: c * g.tau, beta0: g.beta0.map((v) => c * v + shift), beta1: g.beta1.map((r) => [c * r[0] - shift]) },
          experts: EXPERTS,
        };
        const m = MixtureOfExperts.fromJSON(json);
        expect(relErr(m.theta, truth.theta)).toBeLessThan(1e-13);
        expect(Math.abs(m.logLikelihood(data.X, data.y, data.n) - ll)).toBeLessThan(1e-11 * Math.abs(ll));
      }
    }
    // the canonical JSON: unit slope norm, τ = 1/‖β₁/τ‖ = 1/25, and the same gate
    const canon = truth.toJSON().gate as unknown as { tau: number; beta0: number[]; beta1: number[][] };
    expect(canon.tau).toBeCloseTo(0.04, 14);
    expect(canon.beta1[0][0]).toBeCloseTo(1, 14);
    expect(canon.beta0[0]).toBeCloseTo(-0.32, 14);
    expect(canon.beta1[1][0]).toBe(0);
    const again = MixtureOfExperts.fromJSON(truth.toJSON());
    expect(relErr(again.theta, truth.theta)).toBeLessThan(1e-15);
    // d = 2, k = 3: Σ_j ‖β₁ⱼ‖² = 1 over the non-reference rows
    const gate = new TemperatureGate(3, 2);
    const theta = gate.paramsFromJSON({ type: 'denseToSparse', tau: 2, beta0: [1, 2, 3], beta1: [[1, 2], [3, 4], [5, 7]] });
    const nat = gate.natural(theta);
    expect(nat.beta1[0][0] ** 2 + nat.beta1[0][1] ** 2 + nat.beta1[1][0] ** 2 + nat.beta1[1][1] ** 2).toBeCloseTo(1, 14);
    // a gate constant in x reports τ = 1
    const flat = gate.paramsFromJSON({ type: 'denseToSparse', tau: 2, beta0: [1, 2, 3], beta1: [[0, 0], [0, 0], [0, 0]] });
    expect(gate.natural(flat).tau).toBe(1);
  });

  it('fixed τ: β is the working parameter and τ is checked against the option', () => {
    const m = MixtureOfExperts.fromJSON(TRUTH_FIXED);
    expect(Array.from(m.gateTheta)).toEqual([-4, 12.5]);
    expect(m.toJSON().gate).toEqual(TRUTH_FIXED.gate);
    expect(m.gate.blocks.map((b) => b.name)).toEqual(['beta0', 'beta1']);
    const gate = new TemperatureGate(2, 1, 0.5);
    expect(() => gate.paramsFromJSON({ type: 'denseToSparse', tau: 0.6, beta0: [0, 0], beta1: [[1], [0]] })).toThrow(ModelFormatError);
    expect(() => MixtureOfExperts.fromJSON({ gate: { type: 'denseToSparse', beta0: [0, 0], beta1: [[1], [0]] }, experts: EXPERTS })).toThrow(/gate\.tau/);
  });

  it('CLI specs', () => {
    expect(parseGateSpec('temperature')).toEqual({ type: 'denseToSparse' });
    expect(parseGateSpec('temperature:fixed=0.5')).toEqual({ type: 'denseToSparse', fixedTau: true, tau: 0.5 });
    expect(() => parseGateSpec('temperature:fixed=-1')).toThrow(OptionError);
    expect(() => parseGateSpec('temperature:tau=1')).toThrow(OptionError);
  });

  it('seeded sampling matches the weights (χ² on 1e5 draws)', () => {
    checkSampling(MixtureOfExperts.fromJSON(TRUTH), [0.3], 11);
    checkSampling(MixtureOfExperts.fromJSON(TRUTH_FIXED), [0.35], 12);
  });

  it('plain EM never decreases the log-likelihood (τ estimated and fixed)', () => {
    checkEMMonotone(TRUTH, 3000, 13, DESIGN, 0.5);
    checkEMMonotone(TRUTH_FIXED, 3000, 14, DESIGN, 0.5);
  });

  it('recovers the truth at n = 5e4 within 4.5 asymptotic standard errors (nearTruth start)', () => {
    checkRecovery(TRUTH, 50_000, 15, DESIGN);
  });
});
