/**
 * Runner: executes the pending jobs of a study on a local worker pool (piscina, one thread per core)
 * and writes each result to the store as it arrives (the main thread is the only writer). A progress
 * bar (cli-progress) shows done/total, failures, jobs/s and an ETA weighted by job cost.
 *
 * Killing the process at any moment loses only the jobs in flight; `resume` re-plans, skips every
 * stored job and runs the rest.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import cliProgress from 'cli-progress';
import { EnvironmentError } from '../errors.js';
import { environmentError } from '../io-errors.js';
import { pendingCost, pendingJobs, plannedCount, type Job } from './plan.js';
import { runJob, type ResultRow } from './job.js';
import type { StudyStore } from './store.js';
import type { WorkerTask } from './worker.js';
import { acquireLock } from './lock.js';
import { recordMeasureVersions } from './versions.js';
import { ensurePlugins } from './plugins.js';

export interface RunOptions {
  /** Worker threads (default: all cores). */
  threads?: number;
  /** Show a progress bar on stderr (default true). */
  progress?: boolean;
  /** Delete failed jobs first so they run again. */
  retryFailed?: boolean;
  /** Run jobs in this thread instead of a pool (debugging, profiling). */
  inline?: boolean;
  /** Stop after this many jobs (for tests and partial runs). */
  limit?: number;
  /** Called after each stored row. */
  onRow?: (row: ResultRow) => void;
  /** Abort: stop submitting, cancel queued jobs; finished rows stay stored. */
  signal?: AbortSignal;
  stream?: NodeJS.WritableStream;
}

export interface RunSummary {
  planned: number;
  /** Jobs already in the store before this run. */
  alreadyDone: number;
  /** Jobs finished and stored by this run. */
  ran: number;
  ok: number;
  failed: number;
  /** Deleted failed rows (retryFailed). */
  retried: number;
  wallSeconds: number;
  jobsPerSecond: number;
  aborted: boolean;
  threads: number;
}

/** The worker module for this build: the .mjs tsx shim from source, the compiled worker otherwise. */
export function workerFilename(): string {
  const here = new URL(import.meta.url);
  // under tsx the URL may carry a query (?tsx-namespace=…): look at the path only
  return here.pathname.endsWith('.ts') ? new URL('./worker-shim.mjs', here.href).href.split('?')[0] : new URL('./worker.js', here.href).href.split('?')[0];
}

export { acquireLock } from './lock.js';

function fmtRate(r: number): string {
  return r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2);
}

