/**
 * Many independent EM fits (a model-selection sweep over k, bootstrap replicates) on a local
 * worker pool (piscina, one thread per core), or inline when one thread is asked for. A single
 * fit stays single-threaded; the pool only runs fits side by side. Tasks and outcomes are plain
 * data (model JSON, typed arrays), so they cross the thread boundary by structured clone.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelJSON, type ModelSpec } from '../model/model.js';
import { fitEM, type EMOptions } from './em.js';
import type { WarningJSON } from '../warnings.js';

/** EM options that survive structured clone (an init model travels as JSON). */
export type PlainEMOptions = Omit<EMOptions, 'init' | 'onProgress'> & {
  init?: { type: 'random' } | { type: 'kmeans++' } | { type: 'model'; model: ModelJSON };
};

export interface FitTask {
  spec: ModelSpec;
  data: Dataset;
  options: PlainEMOptions;
}

export interface FitOutcome {
  model?: ModelJSON;
  logLikelihood: number;
  converged: boolean;
  iterations: number;
  gradientNorm: number;
  trace: number[];
  /** The fit's typed warnings in their JSON form (plain data across the thread boundary). */
  warnings: WarningJSON[];
  seconds: number;
  /** Set when the fit threw (bad start, every restart failed …); the other fields are then empty. */
  error?: string;
}

/** Run one task in this thread. */
export function runFitTask(task: FitTask): FitOutcome {
  const { init, ...rest } = task.options;
  const options: EMOptions = { ...rest };
  if (init) options.init = init.type === 'model' ? { type: 'model', model: MixtureOfExperts.fromJSON(init.model) } : init;
  try {
    const r = fitEM(task.spec, task.data, options);
    return {
      model: r.model.toJSON(), logLikelihood: r.logLikelihood, converged: r.converged, iterations: r.iterations,
      gradientNorm: r.gradientNorm, trace: r.trace, warnings: r.warnings.map((w) => w.toJSON()), seconds: r.seconds,
    };
  } catch (e) {
    return { logLikelihood: -Infinity, converged: false, iterations: 0, gradientNorm: NaN, trace: [], warnings: [], seconds: 0, error: e instanceof Error ? e.message : String(e) };
  }
}

function workerFilename(): string {
  const here = new URL(import.meta.url);
  // from source, a .mjs shim registers tsx in the worker (Node 20 workers do not inherit it)
  return here.pathname.endsWith('.ts') ? new URL('./fit-worker-shim.mjs', here.href).href.split('?')[0] : new URL('./fit-worker.js', here.href).href.split('?')[0];
}

export interface FitPoolOptions {
  /** Worker threads; ≤ 1 runs the fits inline, in order. Default: the number of cores. */
  threads?: number;
  /** Called as each fit finishes (index of the task, number finished so far). */
  onDone?: (index: number, finished: number) => void;
}

/** Default thread count of the pool: every core. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/** Run every task; outcomes in task order. */
export async function runFits(tasks: readonly FitTask[], options: FitPoolOptions = {}): Promise<FitOutcome[]> {
  const threads = Math.min(options.threads ?? defaultThreads(), tasks.length);
  let finished = 0;
  if (threads <= 1) {
    const out: FitOutcome[] = [];
    for (let i = 0; i < tasks.length; i++) {
      out.push(runFitTask(tasks[i]));
      options.onDone?.(i, ++finished);
      await new Promise((r) => setImmediate(r));
    }
    return out;
  }
  const pool = new Piscina<FitTask, FitOutcome>({ filename: workerFilename(), minThreads: threads, maxThreads: threads, idleTimeout: 500 });
  try {
    return await Promise.all(tasks.map(async (t, i) => {
      const r = await pool.run(t);
      options.onDone?.(i, ++finished);
      return r;
    }));
  } finally {
    await pool.destroy();
  }
}
