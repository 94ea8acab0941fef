/** Worker-thread entry of the fit pool (`fit-pool.ts`): one EM fit per task. */
import { runFitTask, type FitTask, type FitOutcome } from './fit-pool.js';
// side effects: every gate and expert family registers itself in this thread
import '../gates/registry.js';
import '../experts/registry.js';

export default function run(task: FitTask): FitOutcome {
  return runFitTask(task);
}
