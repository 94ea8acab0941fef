/**
 * Worker-thread entry of the study pool (piscina): runs one job and returns its result row.
 * Loaded directly when compiled (dist/study/worker.js), or through `worker-shim.mjs`, which
 * registers tsx, when running from source (Node 20 workers do not inherit tsx's loader).
 */
import type { ResolvedStudy } from './config.js';
import type { Job } from './plan.js';
import { runJob, type ResultRow } from './job.js';
// side effects: every gate and expert family registers itself in this thread (the measure modules,
// imported through job.ts, register their Voronoi and distance hooks)
import '../gates/registry.js';
import '../experts/registry.js';

export interface WorkerTask {
  study: ResolvedStudy;
  job: Job;
}

export default function runTask(task: WorkerTask): ResultRow {
  return runJob(task.study, task.job);
}
