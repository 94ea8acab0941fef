/** `moelab fit`: fit a mixture of experts to a CSV by maximum likelihood (EM). */
import type { Command } from 'commander';
import { fitEM, type EMOptions, type InitSpec, parseGateSpec, parseExpertSpec, expertFactory, OptionError, EM_DEFAULTS, LSE_DEFAULTS, modelCriteria } from '../../core.js';
import { checkFitSize, LIMITS } from '../../internal.js';
import { readCsvDataset, readModelFile, parseNumberOption } from '../io.js';
import { convergenceText, printFit, restartsLine } from '../fit-output.js';
import { fitProgress } from '../progress.js';
import { completeClassSpec, lseSolverOption, resolveEstimator, runLseFit } from '../fit-lse.js';
import { inferenceOptions, runInference, type InferenceCliOptions } from '../inference-cli.js';
import { criteriaLine } from '../inference-format.js';

export interface FitCliOptions {
  data: string;
  k: string;
  y: string;
  x?: string;
  gate: string;
  expert: string;
  restarts: string;
  init?: string;
  truth?: string;
  initModel?: string;
  seed: string;
  tol: string;
  maxIter: string;
  json?: boolean;
  estimator?: string;
  gateBound?: string;
  expertBound?: string;
  solver?: string;
  allowLarge?: boolean;
  warmStart?: boolean;
  timeLimit?: string;
  varianceFloor?: string;
  finish?: string;
}

export type FitCommandOptions = FitCliOptions & InferenceCliOptions;

