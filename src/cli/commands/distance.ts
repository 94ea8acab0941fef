/** `moelab distance`: E_X of the Hellinger / TV distance between two models' conditional densities. */
import type { Command } from 'commander';
import { densityDistance, regressionDistance, parseXDesign, OptionError } from '../../core.js';
import { readModelFile, parseNumberOption } from '../io.js';

export interface DistanceCliOptions {
  a: string;
  b: string;
  metric: string;
  x: string;
  samples: string;
  seed: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('distance')
    .description('distance between two models, averaged over x (Monte Carlo, with its standard error)')
    .requiredOption('--a <file>', 'first model JSON (a `fit --json` output is accepted)')
    .requiredOption('--b <file>', 'second model JSON')
    .option('--metric <metric>', 'hellinger | tv (conditional densities) | l2 (regression functions)', 'hellinger')
    .option('--x <design>', 'input design: uniform:LOW,HIGH | grid:LOW,HIGH | normal:MEAN,SD', 'uniform:0,1')
    .option('--samples <n>', 'number of x draws', '2000')
    .option('--seed <seed>', 'random seed of the x draws', '1')
    .option('--json', 'print {"distance", "stderr"} as one JSON object')
    .action((opts: DistanceCliOptions) => {
      const metric = opts.metric.toLowerCase();
      if (metric !== 'hellinger' && metric !== 'tv' && metric !== 'l2') throw new OptionError(`--metric: expected hellinger, tv or l2, got ${JSON.stringify(opts.metric)}`);
      const a = readModelFile(opts.a, 'model file --a');
      const b = readModelFile(opts.b, 'model file --b');
      const common = {
        x: parseXDesign(opts.x),
        samples: parseNumberOption(opts.samples, '--samples', { integer: true, min: 1 }),
        seed: parseNumberOption(opts.seed, '--seed', { integer: true }),
      };
      const r = metric === 'l2' ? regressionDistance(a, b, common) : densityDistance(a, b, { ...common, metric });
      if (opts.json) {
        process.stdout.write(JSON.stringify({ distance: r.distance, stderr: r.stderr }) + '\n');
        return;
      }
      const what = metric === 'l2' ? 'L2(μ) distance of the regression functions' : `E_X ${metric === 'tv' ? 'total variation' : 'Hellinger'} distance`;
      process.stdout.write(`${what}: ${r.distance.toPrecision(6)} ± ${r.stderr.toPrecision(2)} (standard error, ${r.samples} x from ${opts.x})\n`);
    });
}
