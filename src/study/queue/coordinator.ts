/**
 * Coordinator of a distributed study (`moelab study run|resume --queue URL`): enqueues the planned
 * jobs that the store does not hold yet on the BullMQ queue, and collects the rows that workers send
 * back into the study store (the only source of truth). Collection is store-then-remove: a finished
 * BullMQ job is written (idempotent insert keyed by job id) before it is deleted from Redis, so a
 * coordinator killed at any moment loses nothing, and at-least-once delivery never duplicates a row.
 *
 * Faults: a dead worker's job is rerun by another worker (BullMQ stalled-job check); a dead
 * coordinator leaves the queue running, and `resume --queue` collects what finished meanwhile and
 * enqueues only the jobs that are neither stored nor queued; a Redis restart is waited through (the
 * clients reconnect), and jobs that Redis lost (no persistence) are found missing and enqueued again.
 */
import cliProgress from 'cli-progress';
import type { Queue } from 'bullmq';
import { OptionError } from '../../errors.js';
import { executionOrder, planJobs, type Job } from '../plan.js';
import type { ResultRow } from '../job.js';
import type { StudyStore } from '../store.js';
import { acquireLock } from '../runner.js';
import { recordMeasureVersions } from '../versions.js';
import { connect, ensureReachable, loadBull, DEFAULT_QUEUE_NAME, type QueueTarget } from './connection.js';
import { bullJobId, failedRowOf, isRowOf, studyPrefix, type QueueJobData } from './protocol.js';

export interface QueueRunOptions {
  target: QueueTarget;
  queueName?: string;
  /** Attempts per job before it is stored as failed (default 3). */
  attempts?: number;
  /** First retry delay, ms, doubled each attempt (default 2000). */
  backoffMs?: number;
  /** Delete failed rows first so those jobs run again. */
  retryFailed?: boolean;
  /** Poll period for finished jobs, ms (default 200). */
  pollMs?: number;
  progress?: boolean;
  stream?: NodeJS.WritableStream;
  /** Stop collecting (the queued jobs stay queued; resume collects them). */
  signal?: AbortSignal;
  onRow?: (row: ResultRow) => void;
  /** Called once the jobs are enqueued (tests, benchmarks). */
  onEnqueued?: (count: number) => void;
}

export interface QueueRunSummary {
  planned: number;
  alreadyDone: number;
  /** Rows stored by this run (collected from the queue). */
  ran: number;
  ok: number;
  failed: number;
  retried: number;
  /** Jobs added to the queue by this run (those neither stored nor already queued). */
  enqueued: number;
  /** Most workers seen serving the queue at once. */
  workers: number;
  wallSeconds: number;
  jobsPerSecond: number;
  aborted: boolean;
}

type QueueT = Queue<QueueJobData, ResultRow>;

