/** `moelab select`: choose the number of experts by AIC/BIC/ICL over a range of k, and by the dendrogram of mixing measures. */
import type { Command } from 'commander';
import { parseKRange, selectK, type SelectionResult, defaultThreads, runFits, type PlainEMOptions, selectionFigureSpec, figureFormat, writeFigure, parseGateSpec, parseExpertSpec, expertFactory, OptionError, MixtureOfExperts, EM_DEFAULTS, buildDendrogram, type Dendrogram, CRITERIA, type CriterionName, warning, formatWarning, type MoeWarning, type WarningJSON } from '../../index.js';
import { readCsvDataset, parseNumberOption } from '../io.js';
import { completeClassSpec } from '../fit-lse.js';
import { table } from '../inference-format.js';

interface SelectCliOptions {
  data: string;
  k: string;
  y: string;
  x?: string;
  gate: string;
  expert: string;
  criterion: string;
  restarts: string;
  init: string;
  seed: string;
  tol: string;
  maxIter: string;
  threads?: string;
  out?: string;
  figure: boolean;
  dendrogram: boolean;
  refit: boolean;
  omega?: string;
  json?: boolean;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(2) : '—';
}

export function register(program: Command): void {
  program
    .command('select')
    .description('choose the number of experts: fit each k (AIC/BIC/ICL), and the dendrogram of mixing measures of the largest fit')
    .requiredOption('--data <file>', 'CSV with a header row')
    .option('--k <range>', 'values of k: 1..6, 2,3,5 or one k (with --criterion dendrogram: the over-specified K)', '1..6')
    .option('--y <column>', 'response column', 'y')
    .option('--x <columns>', 'comma-separated input columns (default: every other column)')
    .option('--gate <spec>', 'gate family', 'softmax')
    .option('--expert <spec>', 'expert family', 'gaussian')
    .option('--criterion <name>', 'bic | icl | aic | dendrogram (fit only the largest k and choose from its dendrogram: no sweep)', 'bic')
    .option('--restarts <r>', 'starts per k; the best log-likelihood is kept', '3')
    .option('--init <method>', 'random | kmeans++', 'kmeans++')
    .option('--seed <seed>', 'random seed of the initialisations', String(EM_DEFAULTS.seed))
    .option('--tol <tol>', 'relative log-likelihood change to stop EM', String(EM_DEFAULTS.tol))
    .option('--max-iter <n>', 'maximum EM iterations per start', String(EM_DEFAULTS.maxIter))
    .option('--threads <t>', 'worker threads for the fits (1: one after another; default: every core)')
    .option('--out <file>', 'figure file (.svg, .png or .html)', 'select.svg')
    .option('--no-figure', 'do not write a figure')
    .option('--no-dendrogram', 'skip the dendrogram of mixing measures')
    .option('--no-refit', 'dendrogram: merge atoms without refitting each level by EM')
    .option('--omega <w>', 'dendrogram selection criterion weight ω_n (default log n)')
    .option('--json', 'print one JSON object instead of the table')
    .action(runSelect);
}

/** The command line parsed and checked (every error before any fit). */
interface SelectInputs {
  opts: SelectCliOptions;
  gate: ReturnType<typeof parseGateSpec>;
  experts: ReturnType<typeof parseExpertSpec>;
  data: ReturnType<typeof readCsvDataset>;
  ks: number[];
  /** --criterion dendrogram: one fit at the largest k, chosen from its dendrogram. */
  sweepFree: boolean;
  threads: number;
  em: PlainEMOptions;
  omega: number | undefined;
}

/** What the fits and the dendrogram found. */
interface SelectOutcome {
  sel: SelectionResult | undefined;
  dendro: Dendrogram | undefined;
  chosen: number;
  figure: string | undefined;
  warnings: MoeWarning[];
}

async function runSelect(opts: SelectCliOptions): Promise<void> {
  const input = parseInputs(opts);
  const warnings: MoeWarning[] = [];
  const { sel, bigModel } = await fitCandidates(input, warnings);
  const dendro = dendrogramOf(input, bigModel, warnings);
  const chosen = input.sweepFree ? dendro!.chosen : sel!.chosen;
  const figure = await writeSelectionFigure(input, sel, dendro);
  const outcome: SelectOutcome = { sel, dendro, chosen, figure, warnings };
  process.stdout.write(opts.json ? selectionJSON(input, outcome) : selectionReport(input, outcome));
}

