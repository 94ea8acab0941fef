/**
 * Issue 16 item 5, convergence of over-specified least squares on study jobs: runs the `over`
 * setting of studies/lse-gelu.yaml and lse-linear.yaml (medium profile: 1 try, gateBound 10) on
 * seeded study jobs exactly as a study runs them (plan.ts seeds, simulateJob, the `lse` estimator)
 * and prints one JSON line per job: SSE, gradient test (converged), iterations and CPU seconds.
 * Not a `.bench.ts` (npm run bench does not pick it up): one thread, for a paired comparison of two
 * solver versions run from two checkouts on the same jobs (compare the lines by `id`).
 *
 *   npx tsx bench/lse-convergence.ts PRESET[,PRESET] --ns 316,1000,… --reps 0-9 [--options JSON]
 *
 * --ns picks sizes of the medium profile (nearest planned n to each value); --options is merged
 * into the setting's options (e.g. '{"warmStart":false}').
 */
import { readFileSync } from 'node:fs';
import { loadStudy, presetPath } from '../src/study/config.js';
import { planJobs } from '../src/study/plan.js';
import { simulateJob } from '../src/study/job.js';
import { estimatorEntry } from '../src/study/estimators.js';
import { MixtureOfExperts } from '../src/model/model.js';
import { deriveSeed } from '../src/numeric/rng.js';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const presets = (argv[0] ?? 'lse-gelu').split(',');
const wantNs = (arg('--ns') ?? '1000').split(',').map(Number);
const [r0, r1] = (arg('--reps') ?? '0-4').split('-').map(Number);
const extra = JSON.parse(arg('--options') ?? '{}') as Record<string, unknown>;
const cpuS = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

for (const preset of presets) {
  const study = loadStudy(readFileSync(presetPath(preset), 'utf8'), { profile: 'medium' });
  const truth = MixtureOfExperts.fromJSON(study.truth, 'truth');
  const setting = study.settings.find((s) => s.name === 'over');
  if (!setting) throw new Error(`${preset}: no setting 'over'`);
  const ns = [...new Set(wantNs.map((w) => study.ns.reduce((a, b) => (Math.abs(Math.log(b / w)) < Math.abs(Math.log(a / w)) ? b : a))))];
  const est = estimatorEntry(setting.estimator);
  if (!est) throw new Error(`no estimator ${setting.estimator}`);
  const jobs = planJobs(study).filter((j) => j.setting === 'over' && ns.includes(j.n) && j.rep >= r0 && j.rep <= (r1 ?? r0));
  for (const job of jobs) {
    const data = simulateJob(study, job);
    const t = cpuS();
    const fit = est.run({
      spec: { gate: setting.gate, experts: setting.experts, k: setting.k, d: study.d }, data, truth, init: setting.init,
      restarts: setting.restarts, tol: setting.tol, maxIter: setting.maxIter, seed: deriveSeed(BigInt(job.seed), 'fit'), options: { ...setting.options, ...extra },
    });
    const cpu = cpuS() - t;
    process.stdout.write(JSON.stringify({ id: `${preset}/${job.id}`, n: job.n, rep: job.rep, sse: -fit.objective, converged: fit.converged, iterations: fit.iterations, cpu: +cpu.toFixed(3), warnings: fit.warnings.map((w) => w.code) }) + '\n');
  }
}
