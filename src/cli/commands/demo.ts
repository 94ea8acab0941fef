/** `moelab demo`: simulate from the authors' truth, fit by EM, compare with the truth. No files needed. */
import type { Command } from 'commander';
import { loadStudyFile, presetPath, MixtureOfExperts, AUTHORS_TRUTH, sampleX, Rng, fitEM, formatWarning, planJobs, runJob, summariseRate, judge } from '../../index.js';
import { parseNumberOption } from '../io.js';
import { modelTable } from '../format.js';

/**
 * One claim reproduced in seconds: the `softmax-exact` preset (P0, D1 = O_P(n^-1/2)) on a small grid,
 * fitted in this process, judged by the verdict rule of `study reproduce`.
 */
function demoClaim(): string[] {
  const base = loadStudyFile(presetPath('softmax-exact'), { profile: 'quick' });
  const study = { ...base, ns: [100, 200, 400, 800, 1600, 3200, 6400, 12800], replicates: 12 };
  const t0 = performance.now();
  const byN = new Map<number, number[]>();
  let failed = 0;
  for (const job of planJobs(study)) {
    const row = runJob(study, job);
    const v = row.losses.D1;
    if (row.status !== 'ok' || v === null || v === undefined) {
      failed++;
      continue;
    }
    let a = byN.get(job.n);
    if (!a) byN.set(job.n, (a = []));
    a.push(v);
  }
  const ns = [...byN.keys()];
  const s = summariseRate(ns, ns.map((n) => byN.get(n)!), { bootstrap: 1000 });
  const v = judge(s, { kind: 'rate', theory: -0.5 });
  const secs = (performance.now() - t0) / 1000;
  const f = (x: number): string => (x < 0 ? `\u2212${Math.abs(x).toFixed(2)}` : x.toFixed(2));
  return [
    '',
    `claim (P0, exact-specified, math-spec §7): D1(Ĝn, G*) = O_P(n^−1/2)`,
    `  ${study.ns.length} sample sizes ${study.ns[0]}…${study.ns[study.ns.length - 1]} × ${study.replicates} replicates = ${planJobs(study).length} fits in ${secs.toFixed(1)} s${failed ? ` (${failed} failed)` : ''}`,
    `  slope of the mean ${f(s.mean.slope)} [${f(s.mean.ci[0])}, ${f(s.mean.ci[1])}], of the 0.8-quantile ${f(s.quantile.slope)} [${f(s.quantile.ci[0])}, ${f(s.quantile.ci[1])}]`,
    `  verdict: ${v.verdict.toUpperCase()} (${v.reason})`,
    '  every claim of the papers: moelab study reproduce --profile medium --out DIR',
  ];
}

export function register(program: Command): void {
  program
    .command('demo')
    .description("simulate from the authors' 2-expert truth (math-spec §8.1), fit k = 2 and k = 3 by EM, print the fits")
    .option('--n <n>', 'sample size', '10000')
    .option('--seed <seed>', 'random seed', '1')
    .action((opts: { n: string; seed: string }) => {
      const n = parseNumberOption(opts.n, '--n', { integer: true, min: 20 });
      const seed = parseNumberOption(opts.seed, '--seed', { integer: true });
      const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
      const rng = new Rng(seed);
      const X = sampleX({ type: 'uniform', low: 0, high: 1 }, n, 1, rng.split('x'));
      const { y } = truth.sample(X, n, rng.split('y'));
      const data = { X, y, n, d: 1 };
      const out: string[] = [
        `moelab demo: n = ${n} draws from the softmax-gated Gaussian MoE of Nguyen et al. (x ~ U[0,1], seed ${seed})`,
        '',
        'truth',
        modelTable(truth.toJSON()),
        `log-likelihood at the truth ${truth.logLikelihood(X, y, n).toFixed(4)}`,
      ];
      for (const k of [2, 3]) {
        // the papers' protocol (math-spec §8.3): start near the truth, one start each
        const r = fitEM({ ...truth.spec(), k }, data, { init: { type: 'nearTruth', truth }, seed });
        out.push(
          '',
          `fit k = ${k} (${k === 2 ? 'exact-specified' : 'over-specified: two fitted experts share one true expert'}), near-truth start, ${r.restarts} restart(s)`,
          modelTable(r.model.toJSON()),
          `log-likelihood ${r.logLikelihood.toFixed(4)}   iterations ${r.iterations}   converged ${r.converged ? 'yes' : 'no'}   gradient norm ${r.gradientNorm.toExponential(2)}   ${(r.seconds * 1000).toFixed(0)} ms`,
          ...r.warnings.map((w) => formatWarning(w, 'note')),
        );
      }
      out.push(...demoClaim());
      process.stdout.write(out.join('\n') + '\n');
    });
}
