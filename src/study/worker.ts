/**
 * Worker-thread entry of the study pool (piscina): runs one job and returns its result row.
 * Loaded directly when compiled (dist/study/worker.js), or through `worker-shim.mjs`, which
 * registers tsx, when running from source (Node 20 workers do not inherit tsx's loader).
 */
import type { ResolvedStudy } from './config.js';
import type { Job } from './plan.js';
import { runJob, type ResultRow } from './job.js';
import { ensurePlugins } from './plugins.js';
// side effects: every gate and expert family registers itself in this thread (the measure modules,
// imported through job.ts, register their Voronoi and distance hooks)
import '../gates/registry.js';
import '../experts/registry.js';

export interface WorkerTask {
  study: ResolvedStudy;
  job: Job;
}

export default function runTask(task: WorkerTask): ResultRow | Promise<ResultRow> {
  // a study with plugin modules: load them in this thread first (once; checked against the study's sha256)
  if (task.study.plugins?.length) return ensurePlugins(task.study, { who: 'the study thread' }).then(() => runJob(task.study, task.job));
  return runJob(task.study, task.job);
}
