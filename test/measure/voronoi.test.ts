import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { voronoiLoss, voronoiCells, rbar, resolveExponents, NORMALISATION_DOC } from '../../src/measure/voronoi.js';
import { atomsOf, resolveModel, registerVoronoiGate, voronoiGateHook } from '../../src/measure/atoms.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import type { ModelJSON } from '../../src/model/model.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { gateTypes } from '../../src/gates/registry.js';
import { Rng } from '../../src/numeric/rng.js';
import { findRegions } from '../../src/measure/voronoi/regions.js';
import { sampleX } from '../../src/model/data.js';
import { OptionError, ModelFormatError } from '../../src/errors.js';

/** Property-test runs; FC_RUNS_SCALE=10 (say) for a stress run. */
const runs = (n: number): number => Math.round(n * Number(process.env.FC_RUNS_SCALE ?? 1));

// math-spec §8.1 Oracle 1 (exact, K = 2) and Oracle 2 (over-specified, K = 3, cells (2,1), r̄ = 4)
const ORACLE1: ModelJSON = {
  gate: { type: 'softmax', beta0: [-8.1, 0], beta1: [[25.2], [0]] },
  experts: { type: 'gaussianLinear', b: [15.05, -4.9], a: [[-20.1], [20.2]], variance: [0.10, 0.15] },
};
const ORACLE2: ModelJSON = {
  gate: { type: 'softmax', beta0: [-8.7, -8.8, 0], beta1: [[25.1], [24.9], [0]] },
  experts: { type: 'gaussianLinear', b: [15.02, 14.97, -5.01], a: [[-20.05], [-19.9], [20.03]], variance: [0.092, 0.088, 0.161] },
};

interface Plain {
  beta0: number[];
  beta1: number[][];
  a: number[][];
  b: number[];
  variance: number[];
}

function toJSON(m: Plain): ModelJSON {
  return {
    gate: { type: 'softmax', beta0: m.beta0.slice(), beta1: m.beta1.map((r) => r.slice()) },
    experts: { type: 'gaussianLinear', a: m.a.map((r) => r.slice()), b: m.b.slice(), variance: m.variance.slice() },
  };
}

/** A canonical softmax-Gaussian truth with well-separated atoms. */
function randomTruth(rng: Rng, kStar: number, d: number): Plain {
  const m: Plain = { beta0: [], beta1: [], a: [], b: [], variance: [] };
  for (let j = 0; j < kStar; j++) {
    const last = j === kStar - 1;
    m.beta0.push(last ? 0 : -2 + 2 * rng.uniform());
    m.beta1.push(Array.from({ length: d }, () => (last ? 0 : 4 * (j + 1) * (rng.uniform() < 0.5 ? 1 : -1) + rng.uniform())));
    m.a.push(Array.from({ length: d }, () => 6 * j - 3 + rng.uniform()));
    m.b.push(5 * j + rng.uniform());
    m.variance.push(0.05 + 0.3 * rng.uniform());
  }
  return m;
}

/** A fit near the truth: every true atom gets 1..maxPer copies (weights split), small noise. */
function nearFit(rng: Rng, truth: Plain, extra: number, noise: number): Plain {
  const kStar = truth.b.length;
  const copies = new Array<number>(kStar).fill(1);
  for (let e = 0; e < extra; e++) copies[rng.int(kStar)]++;
  const f: Plain = { beta0: [], beta1: [], a: [], b: [], variance: [] };
  for (let j = 0; j < kStar; j++) {
    for (let c = 0; c < copies[j]; c++) {
      const nz = (): number => noise * (2 * rng.uniform() - 1);
      f.beta0.push(truth.beta0[j] - Math.log(copies[j]) + nz());
      f.beta1.push(truth.beta1[j].map((v) => v + nz()));
      f.a.push(truth.a[j].map((v) => v + nz()));
      f.b.push(truth.b[j] + nz());
      f.variance.push(truth.variance[j] * (1 + Math.abs(nz())));
    }
  }
  return f;
}

