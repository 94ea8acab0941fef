/** `moelab demo`: simulate from the authors' truth, fit by EM, compare with the truth. No files needed. */
import type { Command } from 'commander';
import { MixtureOfExperts } from '../../model/model.js';
import { AUTHORS_TRUTH } from '../../model/presets.js';
import { sampleX } from '../../model/data.js';
import { Rng } from '../../numeric/rng.js';
import { fitEM } from '../../estimate/em.js';
import { parseNumberOption } from '../io.js';
import { modelTable } from '../format.js';

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
          ...r.warnings.map((w) => `note: ${w}`),
        );
      }
      process.stdout.write(out.join('\n') + '\n');
    });
}
