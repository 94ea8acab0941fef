/**
 * One study job: simulate (x design + truth) → fit (the setting's estimator) → measure (losses,
 * block losses, distances) → a plain result row. Pure function of (study, job): re-running a job
 * gives the same row, byte for byte, except its wall time `seconds`.
 */
import { MixtureOfExperts, type ModelJSON } from '../model/model.js';
import { localTruthJSON, truthIndex } from './local-truth.js';
import { sampleX, type Dataset } from '../model/data.js';
import { Rng, deriveSeed } from '../numeric/rng.js';
import type { ResolvedStudy } from './config.js';
import type { Job } from './plan.js';
import { estimatorEntry, objectiveOf, type ObjectiveName } from './estimators.js';
import { measureAll } from './measures.js';
import { OptionError } from '../errors.js';

export interface ResultRow {
  jobId: string;
  setting: string;
  n: number;
  rep: number;
  seed: string;
  status: 'ok' | 'failed';
  /** `stage: Name: message` when the job failed (stage = simulate | fit | measure). */
  error: string | null;
  /** What the estimator maximised (`null`: the setting or its estimator is unknown). */
  objectiveName: ObjectiveName | null;
  /** Its value at the fit: log-likelihood (`logLikelihood`, EM) or −SSE (`negSSE`, LSE). */
  objectiveValue: number | null;
  iterations: number | null;
  converged: boolean | null;
  /** Wall time of the job (simulate + fit + measure), seconds. The only non-deterministic field. */
  seconds: number;
  /** Fitted model JSON (canonical form). */
  model: string | null;
  /** Loss name → value (null when not finite or not computed). */
  losses: Record<string, number | null>;
  /** Estimator warnings joined by "; " (null if none). */
  warnings: string | null;
}

/**
 * The deterministic part of a row as bytes (canonical field order, `seconds` excluded). The
 * objective's name is left out: it is a function of the setting (its estimator), whose name the
 * bytes hold, so rows keep the bytes they had before the objective was named.
 */
export function rowBytes(row: ResultRow): string {
  const lossKeys = Object.keys(row.losses).sort();
  return JSON.stringify([
    row.jobId, row.setting, row.n, row.rep, row.seed, row.status, row.error, row.objectiveValue,
    row.iterations, row.converged, row.model, lossKeys.map((k) => [k, row.losses[k]]), row.warnings,
  ]);
}

const truthCache = new Map<string, MixtureOfExperts>();

function modelOf(json: ModelJSON): MixtureOfExperts {
  const key = JSON.stringify(json);
  let m = truthCache.get(key);
  if (!m) {
    m = MixtureOfExperts.fromJSON(json, 'truth');
    if (truthCache.size > 64) truthCache.clear();
    truthCache.set(key, m);
  }
  return m;
}

/**
 * The truth a job simulates from and is measured against: the study truth, or for a setting with
 * local alternatives (`truth:`, src/study/local-truth.ts) the truth of index rep mod T at this n —
 * a pure function of (study, setting, n, rep), so a job re-run alone gives the same bytes.
 */
export function jobTruthJSON(study: ResolvedStudy, setting: string, n: number, rep: number): ModelJSON {
  const local = study.settings.find((s) => s.name === setting)?.truth;
  return local ? localTruthJSON(study.truth, local, n, truthIndex(local, rep)) : study.truth;
}

function truthOf(study: ResolvedStudy, job?: Pick<Job, 'setting' | 'n' | 'rep'>): MixtureOfExperts {
  return modelOf(job ? jobTruthJSON(study, job.setting, job.n, job.rep) : study.truth);
}

function describeError(stage: string, e: unknown): string {
  if (e instanceof Error) return `${stage}: ${e.name}: ${e.message}`;
  return `${stage}: ${String(e)}`;
}

function finiteOrNull(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

/** Simulate the job's dataset (deterministic in the job seed). */
export function simulateJob(study: ResolvedStudy, job: Job): Dataset {
  const truth = truthOf(study, job);
  const rng = new Rng(BigInt(job.seed));
  const X = sampleX(study.x, job.n, study.d, rng.split('x'));
  const { y } = truth.sample(X, job.n, rng.split('y'));
  return { X, y, n: job.n, d: study.d };
}

export function runJob(study: ResolvedStudy, job: Job): ResultRow {
  const start = performance.now();
  const row: ResultRow = {
    jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'ok', error: null,
    objectiveName: null, objectiveValue: null, iterations: null, converged: null, seconds: 0, model: null, losses: {}, warnings: null,
  };
  const setting = study.settings.find((s) => s.name === job.setting);
  if (setting) row.objectiveName = objectiveOf(setting.estimator);
  const done = (): ResultRow => {
    row.seconds = (performance.now() - start) / 1000;
    return row;
  };
  if (!setting) {
    row.status = 'failed';
    row.error = `plan: no setting named ${JSON.stringify(job.setting)} in the study`;
    return done();
  }
  for (const l of setting.losses) row.losses[l.name] = null;
  let stage = 'simulate';
  try {
    const truth = truthOf(study, job);
    const data = simulateJob(study, job);
    // local alternatives start from the centre (the study truth) unless the setting says `init: own`
    const initTruth = setting.truth && setting.truth.init === 'centre' ? truthOf(study) : truth;
    stage = 'fit';
    const est = estimatorEntry(setting.estimator);
    if (!est) throw new OptionError(`unknown estimator ${JSON.stringify(setting.estimator)}`);
    const fit = est.run({
      spec: { gate: setting.gate, experts: setting.experts, k: setting.k, d: study.d },
      data,
      truth: initTruth,
      init: setting.init,
      restarts: setting.restarts,
      tol: setting.tol,
      maxIter: setting.maxIter,
      seed: deriveSeed(BigInt(job.seed), 'fit'),
      options: setting.options,
    });
    row.objectiveValue = finiteOrNull(fit.objective);
    row.iterations = fit.iterations;
    row.converged = fit.converged;
    row.model = JSON.stringify(fit.model.toJSON());
    row.warnings = fit.warnings.length ? fit.warnings.map((w) => w.message).join('; ') : null;
    stage = 'measure';
    const values = measureAll(setting.losses, { fit: fit.model, truth, data, design: study.x, rng: new Rng(BigInt(job.seed)).split('measure') });
    for (const [k, v] of Object.entries(values)) row.losses[k] = finiteOrNull(v);
  } catch (e) {
    row.status = 'failed';
    row.error = describeError(stage, e);
  }
  return done();
}
