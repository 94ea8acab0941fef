/**
 * Input regions of a sparse true gate (top-K): the sets of true experts active together, found on
 * x draws (math-spec §3.5).
 */
import type { MixtureOfExperts } from '../../model/model.js';
import { sampleX } from '../../model/data.js';
import { Rng } from '../../numeric/rng.js';
import { OptionError } from '../../errors.js';
import type { VoronoiOptions } from './types.js';

export function findRegions(truthModel: MixtureOfExperts, options: VoronoiOptions): { regions: number[][]; masses: number[] } {
  const d = truthModel.d;
  let X: Float64Array;
  let n: number;
  if (options.x instanceof Float64Array) {
    X = options.x;
    if (X.length === 0 || X.length % d !== 0) throw new OptionError(`x: expected a non-empty row-major n×${d} array, got length ${X.length}`);
    n = X.length / d;
  } else {
    n = options.samples ?? 4096;
    if (!Number.isInteger(n) || n < 1) throw new OptionError(`samples: expected a positive integer, got ${n}`);
    X = sampleX(options.x ?? { type: 'uniform', low: 0, high: 1 }, n, d, new Rng(options.seed ?? 1).split('voronoi-regions'));
  }
  const k = truthModel.k;
  const lw = new Float64Array(n * k);
  truthModel.gate.logWeights(truthModel.gateTheta, X, n, lw);
  const counts = new Map<string, { active: number[]; count: number }>();
  if (k <= 30) {
    // the active set of each draw as a bit mask (no array or string per draw); the same sets and counts
    const byMask = new Map<number, number>();
    for (let t = 0; t < n; t++) {
      let mask = 0;
      for (let i = 0; i < k; i++) if (lw[t * k + i] > -Infinity) mask |= 1 << i;
      byMask.set(mask, (byMask.get(mask) ?? 0) + 1);
    }
    for (const [mask, count] of byMask) {
      const active: number[] = [];
      for (let i = 0; i < k; i++) if (mask & (1 << i)) active.push(i);
      counts.set(active.join(','), { active, count });
    }
  } else {
    for (let t = 0; t < n; t++) {
      const active: number[] = [];
      for (let i = 0; i < k; i++) if (lw[t * k + i] > -Infinity) active.push(i);
      const key = active.join(',');
      const e = counts.get(key);
      if (e) e.count++;
      else counts.set(key, { active, count: 1 });
    }
  }
  // regions never drawn have (empirically) zero mass and are dropped (math-spec §3.5)
  const list = [...counts.values()].sort((a, b) => (a.active.join(',') < b.active.join(',') ? -1 : 1));
  return { regions: list.map((e) => e.active), masses: list.map((e) => e.count / n) };
}