function parseInputs(opts: SelectCliOptions): SelectInputs {
  const gate = parseGateSpec(opts.gate);
  const experts = parseExpertSpec(opts.expert);
  const classes = expertFactory(experts.type).cliNames.includes('multinomial');
  const data = readCsvDataset(opts.data, { y: opts.y, x: opts.x?.split(',').map((s) => s.trim()), classes });
  if (classes) completeClassSpec(experts, data, opts.expert, {});
  const ks = parseKRange(opts.k);
  const sweepFree = opts.criterion === 'dendrogram';
  if (!sweepFree && !(CRITERIA as readonly string[]).includes(opts.criterion)) throw new OptionError(`--criterion: expected bic, icl, aic or dendrogram, got ${JSON.stringify(opts.criterion)}`);
  if (opts.init !== 'random' && opts.init !== 'kmeans++') throw new OptionError(`--init: expected random or kmeans++, got ${JSON.stringify(opts.init)}`);
  if (opts.figure && opts.out) figureFormat(opts.out);
  const threads = opts.threads === undefined ? defaultThreads() : parseNumberOption(opts.threads, '--threads', { integer: true, min: 1 });
  const em: PlainEMOptions = {
    restarts: parseNumberOption(opts.restarts, '--restarts', { integer: true, min: 1 }),
    seed: parseNumberOption(opts.seed, '--seed', { integer: true }),
    tol: parseNumberOption(opts.tol, '--tol', { positive: true }),
    maxIter: parseNumberOption(opts.maxIter, '--max-iter', { integer: true, min: 1 }),
    init: { type: opts.init },
  };
  const omega = opts.omega === undefined ? undefined : parseNumberOption(opts.omega, '--omega', { positive: true });
  return { opts, gate, experts, data, ks, sweepFree, threads, em, omega };
}

/** The sweep over k (selectK), or with --criterion dendrogram the one fit at the largest k. */
async function fitCandidates(input: SelectInputs, warnings: MoeWarning[]): Promise<{ sel?: SelectionResult; bigModel?: MixtureOfExperts }> {
  const { gate, experts, data, ks, em, opts } = input;
  const spec = { gate, experts, d: data.d };
  const fromFit = (k: number, w: WarningJSON): MoeWarning => warning(w.code, `k=${k}: ${w.message}`, { ...w, k });
  const K = ks[ks.length - 1];
  if (input.sweepFree) {
    const [o] = await runFits([{ spec: { ...spec, k: K }, data, options: em }], { threads: 1 });
    if (!o.model) throw new OptionError(`the fit with k=${K} failed: ${o.error}`);
    warnings.push(...o.warnings.map((w) => fromFit(K, w)));
    return { bigModel: MixtureOfExperts.fromJSON(o.model) };
  }
  const sel = await selectK(spec, data, ks, { criterion: opts.criterion as CriterionName, em, threads: input.threads });
  for (const r of sel.table) {
    if (r.error) warnings.push(warning('SELECT_FIT_PROBLEM', `k=${r.k}: fit failed: ${r.error}`, { k: r.k }));
    warnings.push(...r.warnings.map((w) => fromFit(r.k, w)));
    if (r.model && !r.converged) warnings.push(warning('SELECT_FIT_PROBLEM', `k=${r.k}: the fit did not converge; its criteria may be off`, { k: r.k }));
  }
  const last = sel.table[sel.table.length - 1];
  return { sel, bigModel: last.model ? MixtureOfExperts.fromJSON(last.model) : undefined };
}

/** The dendrogram of mixing measures of the largest fit (softmax-gated Gaussian experts only). */
function dendrogramOf(input: SelectInputs, bigModel: MixtureOfExperts | undefined, warnings: MoeWarning[]): Dendrogram | undefined {
  const { gate, experts, ks, sweepFree, opts } = input;
  const K = ks[ks.length - 1];
  const canDendro = gate.type === 'softmax' && experts.type === 'gaussianLinear';
  if ((opts.dendrogram || sweepFree) && bigModel && K >= 2) {
    if (!canDendro) {
      if (sweepFree) throw new OptionError(`--criterion dendrogram: implemented for softmax-gated Gaussian experts, not ${gate.type}/${experts.type}`);
      warnings.push(warning('DENDROGRAM_UNSUPPORTED', `no dendrogram: implemented for softmax-gated Gaussian experts, not ${gate.type}/${experts.type}`));
      return undefined;
    }
    const dendro = buildDendrogram(bigModel, input.data, { refit: opts.refit, omega: input.omega, em: { tol: input.em.tol } });
    for (const l of dendro.levels) if (!l.converged) warnings.push(warning('DENDROGRAM_REFIT_NOT_CONVERGED', `dendrogram level ${l.k}: the EM refit did not converge`, { k: l.k }));
    return dendro;
  } else if (sweepFree && K < 2) throw new OptionError('--criterion dendrogram needs an over-specified K ≥ 2 (--k K)');
  return undefined;
}