function permute(m: Plain, perm: number[]): Plain {
  return {
    beta0: perm.map((i) => m.beta0[i]),
    beta1: perm.map((i) => m.beta1[i]),
    a: perm.map((i) => m.a[i]),
    b: perm.map((i) => m.b[i]),
    variance: perm.map((i) => m.variance[i]),
  };
}

function shuffle(rng: Rng, k: number): number[] {
  const p = Array.from({ length: k }, (_, i) => i);
  for (let i = k - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

function translateGate(m: Plain, t0: number, t1: number[]): Plain {
  return { ...m, beta0: m.beta0.map((v) => v + t0), beta1: m.beta1.map((r) => r.map((v, u) => v + t1[u])) };
}

const PRESETS = ['D1', 'D2', 'D2strong', 'Dr:2'] as const;

describe('raw mode reproduces the authors\' loss_SGaME_exact (math-spec §8.1)', () => {
  it('Oracle 1 (exact, K = 2) = 0.310141197579531', () => {
    const r = voronoiLoss(ORACLE1, AUTHORS_TRUTH, { raw: true });
    expect(Math.abs(r.loss - 0.310141197579531)).toBeLessThan(1e-12);
    expect(r.cells).toEqual([[0], [1]]);
    expect(r.lossName).toBe('raw:D1');
  });

  it('Oracle 2 (over-specified, K = 3, r̄ = 4) = 0.0410201006870104', () => {
    const r = voronoiLoss(ORACLE2, AUTHORS_TRUTH, { raw: true });
    expect(Math.abs(r.loss - 0.0410201006870104)).toBeLessThan(1e-12);
    expect(r.cells).toEqual([[0, 1], [2]]);
    expect(r.exponents.beta1).toEqual([4, 1]);
    expect(r.exponents.a).toEqual([2, 1]);
  });

  it('block contributions add up to the loss', () => {
    for (const o of [ORACLE1, ORACLE2]) {
      const r = voronoiLoss(o, AUTHORS_TRUTH, { raw: true });
      const s = Object.values(r.blocks).reduce((x, y) => x + y, 0);
      expect(Math.abs(s - r.loss)).toBeLessThan(1e-14);
    }
  });

  it('uses the values as given (no canonical form): a shifted gate changes the raw loss', () => {
    const shifted: ModelJSON = { ...ORACLE1, gate: { type: 'softmax', beta0: [-7.1, 1], beta1: [[26.2], [1]] } };
    const raw = voronoiLoss(shifted, AUTHORS_TRUTH, { raw: true }).loss;
    expect(Math.abs(raw - 0.310141197579531)).toBeGreaterThan(0.1);
    // the normalised loss does not see the shift
    const a = voronoiLoss(shifted, AUTHORS_TRUTH).loss;
    const b = voronoiLoss(ORACLE1, AUTHORS_TRUTH).loss;
    expect(Math.abs(a - b)).toBeLessThan(1e-12);
  });

  it('fails where the authors\' code fails, with a one-line reason', () => {
    // four fitted atoms in one cell: rbar[4] is out of their table
    const f = toJSON({
      beta0: [-9, -9, -9, -9, 0], beta1: [[25], [25], [25], [25], [0]], a: [[-20], [-20], [-20], [-20], [20]],
      b: [15, 15, 15, 15, -5], variance: [0.09, 0.09, 0.09, 0.09, 0.16],
    });
    expect(() => voronoiLoss(f, AUTHORS_TRUTH, { raw: true })).toThrow(/IndexError: rbar\[4\]/);
    // every fitted atom in the cell of true atom 1: counts = [2] and counts[1] does not exist
    const g = toJSON({ beta0: [-1, 0], beta1: [[0.1], [0]], a: [[20], [20]], b: [-5, -5], variance: [0.16, 0.16] });
    expect(() => voronoiLoss(g, AUTHORS_TRUTH, { raw: true })).toThrow(/IndexError: counts\[1\]/);
    // both in cell 0 (exact branch): counts[0] = 2, so no distance term at all, only the masses
    const h = toJSON({ beta0: [-8, 0], beta1: [[25], [24]], a: [[-20], [-20]], b: [15, 15], variance: [0.09, 0.09] });
    expect(voronoiLoss(h, AUTHORS_TRUTH, { raw: true }).loss).toBeCloseTo(2, 14);
    expect(() => voronoiLoss(ORACLE1, AUTHORS_TRUTH, { raw: true, metric: 'l2' })).toThrow(OptionError);
    expect(() => voronoiLoss(ORACLE2, AUTHORS_TRUTH, { raw: true, loss: 'D1' })).toThrow(OptionError);
  });

  it('the translation artifact of math-spec §8.2: raw ≈ 1, normalised ≈ 0 for a correct over-specified fit', () => {
    // the reference expert split in two halves, written in canonical form (last β₀ = 0): (−8 + log 2, 0, 0)
    const split = toJSON({
      beta0: [-8 + Math.log(2), 0, 0], beta1: [[25], [0], [0]], a: [[-20], [20], [20]], b: [15, -5, -5], variance: [0.09, 0.16, 0.16],
    });
    const raw = voronoiLoss(split, AUTHORS_TRUTH, { raw: true });
    expect(raw.loss).toBeGreaterThan(0.99);
    const norm = voronoiLoss(split, AUTHORS_TRUTH, { loss: 'D2' });
    expect(norm.loss).toBeLessThan(1e-12);
    expect(norm.cells).toEqual([[0], [1, 2]]);
    expect(norm.normalisation?.logWeightShift).toBeCloseTo(-Math.log(2), 12);
  });
});

describe('normalised Voronoi losses', () => {
  it('D1 and D2 on the oracles agree with the raw values (canonical inputs, single-atom reference cell)', () => {
    expect(Math.abs(voronoiLoss(ORACLE1, AUTHORS_TRUTH, { loss: 'D1' }).loss - 0.310141197579531)).toBeLessThan(1e-12);
    expect(Math.abs(voronoiLoss(ORACLE2, AUTHORS_TRUTH, { loss: 'D2' }).loss - 0.0410201006870104)).toBeLessThan(1e-12);
    // default preset: D1 when k = k*, D2 otherwise
    expect(voronoiLoss(ORACLE1, AUTHORS_TRUTH).lossName).toBe('D1');
    expect(voronoiLoss(ORACLE2, AUTHORS_TRUTH).lossName).toBe('D2');
  });

  it('a hand-computed D2 with a two-atom reference cell (normalisation moves β₀ and β₁)', () => {
    // truth k* = 2, d = 1; the fit splits the reference expert into two atoms with β₁ = ±0.1 and equal weights
    const f = toJSON({
      beta0: [-8, 0, 0], beta1: [[25], [0.3], [0.1]], a: [[-20], [20], [20]], b: [15, -5, -5], variance: [0.09, 0.16, 0.16],
    });
    const r = voronoiLoss(f, AUTHORS_TRUTH, { loss: 'D2' });
    // canonical form (last expert as reference): β₁ = (24.9, 0.2, 0); normalised: t₀ = −log 2, t₁ = −0.1
    // ⇒ β₀ = (−8 − log 2, −log 2, −log 2), β₁ = (24.8, 0.1, −0.1)
    const expected = Math.abs(Math.exp(-8 - Math.log(2)) - Math.exp(-8)) + Math.exp(-8 - Math.log(2)) * 0.2 + 0 + 2 * 0.5 * Math.pow(0.1, 4);
    expect(r.loss).toBeCloseTo(expected, 13);
    expect(r.normalisation?.translation.beta1[0]).toBeCloseTo(-0.1, 13);
    expect(r.blockMax.beta1).toBeCloseTo(0.2, 12);
    expect(r.blockMaxMulti.beta1).toBeCloseTo(0.1, 12);
  });

  it('r̄: 1, 4, 6, then a clear error unless the user gives a value', () => {
    expect([1, 2, 3].map((m) => rbar(m))).toEqual([1, 4, 6]);
    expect(() => rbar(4)).toThrow(/r̄\(4\)/);
    expect(rbar(4, { 4: 8 })).toBe(8);
    const f = toJSON({
      beta0: [-9, -9, -9, -9, 0], beta1: [[25], [25.1], [24.9], [25.05], [0]], a: [[-20], [-20], [-20], [-20], [20]],
      b: [15, 15, 15, 15, -5], variance: [0.09, 0.09, 0.09, 0.09, 0.16],
    });
    expect(() => voronoiLoss(f, AUTHORS_TRUTH, { loss: 'D2' })).toThrow(OptionError);
    const r = voronoiLoss(f, AUTHORS_TRUTH, { loss: 'D2', rbar: { 4: 8 } });
    expect(r.exponents.beta1[0]).toBe(8);
    expect(r.exponents.a[0]).toBe(4);
    expect(voronoiLoss(f, AUTHORS_TRUTH, { loss: 'D2strong' }).exponents.beta1).toEqual([2, 1]);
  });

  it('presets and explicit exponents', () => {
    const { model, json } = resolveModel(ORACLE2);
    const atoms = atomsOf(model, json);
    const d2 = resolveExponents('D2', atoms, 2).exponent;
    expect([d2('beta1', 2), d2('b', 2), d2('a', 2), d2('variance', 2), d2('beta1', 3), d2('a', 3), d2('b', 1)]).toEqual([4, 4, 2, 2, 6, 3, 1]);
    const strong = resolveExponents('P3-D2', atoms, 2).exponent;
    expect([strong('beta1', 2), strong('a', 1)]).toEqual([2, 1]);
    const dr = resolveExponents('Dr:3', atoms, 2).exponent;
    expect([dr('a', 1), dr('b', 2)]).toEqual([3, 3]);
    expect(resolveExponents('Dr', atoms, 2, { r: 5 }).exponent('a', 1)).toBe(5);
    const custom = resolveExponents('custom:beta1=rbar,a=rbar/2,b=2*rbar,variance=3', atoms, 2).exponent;
    expect([custom('beta1', 2), custom('a', 3), custom('b', 2), custom('variance', 2), custom('a', 1)]).toEqual([4, 3, 8, 3, 1]);
    // explicit functions of the cell size
    const r = voronoiLoss(ORACLE2, AUTHORS_TRUTH, { loss: { exponents: { beta1: (m) => m, a: 1, b: 1, variance: 1 } } });
    expect(r.exponents.beta1).toEqual([2, 1]);
    expect(() => resolveExponents('D7', atoms, 2)).toThrow(OptionError);
    expect(() => resolveExponents('custom:gamma=2', atoms, 2)).toThrow(/no block named/);
    expect(() => voronoiLoss(ORACLE2, AUTHORS_TRUTH, { loss: { exponents: { beta1: 1 } } })).toThrow(/no exponent for block/);
  });

  it('rejects models with different atom blocks or dimensions', () => {
    const d2truth = toJSON({ beta0: [0], beta1: [[0, 0]], a: [[1, 1]], b: [0], variance: [1] });
    expect(() => voronoiLoss(ORACLE1, d2truth)).toThrow(ModelFormatError);
  });

  it('the documented normalisation text mentions the reference cell and raw mode', () => {
    expect(NORMALISATION_DOC).toMatch(/A_ref/);
    expect(NORMALISATION_DOC).toMatch(/raw/);
  });
});

describe('Voronoi properties (fast-check)', () => {
  const cfg = fc.record({
    seed: fc.integer({ min: 0, max: 1e9 }),
    kStar: fc.integer({ min: 1, max: 4 }),
    d: fc.integer({ min: 1, max: 2 }),
    extra: fc.integer({ min: 0, max: 2 }),
  });

  it('loss is 0 at the truth (and at any relabelling of it), for every preset', () => {
    fc.assert(fc.property(cfg, ({ seed, kStar, d }) => {
      const rng = new Rng(seed);
      const truth = randomTruth(rng, kStar, d);
      const perm = permute(truth, shuffle(rng, kStar));
      for (const loss of PRESETS) {
        expect(voronoiLoss(toJSON(truth), toJSON(truth), { loss }).loss).toBeLessThan(1e-12);
        expect(voronoiLoss(toJSON(perm), toJSON(truth), { loss }).loss).toBeLessThan(1e-12);
      }
    }), { numRuns: runs(40) });
  });

  it('invariant under permutation of the fitted atoms (loss and cells)', () => {
    fc.assert(fc.property(cfg, ({ seed, kStar, d, extra }) => {
      const rng = new Rng(seed);
      const truth = randomTruth(rng, kStar, d);
      const fit = nearFit(rng, truth, extra, 0.2);
      const perm = shuffle(rng, fit.b.length);
      const a = voronoiLoss(toJSON(fit), toJSON(truth), { loss: 'D2' });
      const b = voronoiLoss(toJSON(permute(fit, perm)), toJSON(truth), { loss: 'D2' });
      expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-10 * (1 + a.loss));
      // cells map through the permutation: fitted atom q of the permuted model is atom perm[q]
      const mapped = b.cells.map((c) => c.map((q) => perm[q]).sort((x, y) => x - y));
      expect(mapped).toEqual(a.cells);
    }), { numRuns: runs(60) });
  });

  it('normalised loss invariant under gate translation; the raw one is not', () => {
    fc.assert(fc.property(cfg, fc.double({ min: 0.2, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), ({ seed, kStar, d, extra }, t0, t1) => {
      const rng = new Rng(seed);
      const truth = randomTruth(rng, Math.max(kStar, 2), d);
      const fit = nearFit(rng, truth, Math.min(extra, 1), 0.2);
      const shifted = translateGate(fit, t0, Array.from({ length: d }, (_, u) => t1 * (u + 1)));
      for (const loss of ['D1', 'D2']) {
        const a = voronoiLoss(toJSON(fit), toJSON(truth), { loss }).loss;
        const b = voronoiLoss(toJSON(shifted), toJSON(truth), { loss }).loss;
        expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * (1 + a));
      }
      const ra = voronoiLoss(toJSON(fit), toJSON(truth), { raw: true }).loss;
      const rb = voronoiLoss(toJSON(shifted), toJSON(truth), { raw: true }).loss;
      expect(Math.abs(ra - rb)).toBeGreaterThan(1e-6);
    }), { numRuns: runs(40) });
  });

  it('cells partition the fitted atoms (any parameters, both metrics)', () => {
    fc.assert(fc.property(cfg, fc.constantFrom('l2', 'l1'), ({ seed, kStar, d, extra }, metric) => {
      const rng = new Rng(seed);
      const truth = randomTruth(rng, kStar, d);
      const fit = nearFit(rng, truth, extra, 20); // wild fits
      const cells = voronoiCells(toJSON(fit), toJSON(truth), { metric, loss: 'D2strong' });
      expect(cells.length).toBe(kStar);
      const all = cells.flat().sort((x, y) => x - y);
      expect(all).toEqual(Array.from({ length: fit.b.length }, (_, i) => i));
    }), { numRuns: runs(60) });
  });

  it('loss grows monotonically as one block of one fitted atom is perturbed', () => {
    const blocks = ['beta1', 'a', 'b', 'variance'] as const;
    fc.assert(fc.property(cfg, fc.constantFrom(...blocks), fc.constantFrom(...PRESETS), ({ seed, kStar, d, extra }, block, loss) => {
      const rng = new Rng(seed);
      const truth = randomTruth(rng, kStar, d);
      const base = nearFit(rng, truth, extra, 0);
      const atom = rng.int(base.b.length);
      const dir = Array.from({ length: d }, () => 2 * rng.uniform() - 1);
      const steps = [0, 0.01, 0.05, 0.1, 0.2, 0.4];
      let prev = -Infinity;
      for (const s of steps) {
        const f: Plain = JSON.parse(JSON.stringify(base)) as Plain;
        if (block === 'beta1') f.beta1[atom] = f.beta1[atom].map((v, u) => v + s * dir[u]);
        else if (block === 'a') f.a[atom] = f.a[atom].map((v, u) => v + s * dir[u]);
        else if (block === 'b') f.b[atom] += s;
        else f.variance[atom] += s * 0.1;
        const l = voronoiLoss(toJSON(f), toJSON(truth), { loss }).loss;
        expect(l).toBeGreaterThanOrEqual(prev - 1e-12);
        if (s > 0 && !(block === 'beta1' && base.b.length === 1)) expect(l).toBeGreaterThan(0); // one expert: β₁ is not identifiable
        prev = l;
      }
    }), { numRuns: runs(60) });
  });
});

describe('gate families through the hook registry', () => {
  it('a gate registered without translation invariance is measured as given', () => {
    const saved = voronoiGateHook('softmax').hook;
    try {
      registerVoronoiGate('softmax', { translation: null });
      const r = voronoiLoss(ORACLE2, AUTHORS_TRUTH, { loss: 'D2' });
      expect(r.normalisation).toBeNull();
      expect(Math.abs(r.loss - 0.0410201006870104)).toBeLessThan(1e-12);
    } finally {
      registerVoronoiGate('softmax', saved);
    }
  });

  const hasTemperature = gateTypes().some((g) => g.type === 'denseToSparse');
  it.runIf(hasTemperature)('temperature gate: the normalised loss is invariant under (β₁, β₀, τ) → c(β₁, β₀, τ)', () => {
    const truth: ModelJSON = {
      gate: { type: 'denseToSparse', tau: 0.5, beta0: [-4, 0], beta1: [[12.5], [0]] },
      experts: AUTHORS_TRUTH.experts,
    };
    const fitAt = (c: number, t0: number): ModelJSON => ({
      gate: { type: 'denseToSparse', tau: 0.52 * c, beta0: [(-4.1 + t0) * c, t0 * c], beta1: [[(12.7 + t0) * c], [t0 * c]] },
      experts: { type: 'gaussianLinear', a: [[-20.1], [20.2]], b: [15.05, -4.9], variance: [0.1, 0.15] },
    });
    const base = voronoiLoss(fitAt(1, 0), truth, { loss: 'D1' }).loss;
    expect(base).toBeGreaterThan(0);
    for (const [c, t0] of [[2, 0], [0.3, 1], [5, -2]]) {
      expect(Math.abs(voronoiLoss(fitAt(c, t0), truth, { loss: 'D1' }).loss - base)).toBeLessThan(1e-9);
    }
    expect(voronoiLoss(truth, truth).loss).toBeLessThan(1e-12);
  });

  const hasTopK = gateTypes().some((g) => g.type === 'topK');
  it.runIf(hasTopK)('top-K: max over the input regions of the true gate; regions with no x mass are dropped', () => {
    // k* = 2, K = 1, d = 1, selection on β₁ᵀx only: expert 0 (β₁ = 2) wins for x > 0, expert 1 (β₁ = 0) for x < 0
    const truth: ModelJSON = {
      gate: { type: 'topK', K: 1, beta0: [0.5, 0], beta1: [[2], [0]] },
      experts: { type: 'gaussianLinear', a: [[1], [-1]], b: [3, -3], variance: [0.5, 0.5] },
    };
    const fit: ModelJSON = {
      gate: { type: 'topK', K: 1, beta0: [0.5, 0], beta1: [[2], [0]] },
      experts: { type: 'gaussianLinear', a: [[1], [-1.3]], b: [3.1, -3], variance: [0.5, 0.5] },
    };
    const onPositive = voronoiLoss(fit, truth, { loss: 'D1', x: { type: 'uniform', low: 0, high: 1 } });
    expect(onPositive.regions?.length ?? 1).toBe(1); // only x > 0 is drawn: the region of expert 1 has no mass
    expect(onPositive.loss).toBeCloseTo(Math.exp(0.5) * 0.1, 10);
    const both = voronoiLoss(fit, truth, { loss: 'D1', x: { type: 'uniform', low: -1, high: 1 } });
    expect(both.regions?.map((r) => r.active)).toEqual([[0], [1]]);
    expect(both.loss).toBeCloseTo(Math.max(Math.exp(0.5) * 0.1, 0.3), 10);
    expect(both.blocks.a).toBeCloseTo(0.3, 10);
  });

  it.runIf(hasTopK)('top-K regions: the active sets and masses of a per-draw count, in the order of their keys', () => {
    // k* = 4, K = 2, d = 2 on x ~ U[−2, 2]²: the top-2 sets of four linear scores (cones), several regions
    const truth = MixtureOfExperts.fromJSON({
      gate: { type: 'topK', K: 2, beta0: [0.3, -0.2, 0.1, 0], beta1: [[3, 0], [-2, 1], [0.7, -2], [0, 0]] },
      experts: { type: 'gaussianLinear', a: [[1, 0], [-1, 0], [2, 0], [0, 0]], b: [3, -3, 0, 1], variance: [0.5, 0.5, 0.5, 0.5] },
    });
    const x = { type: 'uniform' as const, low: -2, high: 2 };
    const r = findRegions(truth, { x, samples: 3000, seed: 11 });
    // brute force on the same draws: one string key per draw
    const X = sampleX(x, 3000, 2, new Rng(11).split('voronoi-regions'));
    const lw = new Float64Array(3000 * 4);
    truth.gate.logWeights(truth.gateTheta, X, 3000, lw);
    const count = new Map<string, number>();
    for (let t = 0; t < 3000; t++) {
      const key = [0, 1, 2, 3].filter((i) => lw[t * 4 + i] > -Infinity).join(',');
      count.set(key, (count.get(key) ?? 0) + 1);
    }
    const keys = [...count.keys()].sort();
    expect(keys.length).toBeGreaterThan(2);
    expect(r.regions.map((a) => a.join(','))).toEqual(keys);
    expect(r.masses).toEqual(keys.map((k) => (count.get(k) ?? 0) / 3000));
  });
});

describe('every registered family: loss 0 at the truth, invariances of its canonical form', () => {
  const has = (t: string): boolean => gateTypes().some((g) => g.type === t);
  const ex3 = { type: 'gaussianLinear', a: [[-2], [2], [0.5]], b: [1, -1, 3], variance: [0.2, 0.3, 0.4] };
  const lin = { beta0: [0.3, -0.2, 0], beta1: [[2], [-3], [0]] };
  // each case: the gate JSON, and a function giving an equivalent gate JSON (same model) for parameter c
  const cases: { name: string; type: string; gate: Record<string, unknown>; equivalent: (c: number) => Record<string, unknown> }[] = [
    { name: 'modified', type: 'modified', gate: { type: 'modified', map: 'sin', ...lin },
      equivalent: (c) => ({ type: 'modified', map: 'sin', beta0: lin.beta0.map((v) => v + c), beta1: lin.beta1.map((r) => [r[0] - c]) }) },
    { name: 'topK', type: 'topK', gate: { type: 'topK', K: 2, ...lin },
      equivalent: (c) => ({ type: 'topK', K: 2, beta0: lin.beta0.map((v) => v + c), beta1: lin.beta1.map((r) => [r[0] + 2 * c]) }) },
    { name: 'denseToSparse (scale and translation)', type: 'denseToSparse', gate: { type: 'denseToSparse', tau: 0.7, ...lin },
      equivalent: (c) => ({ type: 'denseToSparse', tau: 0.7 * (1 + c * c), beta0: lin.beta0.map((v) => (v + c) * (1 + c * c)), beta1: lin.beta1.map((r) => [(r[0] + c) * (1 + c * c)]) }) },
    { name: 'activation tanh, bias outside (β₀ shift)', type: 'activation', gate: { type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.7, ...lin },
      equivalent: (c) => ({ type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.7, beta0: lin.beta0.map((v) => v + c), beta1: lin.beta1 }) },
    { name: 'activation identity, bias outside ((β₁, τ) scale)', type: 'activation', gate: { type: 'activation', sigma: 'identity', bias: 'outside', tau: 0.7, ...lin },
      equivalent: (c) => ({ type: 'activation', sigma: 'identity', bias: 'outside', tau: 0.7 * (1 + c * c), beta0: lin.beta0.map((v) => v + c), beta1: lin.beta1.map((r) => [r[0] * (1 + c * c)]) }) },
  ];
  for (const cs of cases) {
    it.runIf(has(cs.type))(cs.name, () => {
      const truth = { gate: cs.gate, experts: ex3 };
      expect(voronoiLoss(truth, truth).loss).toBeLessThan(1e-12);
      const fit = { gate: cs.equivalent(0), experts: { ...ex3, b: [1.1, -1, 3.05] } };
      const base = voronoiLoss(fit, truth, { loss: 'D1' }).loss;
      expect(base).toBeGreaterThan(0.01);
      for (const c of [-1.3, 0.4, 2]) {
        const eq = { gate: cs.equivalent(c), experts: fit.experts };
        expect(Math.abs(voronoiLoss(eq, truth, { loss: 'D1' }).loss - base)).toBeLessThan(1e-9);
      }
    });
  }

  it.runIf(has('hierarchical'))('hierarchical: atoms are the inner experts, invariant under outer and inner translations', () => {
    const h = {
      gate: { type: 'hierarchical', K1: 2, K2: 2, omega0: [0.5, 0], omega1: [[2], [0]], beta0: [[0.3, 0], [-0.4, 0]], beta1: [[[1], [0]], [[-2], [0]]] },
      experts: { type: 'gaussianLinear', a: [[-2], [2], [0.5], [1]], b: [1, -1, 3, 5], variance: [0.2, 0.3, 0.4, 0.5] },
    };
    expect(voronoiLoss(h, h).loss).toBeLessThan(1e-12);
    const shifted = JSON.parse(JSON.stringify(h)) as typeof h;
    shifted.gate.omega0 = [1.5, 1];
    shifted.gate.omega1 = [[3], [1]];
    shifted.gate.beta0 = [[1.3, 1], [-0.4, 0]];
    shifted.gate.beta1 = [[[1.5], [0.5]], [[-2], [0]]];
    expect(voronoiLoss(shifted, h).loss).toBeLessThan(1e-12);
    expect(voronoiLoss(h, h).cells).toEqual([[0], [1], [2], [3]]);
  });

  it('multinomial and regression experts: generic atoms, D2 exponent 2 in multi-atom cells', () => {
    const mn = {
      gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] },
      experts: { type: 'multinomialLogistic', classes: 3, a: [[1, -1, 0], [0.5, 0.2, 0]], b: [[[2], [1], [0]], [[-1], [3], [0]]] },
    };
    expect(voronoiLoss(mn, mn).loss).toBeLessThan(1e-12);
    const over = {
      gate: { type: 'softmax', beta0: [0.5 - Math.log(2), 0.5 - Math.log(2), 0], beta1: [[2.1], [1.9], [0]] },
      experts: { type: 'multinomialLogistic', classes: 3, a: [[1, -1, 0], [1, -1, 0], [0.5, 0.2, 0]], b: [[[2], [1], [0]], [[2], [1], [0]], [[-1], [3], [0]]] },
    };
    const r = voronoiLoss(over, mn, { loss: 'D2' });
    expect(r.cells).toEqual([[0, 1], [2]]);
    expect(r.exponents.beta1).toEqual([2, 1]);
    expect(r.exponents.b).toEqual([2, 1]);
    expect(r.loss).toBeCloseTo(2 * Math.exp(0.5 - Math.log(2)) * 0.01, 12);
    const rg = { gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] }, experts: { type: 'regression', activation: 'gelu', a: [[1], [-1]], b: [0.5, 0.2], noiseVariance: 0.1 } };
    const res = voronoiLoss(rg, rg);
    expect(res.loss).toBeLessThan(1e-12);
    expect(Object.keys(res.blocks).sort()).toEqual(['a', 'b', 'beta1', 'mass']);
  });
});

describe('a loss that cannot be measured', () => {
  it('an overflowing fitted parameter gives a non-finite loss with the VORONOI_NOT_FINITE warning; a finite one has none', () => {
    const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
    const huge = { ...AUTHORS_TRUTH, experts: { ...AUTHORS_TRUTH.experts, b: [1e300, -5] } };
    const r = voronoiLoss(MixtureOfExperts.fromJSON(huge), truth, { loss: 'D2' });
    expect(Number.isFinite(r.loss)).toBe(false);
    expect(r.warnings.map((w) => w.code)).toContain('VORONOI_NOT_FINITE');
    const ok = voronoiLoss(truth, truth, { loss: 'D2' });
    expect(ok.loss).toBe(0);
    expect(ok.warnings.map((w) => w.code)).not.toContain('VORONOI_NOT_FINITE');
  });
});
