/**
 * Cross-check against R flexmix (foundation issue): from the same start, moelab's maximum
 * log-likelihood should be ≥ flexmix's.
 *
 *   npx tsx bench/flexmix/compare.ts [--only LABEL_SUBSTRING] [--n N] [--reps 3] [--tol 1e-8]
 *                                    [--ml-sigma] [--workdir DIR] [--json bench/flexmix/results.json]
 *
 * Per setting: simulate (seeded), build a nearTruth start θ0 (math-spec §8.3) for the fitted
 * structure, give flexmix its posterior matrix R0 = posterior(θ0) as `cluster` (flexmix begins
 * with an M-step from R0; moelab's EM from θ0 begins with the E-step giving R0, then the M-step:
 * the same first iterate), run `bench/flexmix/fit.R` through Rscript, then moelab's default fit
 * (SQUAREM + finish) and plain EM (no acceleration, no finish, same tol as flexmix) from θ0. flexmix's
 * estimate is converted to a moelab model (variance = σ², gate re-expressed with the last
 * component as reference) and its exact log-likelihood evaluated by moelab.
 *
 * Needs R with flexmix (`apt-get install r-base-core r-cran-flexmix`); exits with a message and
 * status 0 if Rscript or flexmix is missing. Never part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import type { Dataset } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { initialise } from '../../src/estimate/init.js';
import { EMWorkspace, fitEM, logLikelihoodGradient, type EMOptions, type FitResult } from '../../src/estimate/em.js';
import { simulate, TRUTH_D2K3 } from '../../test/helpers.js';

interface Setting {
  label: string;
  truth: ModelJSON;
  k: number;
  n: number;
  seed: number;
  low: number;
  high: number;
}

const SETTINGS: Setting[] = [
  { label: 'authors d=1 k*=2, k=2 exact', truth: AUTHORS_TRUTH, k: 2, n: 1e4, seed: 101, low: 0, high: 1 },
  { label: 'authors d=1 k*=2, k=2 exact', truth: AUTHORS_TRUTH, k: 2, n: 1e5, seed: 102, low: 0, high: 1 },
  { label: 'authors d=1 k*=2, k=3 over', truth: AUTHORS_TRUTH, k: 3, n: 1e4, seed: 103, low: 0, high: 1 },
  { label: 'authors d=1 k*=2, k=3 over', truth: AUTHORS_TRUTH, k: 3, n: 1e5, seed: 104, low: 0, high: 1 },
  { label: 'TRUTH_D2K3 d=2 k*=3, k=3 exact', truth: TRUTH_D2K3, k: 3, n: 1e4, seed: 105, low: -1, high: 1 },
];

interface FlexmixOut {
  flexmixVersion: string;
  rVersion: string;
  n: number;
  d: number;
  kRequested: number;
  k: number;
  tolerance: number;
  intercept: number[];
  slopes: number[][];
  sigma: number[];
  gateRaw: number[][];
  gateBeta0: number[];
  gateBeta1: number[][];
  logLik: number;
  logLikExactR: number;
  /** Objective drop when flexmix's final gate M-step (nnet defaults) is continued to convergence. */
  gateMStepGap: number;
  iterations: number;
  converged: boolean;
  seconds: number;
}

interface MoelabRow {
  logLikelihood: number;
  iterations: number;
  gradientNorm: number;
  converged: boolean;
  seconds: number;
  warnings: string[];
  model: ModelJSON;
}

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const here = dirname(fileURLToPath(import.meta.url));
const only = arg('--only');
const onlyN = arg('--n') === undefined ? undefined : Number(arg('--n'));
const reps = Number(arg('--reps') ?? 3);
const tol = Number(arg('--tol') ?? 1e-8);
/** Diagnostic: flexmix with the weighted ML σ in its M-step instead of its n/(n−p)-inflated one. */
const mlSigma = argv.includes('--ml-sigma');
const jsonOut = arg('--json') ?? join(here, 'results.json');
let workdir = '';

/** The source tree the moelab numbers come from: HEAD and uncommitted changes under src/. */
function provenance(): { head: string; uncommittedSrc: string[] } {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' });
  const st = spawnSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' });
  return {
    head: head.status === 0 ? head.stdout.trim() : 'unknown',
    uncommittedSrc: st.status === 0 ? st.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim()) : [],
  };
}

