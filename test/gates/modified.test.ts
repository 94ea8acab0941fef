import { describe, it, expect } from 'vitest';
import { ModifiedGate, registerGateMap, gateMap, type GateMap } from '../../src/gates/modified.js';
import { SoftmaxGate } from '../../src/gates/softmax.js';
import { parseGateSpec } from '../../src/gates/registry.js';
import { Rng } from '../../src/numeric/rng.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { ModelFormatError, OptionError } from '../../src/errors.js';
import {
  checkEMMonotone, checkGradQ, checkMStep, checkNormalised, checkRecovery, checkSampling, relErr,
  simulateData, softTargets, uniformX,
} from './family-helpers.js';

const EXPERTS = { type: 'gaussianLinear', a: [[-2], [2]], b: [1, -1], variance: [0.09, 0.16] };
/** M = sin on x ∈ [−3, 3]: π₁(x) = σ(3 sin x + 0.5), a non-monotone gate. */
const TRUTH: ModelJSON = { gate: { type: 'modified', map: 'sin', beta0: [0.5, 0], beta1: [[3], [0]] }, experts: EXPERTS };
const DESIGN = { type: 'uniform', low: -3, high: 3 } as const;

registerGateMap({ name: 'cubeRoot', elementwise: Math.cbrt });
const rowNorm: GateMap = {
  name: 'rowNormalise',
  batch: (X, n, d, out) => {
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let u = 0; u < d; u++) s += X[t * d + u] ** 2;
      const inv = 1 / Math.sqrt(1 + s);
      for (let u = 0; u < d; u++) out[t * d + u] = X[t * d + u] * inv;
    }
  },
};
registerGateMap(rowNorm);

describe('modified gate', () => {
  it.each(['sin', 'tanh', 'sigmoid', 'identity', 'cubeRoot', 'rowNormalise'])('weights sum to 1 and gradQ matches finite differences (M = %s)', (name) => {
    const rng = new Rng(400 + name.length);
    const gate = new ModifiedGate(3, 2, name);
    const theta = new Float64Array(gate.nParams).map(() => rng.normal());
    const n = 60;
    const X = uniformX(n, 2, rng, -3, 3);
    checkNormalised(gate, theta, X, n);
    checkGradQ(gate, theta, X, n, rng);
  });

  it('is the softmax gate on the features M(x); identity is the softmax gate', () => {
    const rng = new Rng(1);
    const n = 30;
    const X = uniformX(n, 2, rng, -3, 3);
    const F = X.map(Math.sin);
    const theta = new Float64Array(6).map(() => rng.normal());
    const a = new Float64Array(n * 3);
    const b = new Float64Array(n * 3);
    new ModifiedGate(3, 2, 'sin').logWeights(theta, X, n, a);
    new SoftmaxGate(3, 2).logWeights(theta, F, n, b);
    expect(relErr(a, b)).toBeLessThan(1e-15);
    new ModifiedGate(3, 2, 'identity').logWeights(theta, X, n, a);
    new SoftmaxGate(3, 2).logWeights(theta, X, n, b);
    expect(relErr(a, b)).toBeLessThan(1e-15);
  });

  it('caches F = M(X) on the X array and n', () => {
    let calls = 0;
    const gate = new ModifiedGate(2, 1, { name: 'counted', elementwise: (x) => { calls++; return Math.tanh(x); } });
    const X = Float64Array.of(0.1, 0.2, 0.3);
    const out = new Float64Array(6);
    const theta = Float64Array.of(0.2, 1);
    gate.logWeights(theta, X, 3, out);
    gate.logWeights(theta, X, 3, out);
    gate.gradQ(theta, X, 3, out, new Float64Array(2));
    expect(calls).toBe(3);
    gate.logWeights(theta, X, 2, out);
    expect(calls).toBe(5);
    gate.logWeights(theta, X.slice(), 3, out);
    expect(calls).toBe(8);
  });

  it('M-step reaches the maximum and never decreases Q', () => {
    const rng = new Rng(8);
    const gate = new ModifiedGate(3, 2, 'tanh');
    const n = 1500;
    const X = uniformX(n, 2, rng, -3, 3);
    const truth = new Float64Array(gate.nParams).map(() => 1.5 * rng.normal());
    const R = softTargets(gate, truth, X, n, rng);
    checkMStep(gate, new Float64Array(gate.nParams), X, n, R, rng);
  });

  it('canonical form: translation leaves θ and the density unchanged; JSON round trip', () => {
    const { truth, data } = simulateData(TRUTH, 400, 3, DESIGN);
    const ll = truth.logLikelihood(data.X, data.y, data.n);
    const g = TRUTH.gate as unknown as { beta0: number[]; beta1: number[][] };
    const m = MixtureOfExperts.fromJSON({ gate: { ...TRUTH.gate, beta0: g.beta0.map((v) => v - 4), beta1: g.beta1.map((r) => [r[0] + 1.5]) }, experts: EXPERTS });
    expect(relErr(m.theta, truth.theta)).toBeLessThan(1e-15);
    expect(Math.abs(m.logLikelihood(data.X, data.y, data.n) - ll)).toBeLessThan(1e-12 * Math.abs(ll));
    expect(truth.toJSON().gate).toEqual(TRUTH.gate);
    const before = truth.theta.slice();
    truth.canonicalize();
    expect(Array.from(truth.theta)).toEqual(Array.from(before));
  });

  it('user maps by name in JSON and on the CLI; unknown maps are clear errors', () => {
    expect(parseGateSpec('modified:sin')).toEqual({ type: 'modified', map: 'sin' });
    expect(parseGateSpec('modified:SIN')).toEqual({ type: 'modified', map: 'sin' });
    expect(parseGateSpec('modified:cubeRoot')).toEqual({ type: 'modified', map: 'cubeRoot' });
    expect(() => parseGateSpec('modified:relu')).toThrow(OptionError);
    expect(() => parseGateSpec('modified')).toThrow(OptionError);
    expect(() => gateMap('nope')).toThrow(ModelFormatError);
    const m = MixtureOfExperts.fromJSON({ gate: { type: 'modified', map: 'rowNormalise', beta0: [0, 0], beta1: [[1], [0]] }, experts: EXPERTS });
    expect(m.toJSON().gate.map).toBe('rowNormalise');
    expect(() => MixtureOfExperts.fromJSON({ gate: { type: 'modified', map: 'nope', beta0: [0, 0], beta1: [[1], [0]] }, experts: EXPERTS })).toThrow(/gate\.map/);
    expect(() => registerGateMap({ name: '1bad', elementwise: Math.sin })).toThrow(OptionError);
    // a map producing non-finite features is reported with the row
    const bad = new ModifiedGate(2, 1, { name: 'log', elementwise: Math.log });
    expect(() => bad.logWeights(Float64Array.of(0, 0), Float64Array.of(1, -1), 2, new Float64Array(4))).toThrow(/row 2/);
  });

  it('seeded sampling matches the weights (χ² on 1e5 draws)', () => {
    checkSampling(MixtureOfExperts.fromJSON(TRUTH), [2.5], 61);
  });

  it('plain EM never decreases the log-likelihood', () => {
    checkEMMonotone(TRUTH, 3000, 71, DESIGN, 0.3);
  });

  it('recovers the truth at n = 5e4 within 4.5 asymptotic standard errors (nearTruth start)', () => {
    checkRecovery(TRUTH, 50_000, 81, DESIGN);
  });
});
