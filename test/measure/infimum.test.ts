import { describe, it, expect } from 'vitest';
import { voronoiLoss } from '../../src/measure/voronoi.js';
import { nelderMead } from '../../src/measure/voronoi/infimum.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { LossWorkspace, assignCells, evaluateLoss, sizesInto, sizesOf } from '../../src/measure/voronoi/cells.js';
import { resolveExponents } from '../../src/measure/voronoi/exponents.js';
import { atomsOf, resolveModel } from '../../src/measure/atoms.js';
import type { ModelJSON } from '../../src/model/model.js';

/** The loss of `fit` after adding (t0, t1) to every (β₀ᵢ, β₁ᵢ) and scaling (β₁, β₀, τ) by c: the model is unchanged. */
function moved(fit: ModelJSON, t0: number, t1: number, c = 1): ModelJSON {
  const g = fit.gate as unknown as { type: string; beta0: number[]; beta1: number[][]; tau?: number };
  return { ...fit, gate: { ...g, beta0: g.beta0.map((v) => c * (v + t0)), beta1: g.beta1.map((r) => r.map((v) => c * (v + t1))), ...(g.tau !== undefined ? { tau: c * g.tau } : {}) } };
}

// over-specified: two atoms near true atom 0 (β₁ 25), one near the reference, off by gate translations
const OVER: ModelJSON = {
  gate: { type: 'softmax', beta0: [-8.9, -8.3, 0.2], beta1: [[26.5], [23.1], [0.8]] },
  experts: { type: 'gaussianLinear', b: [15.2, 14.7, -5.1], a: [[-20.4], [-19.5], [20.2]], variance: [0.1, 0.08, 0.17] },
};

/** Brute force: D over a grid of translations (t0, t1) of the canonical representative, cells recomputed (translation 'none' on the moved model). */
function gridMin(fit: ModelJSON, loss: string, range: number, steps: number): number {
  let best = Infinity;
  // canonical form first (reference expert at 0), then every shift of the grid
  const canon = moved(fit, -(fit.gate as unknown as { beta0: number[] }).beta0[2], -(fit.gate as unknown as { beta1: number[][] }).beta1[2][0]);
  for (let i = 0; i <= steps; i++) {
    for (let j = 0; j <= steps; j++) {
      const t0 = -range + (2 * range * i) / steps;
      const t1 = -range + (2 * range * j) / steps;
      const v = voronoiLoss(moved(canon, t0, t1), AUTHORS_TRUTH, { loss, translation: 'none' }).loss;
      if (v < best) best = v;
    }
  }
  return best;
}

