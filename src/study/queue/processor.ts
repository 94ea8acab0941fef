/**
 * The sandboxed BullMQ processor: runs in a worker thread of `moelab worker` (BullMQ's
 * `useWorkerThreads`), so a CPU-bound fit never blocks the main thread that renews the job locks.
 * Loaded directly when compiled (dist/study/queue/processor.js) or through `processor-shim.mjs`
 * (tsx) from source. It loads the built-in families, the worker's `--plugin` modules (passed in
 * MOELAB_WORKER_PLUGINS as a JSON array of module URLs) and the study's `plugins:` (same bytes as
 * the study's, else the job is handed back and the worker stops), runs the job and returns its row.
 * A job whose own code fails (runJob's failed row) throws after recording that row in the job data,
 * so BullMQ retries it with backoff and the coordinator stores the row after the last attempt.
 */
import type { SandboxedJob } from 'bullmq';
import { runJob, type ResultRow } from '../job.js';
import { ensurePlugins, importPlugin, ownPluginPaths, PluginError } from '../plugins.js';
import { PLUGINS_ENV, REFUSE_DELAY_MS, WORKER_NAME_ENV, type QueueJobData, type RefusalProgress } from './protocol.js';
// side effects: every gate and expert family registers itself in this thread
import '../../gates/registry.js';
import '../../experts/registry.js';

let plugins: Promise<void> | undefined;
const ownUrls: string[] = process.env[PLUGINS_ENV] ? (JSON.parse(process.env[PLUGINS_ENV]) as string[]) : [];

/** The worker's own --plugin modules, imported once in this thread. */
function loadPlugins(): Promise<void> {
  plugins ??= (async () => {
    for (const url of ownUrls) await importPlugin(url);
  })();
  return plugins;
}

/** A job handed back to the queue (not an attempt): BullMQ's worker takes the next one. */
class HandedBack extends Error {
  // BullMQ recognises a delayed job by this error name (it crosses the thread boundary as a plain object)
  override name = 'DelayedError';
}

/** The error a failed job throws: its message is the row's `stage: Name: message`. */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
}

export default async function processStudyJob(job: SandboxedJob<QueueJobData, ResultRow>, token?: string): Promise<ResultRow> {
  await loadPlugins();
  const { study, job: j } = job.data;
  try {
    await ensurePlugins(study, { own: ownPluginPaths(ownUrls), who: `worker ${process.env[WORKER_NAME_ENV] ?? '?'}` });
  } catch (e) {
    if (!(e instanceof PluginError)) throw e;
    // this worker cannot run the study's jobs: give the job back untouched (no attempt used) for
    // another worker, and tell the main thread, which stops this worker with the message
    const refusal: RefusalProgress = { refused: e.message };
    await job.updateProgress(refusal);
    await job.moveToDelayed(Date.now() + REFUSE_DELAY_MS, token);
    throw new HandedBack(e.message);
  }
  const row = runJob(study, j);
  if (row.status === 'failed') {
    await job.updateData({ ...job.data, failedRow: row });
    throw new JobFailedError(row.error ?? 'failed');
  }
  return row;
}
