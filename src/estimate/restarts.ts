/** Restarts: the best log-likelihood over several starts is kept (as scikit-learn's mixture base class does). */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { Rng } from '../numeric/rng.js';
import { OptionError } from '../errors.js';
import { initialise } from './init.js';
import { EM_DEFAULTS, type EMOptions } from './options.js';
import { warning, type MoeWarning } from '../warnings.js';

export interface RestartOutcome<R> {
  best: R;
  /** Objective reached by each restart (−Infinity where it failed). */
  objectives: number[];
  /** One RESTART_FAILED warning per failed restart. */
  warnings: MoeWarning[];
}

/**
 * Runs `run` from `restarts` starts (restart r initialised from stream split('restart', r) of
 * `seed`) and keeps the highest `objective`. A failing restart is recorded and skipped when there
 * are several; with one restart its error propagates. `start` replaces `initialise` (same stream;
 * EM's subsample warm start draws its start on the subsample).
 */
export function bestOfRestarts<R extends { ll: number }>(model: MixtureOfExperts, data: Dataset, options: EMOptions, restarts: number, run: (theta0: Float64Array) => R, start?: (rng: Rng, restart: number) => Float64Array): RestartOutcome<R> {
  const rng = new Rng(options.seed ?? EM_DEFAULTS.seed);
  const init = options.init ?? { type: 'kmeans++' };
  let best: R | undefined;
  const objectives: number[] = [];
  const warnings: MoeWarning[] = [];
  for (let r = 0; r < restarts; r++) {
    // a time limit (EMOptions.deadline) also ends the restarts: later ones are not started
    if (r > 0 && options.deadline !== undefined && performance.now() > options.deadline) break;
    const theta0 = start ? start(rng.split('restart', r), r) : initialise(model, data, init, rng.split('restart', r), options);
    let result: R;
    try {
      result = run(theta0);
    } catch (e) {
      if (restarts === 1 || !(e instanceof Error)) throw e;
      warnings.push(warning('RESTART_FAILED', `restart ${r + 1}: ${e.message}`, { restart: r + 1, error: e.message }));
      objectives.push(-Infinity);
      continue;
    }
    objectives.push(result.ll);
    if (!best || result.ll > best.ll) best = result;
  }
  if (!best) throw new OptionError(`every restart failed: ${warnings.map((w) => w.message).join('; ')}`);
  return { best, objectives, warnings };
}
