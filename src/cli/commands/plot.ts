/** `moelab plot`: a figure of a fitted model over its data (SVG, PNG or self-contained HTML). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { fitFigureSpec, figureFormat, writeFigure, DataError, OptionError, type Dataset, type MixtureOfExperts } from '../../index.js';
import { readCsvDataset, readModelFile } from '../io.js';

interface PlotCliOptions {
  model: string;
  data: string;
  out: string;
  truth?: string;
  y: string;
  x?: string;
  input?: string;
}

/** The `trace` array of a fit --json file, if any. */
function readTrace(path: string): number[] | undefined {
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { trace?: unknown };
    return Array.isArray(j.trace) && j.trace.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (j.trace as number[]) : undefined;
  } catch {
    return undefined;
  }
}

/** Class codes of the data in the model's label order. */
function alignClasses(data: Dataset, model: MixtureOfExperts, path: string): void {
  const labels = (model.toJSON().experts.labels as unknown[] | undefined)?.map(String);
  if (!labels || !data.classLabels) return;
  const code = new Map(labels.map((l, c) => [l, c]));
  const remap = data.classLabels.map((l) => {
    const c = code.get(l);
    if (c === undefined) throw new DataError(`${path}: class label ${JSON.stringify(l)} is not one of the model's labels (${labels.join(', ')})`);
    return c;
  });
  for (let t = 0; t < data.n; t++) data.y[t] = remap[data.y[t]];
  data.classLabels = labels;
}

export function register(program: Command): void {
  program
    .command('plot')
    .description('figure of a fitted model over its data: experts and MAP classes, gate probabilities, the log-likelihood trace')
    .requiredOption('--model <file>', 'fitted model JSON (fit --json output, with its trace)')
    .requiredOption('--data <file>', 'CSV the model was fitted to (or new data with the same columns)')
    .requiredOption('--out <file>', 'figure file: .svg, .png or .html')
    .option('--truth <file>', 'true model JSON, drawn dashed beside the fit')
    .option('--y <column>', 'response column', 'y')
    .option('--x <columns>', 'comma-separated input columns (default: every other column)')
    .option('--input <name>', 'for d > 1: the input to plot the gate probabilities against (default: the first)')
    .action(async (opts: PlotCliOptions) => {
      figureFormat(opts.out);
      const model = readModelFile(opts.model);
      const classes = model.expert.type === 'multinomialLogistic';
      const data = readCsvDataset(opts.data, { y: opts.y, x: opts.x?.split(',').map((s) => s.trim()), classes });
      if (data.d !== model.d) throw new DataError(`${opts.data}: ${data.d} input column${data.d > 1 ? 's' : ''} (${(data.xNames ?? []).join(', ')}) but the model has d = ${model.d}`);
      if (classes) alignClasses(data, model, opts.data);
      const truth = opts.truth ? readModelFile(opts.truth, 'truth file') : undefined;
      if (truth && truth.d !== model.d) throw new OptionError(`--truth: the truth has d = ${truth.d} but the model has d = ${model.d}`);
      let input = 0;
      if (opts.input !== undefined) {
        input = (data.xNames ?? []).indexOf(opts.input);
        if (input < 0) throw new OptionError(`--input: no input column ${JSON.stringify(opts.input)} (inputs: ${(data.xNames ?? []).join(', ')})`);
      }
      const trace = readTrace(opts.model);
      const spec = fitFigureSpec(model, data, { truth, trace, input, title: `${opts.model} over ${opts.data}` });
      await writeFigure(opts.out, spec, `moelab plot: ${opts.model}`, [
        `k = ${model.k}, ${model.gate.type}/${model.expert.type}, ${data.n} rows × ${data.d} inputs from ${opts.data}${truth ? `; truth ${opts.truth}` : ''}${trace ? '' : '; no log-likelihood trace in the model file'}`,
      ]);
      process.stdout.write(`figure: ${opts.out}\n`);
    });
}