/** Checks R + flexmix (exits 0 with a message if missing), then creates the work directory. */
function checkR(): void {
  const r = spawnSync('Rscript', ['-e', 'suppressPackageStartupMessages(library(flexmix)); cat(as.character(packageVersion("flexmix")))'], { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    console.error('bench/flexmix: Rscript not found on PATH; install R and flexmix (apt-get install r-base-core r-cran-flexmix) to run this cross-check. Skipped.');
    process.exit(0);
  }
  if (r.status !== 0) {
    console.error(`bench/flexmix: R is installed but library(flexmix) failed (install r-cran-flexmix or install.packages("flexmix")). Skipped.\n${r.stderr.trim()}`);
    process.exit(0);
  }
  workdir = arg('--workdir') ?? mkdtempSync(join(tmpdir(), 'moelab-flexmix-'));
  mkdirSync(workdir, { recursive: true });
  console.error(`bench/flexmix: using flexmix ${r.stdout.trim()}; work files in ${workdir}`);
}

function csvData(data: Dataset): string {
  const { X, y, n, d } = data;
  const lines: string[] = [[...Array.from({ length: d }, (_, j) => `x${j + 1}`), 'y'].join(',')];
  for (let t = 0; t < n; t++) {
    const row: string[] = [];
    for (let j = 0; j < d; j++) row.push(String(X[t * d + j])); // shortest round-trip form: exact
    row.push(String(y[t]));
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

function csvMatrix(M: Float64Array, n: number, k: number): string {
  const lines: string[] = [Array.from({ length: k }, (_, i) => `p${i + 1}`).join(',')];
  for (let t = 0; t < n; t++) {
    const row: string[] = [];
    for (let i = 0; i < k; i++) row.push(String(M[t * k + i]));
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

function runFlexmix(dataFile: string, postFile: string, outFile: string): FlexmixOut {
  const r = spawnSync('Rscript', [join(here, 'fit.R'), dataFile, postFile, String(tol), outFile, ...(mlSigma ? ['ml-sigma'] : [])], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
  if (r.status !== 0) throw new Error(`Rscript fit.R failed (status ${r.status}):\n${r.stderr}`);
  return JSON.parse(readFileSync(outFile, 'utf8')) as FlexmixOut;
}

/** flexmix's estimate as a moelab model JSON (σ² → variance; gate already in last-reference form). */
function flexmixModel(fx: FlexmixOut, varianceScale = 1): ModelJSON {
  return {
    gate: { type: 'softmax', beta0: fx.gateBeta0, beta1: fx.gateBeta1 },
    experts: { type: 'gaussianLinear', a: fx.slopes, b: fx.intercept, variance: fx.sigma.map((s) => s * s * varianceScale) },
  };
}

/** ℓ and ‖∇(ℓ/n)‖₂ (working parameters, as FitResult.gradientNorm) of a model on the data. */
function evaluate(model: MixtureOfExperts, data: Dataset): { ll: number; gradientNorm: number } {
  const ws = new EMWorkspace(model, data.n);
  const g = new Float64Array(model.nParams);
  const ll = logLikelihoodGradient(model, model.theta, data, ws, g);
  let s = 0;
  for (let i = 0; i < g.length; i++) s += (g[i] / data.n) ** 2;
  return { ll, gradientNorm: Math.sqrt(s) };
}

function median(a: number[]): number {
  const b = [...a].sort((u, v) => u - v);
  const m = b.length >> 1;
  return b.length % 2 ? b[m] : (b[m - 1] + b[m]) / 2;
}

function moelabFit(spec: ReturnType<MixtureOfExperts['spec']>, data: Dataset, start: MixtureOfExperts, options: EMOptions): MoelabRow {
  let r: FitResult | undefined;
  const secs: number[] = [];
  for (let i = 0; i < Math.max(1, reps); i++) {
    r = fitEM(spec, data, { ...options, init: { type: 'model', model: start } });
    secs.push(r.seconds);
  }
  const f = r as FitResult;
  return { logLikelihood: f.logLikelihood, iterations: f.iterations, gradientNorm: f.gradientNorm, converged: f.converged, seconds: median(secs), warnings: f.warnings.map((w) => w.message), model: f.model.toJSON() };
}

const fmtLL = (v: number): string => v.toFixed(4);
const fmtS = (v: number): string => (v < 10 ? v.toFixed(3) : v.toFixed(1));
const fmtE = (v: number): string => v.toExponential(2);
const fmtD = (v: number): string => (v >= 0 ? '+' : '') + (Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(4));

function main(): void {
  checkR();
  const source = provenance();
  const results: unknown[] = [];
  const table: string[] = [
    '| setting | n | k | flexmix ℓ (exact) | flexmix ℓ (reported) | flexmix iter | flexmix s | moelab ℓ | moelab iter | ‖∇ℓ/n‖ | moelab s | moelab − flexmix |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const table2: string[] = [
    '| setting | n | k | ℓ(θ0) | flexmix conv | ‖∇ℓ/n‖ at flexmix | flexmix ℓ, σ de-biased | flexmix gate M-step gap | R exact − moelab eval | plain EM ℓ | plain iter | plain ‖∇‖ | plain s | plain − flexmix |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of SETTINGS) {
    if ((only && !s.label.includes(only)) || (onlyN !== undefined && s.n !== onlyN)) continue;
    const name = `${s.label.replace(/[^A-Za-z0-9]+/g, '_')}_n${s.n}`;
    const sim = simulate(s.truth, s.n, s.seed, s.low, s.high);
    const data: Dataset = { X: sim.X, y: sim.y, n: sim.n, d: sim.d };
    const spec = { ...sim.truth.spec(), k: s.k };
    const model = MixtureOfExperts.fromSpec(spec);
    model.expert.prepare?.(data.X, data.y, data.n);
    const theta0 = initialise(model, data, { type: 'nearTruth', truth: sim.truth }, new Rng(s.seed));
    const start = model.withTheta(theta0);
    const ll0 = start.logLikelihood(data.X, data.y, data.n);
    const R0 = start.posterior(data.X, data.y, data.n);
    const dataFile = join(workdir, `${name}.data.csv`);
    const postFile = join(workdir, `${name}.posterior.csv`);
    const outFile = join(workdir, `${name}.flexmix.json`);
    writeFileSync(dataFile, csvData(data));
    writeFileSync(postFile, csvMatrix(R0, data.n, s.k));
    writeFileSync(join(workdir, `${name}.start.json`), JSON.stringify(start.toJSON()));
    console.error(`${s.label} n=${s.n}: flexmix …`);
    const fx = runFlexmix(dataFile, postFile, outFile);
    const fxModel = MixtureOfExperts.fromJSON(flexmixModel(fx));
    const fxEval = evaluate(fxModel, data);
    const p = data.d + 1; // rank of each expert's regression
    // flexmix's σ² = n/(n−p) · Σ_t w_t r_t² / Σ_t w_t (FLXMRglm gaussian fit), so this is exact:
    const fxDebiased = MixtureOfExperts.fromJSON(flexmixModel(fx, (data.n - p) / data.n)).logLikelihood(data.X, data.y, data.n);
    console.error(`${s.label} n=${s.n}: moelab …`);
    const def = moelabFit(spec, data, start, {});
    const plain = moelabFit(spec, data, start, { accelerate: 'none', polish: false, tol });
    const diff = def.logLikelihood - fxEval.ll;
    const row = {
      setting: s.label, n: s.n, k: s.k, seed: s.seed, x: `uniform:${s.low},${s.high}`,
      start: start.toJSON(), startLogLikelihood: ll0,
      flexmix: { ...fx, logLikExact: fxEval.ll, gradientNorm: fxEval.gradientNorm, logLikDebiasedSigma: fxDebiased, model: fxModel.toJSON() },
      moelab: def,
      plainEM: plain,
      difference: diff,
      differencePlain: plain.logLikelihood - fxEval.ll,
    };
    results.push(row);
    table.push(`| ${s.label} | ${s.n} | ${s.k}${fx.k !== s.k ? ` (flexmix kept ${fx.k})` : ''} | ${fmtLL(fxEval.ll)} | ${fmtLL(fx.logLik)} | ${fx.iterations} | ${fmtS(fx.seconds)} | ${fmtLL(def.logLikelihood)} | ${def.iterations} | ${fmtE(def.gradientNorm)} | ${fmtS(def.seconds)} | ${fmtD(diff)} |`);
    table2.push(`| ${s.label} | ${s.n} | ${s.k} | ${fmtLL(ll0)} | ${fx.converged ? 'yes' : 'no'} | ${fmtE(fxEval.gradientNorm)} | ${fmtLL(fxDebiased)} | ${fmtE(fx.gateMStepGap)} | ${fmtE(fx.logLikExactR - fxEval.ll)} | ${fmtLL(plain.logLikelihood)} | ${plain.iterations} | ${fmtE(plain.gradientNorm)} | ${fmtS(plain.seconds)} | ${fmtD(plain.logLikelihood - fxEval.ll)} |`);
    console.error(`  flexmix ℓ=${fxEval.ll} (reported ${fx.logLik}), moelab ℓ=${def.logLikelihood}, plain EM ℓ=${plain.logLikelihood}, moelab − flexmix = ${diff}`);
    if (diff < 0) console.error(`  WARNING: moelab's log-likelihood is below flexmix's (data/start in ${workdir}/${name}.*)`);
    writeFileSync(jsonOut, JSON.stringify({ tolerance: tol, mlSigma, reps, source, results }, null, 1) + '\n');
  }
  console.log(table.join('\n'));
  console.log();
  console.log(table2.join('\n'));
}

try {
  main();
} catch (e) {
  console.error(`bench/flexmix: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
