/**
 * Predicted class probabilities of a mixture of multinomial-logistic experts: a model-level
 * quantity (gate × experts), so it lives in model/, above both families.
 */
import type { MixtureOfExperts } from './model.js';
import { MultinomialLogisticExperts } from '../experts/multinomial-logistic.js';
import { OptionError } from '../errors.js';

/**
 * Class probabilities of the whole model, P(y = c | x_t) = Σᵢ πᵢ(x_t) f(c | x_t; θᵢ), into an n×C
 * array (row-major). Throws OptionError if the model's experts are not multinomial-logistic.
 */
export function predictClassProbabilities(model: MixtureOfExperts, X: Float64Array, n: number): Float64Array {
  const e = model.expert;
  if (!(e instanceof MultinomialLogisticExperts)) throw new OptionError(`class probabilities need multinomialLogistic experts, the model has ${e.type}`);
  const { k } = model;
  const C = e.classes;
  const P = model.gateProbabilities(X, n);
  const E = e.classProbabilities(model.expertTheta, X, n, new Float64Array(n * k * C));
  const out = new Float64Array(n * C);
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < k; i++) {
      const pi = P[t * k + i];
      if (pi === 0) continue;
      const eo = (t * k + i) * C;
      for (let c = 0; c < C; c++) out[t * C + c] += pi * E[eo + c];
    }
  }
  return out;
}

