/**
 * Helpers of `moelab fit` for the issue-4 families: the estimator choice (`--estimator mle|lse`),
 * the number of classes of a multinomial expert taken from the data, and the LSE run + output.
 *
 * `fit --json` with `--estimator lse` keeps the foundation's contract with `"sse"` and `"mse"` in
 * place of `"logLikelihood"`: { model, sse, mse, iterations, solver, converged, gradientNorm, restarts, seconds }.
 */
import { type ExpertJSON, expertFactory, type Dataset, type ModelSpec, type InitSpec, fitLSE, DataError, OptionError, MultinomialLogisticExperts } from '../core.js';
import { convergenceText, printFit, restartsLine } from './fit-output.js';
import { fitProgress } from './progress.js';
import { readModelFile, rowLine } from './io.js';

export type Estimator = 'mle' | 'lse';

const LSE_SOLVERS = ['auto', 'varpro', 'lm', 'lbfgs'] as const;
export type LSESolverOption = (typeof LSE_SOLVERS)[number];

/** `--solver` value (LSEOptions.solver). */
export function lseSolverOption(value: string): LSESolverOption {
  const v = value.trim().toLowerCase();
  const found = LSE_SOLVERS.find((s) => s === v);
  if (!found) throw new OptionError(`--solver: expected one of ${LSE_SOLVERS.join(', ')}, got ${JSON.stringify(value)}`);
  return found;
}

/** `--estimator` value, defaulting by the expert family's kind (regression → lse, density → mle). */
export function resolveEstimator(value: string | undefined, experts: ExpertJSON, expertOption: string): Estimator {
  const kind = expertFactory(experts.type).kind;
  const est = value === undefined ? (kind === 'regression' ? 'lse' : 'mle') : value.trim().toLowerCase();
  if (est !== 'mle' && est !== 'lse') throw new OptionError(`--estimator: expected mle or lse, got ${JSON.stringify(value)}`);
  if (est === 'mle' && kind === 'regression') {
    throw new OptionError(`--estimator mle: --expert ${expertOption} is a regression function, not a density; use --estimator lse`);
  }
  if (est === 'lse' && kind !== 'regression') {
    throw new OptionError(`--estimator lse: --expert ${expertOption} is a density family; least squares needs regression experts (e.g. regression:gelu)`);
  }
  return est;
}

/**
 * Multinomial experts read from a CSV: C = the number of distinct labels unless `multinomial:C` gave
 * it, and the labels are kept in the model JSON (code c ↔ labels[c]; the last class is the
 * reference). The class order is that of a reference model's `labels` when `--truth` or
 * `--init-model` has them (the data's codes are remapped, and a label the model does not know is an
 * error naming the row); otherwise numeric labels in numeric order, others in order of first
 * appearance (`readCsvDataset`).
 */
export function completeClassSpec(experts: ExpertJSON, data: Dataset, expertOption: string, models: { truth?: string; initModel?: string } = {}): void {
  let ref: string[] | undefined;
  for (const [path, what] of [[models.truth, 'truth file'], [models.initModel, 'init model file']] as const) {
    if (!path) continue;
    const m = readModelFile(path, what);
    if (m.expert instanceof MultinomialLogisticExperts && m.expert.labels) {
      ref = m.expert.labels;
      break;
    }
  }
  const yName = data.yName ?? 'y';
  let labels = data.classLabels ?? [];
  if (ref) {
    const code = new Map(ref.map((l, c) => [l, c]));
    const remap = labels.map((l) => code.get(l) ?? -1);
    for (let t = 0; t < data.n; t++) {
      const c = remap[data.y[t]];
      if (c < 0) throw new DataError(`${rowLine(data, t)}, column ${yName}: class label ${JSON.stringify(labels[data.y[t]])} is not one of the model's classes (${ref.join(', ')})`);
      data.y[t] = c;
    }
    labels = [...ref];
    data.classLabels = labels;
  }
  if (experts.classes === undefined) {
    if (labels.length < 2) {
      throw new DataError(`--expert ${expertOption}: the response column ${yName} has ${labels.length} distinct label(s) (${labels.join(', ')}); a classifier needs at least 2 classes`);
    }
    experts.classes = labels.length;
  } else if (typeof experts.classes === 'number' && labels.length > experts.classes) {
    throw new DataError(`--expert ${expertOption}: the response column ${yName} has ${labels.length} distinct labels (${labels.join(', ')}) but the model has C=${experts.classes} classes`);
  }
  if (experts.labels === undefined && labels.length === experts.classes) experts.labels = [...labels];
}

export interface LseCliRun {
  spec: ModelSpec;
  data: Dataset;
  dataPath: string;
  restarts: number;
  seed: number;
  maxIter: number;
  init: InitSpec;
  /** Compact Θ for the gate (LSEOptions.gateBound). */
  gateBound?: number;
  /** Compact Θ for the experts (LSEOptions.expertBound). */
  expertBound?: number;
  /** Wall-time limit (LSEOptions.timeLimit). */
  timeLimit?: number;
  /** LSEOptions.solver. */
  solver?: LSESolverOption;
  json: boolean;
}

/** Run `fitLSE` and print the result (JSON contract above, or a summary). */
export function runLseFit(run: LseCliRun): void {
  const progress = fitProgress(run.restarts);
  let result;
  try {
    result = fitLSE(run.spec, run.data, { restarts: run.restarts, seed: run.seed, maxIter: run.maxIter, init: run.init, ...(run.gateBound !== undefined ? { gateBound: run.gateBound } : {}), ...(run.expertBound !== undefined ? { expertBound: run.expertBound } : {}), ...(run.timeLimit !== undefined ? { timeLimit: run.timeLimit } : {}), ...(run.solver !== undefined ? { solver: run.solver } : {}), onProgress: progress.lse });
  } finally {
    progress.done();
  }
  const { k, gate, experts } = run.spec;
  printFit({
    model: result.model.toJSON(),
    json: {
      sse: result.sse, mse: result.mse, iterations: result.iterations, solver: result.solver, converged: result.converged,
      gradientNorm: result.gradientNorm, restarts: result.restarts, seconds: result.seconds,
    },
    summary: [
      `fitted k=${k} ${gate.type}/${experts.type}:${String(experts.activation)} by least squares to ${run.data.n} rows × ${run.data.d} inputs (${run.dataPath})`,
      `SSE ${result.sse.toPrecision(8)}   MSE ${result.mse.toPrecision(6)}   ${convergenceText(result, ` (${result.solver})`)}`,
      restartsLine(result.restarts, 'SSEs', result.restartSSE.map((v) => v.toPrecision(6)), result.seconds),
    ],
    warnings: result.warnings,
  }, run.json);
}
