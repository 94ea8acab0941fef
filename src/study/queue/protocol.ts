/**
 * What travels through the queue: one BullMQ job per study job. Its data carries the resolved study
 * (≈ 1 kB) and the job, so a worker needs nothing but the queue; its return value is the result row.
 *
 * BullMQ job id = `<study hash>/<job id>` (the study's job id, qualified by the study hash so that
 * two studies can share one queue). Adding a job whose id is already in Redis is a no-op, so a
 * coordinator may re-enqueue freely; the store's idempotent write makes at-least-once delivery safe.
 */
import type { ResolvedStudy } from '../config.js';
import type { Job } from '../plan.js';
import type { ResultRow } from '../job.js';

/** Environment variable through which `moelab worker` passes its --plugin modules to its job threads. */
export const PLUGINS_ENV = 'MOELAB_WORKER_PLUGINS';
/** Environment variable with the worker's name (`host:pid`), for the messages of its job threads. */
export const WORKER_NAME_ENV = 'MOELAB_WORKER_NAME';

/**
 * A job thread that cannot run a study (a plugin missing or different here) reports this as the
 * job's progress, hands the job back to the queue (delayed by REFUSE_DELAY_MS, no attempt used),
 * and the worker stops with the message.
 */
export interface RefusalProgress {
  refused: string;
}
export const REFUSE_DELAY_MS = 500;

export function isRefusal(v: unknown): v is RefusalProgress {
  return typeof v === 'object' && v !== null && typeof (v as { refused?: unknown }).refused === 'string';
}

export interface QueueJobData {
  /** Study hash (the store's `hash`): a worker's row is only accepted by the same study. */
  hash: string;
  study: ResolvedStudy;
  job: Job;
  /** Set by the worker when the job's own code failed (the row to store after the last attempt). */
  failedRow?: ResultRow;
}

export function bullJobId(hash: string, jobId: string): string {
  // BullMQ refuses ':' in custom ids (its key separator); setting names may hold one
  return `${hash}/${jobId.replaceAll(':', '%3A')}`;
}

export function studyPrefix(hash: string): string {
  return `${hash}/`;
}

/** Stages of runJob's error messages (`stage: Name: message`). */
const STAGE = /^(plan|simulate|fit|measure): /;

/**
 * The row stored for a job that failed in the queue: the worker's own failed row when the job's code
 * failed (identical to an inline run's row but for `seconds`), else a `worker:` row for a failure
 * around it (the job stalled too often, its thread died, …).
 */
export function failedRowOf(study: ResolvedStudy, job: Job, reason: string, failedRow: ResultRow | undefined, seconds: number): ResultRow {
  if (failedRow && failedRow.jobId === job.id && failedRow.status === 'failed') return failedRow;
  const setting = study.settings.find((s) => s.name === job.setting);
  const losses: Record<string, number | null> = {};
  for (const l of setting?.losses ?? []) losses[l.name] = null;
  return {
    jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'failed',
    error: STAGE.test(reason) ? reason : `worker: ${reason}`, objectiveName: null, objectiveValue: null, // the store names it
    iterations: null, converged: null,
    seconds, model: null, losses, warnings: null,
  };
}

/** Is `v` a result row of `job` (a completed job's return value, read back from Redis)? */
export function isRowOf(v: unknown, job: Job): v is ResultRow {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<ResultRow>;
  return r.jobId === job.id && r.seed === job.seed && (r.status === 'ok' || r.status === 'failed') && typeof r.seconds === 'number' && typeof r.losses === 'object' && r.losses !== null;
}
