/** `fit --se` and `fit --bootstrap B`: the options and what they print. */
import type { Command } from 'commander';
import type { BootstrapType } from '../index.js';
import { type Dataset, type MixtureOfExperts, type EMOptions, OptionError, parameterStandardErrors, type InformationMethod, type MoeWarning } from '../core.js';
import { parseNumberOption } from './io.js';
import { bootstrapTable, standardErrorTable } from './inference-format.js';

export interface InferenceCliOptions {
  se?: string | boolean;
  bootstrap?: string;
  bootstrapType?: string;
  bootstrapSeed?: string;
  level?: string;
  threads?: string;
}

export function inferenceOptions(cmd: Command): void {
  cmd
    .option('--se [method]', 'standard errors from the information matrix: hessian (observed information, default) | bhhh')
    .option('--bootstrap <B>', 'bootstrap the fit with B replicates (percentile intervals; any fit, over-specified ones included)')
    .option('--bootstrap-type <type>', 'nonparametric (rows resampled, default) | parametric (y drawn from the fit)', 'nonparametric')
    .option('--bootstrap-seed <seed>', 'seed of the bootstrap draws', '1')
    .option('--level <p>', 'coverage of the bootstrap percentile intervals', '0.95')
    .option('--threads <t>', 'worker threads for the bootstrap refits (1: inline; default: every core)');
}

export interface InferenceOutput {
  json: Record<string, unknown>;
  text: string[];
  warnings: MoeWarning[];
}

export async function runInference(model: MixtureOfExperts, data: Dataset, opts: InferenceCliOptions, em: EMOptions): Promise<InferenceOutput> {
  const out: InferenceOutput = { json: {}, text: [], warnings: [] };
  const naming = { xNames: data.xNames, classLabels: data.classLabels };
  if (opts.se !== undefined && opts.se !== false) {
    const method = opts.se === true ? 'hessian' : opts.se;
    if (method !== 'hessian' && method !== 'bhhh') throw new OptionError(`--se: expected hessian or bhhh, got ${JSON.stringify(method)}`);
    const r = parameterStandardErrors(model, data, { method: method as InformationMethod, naming });
    out.json.standardErrors = r;
    out.text.push('', standardErrorTable(r));
    out.warnings.push(...r.warnings);
  }
  if (opts.bootstrap !== undefined) {
    const B = parseNumberOption(opts.bootstrap, '--bootstrap', { integer: true, min: 2 });
    const type = opts.bootstrapType ?? 'nonparametric';
    if (type !== 'nonparametric' && type !== 'parametric') throw new OptionError(`--bootstrap-type: expected nonparametric or parametric, got ${JSON.stringify(type)}`);
    const level = parseNumberOption(opts.level ?? '0.95', '--level', { positive: true });
    if (!(level < 1)) throw new OptionError(`--level: must be in (0, 1), got ${opts.level}`);
    const threads = opts.threads === undefined ? undefined : parseNumberOption(opts.threads, '--threads', { integer: true, min: 1 });
    // imported here: the Node-side API (the bootstrap's piscina pool) is start-up cost that a plain fit must not pay
    const { bootstrap } = await import('../index.js');
    const r = await bootstrap(model, data, {
      replicates: B, type: type as BootstrapType, seed: parseNumberOption(opts.bootstrapSeed ?? '1', '--bootstrap-seed', { integer: true }), level, threads, naming,
      em: { tol: em.tol, maxIter: em.maxIter, ...(em.gateBound !== undefined ? { gateBound: em.gateBound } : {}) },
    });
    out.json.bootstrap = r;
    out.text.push('', bootstrapTable(r));
    out.warnings.push(...r.warnings);
  }
  return out;
}
