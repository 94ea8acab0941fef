/**
 * Scale-equivariant least-squares fits (issue 12): `fitLSE` runs on internally standardised data and
 * maps the result back, with the maps and the table of what each family allows in standardize.ts.
 * For regression experts (paper P3, math-spec §5.1) f_G(x) = Σᵢ πᵢ(x) h(x, ηᵢ):
 *
 *  - x_j → c·x_j + m_j changes only the slopes on x_j (gate and experts, by 1/c) and the intercepts,
 *    for every activation (the experts' argument aᵀx + b absorbs it);
 *  - y → c·y + m (linear experts) changes the expert coefficients by c (intercepts + m), the SSE and
 *    the noise variance by c²; y → c·y (c > 0) does the same for relu experts (relu(z)·c = relu(c·z))
 *    and for any activation with the output weight (c·w); for sigmoid/tanh/gelu experts without the
 *    output weight y is fitted as given (the family is not closed under scaling y);
 *  - `converged`, the iterations and the gradient norm come from the standardised problem, so the
 *    stopping test (‖∇ MSE‖∞ ≤ gtol·max(1, MSE)) and the reported gradient are scale-free.
 *
 * Starts from a given model or near the truth are drawn in the data's units and mapped (as in
 * standardize.ts); k-means++ and random starts are drawn on the standardised data.
 */
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelSpec } from '../model/model.js';
import { Rng } from '../numeric/rng.js';
import { initialise } from './init.js';
import { bestOf } from './restarts.js';
import type { LSEOptions } from './options.js';
import { lseObjective, LSEWorkspace, type LSEResult } from './lse-objective.js';
import { RegressionExperts } from '../experts/regression.js';
import { isIdentity, mapBack, mapModelJSON, standardization, standardizeData, type Standardization } from './standardize.js';

export type RawLSEFit = (spec: ModelSpec, data: Dataset, options: LSEOptions) => LSEResult;

/** Run `fit` (least squares on the data as given) on standardised data and map the result back. */
export function fitLSEStandardized(spec: ModelSpec, data: Dataset, options: LSEOptions, fit: RawLSEFit): LSEResult {
  if (options.standardize === false) return fit(spec, data, options);
  // the boxes are in the data's units: with gateBound x is not standardised, with expertBound neither x nor y
  const s = standardization(spec, data, { gateBound: options.gateBound, expertBound: options.expertBound });
  if (isIdentity(s)) return fit(spec, data, options);
  const sData = standardizeData(data, s);
  const f = s.sy * s.sy; // SSE factor
  const { onRestart, onProgress } = options;
  const sOptions: LSEOptions = {
    ...options,
    ...(onRestart ? { onRestart: (r: number, sse: number) => onRestart(r, sse * f) } : {}),
    ...(onProgress ? { onProgress: (r: number, it: number, sse: number, g: number) => onProgress(r, it, sse * f, g) } : {}),
  };
  const init = options.init ?? { type: 'kmeans++' };
  const result = init.type === 'model' || init.type === 'nearTruth' ? fitFromMappedStarts(spec, data, sData, s, sOptions, fit) : fit(spec, sData, sOptions);
  // the SSE is the objective at the returned model, in the data's units (and its noise variance SSE/n)
  const mapped = mapBack(result.model, spec, s);
  const sse = lseObjective(mapped, mapped.theta, data, new LSEWorkspace(mapped, data.n));
  const e = mapped.expert;
  const model = e instanceof RegressionExperts ? new MixtureOfExperts(mapped.gate, e.withNoiseVariance(sse > 0 ? sse / data.n : undefined), mapped.theta.slice()) : mapped;
  const trace = result.trace.map((v) => v * f);
  trace[trace.length - 1] = sse;
  return { ...result, model, sse, mse: sse / data.n, trace, restartSSE: result.restartSSE.map((v) => v * f) };
}

/** Starts drawn in the data's units (streams split('restart', r) as fitLSE draws them), mapped, one fit each; the lowest SSE is kept. */
function fitFromMappedStarts(spec: ModelSpec, data: Dataset, sData: Dataset, s: Standardization, sOptions: LSEOptions, fit: RawLSEFit): LSEResult {
  const t0 = performance.now();
  const restarts = sOptions.restarts ?? 1;
  const rng = new Rng(sOptions.seed ?? 1);
  const structure = MixtureOfExperts.fromSpec(spec);
  structure.expert.prepare?.(data.X, data.y, data.n);
  const init = sOptions.init ?? { type: 'kmeans++' };
  const { onRestart, onProgress } = sOptions;
  // one time limit for all the starts (each raw fit measures its own from its start)
  const left = (): number | undefined => (sOptions.timeLimit !== undefined ? sOptions.timeLimit - (performance.now() - t0) / 1000 : undefined);
  const { best, objectives: sses, warnings } = bestOf<undefined, LSEResult>({
    restarts,
    direction: 'min',
    objective: (out) => out.sse,
    stop: () => {
      const l = left();
      return l !== undefined && l <= 0;
    },
    prepare: () => undefined,
    run: (r) => {
      const l = left();
      const theta0 = initialise(structure, data, init, rng.split('restart', r), sOptions);
      const json = mapModelJSON(structure.withTheta(theta0).toJSON(), s, true);
      return fit(spec, sData, {
        ...sOptions,
        restarts: 1,
        init: { type: 'model', model: MixtureOfExperts.fromJSON(json) },
        ...(l !== undefined ? { timeLimit: Math.max(l, 1e-6) } : {}),
        onRestart: onRestart ? (_: number, sse: number) => onRestart(r, sse) : undefined,
        onProgress: onProgress ? (_: number, it: number, sse: number, g: number) => onProgress(r, it, sse, g) : undefined,
      });
    },
  });
  return { ...best, restarts, restartSSE: sses, seconds: (performance.now() - t0) / 1000, warnings: [...warnings, ...best.warnings] };
}
