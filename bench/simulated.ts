/** Shared untimed setup of the fit benchmarks: a seeded simulation from a true model. */
import { MixtureOfExperts, type ModelJSON } from '../src/model/model.js';
import { sampleX, type Dataset } from '../src/model/data.js';
import { Rng } from '../src/numeric/rng.js';

export interface SimulatedState { truth: MixtureOfExperts; data: Dataset }

/** A setup function drawing n points (x ~ U[low, high]^d, seed 2024) from the model `json`. */
export function simulated(json: ModelJSON, n: number, low: number, high: number): () => SimulatedState {
  return () => {
    const truth = MixtureOfExperts.fromJSON(json);
    const rng = new Rng(2024);
    const X = sampleX({ type: 'uniform', low, high }, n, truth.d, rng.split('x'));
    const { y } = truth.sample(X, n, rng.split('y'));
    return { truth, data: { X, y, n, d: truth.d } };
  };
}
