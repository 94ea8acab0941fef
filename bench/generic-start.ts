/**
 * The "generic start" of issue 16: the experts from k-means++ on standardised (x, y) (init.ts),
 * the gate flattened to slopes 0 (intercepts kept), i.e. a start that knows nothing of the gate.
 */
import { MixtureOfExperts, type ModelSpec } from '../src/model/model.js';
import type { Dataset } from '../src/model/data.js';
import { initialise } from '../src/estimate/init.js';
import { Rng } from '../src/numeric/rng.js';

/** A model for `init: { type: 'model', model }`: k-means++ experts, gate slopes 0. */
export function genericStart(spec: ModelSpec, data: Dataset, seed: number): MixtureOfExperts {
  const model = MixtureOfExperts.fromSpec(spec);
  model.expert.prepare?.(data.X, data.y, data.n);
  const theta = initialise(model, data, { type: 'kmeans++' }, new Rng(seed).split('restart', 0));
  // softmax/modified gates: θ_G = rows j < k−1 of [β0_j, β1_j(1..d)]; zero the slopes
  const gate = model.gate;
  const q = gate.d + 1;
  if (gate.type !== 'softmax' || gate.nParams !== (gate.k - 1) * q) throw new Error(`genericStart: softmax gates only, got ${gate.type}`);
  for (let j = 0; j < gate.k - 1; j++) for (let u = 1; u < q; u++) theta[j * q + u] = 0;
  return new MixtureOfExperts(model.gate, model.expert, theta);
}
