import { describe, it, expect } from 'vitest';
import { voronoiLoss } from '../../src/measure/voronoi.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import type { ModelJSON } from '../../src/model/model.js';
import { measureAll } from '../../src/study/measures.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { Rng } from '../../src/numeric/rng.js';

// The authors' truth (β₀ = (−8, 0), β₁ = (25, 0), b = (15, −5), a = (−20, 20), ν = (0.09, 0.16)) and a
// k = 3 fit whose atoms 0 and 1 share the cell of true atom 0 with weights 0.6·e^−8 and 0.4·e^−8;
// atom 2 is the true reference expert.
function fit(opts: { db0?: number; b1?: number; logW1?: number; a1?: number } = {}): ModelJSON {
  const l = -8;
  return {
    gate: { type: 'softmax', beta0: [l + Math.log(0.6), opts.logW1 ?? l + Math.log(0.4), 0], beta1: [[25], [25], [0]] },
    experts: { type: 'gaussianLinear', b: [15 + (opts.db0 ?? 0), opts.b1 ?? 15, -5], a: [[-20], [opts.a1 ?? -20], [20]], variance: [0.09, 0.09, 0.16] },
  };
}

describe('cell:BLOCK — the per-parameter statistic built from the loss terms (math-spec §1.4)', () => {
  it('a shift δ of a heavy atom moves the D2 term by δ^r̄(2) = δ^4 and the cell statistic by δ·(w/W)^{1/4}', () => {
    for (const d of [0.01, 0.1, 0.5]) {
      const r = voronoiLoss(fit({ db0: d }), AUTHORS_TRUTH, { loss: 'D2' });
      expect(r.cells).toEqual([[0, 1], [2]]);
      expect(r.exponents.b[0]).toBe(4);
      expect(r.blocks.b).toBeCloseTo(0.6 * Math.exp(-8) * d ** 4, 14);
      expect(r.cellBlock.b).toBeCloseTo(d * 0.6 ** 0.25, 12);
    }
    // doubling δ doubles the statistic (power 1 in the parameter) and multiplies the term by 16
    const r1 = voronoiLoss(fit({ db0: 0.1 }), AUTHORS_TRUTH, { loss: 'D2' });
    const r2 = voronoiLoss(fit({ db0: 0.2 }), AUTHORS_TRUTH, { loss: 'D2' });
    expect(r2.cellBlock.b / r1.cellBlock.b).toBeCloseTo(2, 12);
    expect(r2.blocks.b / r1.blocks.b).toBeCloseTo(16, 10);
    // a and ν have exponent r̄/2 = 2 in a two-atom cell: (0.4·δ²/1)^{1/2}
    const ra = voronoiLoss(fit({ a1: -20.3 }), AUTHORS_TRUTH, { loss: 'D2' });
    expect(ra.exponents.a[0]).toBe(2);
    expect(ra.cellBlock.a).toBeCloseTo(0.3 * Math.sqrt(0.4), 12);
  });

  it('an atom of vanishing weight that wanders does not move it (param:BLOCK, the max error, does)', () => {
    const base = voronoiLoss(fit({ db0: 0.1, logW1: -60 }), AUTHORS_TRUTH, { loss: 'D2' });
    const wander = voronoiLoss(fit({ db0: 0.1, logW1: -60, b1: 19, a1: -17 }), AUTHORS_TRUTH, { loss: 'D2' });
    expect(wander.cells).toEqual([[0, 1], [2]]);
    // with the light atom's weight e^-60 the cell mean is the heavy atom's error: 0.1
    expect(base.cellBlock.b).toBeCloseTo(0.1, 10);
    expect(wander.cellBlock.b).toBeCloseTo(0.1, 10);
    expect(wander.cellBlock.a).toBeCloseTo(base.cellBlock.a, 10);
    expect(wander.blockMax.b).toBeCloseTo(4, 10);
    expect(wander.blockMax.a).toBeCloseTo(3, 10);
  });

  it('single-atom cells use exponent 1: the statistic is the weighted mean error', () => {
    const ex: ModelJSON = {
      gate: { type: 'softmax', beta0: [-8, 0], beta1: [[25.3], [0]] },
      experts: { type: 'gaussianLinear', b: [15, -5.2], a: [[-20], [20]], variance: [0.09, 0.16] },
    };
    const r = voronoiLoss(ex, AUTHORS_TRUTH, { loss: 'D1' });
    expect(r.cellBlock.beta1).toBeCloseTo(0.3, 10);
    expect(r.cellBlock.b).toBeCloseTo(0.2, 10);
  });

  it('is the study measure cell:BLOCK (default exponents of D2)', () => {
    const v = measureAll(
      [{ name: 'cell:b', base: 'cell', block: 'b', options: {} }, { name: 'cell:a', base: 'cell', block: 'a', options: {} }],
      { fit: MixtureOfExperts.fromJSON(fit({ db0: 0.2 })), truth: MixtureOfExperts.fromJSON(AUTHORS_TRUTH), data: { X: new Float64Array(1), y: new Float64Array(1), n: 1, d: 1 }, design: { type: 'uniform', low: 0, high: 1 }, rng: new Rng(1) },
    );
    expect(v['cell:b']).toBeCloseTo(0.2 * 0.6 ** 0.25, 12);
    expect(v['cell:a']).toBeCloseTo(0, 12);
  });
});
