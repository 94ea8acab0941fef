/**
 * `moelab worker`: serves the study queue of a Redis database. Jobs run in BullMQ sandboxed worker
 * threads (one per unit of concurrency, kept between jobs), so the main thread stays free to renew
 * job locks however long a fit takes. A worker that dies (SIGKILL, power cut) stops renewing its
 * locks: after `lockDuration` another worker's stalled-job check moves its jobs back to the queue and
 * they run elsewhere. SIGTERM closes the worker gracefully: it takes no new job and finishes the ones
 * it holds (a second SIGTERM gives them back to the queue at once).
 */
import { availableParallelism, hostname } from 'node:os';
import type { Job as BullJob, Worker } from 'bullmq';
import type { ResultRow } from '../job.js';
import { connect, ensureReachable, loadBull, DEFAULT_QUEUE_NAME, type QueueTarget } from './connection.js';
import { isRefusal, PLUGINS_ENV, WORKER_NAME_ENV, type QueueJobData } from './protocol.js';
import { pluginUrl } from '../plugins.js';

export interface WorkerOptions {
  target: QueueTarget;
  queueName?: string;
  /** Jobs run at once (threads), default: all cores. */
  concurrency?: number;
  /** Modules to import in every job thread (plugin families), as paths or URLs. */
  plugins?: string[];
  /** Lock of a running job, ms (renewed every half of it); a dead worker's jobs wait this long. */
  lockDuration?: number;
  /** Period of the stalled-job check, ms. */
  stalledInterval?: number;
  /** How often a job may stall (its worker died) before it is failed. */
  maxStalledCount?: number;
  /** One line per job event (active / completed / failed). */
  log?: (line: string) => void;
}

export interface WorkerHandle {
  name: string;
  worker: Worker<QueueJobData, ResultRow>;
  /** Graceful close: finish held jobs (force: hand them back now). */
  close(force?: boolean): Promise<void>;
  /**
   * Settles with a one-line message when a job thread refused a study (one of its plugins is
   * missing here or differs): the job went back to the queue, and the worker should stop.
   */
  refused: Promise<string>;
}

/** The processor module for this build: the tsx shim from source, the compiled processor otherwise. */
export function processorFile(): string {
  const here = new URL(import.meta.url);
  const path = here.pathname;
  return path.endsWith('.ts') ? new URL('./processor-shim.mjs', here.href).pathname : new URL('./processor.js', here.href).pathname;
}

export async function startQueueWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  const { bullmq } = await loadBull();
  const name = `${hostname()}:${process.pid}`;
  const client = await connect(opts.target, `moelab-worker:${name}`);
  await ensureReachable(client, opts.target);
  // the job threads inherit the environment of the moment they start: pass the plugins that way
  if (opts.plugins?.length) process.env[PLUGINS_ENV] = JSON.stringify(opts.plugins.map(pluginUrl));
  process.env[WORKER_NAME_ENV] = name;
  const concurrency = Math.max(1, opts.concurrency ?? availableParallelism());
  const worker = new bullmq.Worker<QueueJobData, ResultRow>(opts.queueName ?? DEFAULT_QUEUE_NAME, processorFile(), {
    connection: client,
    name,
    concurrency,
    useWorkerThreads: true,
    lockDuration: opts.lockDuration ?? 30_000,
    stalledInterval: opts.stalledInterval ?? 30_000,
    maxStalledCount: opts.maxStalledCount ?? 3,
    autorun: false,
  });
  const log = opts.log;
  if (log) {
    worker.on('active', (job: BullJob<QueueJobData, ResultRow>) => log(`active ${job.id ?? '?'}`));
    worker.on('completed', (job: BullJob<QueueJobData, ResultRow>) => log(`completed ${job.id ?? '?'} ${job.returnvalue.seconds.toFixed(3)} s`));
    worker.on('failed', (job: BullJob<QueueJobData, ResultRow> | undefined, err: Error) => log(`failed ${job?.id ?? '?'} (attempt ${job?.attemptsMade ?? '?'}): ${err.message}`));
  }
  // connection trouble (Redis restarting) is retried by ioredis; report it once per outage
  let down = false;
  worker.on('error', (e: Error) => {
    if (!down) log?.(`redis: ${e.message} (retrying)`);
    down = true;
  });
  client.on('ready', () => {
    if (down) log?.('redis: reconnected');
    down = false;
  });
  let refuse: (message: string) => void = () => undefined;
  const refused = new Promise<string>((res) => { refuse = res; });
  worker.on('progress', (job: BullJob<QueueJobData, ResultRow>, progress: unknown) => {
    if (!isRefusal(progress)) return;
    log?.(`refused ${job.id ?? '?'}: handed back to the queue`);
    refuse(progress.refused);
  });
  void worker.run();
  await worker.waitUntilReady();
  return {
    name,
    worker,
    refused,
    async close(force = false): Promise<void> {
      await worker.close(force);
      client.disconnect();
    },
  };
}
