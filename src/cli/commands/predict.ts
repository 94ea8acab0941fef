/** `moelab predict`: per-row predictions of a fitted model for new inputs (library: `predict`). */
import type { Command } from 'commander';
import { DataError, OptionError, predict, type Prediction, type MixtureOfExperts, formatWarning } from '../../core.js';
import { csvText, numberCell, readCsvDataset, readModelFile, writeAtomic } from '../io.js';

interface PredictCliOptions {
  model: string;
  data: string;
  y: string;
  x?: string;
  out: string;
  json?: boolean;
}

/** Class codes of the file's labels in the model's coding (its `labels`, else the codes 0..C−1 themselves). */
function recode(y: Float64Array, fileLabels: string[], modelLabels: string[], path: string): Float64Array {
  const code = fileLabels.map((s) => {
    const c = modelLabels.indexOf(s);
    if (c < 0) throw new DataError(`${path}: class label ${JSON.stringify(s)} is not one of the model's classes (${modelLabels.join(', ')})`);
    return c;
  });
  return y.map((v) => code[v]);
}

/** Column names and the row-wise cells of a prediction (one line per input row). */
export function predictionTable(p: Prediction): { header: string[]; rows: string[][] } {
  const { n, k } = p;
  const cols: { name: string; cell: (t: number) => string }[] = [];
  const num = (v: number): string => numberCell(v);
  if (p.mean) { const m = p.mean; cols.push({ name: 'mean', cell: (t) => num(m[t]) }); }
  if (p.variance) { const v = p.variance; cols.push({ name: 'variance', cell: (t) => num(v[t]) }); }
  if (p.classProbabilities && p.classLabels && p.predictedClass) {
    const P = p.classProbabilities;
    const labels = p.classLabels;
    const C = labels.length;
    labels.forEach((l, c) => cols.push({ name: `p_${l}`, cell: (t) => num(P[t * C + c]) }));
    const pc = p.predictedClass;
    cols.push({ name: 'class', cell: (t) => labels[pc[t]] });
  }
  for (let i = 0; i < k; i++) cols.push({ name: `pi_${i + 1}`, cell: (t) => num(p.gate[t * k + i]) });
  if (p.responsibilities && p.map) {
    const R = p.responsibilities;
    const map = p.map;
    for (let i = 0; i < k; i++) cols.push({ name: `resp_${i + 1}`, cell: (t) => num(R[t * k + i]) });
    cols.push({ name: 'map', cell: (t) => String(map[t] + 1) });
  }
  if (p.logDensity) { const l = p.logDensity; cols.push({ name: 'log_density', cell: (t) => num(l[t]) }); }
  const rows: string[][] = [];
  for (let t = 0; t < n; t++) rows.push(cols.map((c) => c.cell(t)));
  return { header: cols.map((c) => c.name), rows };
}

function predictionJSON(p: Prediction, model: MixtureOfExperts): Record<string, unknown> {
  const { n, k } = p;
  const rowsOf = (A: Float64Array, w: number): number[][] => Array.from({ length: n }, (_, t) => Array.from(A.subarray(t * w, (t + 1) * w)));
  const json: Record<string, unknown> = { n, k, kind: p.kind, gate: rowsOf(p.gate, k) };
  if (p.mean) json.mean = Array.from(p.mean);
  if (p.variance) json.variance = Array.from(p.variance);
  if (p.classProbabilities && p.classLabels && p.predictedClass) {
    json.classLabels = p.classLabels;
    json.classProbabilities = rowsOf(p.classProbabilities, p.classLabels.length);
    json.predictedClass = Array.from(p.predictedClass, (c) => p.classLabels?.[c]);
  }
  if (p.responsibilities && p.map) {
    json.responsibilities = rowsOf(p.responsibilities, k);
    json.map = Array.from(p.map, (i) => i + 1);
  }
  if (p.logDensity) {
    json.logDensity = Array.from(p.logDensity, (v) => (Number.isFinite(v) ? v : null));
    json.logLikelihood = p.logDensity.reduce((s, v) => s + v, 0);
  }
  json.model = model.toJSON();
  json.warnings = p.warnings;
  return json;
}

export function register(program: Command): void {
  program
    .command('predict')
    .description('predict for new inputs from a fitted model: mean, variance, gate probabilities, class probabilities; with y, responsibilities, MAP expert and log-density')
    .requiredOption('--model <file>', 'model JSON (a `fit --json` output is accepted); - for standard input')
    .requiredOption('--data <file>', 'CSV with a header row: the inputs, and y if present; - for standard input')
    .option('--y <column>', 'response column (optional in the data)', 'y')
    .option('--x <columns>', 'comma-separated input columns (default: every column but y)')
    .option('--out <file>', 'output CSV (one line per input row); - for standard output', '-')
    .option('--json', 'print one JSON object (per-row arrays, warnings) to standard output; the CSV only with --out FILE')
    .action((opts: PredictCliOptions) => {
      if (opts.model === '-' && opts.data === '-') throw new OptionError('--model and --data cannot both be standard input (-)');
      const model = readModelFile(opts.model);
      const family = model.expert as { classes?: unknown; labels?: unknown; classProbabilities?: unknown };
      const classes = typeof family.classProbabilities === 'function' && typeof family.classes === 'number';
      const data = readCsvDataset(opts.data, { y: opts.y, x: opts.x?.split(',').map((s) => s.trim()), classes, yOptional: true });
      if (data.d !== model.d) {
        throw new DataError(`${opts.data}: ${data.d} input columns (${(data.xNames ?? []).join(', ')}) but the model takes d = ${model.d}; choose them with --x`);
      }
      let y: Float64Array | undefined = data.y.length === data.n ? data.y : undefined;
      if (y && classes && data.classLabels) {
        const labels = Array.isArray(family.labels) ? (family.labels as string[]) : Array.from({ length: family.classes as number }, (_, c) => String(c));
        y = recode(y, data.classLabels, labels, opts.data);
      }
      const p = predict(model, data.X, data.n, y);
      if (!opts.json || opts.out !== '-') {
        const { header, rows } = predictionTable(p);
        writeAtomic(opts.out, csvText([header, ...rows]));
      }
      if (opts.json) process.stdout.write(JSON.stringify(predictionJSON(p, model)) + '\n');
      else for (const w of p.warnings) process.stderr.write(`${formatWarning(w)}\n`);
    });
}
