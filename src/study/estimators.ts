/**
 * The "fit" step of a study job: estimator name (config `estimator:`) → fitting function.
 * `em` is maximum likelihood by accelerated EM (`fitEM`, math-spec §9.1); `lse` is least squares
 * (`fitLSE`, math-spec §9.3).
 */
import { z } from 'zod';
import { fitEM, type EMOptions } from '../estimate/em.js';
import { fitLSE, type LSEOptions } from '../estimate/lse.js';
import { EMTuningSchema, LSETuningSchema } from '../estimate/options.js';
import type { InitSpec } from '../estimate/init.js';
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts, ModelSpec } from '../model/model.js';
import type { MoeWarning } from '../warnings.js';

/** The initialisation named in a study config (`init:`). */
export type InitConfig =
  | { type: 'nearTruth'; gateSd?: number; expertSd?: number; scaleSd?: number; splitMass?: boolean; assignment?: number[] }
  | { type: 'kmeans++' }
  | { type: 'random' };

export interface EstimatorInput {
  spec: ModelSpec;
  data: Dataset;
  truth: MixtureOfExperts;
  init: InitConfig;
  restarts: number;
  tol: number;
  maxIter: number;
  /** Seed of the initialisations (derived from the job seed). */
  seed: bigint;
  options: Record<string, unknown>;
}

/**
 * What an estimator maximises, by name (stored with every row, `objective_name` in the store and the
 * CSV): `logLikelihood` = Σᵢ log p(yᵢ|xᵢ) (EM), `negSSE` = −Σᵢ (yᵢ − ŷ(xᵢ))² (LSE).
 */
export type ObjectiveName = 'logLikelihood' | 'negSSE';
export const OBJECTIVE_NAMES: readonly ObjectiveName[] = ['logLikelihood', 'negSSE'];

export interface EstimatorOutput {
  model: MixtureOfExperts;
  /** The maximised objective, named by the entry's `objective`: log-likelihood (EM) or −(sum of squares) (LSE). */
  objective: number;
  iterations: number;
  converged: boolean;
  warnings: MoeWarning[];
}

export interface EstimatorEntry {
  help: string;
  /** What `run(…).objective` is. */
  objective: ObjectiveName;
  /** Validates `settings[].options` for this estimator. */
  options: z.ZodType<Record<string, unknown>>;
  run(input: EstimatorInput): EstimatorOutput;
}

export function initSpec(init: InitConfig, truth: MixtureOfExperts): InitSpec {
  if (init.type === 'nearTruth') return { ...init, truth };
  return init;
}

export const ESTIMATORS: Record<string, EstimatorEntry> = {
  em: {
    help: 'maximum likelihood by accelerated EM (fitEM)',
    objective: 'logLikelihood',
    options: EMTuningSchema,
    run: (inp) => {
      const opts: EMOptions = {
        ...(inp.options as Partial<EMOptions>),
        init: initSpec(inp.init, inp.truth),
        restarts: inp.restarts,
        tol: inp.tol,
        maxIter: inp.maxIter,
        seed: inp.seed,
      };
      const r = fitEM(inp.spec, inp.data, opts);
      return { model: r.model, objective: r.logLikelihood, iterations: r.iterations, converged: r.converged, warnings: r.warnings };
    },
  },
  lse: {
    help: 'least squares (fitLSE, math-spec §9.3): option solver auto (default: variable projection for linear experts, else Levenberg–Marquardt on the residual Jacobian) | varpro | lm | lbfgs; `tol` is unused (all stop on the gradient, option gtol)',
    objective: 'negSSE',
    options: LSETuningSchema,
    run: (inp) => {
      const opts: LSEOptions = {
        ...(inp.options as Partial<LSEOptions>),
        init: initSpec(inp.init, inp.truth),
        restarts: inp.restarts,
        maxIter: inp.maxIter,
        seed: inp.seed,
      };
      const r = fitLSE(inp.spec, inp.data, opts);
      return { model: r.model, objective: -r.sse, iterations: r.iterations, converged: r.converged, warnings: r.warnings };
    },
  },
};

export function estimatorNames(): string[] {
  return Object.keys(ESTIMATORS);
}

/** The estimator of a config name: an own entry of ESTIMATORS only (`constructor` is not an estimator). */
export function estimatorEntry(name: string): EstimatorEntry | undefined {
  return Object.hasOwn(ESTIMATORS, name) ? ESTIMATORS[name] : undefined;
}

/** The objective of a setting's estimator (`null` for an estimator this process does not know). */
export function objectiveOf(estimator: string): ObjectiveName | null {
  return estimatorEntry(estimator)?.objective ?? null;
}
