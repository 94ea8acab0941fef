import { describe, it, expect } from 'vitest';
import { HierarchicalGate } from '../../src/gates/hierarchical.js';
import { gateFactory, parseGateSpec } from '../../src/gates/registry.js';
import { Rng } from '../../src/numeric/rng.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { fitEM } from '../../src/estimate/em.js';
import { ModelFormatError, OptionError } from '../../src/errors.js';
import {
  checkEMMonotone, checkGradQ, checkMStep, checkNormalised, checkRecovery, checkSampling, relErr,
  simulateData, softTargets, uniformX,
} from './family-helpers.js';

/**
 * 2 groups × 2 experts on [0, 1]: group 0 for x > 0.5 (expert 0 for x > 0.75, expert 1 below),
 * group 1 for x < 0.5 (expert 2 for x > 0.25, expert 3 below).
 */
const TRUTH: ModelJSON = {
  gate: { type: 'hierarchical', K1: 2, K2: 2, omega0: [-5, 0], omega1: [[10], [0]], beta0: [[-7.5, 0], [-2.5, 0]], beta1: [[[10], [0]], [[10], [0]]] },
  experts: { type: 'gaussianLinear', a: [[-4], [4], [-4], [4]], b: [8, -4, 6, 0], variance: [0.09, 0.16, 0.09, 0.16] },
};
const DESIGN = { type: 'uniform', low: 0, high: 1 } as const;

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

describe('hierarchical gate', () => {
  it('π_{i₁i₂} = softmax(ω)_{i₁} · softmax(β_{i₁·})_{i₂} with expert index i₁·K2 + i₂', () => {
    const m = MixtureOfExperts.fromJSON(TRUTH);
    for (const x of [0.1, 0.4, 0.6, 0.9]) {
      const p = m.gateProbabilities(Float64Array.of(x), 1);
      const po = softmax([10 * x - 5, 0]);
      const p0 = softmax([10 * x - 7.5, 0]);
      const p1 = softmax([10 * x - 2.5, 0]);
      const expected = [po[0] * p0[0], po[0] * p0[1], po[1] * p1[0], po[1] * p1[1]];
      expect(relErr(p, expected)).toBeLessThan(1e-15);
    }
  });

  it.each([[2, 2, 1], [2, 3, 2], [3, 2, 3], [1, 3, 2], [3, 1, 1]])('weights sum to 1 and gradQ matches finite differences (%ix%i, d=%i)', (K1, K2, d) => {
    const rng = new Rng(500 + K1 * 10 + K2);
    const gate = new HierarchicalGate(K1, K2, d);
    expect(gate.k).toBe(K1 * K2);
    expect(gate.nParams).toBe((K1 - 1) * (d + 1) + K1 * (K2 - 1) * (d + 1));
    const theta = new Float64Array(gate.nParams).map(() => rng.normal());
    const n = 60;
    const X = uniformX(n, d, rng);
    checkNormalised(gate, theta, X, n);
    checkGradQ(gate, theta, X, n, rng);
  });

  it('M-step (outer softmax + one inner softmax per group) reaches the maximum and never decreases Q', () => {
    const rng = new Rng(9);
    const gate = new HierarchicalGate(2, 3, 2);
    const n = 2000;
    const X = uniformX(n, 2, rng);
    const truth = new Float64Array(gate.nParams).map(() => 1.5 * rng.normal());
    const R = softTargets(gate, truth, X, n, rng);
    checkMStep(gate, new Float64Array(gate.nParams), X, n, R, rng);
  });

  it('canonical form: translating each level (outer, and each group separately) leaves θ and the density unchanged', () => {
    const { truth, data } = simulateData(TRUTH, 400, 4, DESIGN);
    const ll = truth.logLikelihood(data.X, data.y, data.n);
    const g = TRUTH.gate as unknown as { omega0: number[]; omega1: number[][]; beta0: number[][]; beta1: number[][][] };
    const shift = [0.7, -1.9];
    const slope = [-2, 3.5];
    const json: ModelJSON = {
      gate: {
        ...TRUTH.gate,
        omega0: g.omega0.map((v) => v + 1.1),
        omega1: g.omega1.map((r) => [r[0] - 0.4]),
        beta0: g.beta0.map((row, i1) => row.map((v) => v + shift[i1])),
        beta1: g.beta1.map((grp, i1) => grp.map((r) => [r[0] + slope[i1]])),
      },
      experts: TRUTH.experts,
    };
    const m = MixtureOfExperts.fromJSON(json);
    expect(relErr(m.theta, truth.theta)).toBeLessThan(1e-15);
    expect(Math.abs(m.logLikelihood(data.X, data.y, data.n) - ll)).toBeLessThan(1e-12 * Math.abs(ll));
    expect(truth.toJSON().gate).toEqual(TRUTH.gate);
    const before = truth.theta.slice();
    truth.canonicalize();
    expect(Array.from(truth.theta)).toEqual(Array.from(before));
  });

  it('JSON validation, dims and CLI specs', () => {
    expect(parseGateSpec('hierarchical:2x3')).toEqual({ type: 'hierarchical', K1: 2, K2: 3 });
    expect(() => parseGateSpec('hierarchical:2')).toThrow(OptionError);
    expect(() => parseGateSpec('hierarchical')).toThrow(OptionError);
    const f = gateFactory('hierarchical');
    expect(f.dims(TRUTH.gate, 'gate')).toEqual({ k: 4, d: 1 });
    expect(() => f.create({ type: 'hierarchical', K1: 2, K2: 3 }, 4, 1)).toThrow(/--k 6/);
    expect(() => MixtureOfExperts.fromJSON({ ...TRUTH, gate: { ...TRUTH.gate, K2: 3 } })).toThrow(ModelFormatError);
    const g = TRUTH.gate as unknown as { beta1: number[][][] };
    expect(() => MixtureOfExperts.fromJSON({ ...TRUTH, gate: { ...TRUTH.gate, beta1: [g.beta1[0], [[1]]] } })).toThrow(/gate\.beta1\[1\]/);
    expect(MixtureOfExperts.fromJSON(TRUTH).gate.blocks.every((b) => !b.perExpert)).toBe(true);
  });

  it('nearTruth needs the same K1×K2 as the truth (its blocks are not indexed by expert)', () => {
    const { truth, data } = simulateData(TRUTH, 300, 5, DESIGN);
    expect(() => fitEM({ gate: { type: 'hierarchical', K1: 3, K2: 2 }, experts: { type: 'gaussianLinear' }, k: 6, d: 1 }, data, { init: { type: 'nearTruth', truth } })).toThrow(OptionError);
  });

  it('seeded sampling matches the weights (χ² on 1e5 draws)', () => {
    checkSampling(MixtureOfExperts.fromJSON(TRUTH), [0.55], 71);
    checkSampling(MixtureOfExperts.fromJSON(TRUTH), [0.3], 72);
  });

  it('plain EM never decreases the log-likelihood', () => {
    checkEMMonotone(TRUTH, 3000, 81, DESIGN, 0.3);
  });

  it('recovers the truth at n = 5e4 within 4.5 asymptotic standard errors (nearTruth start)', () => {
    checkRecovery(TRUTH, 50_000, 91, DESIGN);
  });
});