describe('loss as an infimum over the gate invariance group', () => {
  it('evaluateLoss with a reused workspace gives the bits of a fresh call, call after call (cells of changing sizes)', () => {
    const T = resolveModel(AUTHORS_TRUTH, 'truth').model;
    const ta = atomsOf(T, T.toJSON(), 'truth');
    const F = resolveModel(OVER, 'fit').model;
    const fa = atomsOf(F, F.toJSON(), 'fit');
    const { exponent } = resolveExponents('D2', fa, ta.k);
    const ws = new LossWorkspace(fa.k, ta.k, fa.blocks, exponent);
    let sizesSeen = '';
    // fitted atom i moved onto true atom j (plus a little): sizes (2,1), (3,0), (1,2), back to (2,1)
    for (const moves of [[], [[2, 0]], [[0, 1]], [], [[1, 1], [2, 0]]]) {
      const a = { ...fa, coords: fa.coords.slice(), logWeight: fa.logWeight.slice() };
      for (const [i, j] of moves) for (let u = 0; u < a.p; u++) a.coords[i * a.p + u] = ta.coords[j * a.p + u] + 0.01 * (u + 1);
      const fresh = assignCells(a, ta, 'l2');
      const freshSizes = sizesOf(fresh, ta.k);
      const want = evaluateLoss(a, ta, fresh, exponent, freshSizes, null);
      const assign = assignCells(a, ta, 'l2', ws.assign);
      const got = evaluateLoss(a, ta, assign, exponent, sizesInto(assign, ws.sizes), null, ws);
      sizesSeen += Array.from(ws.sizes).join('') + ' ';
      expect(got.loss).toBe(want.loss);
      expect(Array.from(got.perTrue)).toEqual(Array.from(want.perTrue));
      expect(Array.from(got.massPerTrue)).toEqual(Array.from(want.massPerTrue));
      expect(Array.from(got.blocksPerTrue)).toEqual(Array.from(want.blocksPerTrue));
    }
    expect(new Set(sizesSeen.trim().split(' ')).size).toBeGreaterThan(1);
  });

  it('Nelder–Mead finds the minimum of a smooth bowl and of |x| + |y|', () => {
    const r = nelderMead((x) => (x[0] - 1) ** 2 + 10 * (x[1] + 2) ** 2, new Float64Array([0, 0]), new Float64Array([0.5, 0.5]));
    expect(r.x[0]).toBeCloseTo(1, 4);
    expect(r.x[1]).toBeCloseTo(-2, 4);
    const a = nelderMead((x) => Math.abs(x[0] - 0.3) + Math.abs(x[1]), new Float64Array([1, 1]), new Float64Array([0.2, 0.2]));
    expect(a.f).toBeLessThan(1e-4);
  });

  for (const loss of ['D1', 'D2']) {
    it(`${loss}: the infimum is ≤ the fixed point, matches a brute-force grid over (t₀, t₁), and does not depend on the representative`, () => {
      const r = voronoiLoss(OVER, AUTHORS_TRUTH, { loss, infimum: true });
      const inf = r.infimum!;
      expect(inf.loss).toBeLessThanOrEqual(r.loss + 1e-12);
      // grid: ±1.5 around the canonical form in steps of 0.03
      const g = gridMin(OVER, loss, 1.5, 100);
      expect(inf.loss).toBeLessThanOrEqual(g * (1 + 1e-6));
      expect(inf.loss).toBeGreaterThan(g * 0.9);
      // the same model written with another translation, and scaled: the same infimum
      const other = voronoiLoss(moved(OVER, 3, -7), AUTHORS_TRUTH, { loss, infimum: true }).infimum!;
      expect(other.loss).toBeCloseTo(inf.loss, 6);
      expect(inf.evaluations).toBeGreaterThan(10);
    });
  }

  it('a heavy non-reference atom: the fixed point matches the light reference, the infimum moves the error onto it', () => {
    // truth weights e^2 and 1, slopes 5 and 0; the fit is off by 2 in the heavy atom's slope only
    const truth: ModelJSON = { gate: { type: 'softmax', beta0: [2, 0], beta1: [[5], [0]] }, experts: { type: 'gaussianLinear', a: [[-2], [2]], b: [1, -1], variance: [0.1, 0.1] } };
    const fit: ModelJSON = { ...truth, gate: { type: 'softmax', beta0: [2, 0], beta1: [[7], [0]] } };
    const r = voronoiLoss(fit, truth, { loss: 'D1', infimum: true });
    expect(r.loss).toBeCloseTo(2 * Math.exp(2), 9); // the reference atom matched exactly, e^2·|Δβ₁| = 14.78
    expect(r.infimum!.loss).toBeCloseTo(2, 4); // shift β₁ by −2: the heavy atom exact, the reference off by 2 with weight 1
    expect(r.infimum!.translation.beta1[0]).toBeCloseTo(-2, 3);
  });

  it('a far fit keeps its loss: the weight shift cannot send every weight to 0 (the loss would fall to Σ e^{β*₀} for any fit)', () => {
    // one atom per cell, the reference expert's intercept off by 3: D1 at the fixed point is 3. Over the
    // whole orbit, e^s → 0 gives Σ_j |0 − e^{β*₀ⱼ}| = 2 < 3 without matching anything; the restricted
    // orbit (e^s between the cell-mass matches m*ⱼ/Mⱼ, here both 1) keeps s = 0, and any t₁ ≠ 0 adds 2|t₁|.
    const truth: ModelJSON = { gate: { type: 'softmax', beta0: [0, 0], beta1: [[1], [0]] }, experts: { type: 'gaussianLinear', a: [[0], [0]], b: [0, 5], variance: [1, 1] } };
    const fit: ModelJSON = { ...truth, experts: { type: 'gaussianLinear', a: [[0], [0]], b: [0, 8], variance: [1, 1] } };
    const r = voronoiLoss(fit, truth, { loss: 'D1', infimum: true });
    expect(r.loss).toBeCloseTo(3, 9);
    expect(r.infimum!.loss).toBeCloseTo(3, 6);
    expect(r.infimum!.logWeightShift).toBeCloseTo(0, 6);
  });

  it('a translation may not empty a cell: moving both atoms into the reference cell is not in the restricted orbit', () => {
    // truth slopes 1 and 0, same experts; the fit's atom 0 has b off by 10 (weight 1). Shifting β₁ by −1 puts
    // both fitted atoms in the reference cell (cell 0 empty, its term only its mass 1): 1 + 5.5 = 6.5 < 10.
    // With the cells kept non-empty, t₁ ∈ (−½, ½) and the loss is 2|e^s − 1| + e^s(10 + 2|t₁|) ≥ 10.
    const truth: ModelJSON = { gate: { type: 'softmax', beta0: [0, 0], beta1: [[1], [0]] }, experts: { type: 'gaussianLinear', a: [[0], [0]], b: [0, 0], variance: [1, 1] } };
    const fit: ModelJSON = { ...truth, experts: { type: 'gaussianLinear', a: [[0], [0]], b: [10, 0], variance: [1, 1] } };
    const r = voronoiLoss(fit, truth, { loss: 'D1', infimum: true });
    expect(r.loss).toBeCloseTo(10, 9);
    expect(r.infimum!.loss).toBeCloseTo(10, 6);
    expect(r.infimum!.cells.every((c) => c.length === 1)).toBe(true);
    // the emptied-cell point is really lower (so the restriction, not the search, keeps the value)
    const emptied = voronoiLoss({ ...fit, gate: { type: 'softmax', beta0: [-Math.log(2), -Math.log(2)], beta1: [[0], [-1]] } }, truth, { loss: 'D1', translation: 'none' });
    expect(emptied.cells[0]).toEqual([]);
    expect(emptied.loss).toBeCloseTo(6.5, 9);
  });

  it('a far over-specified fit (a stored medium-run fit, n = 1e5): the restricted infimum matches a brute-force grid of the restricted orbit, not the constant Σ e^{β*₀}', () => {
    // softmax-over · over3, n = 100000, rep 2 of the session-3 run: D2 = 20.8, the reference cell split in β₁
    const far: ModelJSON = {
      gate: { type: 'softmax', beta0: [-0.08357739362714421, -7.604600415967305, 0], beta1: [[4.265832294104956], [28.529440930570892], [0]] },
      experts: { type: 'gaussianLinear', a: [[20.251274245435205], [-20.003418828097924], [20.308116300248393]], b: [-5.146591231448203, 15.002599842630682, -4.856100029026773], variance: [0.14153832406054848, 0.09039712640991096, 0.1384259809039062] },
    };
    const r = voronoiLoss(far, AUTHORS_TRUTH, { loss: 'D2', infimum: true });
    const inf = r.infimum!;
    expect(r.loss).toBeGreaterThan(20);
    expect(inf.loss).toBeLessThanOrEqual(r.loss + 1e-12);
    const total = AUTHORS_TRUTH.gate.beta0 as number[];
    expect(inf.loss).toBeGreaterThan(2 * total.reduce((s, b) => s + Math.exp(b), 0)); // not the collapsed value ≈ 1.0003
    // brute force: every (t₀, t₁) of a grid around the reported element, kept when its cells are all non-empty
    // and some cell's fitted mass is ≥ its true weight and some ≤ (e^s between the matches), cells recomputed
    const n = r.normalisation!;
    const s0 = n.logWeightShift + inf.logWeightShift;
    const t10 = n.translation.beta1[0] + inf.translation.beta1[0];
    const trueW = total.map(Math.exp);
    let best = Infinity;
    for (let i = 0; i <= 60; i++) {
      for (let j = 0; j <= 60; j++) {
        const t0 = s0 - 1.5 + (3 * i) / 60;
        const t1 = t10 - 3 + (6 * j) / 60;
        const mv = moved(far, t0, t1);
        const v = voronoiLoss(mv, AUTHORS_TRUTH, { loss: 'D2', translation: 'none' });
        if (v.cells.some((c) => c.length === 0)) continue;
        const b0 = (mv.gate as unknown as { beta0: number[] }).beta0;
        const masses = v.cells.map((c) => c.reduce((s, q) => s + Math.exp(b0[q]), 0));
        if (!masses.some((m, q) => m >= trueW[q]) || !masses.some((m, q) => m <= trueW[q])) continue;
        best = Math.min(best, v.loss);
      }
    }
    expect(Number.isFinite(best)).toBe(true);
    expect(inf.loss).toBeLessThanOrEqual(best * (1 + 1e-6));
    expect(inf.loss).toBeGreaterThan(best * 0.9);
  });

  it('the reported group element reproduces the infimum with translation off', () => {
    const r = voronoiLoss(OVER, AUTHORS_TRUTH, { loss: 'D2', infimum: true });
    const inf = r.infimum!;
    const n = r.normalisation!;
    const canon = moved(OVER, -0.2, -0.8);
    const at = moved(canon, n.logWeightShift + inf.logWeightShift, n.translation.beta1[0] + inf.translation.beta1[0]);
    expect(voronoiLoss(at, AUTHORS_TRUTH, { loss: 'D2', translation: 'none' }).loss).toBeCloseTo(inf.loss, 9);
  });

  it('temperature gate: the scale orbit is searched too (infimum ≤ the loss at τ̂ = τ*)', () => {
    const truth: ModelJSON = { gate: { type: 'denseToSparse', tau: 0.5, beta0: [-4, 0], beta1: [[12.5], [0]] }, experts: AUTHORS_TRUTH.experts };
    const fit: ModelJSON = { gate: { type: 'denseToSparse', tau: 0.7, beta0: [-5.8, -5.4, 0.1], beta1: [[18.2], [16.9], [0.3]] }, experts: OVER.experts };
    const r = voronoiLoss(fit, truth, { loss: 'D2', infimum: true });
    expect(r.infimum!.loss).toBeLessThanOrEqual(r.loss + 1e-12);
    // brute force over the scale orbit c ∈ [0.8, 1.25] (translations handled by the fixed point)
    let best = Infinity;
    for (let i = 0; i <= 60; i++) {
      const c = 0.8 * Math.pow(1.25 / 0.8, i / 60);
      best = Math.min(best, voronoiLoss(moved(fit, 0, 0, c), truth, { loss: 'D2', scale: false }).loss);
    }
    expect(r.infimum!.loss).toBeLessThanOrEqual(best * (1 + 1e-6));
    expect(Math.abs(Math.log(r.infimum!.scale))).toBeLessThan(0.5);
  });

  it('a gate without invariances reports no infimum', () => {
    const act: ModelJSON = { gate: { type: 'activation', sigma: 'tanh', bias: 'inside', tau: 0.2, beta0: [-1, 0], beta1: [[2], [0]] }, experts: { type: 'gaussianLinear', a: [[-4], [4]], b: [2, -2], variance: [0.09, 0.16] } };
    expect(voronoiLoss(act, act, { loss: 'D1', infimum: true }).infimum).toBeUndefined();
  });
});