const PENDING_TYPES = ['wait', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const;

/** Ids (BullMQ) of this study's jobs in the given states. */
async function idsOf(queue: QueueT, hash: string, types: readonly string[]): Promise<string[]> {
  const prefix = studyPrefix(hash);
  const ids = await queue.getRanges(types as Parameters<QueueT['getRanges']>[0], 0, -1);
  return ids.filter((id) => id.startsWith(prefix));
}

/**
 * Workers serving this queue in this Redis database (BullMQ's count looks at every database of the
 * server: keep the clients whose db is ours, one per worker name).
 */
async function liveWorkers(queue: QueueT, db: number): Promise<number> {
  const clients = (await queue.getWorkers()) as { name?: string; rawname?: string; db?: string }[];
  return new Set(clients.filter((c) => Number(c.db) === db).map((c) => c.rawname ?? c.name)).size;
}

export interface QueueCounts {
  /** Waiting (or delayed for a retry) in the queue. */
  queued: number;
  /** Held by a worker. */
  running: number;
  /** Finished in Redis, not yet collected into the store. */
  uncollected: number;
  /** Workers serving the queue. */
  workers: number;
}

/** Where this study's jobs stand in the queue (for `study status --queue`). */
export async function queueCounts(target: QueueTarget, hash: string, queueName = DEFAULT_QUEUE_NAME): Promise<QueueCounts> {
  const { bullmq } = await loadBull();
  const client = await connect(target, 'moelab-status');
  try {
    await ensureReachable(client, target);
    const queue: QueueT = new bullmq.Queue(queueName, { connection: client });
    try {
      const [queued, running, uncollected, workers] = await Promise.all([
        idsOf(queue, hash, ['wait', 'delayed', 'prioritized', 'paused', 'waiting-children']),
        idsOf(queue, hash, ['active']),
        idsOf(queue, hash, ['completed', 'failed']),
        liveWorkers(queue, target.db),
      ]);
      return { queued: queued.length, running: running.length, uncollected: uncollected.length, workers };
    } finally {
      await queue.close();
    }
  } finally {
    client.disconnect();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function fmtRate(r: number): string {
  return r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2);
}

/** Run (or resume) the pending jobs of the study in `store` on the queue; returns when all are stored. */
export async function runQueuedStudy(store: StudyStore, opts: QueueRunOptions): Promise<QueueRunSummary> {
  const attempts = opts.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw new OptionError(`--attempts ${attempts}: expected an integer ≥ 1`);
  const release = acquireLock(store.dir);
  const start = performance.now();
  let bar: cliProgress.SingleBar | undefined;
  let client: Awaited<ReturnType<typeof connect>> | undefined;
  let queue: QueueT | undefined;
  try {
    const { bullmq } = await loadBull();
    client = await connect(opts.target, 'moelab-coordinator');
    await ensureReachable(client, opts.target);
    const q: QueueT = (queue = new bullmq.Queue(opts.queueName ?? DEFAULT_QUEUE_NAME, { connection: client }));
    const study = store.study;
    const hash = store.hash;
    const planned = planJobs(study);
    const byBullId = new Map<string, Job>(planned.map((j) => [bullJobId(hash, j.id), j]));
    const initiallyStored = store.finishedIds().size;
    const summary: QueueRunSummary = {
      planned: planned.length, alreadyDone: initiallyStored, ran: 0, ok: 0, failed: 0, retried: 0, enqueued: 0, workers: 0,
      wallSeconds: 0, jobsPerSecond: 0, aborted: false,
    };
    let costDone = 0;
    let workers = 0;
    const update = (): void => {
      const el = (performance.now() - start) / 1000;
      bar?.update(costDone, { done: summary.ran, failed: summary.failed, workers, rate: fmtRate(summary.ran / Math.max(el, 1e-3)) });
    };

    /** Store every finished job of this study that Redis holds, then delete it there. */
    const collect = async (): Promise<number> => {
      let stored = 0;
      for (const state of ['completed', 'failed'] as const) {
        for (const id of await idsOf(q, hash, [state])) {
          const bj = await q.getJob(id);
          if (!bj) continue;
          const job = byBullId.get(id);
          if (job) {
            const seconds = bj.finishedOn && bj.processedOn ? (bj.finishedOn - bj.processedOn) / 1000 : 0;
            const rv: unknown = bj.returnvalue;
            const row = state === 'completed'
              ? isRowOf(rv, job) ? rv : failedRowOf(study, job, 'the worker returned no valid result row', undefined, seconds)
              : failedRowOf(study, job, bj.failedReason, bj.data.failedRow, seconds);
            if (store.write(row)) {
              stored++;
              summary.ran++;
              if (row.status === 'ok') summary.ok++;
              else summary.failed++;
              costDone += job.cost;
              opts.onRow?.(row);
            }
          }
          await bj.remove().catch(() => undefined); // already gone (another collector) is fine
        }
      }
      return stored;
    };

    /** Enqueue the jobs that are neither stored nor in Redis (a re-add of a queued id is a no-op anyway). */
    const enqueueMissing = async (): Promise<number> => {
      const inRedis = new Set(await idsOf(q, hash, [...PENDING_TYPES, 'completed', 'failed']));
      const finished = store.finishedIds(); // read after Redis: a job collected meanwhile is stored
      const missing = executionOrder(planned.filter((j) => !finished.has(j.id) && !inRedis.has(bullJobId(hash, j.id))));
      for (let i = 0; i < missing.length; i += 500) {
        await q.addBulk(missing.slice(i, i + 500).map((job) => ({
          name: job.setting,
          data: { hash, study, job },
          opts: { jobId: bullJobId(hash, job.id), attempts, backoff: { type: 'exponential', delay: opts.backoffMs ?? 2000 } },
        })));
      }
      return missing.length;
    };

    store.setMeta('last_run_started', new Date().toISOString());
    recordMeasureVersions(store); // before any row is collected, as runStudy does (study/versions.ts)
    // 1. what finished while no coordinator was collecting (a killed run); 2. retries; 3. enqueue
    await collect();
    if (opts.retryFailed) summary.retried = store.deleteFailed();
    const storedNow = store.finishedIds().size;
    const pendingCost = planned.filter((j) => !store.finishedIds().has(j.id)).reduce((s, j) => s + j.cost, 0);
    summary.enqueued = await enqueueMissing();
    opts.onEnqueued?.(summary.enqueued);
    if (opts.progress ?? true) {
      const stream = opts.stream ?? process.stderr;
      const tty = (stream as NodeJS.WriteStream).isTTY === true;
      bar = new cliProgress.SingleBar({
        format: '{bar} {percentage}% | {done}/{todo} jobs | {failed} failed | {workers} workers | {rate} jobs/s | {duration_formatted} elapsed | ETA {eta_formatted}',
        stream, noTTYOutput: !tty, notTTYSchedule: 10_000, etaBuffer: 200, fps: 5, hideCursor: tty, barsize: 30,
      }, cliProgress.Presets.shades_classic);
      bar.start(Math.max(pendingCost, 1), 0, { done: 0, todo: planned.length - storedNow, failed: 0, workers: 0, rate: '0' });
    }
    costDone = 0;
    summary.ran = summary.ok = summary.failed = 0; // count only this run's new rows from here (collected leftovers are in alreadyDone)
    summary.alreadyDone = storedNow;

    let lastWorkers = 0;
    let lastProgress = performance.now();
    let lastCheck = performance.now();
    const poll = opts.pollMs ?? 200;
    while (summary.alreadyDone + summary.ran < planned.length && !opts.signal?.aborted) {
      await sleep(poll, opts.signal);
      if (opts.signal?.aborted) break;
      try {
        if (await collect()) lastProgress = performance.now();
        const now = performance.now();
        if (now - lastWorkers > 2000) {
          lastWorkers = now;
          workers = await liveWorkers(q, opts.target.db);
          summary.workers = Math.max(summary.workers, workers);
        }
        // nothing finished for a while: make sure every pending job is still in Redis (it may have
        // lost them: restarted without persistence, flushed); re-adding a queued job is a no-op
        if (now - lastProgress > 10_000 && now - lastCheck > 10_000) {
          lastCheck = now;
          const added = await enqueueMissing();
          if (added) process.stderr.write(`\nre-enqueued ${added} jobs that the queue no longer held\n`);
          summary.enqueued += added;
        }
      } catch {
        // Redis unreachable (restarting): commands wait for the reconnect; try again next period
      }
      update();
    }
    summary.aborted = opts.signal?.aborted ?? false;
    update();
    summary.wallSeconds = (performance.now() - start) / 1000;
    summary.jobsPerSecond = summary.ran / Math.max(summary.wallSeconds, 1e-9);
    store.setMeta('last_run_finished', new Date().toISOString());
    return summary;
  } finally {
    bar?.stop();
    await queue?.close().catch(() => undefined);
    client?.disconnect();
    release();
  }
}
