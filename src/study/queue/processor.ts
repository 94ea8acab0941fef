/**
 * The sandboxed BullMQ processor: runs in a worker thread of `moelab worker` (BullMQ's
 * `useWorkerThreads`), so a CPU-bound fit never blocks the main thread that renews the job locks.
 * Loaded directly when compiled (dist/study/queue/processor.js) or through `processor-shim.mjs`
 * (tsx) from source. It loads the built-in families and the worker's `--plugin` modules (passed in
 * MOELAB_WORKER_PLUGINS as a JSON array of module URLs), runs the job and returns its result row.
 * A job whose own code fails (runJob's failed row) throws after recording that row in the job data,
 * so BullMQ retries it with backoff and the coordinator stores the row after the last attempt.
 */
import type { SandboxedJob } from 'bullmq';
import { runJob, type ResultRow } from '../job.js';
import { PLUGINS_ENV, type QueueJobData } from './protocol.js';
// side effects: every gate and expert family registers itself in this thread
import '../../gates/registry.js';
import '../../experts/registry.js';

let plugins: Promise<void> | undefined;

function loadPlugins(): Promise<void> {
  plugins ??= (async () => {
    const list = process.env[PLUGINS_ENV];
    if (!list) return;
    for (const url of JSON.parse(list) as string[]) await import(url);
  })();
  return plugins;
}

/** The error a failed job throws: its message is the row's `stage: Name: message`. */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
}

export default async function processStudyJob(job: SandboxedJob<QueueJobData, ResultRow>): Promise<ResultRow> {
  await loadPlugins();
  const { study, job: j } = job.data;
  const row = runJob(study, j);
  if (row.status === 'failed') {
    await job.updateData({ ...job.data, failedRow: row });
    throw new JobFailedError(row.error ?? 'failed');
  }
  return row;
}