/** Run (or resume) every pending job of the study in `store`. */
export async function runStudy(store: StudyStore, options: RunOptions = {}): Promise<RunSummary> {
  const release = acquireLock(store.dir);
  const start = performance.now();
  let pool: Piscina<WorkerTask, ResultRow> | undefined;
  let bar: cliProgress.SingleBar | undefined;
  const threads = Math.max(1, options.threads ?? availableParallelism());
  try {
    const study = store.study;
    // the study's plugin modules, checked (same bytes) and loaded here before anything runs; the
    // pool's threads load them the same way
    await ensurePlugins(study, { recheck: true });
    const retried = options.retryFailed ? store.deleteFailed() : 0;
    const planned = plannedCount(study);
    const finished = store.finishedIds();
    const left = pendingCost(study, finished);
    const todo = options.limit !== undefined ? Math.min(options.limit, left.jobs) : left.jobs;
    const summary: RunSummary = {
      planned, alreadyDone: planned - left.jobs, ran: 0, ok: 0, failed: 0,
      retried, wallSeconds: 0, jobsPerSecond: 0, aborted: false, threads: options.inline ? 1 : threads,
    };
    store.setMeta('last_run_started', new Date().toISOString());
    recordMeasureVersions(store); // before any new row: which measure versions this store's losses have
    const totalCost = todo < left.jobs ? todo * (left.cost / Math.max(left.jobs, 1)) : left.cost;
    if (options.progress ?? true) {
      const stream = options.stream ?? process.stderr;
      const tty = (stream as NodeJS.WriteStream).isTTY === true;
      bar = new cliProgress.SingleBar({
        format: '{bar} {percentage}% | {done}/{todo} jobs | {failed} failed | {rate} jobs/s | {duration_formatted} elapsed | ETA {eta_formatted}',
        stream,
        noTTYOutput: !tty,
        notTTYSchedule: 10_000,
        etaBuffer: 200,
        fps: 5,
        hideCursor: tty,
        barsize: 30,
      }, cliProgress.Presets.shades_classic);
      bar.start(Math.max(totalCost, 1), 0, { done: 0, todo, failed: 0, rate: '0' });
    }
    // the plan is walked lazily; at most `limit` jobs are taken from it
    const jobs = pendingJobs(study, finished);
    let taken = 0;
    const next = (): Job | undefined => {
      if (taken >= todo) return undefined;
      const r = jobs.next();
      if (r.done) return undefined;
      taken++;
      return r.value;
    };
    // a store that cannot be written (full disk, read-only, corrupted) stops the run: no job is lost,
    // the rows stored so far stay, and `resume` continues once the cause is fixed
    let storeFault: unknown;
    const internal = new AbortController();
    const stopped = (): boolean => (options.signal?.aborted ?? false) || internal.signal.aborted;
    let costDone = 0;
    const onResult = (job: Job, row: ResultRow): void => {
      if (stopped()) return; // do not store rows of cancelled jobs racing the abort
      let stored: boolean;
      try {
        stored = store.write(row);
      } catch (e) {
        storeFault ??= e;
        internal.abort();
        return;
      }
      if (stored) {
        summary.ran++;
        if (row.status === 'ok') summary.ok++;
        else summary.failed++;
      }
      costDone += job.cost;
      options.onRow?.(row);
      const el = (performance.now() - start) / 1000;
      bar?.update(costDone, { done: summary.ran, todo, failed: summary.failed, rate: fmtRate(summary.ran / Math.max(el, 1e-3)) });
    };
    if (options.inline) {
      for (let job = next(); job && !stopped(); job = next()) {
        onResult(job, runJob(study, job));
        // let signals and timers through between jobs
        await new Promise((r) => setImmediate(r));
      }
    } else if (todo > 0) {
      pool = new Piscina<WorkerTask, ResultRow>({
        filename: workerFilename(),
        minThreads: Math.min(threads, todo),
        maxThreads: threads,
        idleTimeout: 1000,
      });
      const p = pool;
      // a worker that cannot even start (e.g. its module fails to load) is fatal: stop everything
      let fatal: unknown;
      p.on('error', (e: unknown) => {
        fatal ??= e;
        internal.abort();
      });
      const onAbort = (): void => {
        void p.destroy();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      internal.signal.addEventListener('abort', onAbort, { once: true });
      const runOne = async (job: Job): Promise<void> => {
        let row: ResultRow;
        try {
          row = await p.run({ study, job });
        } catch (e) {
          if (stopped()) return;
          // the worker itself died (out of memory, crash): record the failure, do not drop the job
          row = {
            jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'failed',
            error: `worker: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
            objectiveName: null, objectiveValue: null, iterations: null, converged: null, seconds: 0, model: null, losses: {}, warnings: null, // the store names the objective
          };
        }
        onResult(job, row);
      };
      // a bounded window of submitted jobs: the queue never holds the whole plan
      const inFlight = new Set<Promise<void>>();
      const window = threads * 2;
      for (let job = next(); job && !stopped(); job = next()) {
        const t: Promise<void> = runOne(job).finally(() => inFlight.delete(t));
        inFlight.add(t);
        if (inFlight.size >= window) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      options.signal?.removeEventListener('abort', onAbort);
      if (fatal !== undefined) throw new Error(`study worker failed to start: ${fatal instanceof Error ? fatal.message : String(fatal)}`);
    }
    if (storeFault !== undefined) {
      const e = environmentError(storeFault, store.file, 'store a result');
      const why = e instanceof Error ? e.message : String(e);
      throw new EnvironmentError(`${why}; the run stopped with ${summary.ran} new job${summary.ran === 1 ? '' : 's'} stored (every stored row is kept); fix the cause, then \`moelab study resume ${store.dir}\``, storeFault);
    }
    summary.aborted = options.signal?.aborted ?? false;
    summary.wallSeconds = (performance.now() - start) / 1000;
    summary.jobsPerSecond = summary.ran / Math.max(summary.wallSeconds, 1e-9);
    store.setMeta('last_run_finished', new Date().toISOString());
    return summary;
  } finally {
    bar?.stop();
    if (pool) await pool.destroy();
    release();
  }
}
