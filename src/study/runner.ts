/**
 * Runner: executes the pending jobs of a study on a local worker pool (piscina, one thread per core)
 * and writes each result to the store as it arrives (the main thread is the only writer). A progress
 * bar (cli-progress) shows done/total, failures, jobs/s and an ETA weighted by job cost.
 *
 * Killing the process at any moment loses only the jobs in flight; `resume` re-plans, skips every
 * stored job and runs the rest.
 */
import { availableParallelism } from 'node:os';
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import cliProgress from 'cli-progress';
import { OptionError } from '../errors.js';
import { executionOrder, planJobs, type Job } from './plan.js';
import { runJob, type ResultRow } from './job.js';
import type { StudyStore } from './store.js';
import type { WorkerTask } from './worker.js';

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

const LOCK = 'run.lock';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An exclusive lock (pid file) on a study directory; a stale lock (dead pid) is taken over. */
export function acquireLock(dir: string): () => void {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8') === String(process.pid)) unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new OptionError(`${dir}: another run is in progress (pid ${pid}); wait for it or stop it first`);
      }
      if (existsSync(path)) unlinkSync(path); // stale lock of a killed run
    }
  }
  throw new OptionError(`${dir}: could not take the run lock ${path}`);
}

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
    const retried = options.retryFailed ? store.deleteFailed() : 0;
    const all = planJobs(store.study);
    const finished = store.finishedIds();
    let pending = executionOrder(all.filter((j) => !finished.has(j.id)));
    if (options.limit !== undefined) pending = pending.slice(0, options.limit);
    const summary: RunSummary = {
      planned: all.length, alreadyDone: all.length - all.filter((j) => !finished.has(j.id)).length, ran: 0, ok: 0, failed: 0,
      retried, wallSeconds: 0, jobsPerSecond: 0, aborted: false, threads: options.inline ? 1 : threads,
    };
    store.setMeta('last_run_started', new Date().toISOString());
    const totalCost = pending.reduce((s, j) => s + j.cost, 0);
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
      bar.start(Math.max(totalCost, 1), 0, { done: 0, todo: pending.length, failed: 0, rate: '0' });
    }
    let costDone = 0;
    const onResult = (job: Job, row: ResultRow): void => {
      if (options.signal?.aborted) return; // do not store rows of cancelled jobs racing the abort
      if (store.write(row)) {
        summary.ran++;
        if (row.status === 'ok') summary.ok++;
        else summary.failed++;
      }
      costDone += job.cost;
      options.onRow?.(row);
      const el = (performance.now() - start) / 1000;
      bar?.update(costDone, { done: summary.ran, todo: pending.length, failed: summary.failed, rate: fmtRate(summary.ran / Math.max(el, 1e-3)) });
    };
    if (options.inline) {
      for (const job of pending) {
        if (options.signal?.aborted) break;
        onResult(job, runJob(store.study, job));
        // let signals and timers through between jobs
        await new Promise((r) => setImmediate(r));
      }
    } else if (pending.length > 0) {
      pool = new Piscina<WorkerTask, ResultRow>({
        filename: workerFilename(),
        minThreads: Math.min(threads, pending.length),
        maxThreads: threads,
        idleTimeout: 1000,
      });
      const study = store.study;
      const p = pool;
      // a worker that cannot even start (e.g. its module fails to load) is fatal: stop everything
      let fatal: unknown;
      const internal = new AbortController();
      p.on('error', (e: unknown) => {
        fatal ??= e;
        internal.abort();
      });
      const onAbort = (): void => {
        void p.destroy();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      internal.signal.addEventListener('abort', onAbort, { once: true });
      await Promise.all(pending.map(async (job) => {
        let row: ResultRow;
        try {
          row = await p.run({ study, job });
        } catch (e) {
          if (options.signal?.aborted || internal.signal.aborted) return;
          // the worker itself died (out of memory, crash): record the failure, do not drop the job
          row = {
            jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'failed',
            error: `worker: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, logLikelihood: null,
            iterations: null, converged: null, seconds: 0, model: null, losses: {}, warnings: null,
          };
        }
        onResult(job, row);
      }));
      options.signal?.removeEventListener('abort', onAbort);
      if (fatal !== undefined) throw new Error(`study worker failed to start: ${fatal instanceof Error ? fatal.message : String(fatal)}`);
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
