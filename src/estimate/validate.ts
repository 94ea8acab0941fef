/** Checks a dataset against a model structure before fitting (EM and LSE). */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts, ModelSpec } from '../model/model.js';
import { OptionError } from '../errors.js';

/** Throws OptionError / DataError naming the row and column of the first problem. */
export function validateDataset(spec: ModelSpec, model: MixtureOfExperts, data: Dataset): void {
  if (data.d !== spec.d) throw new OptionError(`data has ${data.d} input columns but the model expects d=${spec.d}`);
  if (data.X.length < data.n * data.d || data.y.length < data.n) throw new OptionError('data arrays are shorter than n×d / n');
  for (let i = 0; i < data.n * data.d; i++) {
    if (!Number.isFinite(data.X[i])) {
      throw new OptionError(`row ${Math.floor(i / data.d) + 1}, column x${(i % data.d) + 1}: value ${data.X[i]} is not a finite number`);
    }
  }
  model.expert.validateResponse(data.y, data.n);
  if (data.n < model.nParams) {
    throw new OptionError(`${data.n} rows are fewer than the ${model.nParams} free parameters of a k=${spec.k} model`);
  }
}
