/** `moelab simulate`: draw a dataset from a model JSON. */
import type { Command } from 'commander';
import { parseXDesign, sampleX, Rng, MultinomialLogisticExperts } from '../../core.js';
import { readModelFile, writeCsvDataset, parseNumberOption } from '../io.js';

export function register(program: Command): void {
  program
    .command('simulate')
    .description('draw (x, y) from a model: x from a design, y from the model given x')
    .requiredOption('--model <file>', 'model JSON (the truth); - for standard input')
    .requiredOption('--n <n>', 'number of rows')
    .option('--seed <seed>', 'random seed', '1')
    .option('--x <design>', 'input design: uniform:LOW,HIGH | grid:LOW,HIGH | normal:MEAN,SD', 'uniform:0,1')
    .requiredOption('--out <file>', 'output CSV (columns x1..xd,y); - for standard output')
    .action((opts: { model: string; n: string; seed: string; x: string; out: string }) => {
      const model = readModelFile(opts.model);
      const n = parseNumberOption(opts.n, '--n', { integer: true, min: 1 });
      const seed = parseNumberOption(opts.seed, '--seed', { integer: true });
      const design = parseXDesign(opts.x);
      const rng = new Rng(seed);
      const X = sampleX(design, n, model.d, rng.split('x'));
      const { y } = model.sample(X, n, rng.split('y'));
      // class responses are written with the model's labels when it has them (multinomial experts)
      writeCsvDataset(opts.out, { X, y, n, d: model.d }, model.expert instanceof MultinomialLogisticExperts ? model.expert.labels : undefined);
      if (opts.out !== '-') process.stderr.write(`wrote ${n} rows to ${opts.out}\n`);
    });
}