/** The figure file written (undefined with --no-figure). */
async function writeSelectionFigure(input: SelectInputs, sel: SelectionResult | undefined, dendro: Dendrogram | undefined): Promise<string | undefined> {
  const { opts, data, gate, experts, ks, em } = input;
  if (!(opts.figure && opts.out)) return undefined;
  const K = ks[ks.length - 1];
  await writeFigure(opts.out, selectionFigureSpec(sel, dendro, data.n), `moelab select: ${opts.data}`, [
    `${data.n} rows × ${data.d} inputs; ${gate.type}/${experts.type}; ${sel ? `k ∈ {${ks.join(', ')}}, ${em.restarts} restarts per k, chosen by ${opts.criterion.toUpperCase()}: k = ${sel.chosen}` : `sweep-free: one fit with K = ${K}`}${dendro ? `; dendrogram: k = ${dendro.chosen}` : ''}`,
  ]);
  return opts.out;
}

function selectionJSON(input: SelectInputs, { sel, dendro, chosen, figure, warnings }: SelectOutcome): string {
  return JSON.stringify({
    criterion: input.opts.criterion,
    chosen,
    table: (sel?.table ?? []).map((r) => ({ k: r.k, logLikelihood: r.logLikelihood, aic: r.aic, bic: r.bic, icl: r.icl, converged: r.converged })),
    ...(dendro ? { dendrogram: {
      K: dendro.K, chosen: dendro.chosen, chosenPathBic: dendro.chosenPathBic, omega: dendro.omega, refit: dendro.refit, gateBound: dendro.gateBound,
      levels: dendro.levels.map((l) => ({ k: l.k, logLikelihood: l.logLikelihood, height: l.height, dsc: l.dsc, pathBic: l.pathBic, converged: l.converged })),
      merges: dendro.merges,
    } } : {}),
    threads: sel ? sel.threads : 1,
    ...(figure ? { figure } : {}),
    warnings,
  }) + '\n';
}

function selectionReport(input: SelectInputs, { sel, dendro, figure, warnings }: SelectOutcome): string {
  const { opts, data, gate, experts, ks, em } = input;
  const lines: string[] = [`model selection for ${data.n} rows × ${data.d} inputs (${opts.data}), ${gate.type}/${experts.type}`];
  if (sel) {
    lines.push(`${sel.threads > 1 ? `fitted k = ${ks.join(', ')} in parallel on ${sel.threads} worker threads` : 'fitted one k after another (1 thread)'}, ${em.restarts} restarts each`, '');
    const rows = sel.table.map((r) => [r.k === sel.chosen ? `${r.k} *` : String(r.k), fmt(r.logLikelihood), String(r.parameters), fmt(r.aic), fmt(r.bic), fmt(r.icl), r.model ? (r.converged ? 'yes' : 'no') : 'failed']);
    lines.push(table(['k', 'log-lik', 'params', 'AIC', 'BIC', 'ICL', 'converged'], rows, 1));
    lines.push('', `chosen by ${opts.criterion.toUpperCase()} (smallest): k = ${sel.chosen}   (AIC: ${best(sel, 'aic')}, BIC: ${best(sel, 'bic')}, ICL: ${best(sel, 'icl')})`);
  }
  if (dendro) {
    lines.push('', `dendrogram of mixing measures from the k = ${dendro.K} fit${dendro.refit ? ' (EM refit at each level' : ' (no refit'}${dendro.gateBound !== null ? `, gate bound ${dendro.gateBound.toPrecision(3)})` : ')'}:`);
    const rows = dendro.levels.map((l) => [l.k === dendro.chosen ? `${l.k} *` : String(l.k), l.k > 1 ? l.height.toPrecision(3) : '', (l.logLikelihood / data.n).toFixed(4), l.dsc.toFixed(3), fmt(l.pathBic)]);
    lines.push(table(['level', 'merge height', 'ℓ/n', 'DSC', 'BIC on path'], rows, 1));
    lines.push(`chosen by the dendrogram (largest DSC = height + ω·ℓ/n, ω = ${dendro.omega.toFixed(3)}): k = ${dendro.chosen}   (BIC along the path: k = ${dendro.chosenPathBic})`);
  }
  if (figure) lines.push(`figure: ${figure}`);
  lines.push(...warnings.map((w) => formatWarning(w)));
  return lines.join('\n') + '\n';
}

function best(sel: SelectionResult, c: CriterionName): number {
  return sel.table.filter((r) => r.model).reduce((b, r) => (r[c] < b[c] ? r : b)).k;
}