export function register(program: Command): void {
  const cmd = program
    .command('fit')
    .description('fit a mixture of experts to a CSV file (maximum likelihood by accelerated EM)')
    .requiredOption('--data <file>', 'CSV with a header row; - for standard input')
    .requiredOption('--k <k>', 'number of experts')
    .option('--y <column>', 'response column', 'y')
    .option('--x <columns>', 'comma-separated input columns (default: every other column)')
    .option('--gate <spec>', 'gate family (softmax, …)', 'softmax')
    .option('--expert <spec>', 'expert family (gaussian, …)', 'gaussian')
    .option('--restarts <r>', 'number of starts; the best log-likelihood is kept', String(EM_DEFAULTS.restarts))
    .option('--init <method>', 'random | kmeans++ | near-truth | model (default: near-truth with --truth, model with --init-model, else kmeans++)')
    .option('--truth <file>', 'true model JSON (for --init near-truth)')
    .option('--init-model <file>', 'model JSON to start from (for --init model)')
    .option('--seed <seed>', 'random seed of the initialisations', String(EM_DEFAULTS.seed))
    .option('--tol <tol>', 'relative log-likelihood change to stop EM', String(EM_DEFAULTS.tol))
    .option('--max-iter <n>', 'maximum EM iterations per start', String(EM_DEFAULTS.maxIter))
    .option('--estimator <name>', 'mle (EM) | lse (least squares, regression experts); default by the expert family')
    .option('--gate-bound <B>', 'compact Θ: keep every gate coefficient (relative to the reference expert) in [−B, B] (every gate; EM and least squares)')
    .option('--expert-bound <B>', 'compact Θ: keep every expert coefficient in [−B, B] (EM: multinomial experts; least squares: every expert)')
    .option('--solver <name>', 'least squares: auto (default: varpro for linear experts, else lm) | varpro (variable projection) | lm (Levenberg–Marquardt) | lbfgs')
    .option('--time-limit <seconds>', 'stop the fit after this wall time (all restarts); it is returned with converged: false and an EM_TIME_LIMIT / LSE_TIME_LIMIT warning')
    .option('--no-warm-start', 'with a k-means++ or random start and ≥ 8000 rows, do not first fit a random subsample (EM)')
    .option('--finish <method>', 'EM end game: auto (default: newton from 50000 rows) | newton (exact observed information; softmax gate with Gaussian experts, others use lbfgs) | lbfgs (BHHH-preconditioned L-BFGS)')
    .option('--variance-floor <scale>', 'Gaussian experts: response (every variance ≥ 1e-6·s_y², default) | expert (expert i ≥ 1e-6·σ̂ᵢ², its robust residual scale at the start)')
    .option('--allow-large', `lift the size limits (k ≤ ${LIMITS.k}, ≤ ${LIMITS.columns} input columns, ≤ 2 GiB working memory)`)
    .option('--json', 'print one JSON object instead of a summary');
  inferenceOptions(cmd);
  cmd.action(async (opts: FitCommandOptions) => {
      const gate = parseGateSpec(opts.gate);
      const experts = parseExpertSpec(opts.expert);
      const classes = expertFactory(experts.type).cliNames.includes('multinomial');
      const data = readCsvDataset(opts.data, { y: opts.y, x: opts.x?.split(',').map((s) => s.trim()), classes });
      if (classes) completeClassSpec(experts, data, opts.expert, opts);
      const estimator = resolveEstimator(opts.estimator, experts, opts.expert);
      const k = parseNumberOption(opts.k, '--k', { integer: true, min: 1 });
      checkFitSize({ n: data.n, k, d: data.d, allowLarge: opts.allowLarge ?? false }); // before any allocation
      const options: EMOptions = {
        restarts: parseNumberOption(opts.restarts, '--restarts', { integer: true, min: 1 }),
        seed: parseNumberOption(opts.seed, '--seed', { integer: true }),
        tol: parseNumberOption(opts.tol, '--tol', { positive: true }),
        maxIter: parseNumberOption(opts.maxIter, '--max-iter', { integer: true, min: 1 }),
        init: initFromCli(opts),
        ...(opts.gateBound !== undefined ? { gateBound: parseNumberOption(opts.gateBound, '--gate-bound', { positive: true }) } : {}),
        ...(opts.expertBound !== undefined ? { expertBound: parseNumberOption(opts.expertBound, '--expert-bound', { positive: true }) } : {}),
        ...(opts.timeLimit !== undefined ? { timeLimit: parseNumberOption(opts.timeLimit, '--time-limit', { positive: true }) } : {}),
        ...(opts.warmStart === false ? { warmStart: false } : {}),
        ...(opts.varianceFloor !== undefined ? { varianceFloor: { scale: varianceFloorScale(opts.varianceFloor) } } : {}),
        ...(opts.finish !== undefined ? { finish: finishMethod(opts.finish) } : {}),
      };
      if (opts.solver !== undefined && estimator !== 'lse') throw new OptionError('--solver applies to least-squares fits (--estimator lse)');
      if (estimator === 'lse') {
        if (options.varianceFloor !== undefined) throw new OptionError('--variance-floor applies to EM fits of Gaussian experts (--estimator mle)');
        if (options.finish !== undefined) throw new OptionError('--finish applies to EM fits (--estimator mle)');
        runLseFit({ spec: { gate, experts, k, d: data.d }, data, dataPath: opts.data, restarts: options.restarts ?? LSE_DEFAULTS.restarts, seed: Number(options.seed), maxIter: options.maxIter ?? LSE_DEFAULTS.maxIter, init: options.init ?? { type: 'kmeans++' }, ...(options.gateBound !== undefined ? { gateBound: options.gateBound } : {}), ...(options.expertBound !== undefined ? { expertBound: options.expertBound } : {}), ...(options.timeLimit !== undefined ? { timeLimit: options.timeLimit } : {}), ...(opts.solver !== undefined ? { solver: lseSolverOption(opts.solver) } : {}), json: opts.json ?? false });
        return;
      }
      const progress = fitProgress(options.restarts ?? 1);
      let result;
      try {
        result = fitEM({ gate, experts, k, d: data.d }, data, { ...options, onProgress: progress.em });
      } finally {
        progress.done();
      }
      const crit = modelCriteria(result.model, data, result.logLikelihood);
      const inference = await runInference(result.model, data, opts, options);
      printFit({
        model: result.model.toJSON(),
        json: {
          n: crit.n, parameters: crit.parameters, aic: crit.aic, bic: crit.bic, icl: crit.icl,
          logLikelihood: result.logLikelihood, iterations: result.iterations, converged: result.converged, gradientNorm: result.gradientNorm,
          restarts: result.restarts, seconds: result.seconds, trace: result.trace, ...inference.json,
        },
        summary: [
          `fitted k=${k} ${gate.type}/${experts.type} to ${data.n} rows × ${data.d} inputs (${opts.data})`,
          `log-likelihood ${result.logLikelihood.toFixed(6)}   ${convergenceText(result)}`,
          criteriaLine(crit),
          restartsLine(result.restarts, 'log-likelihoods', result.restartLogLikelihoods.map((v) => v.toFixed(3)), result.seconds),
        ],
        tail: inference.text,
        warnings: [...result.warnings, ...inference.warnings],
      }, opts.json ?? false);
    });
}

export function initFromCli(opts: { init?: string; truth?: string; initModel?: string }): InitSpec {
  const method = opts.init ?? (opts.truth ? 'near-truth' : opts.initModel ? 'model' : 'kmeans++');
  switch (method) {
    case 'random':
      return { type: 'random' };
    case 'kmeans++':
      return { type: 'kmeans++' };
    case 'near-truth':
    case 'nearTruth':
      if (!opts.truth) throw new OptionError('--init near-truth needs --truth FILE');
      return { type: 'nearTruth', truth: readModelFile(opts.truth, 'truth file') };
    case 'model':
      if (!opts.initModel) throw new OptionError('--init model needs --init-model FILE');
      return { type: 'model', model: readModelFile(opts.initModel, 'init model file') };
    default:
      throw new OptionError(`--init: expected random, kmeans++, near-truth or model, got ${JSON.stringify(method)}`);
  }
}

/** --finish: auto | newton | lbfgs. */
function finishMethod(v: string): 'auto' | 'lbfgs' | 'newton' {
  if (v === 'auto' || v === 'lbfgs' || v === 'newton') return v;
  throw new OptionError(`--finish: expected auto, newton or lbfgs, got ${JSON.stringify(v)}`);
}

/** --variance-floor: response | expert. */
function varianceFloorScale(v: string): 'response' | 'expert' {
  if (v === 'response' || v === 'expert') return v;
  throw new OptionError(`--variance-floor: expected response or expert, got ${JSON.stringify(v)}`);
}
