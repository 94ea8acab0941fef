/** Restarts: the best objective over several starts is kept (as scikit-learn's mixture base class does); one loop for EM and least squares. */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { Rng } from '../numeric/rng.js';
import { OptionError } from '../errors.js';
import { initialise } from './init.js';
import { EM_DEFAULTS, type EMOptions } from './options.js';
import { warning, type MoeWarning } from '../warnings.js';

export interface RestartOutcome<R> {
  best: R;
  /** Objective reached by each restart (−Infinity where it failed; +Infinity for a minimised objective). */
  objectives: number[];
  /** One RESTART_FAILED warning per failed restart. */
  warnings: MoeWarning[];
}

/** One restart loop, generic in the objective's direction (EM maximises ℓ, least squares minimises the SSE). */
export interface RestartLoop<P, R> {
  restarts: number;
  /** 'max': the highest objective is kept; 'min': the lowest (a failed restart records −∞ / +∞). */
  direction: 'max' | 'min';
  objective(result: R): number;
  /** Restart r's preparation (e.g. its start) OUTSIDE the failure handling: its errors propagate. */
  prepare(restart: number): P;
  /** Restart r's run: an error here (with several restarts) is a failed restart, recorded and skipped. */
  run(restart: number, prepared: P): R;
  /** Checked before every restart r > 0: true ends the loop (a time limit). */
  stop?(restart: number): boolean;
  /** After each successful restart. */
  onRestart?(restart: number, result: R): void;
}

/**
 * Runs the restarts of `loop` and keeps the best objective (the first of equal ones). A failing run
 * is recorded (one RESTART_FAILED warning) and skipped when there are several restarts; with one
 * restart its error propagates; if every restart fails, an OptionError lists them.
 */
export function bestOf<P, R>(loop: RestartLoop<P, R>): RestartOutcome<R> {
  const { restarts } = loop;
  const max = loop.direction === 'max';
  let best: R | undefined;
  let bestObjective = max ? -Infinity : Infinity;
  const objectives: number[] = [];
  const warnings: MoeWarning[] = [];
  for (let r = 0; r < restarts; r++) {
    if (r > 0 && loop.stop?.(r)) break;
    const prepared = loop.prepare(r);
    let result: R;
    try {
      result = loop.run(r, prepared);
    } catch (e) {
      if (restarts === 1 || !(e instanceof Error)) throw e;
      warnings.push(warning('RESTART_FAILED', `restart ${r + 1}: ${e.message}`, { restart: r + 1, error: e.message }));
      objectives.push(max ? -Infinity : Infinity);
      continue;
    }
    const v = loop.objective(result);
    objectives.push(v);
    loop.onRestart?.(r, result);
    if (best === undefined || (max ? v > bestObjective : v < bestObjective)) {
      best = result;
      bestObjective = v;
    }
  }
  if (best === undefined) throw new OptionError(`every restart failed: ${warnings.map((w) => w.message).join('; ')}`);
  return { best, objectives, warnings };
}

/**
 * EM's restarts: `run` from `restarts` starts (restart r initialised from stream split('restart', r) of
 * `seed`, outside the failure handling) and keeps the highest `ll`. `start` replaces `initialise`
 * (same stream; EM's subsample warm start draws its start on the subsample). A time limit
 * (EMOptions.deadline) also ends the restarts: later ones are not started.
 */
export function bestOfRestarts<R extends { ll: number }>(model: MixtureOfExperts, data: Dataset, options: EMOptions, restarts: number, run: (theta0: Float64Array) => R, start?: (rng: Rng, restart: number) => Float64Array): RestartOutcome<R> {
  const rng = new Rng(options.seed ?? EM_DEFAULTS.seed);
  const init = options.init ?? { type: 'kmeans++' };
  return bestOf({
    restarts,
    direction: 'max',
    objective: (result) => result.ll,
    stop: () => options.deadline !== undefined && performance.now() > options.deadline,
    prepare: (r) => (start ? start(rng.split('restart', r), r) : initialise(model, data, init, rng.split('restart', r), options)),
    run: (_r, theta0) => run(theta0),
  });
}
