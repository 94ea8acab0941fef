/**
 * Benchmarks of the measuring instruments (src/measure): Voronoi losses (normalised vs raw),
 * density distances (Hellinger/TV by quadrature over 2000 x), and the rate fit with its bootstrap.
 */
import { voronoiLoss } from '../src/measure/voronoi.js';
import { densityDistance } from '../src/measure/distance.js';
import { fitRate } from '../src/measure/rate.js';
import { AUTHORS_TRUTH } from '../src/model/presets.js';
import { MixtureOfExperts, type ModelJSON } from '../src/model/model.js';
import { Rng } from '../src/numeric/rng.js';

import type { BenchCase } from './types.js';

const FIT3: ModelJSON = {
  gate: { type: 'softmax', beta0: [-8.7, -8.8, 0], beta1: [[25.1], [24.9], [0]] },
  experts: { type: 'gaussianLinear', b: [15.02, 14.97, -5.01], a: [[-20.05], [-19.9], [20.03]], variance: [0.092, 0.088, 0.161] },
};
const FIT4: ModelJSON = {
  gate: { type: 'softmax', beta0: [-8.7, -8.8, -0.7, -0.69], beta1: [[25.1], [24.9], [0.1], [0]] },
  experts: { type: 'gaussianLinear', b: [15.02, 14.97, -5.01, -4.98], a: [[-20.05], [-19.9], [20.03], [19.97]], variance: [0.092, 0.088, 0.161, 0.158] },
};
const fit3 = MixtureOfExperts.fromJSON(FIT3);
const fit4 = MixtureOfExperts.fromJSON(FIT4);
const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);

const ns = Array.from({ length: 200 }, (_, i) => 100 + Math.round((1e5 - 100) * i / 199));
const rng = new Rng(1);
const losses = ns.map((n) => Array.from({ length: 40 }, () => 30 * Math.pow(n, -0.5) * Math.exp(0.5 * rng.normal())));

export const cases: BenchCase[] = [
  { group: 'voronoi loss (k*=2)', name: 'raw (authors\' code), k=3', run: () => voronoiLoss(FIT3, AUTHORS_TRUTH, { raw: true }).loss, baseline: true },
  { group: 'voronoi loss (k*=2)', name: 'normalised D2, k=3', run: () => voronoiLoss(fit3, truth, { loss: 'D2' }).loss },
  { group: 'voronoi loss (k*=2)', name: 'normalised D2, k=4', run: () => voronoiLoss(fit4, truth, { loss: 'D2' }).loss },
  { group: 'density distance (2000 x)', name: 'hellinger k=3 vs k*=2', run: () => densityDistance(fit3, truth, { samples: 2000 }).distance, baseline: true },
  { group: 'density distance (2000 x)', name: 'tv k=3 vs k*=2', run: () => densityDistance(fit3, truth, { samples: 2000, metric: 'tv' }).distance },
  { group: 'fitRate (200 n × 40 reps)', name: 'OLS + 1000 bootstrap', run: () => fitRate(ns, losses).slope, baseline: true },
];
