import { describe, it, expect } from 'vitest';
import { measureAll, measureVersions, STRATIFIED_QUADRATURE_SAMPLES, DEFAULT_DENSITY_SAMPLES } from '../../src/study/measures.js';
import { conditionalKind, densityDistance } from '../../src/measure/distance.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { Rng } from '../../src/numeric/rng.js';
import type { XDesign } from '../../src/model/data.js';

// an over-specified fit of the authors' truth (a 2-atom cell), as the studies measure it
const FIT: ModelJSON = {
  gate: { type: 'softmax', beta0: [-8.5, -8.9, 0], beta1: [[25], [26], [0]] },
  experts: { type: 'gaussianLinear', b: [15.1, 14.9, -5], a: [[-20.3], [-19.8], [20]], variance: [0.08, 0.1, 0.16] },
};
const fit = MixtureOfExperts.fromJSON(FIT, 'fit');
const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH, 'truth');
const design: XDesign = { type: 'uniform', low: 0, high: 1 };
const empty = { X: new Float64Array(0), y: new Float64Array(0), n: 0, d: 1 };

/** The stratified points a job's measure stream gives for `metric` (measures.ts: split('measure', base), one uniform per stratum). */
function jobPoints(seed: bigint, metric: string, m: number): Float64Array {
  const rng = new Rng(seed).split('measure').split('measure', metric);
  return Float64Array.from({ length: m }, (_, i) => (i + rng.uniform()) / m);
}

describe('density measures in studies: x points by default (measure version 3)', () => {
  it('Gaussian responses on a stratified 1-d design: 64 points from the job stream; options.samples still wins', () => {
    expect(STRATIFIED_QUADRATURE_SAMPLES).toBe(64);
    expect(conditionalKind(fit)).toBe('gaussian');
    for (const metric of ['hellinger', 'tv'] as const) {
      const v = measureAll([{ name: metric, base: metric, options: {} }], { fit, truth, data: empty, design, rng: new Rng(7n).split('measure') })[metric];
      const want = densityDistance(fit, truth, { metric, x: jobPoints(7n, metric, 64) }).distance;
      expect(v).toBe(want);
      const at256 = densityDistance(fit, truth, { metric, x: jobPoints(7n, metric, 256) }).distance;
      expect(v).not.toBe(at256);
      // the 64-point value is within a few Monte-Carlo errors of the 256-point one (stratified: tiny)
      expect(Math.abs(v - at256)).toBeLessThan(1e-2 * at256);
      const explicit = measureAll([{ name: metric, base: metric, options: { samples: 256 } }], { fit, truth, data: empty, design, rng: new Rng(7n).split('measure') })[metric];
      expect(explicit).toBe(at256);
    }
    expect(measureVersions().hellinger).toBe(3);
    expect(measureVersions().tv).toBe(3);
  });

  it('class responses and i.i.d. points keep 256', () => {
    const mn = (s: number): ModelJSON => ({
      gate: { type: 'softmax', beta0: [0.2, 0], beta1: [[s], [0]] },
      experts: { type: 'multinomialLogistic', classes: 3, a: [[0.5, -0.2, 0], [-0.4, 0.1, 0]], b: [[[1], [-1], [0]], [[0.5], [0.3], [0]]] },
    });
    const A = MixtureOfExperts.fromJSON(mn(2.1), 'fit');
    const B = MixtureOfExperts.fromJSON(mn(2), 'truth');
    expect(conditionalKind(A)).toBe('discrete');
    const v = measureAll([{ name: 'hellinger', base: 'hellinger', options: {} }], { fit: A, truth: B, data: empty, design, rng: new Rng(3n).split('measure') }).hellinger;
    expect(v).toBe(densityDistance(A, B, { x: jobPoints(3n, 'hellinger', DEFAULT_DENSITY_SAMPLES) }).distance);
    // not stratified: the design's i.i.d. draws, 256 of them
    const iid = measureAll([{ name: 'hellinger', base: 'hellinger', options: { stratify: false } }], { fit, truth, data: empty, design, rng: new Rng(3n).split('measure') }).hellinger;
    const rng = new Rng(3n).split('measure').split('measure', 'hellinger');
    expect(iid).toBe(densityDistance(fit, truth, { x: design, samples: 256, seed: rng.uint32() }).distance);
  });
});
