/**
 * The end game of EM (issue 16 item 3): the L-BFGS finish against the Newton finish with the exact
 * observed information (finish.ts, observed-information.ts, information-kernel.ts), case by case in
 * the same run, on the same data and start.
 *
 * - "finish: cold fit --json … (dist)": a fresh process per run, `moelab fit --json` from the default
 *   generic start (k-means++ with the subsample warm start) with `--finish lbfgs` (baseline: the
 *   default before 'auto'), `--finish newton` and the default ('auto'): the four cases of startup.bench.ts's "kmeans++ (dist)" groups (same data).
 *   Diagnostics: cpuSeconds (user + system of the child, /usr/bin/time), iterations, logLik.
 * - "finish: cold fit --json multinomial …": multinomial-logistic experts on the multinomial-softmax
 *   preset truth (issue 16 item 4), the generic start against the near-truth start (baseline).
 *   "finish: multinomial … in process": the same fits in one process.
 * - "finish: softmax gates n=…": in process, the softmax rows of gates.bench.ts (near-truth start,
 *   seed 5) with `finish: 'lbfgs'` (baseline) and `finish: 'newton'`; cpuMs of the whole fit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchCase } from './types.js';
import { simulated, type SimulatedState } from './simulated.js';
import { AUTHORS_TRUTH } from '../src/model/presets.js';
import { writeCsvDataset } from '../src/cli/io.js';
import type { ModelJSON } from '../src/model/model.js';
import { fitEM } from '../src/estimate/em.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** The d = 2, k = 3 exact truth of the foundation and startup benches (x ~ U[−1, 1]²). */
const TRUTH_D2K3: ModelJSON = {
  gate: { type: 'softmax', beta0: [0.5, -0.5, 0], beta1: [[4, -3], [-3, 4], [0, 0]] },
  experts: { type: 'gaussianLinear', a: [[2, -1], [-2, 1], [0.5, 3]], b: [1, -1, 4], variance: [0.25, 0.16, 0.36] },
};

/**
 * The multinomial-softmax study preset's truth (studies/multinomial-softmax.yaml; P2, arXiv
 * 2310.14188): k* = 2, C = 2 classes, d = 1, x ~ U[−2, 2].
 */
const TRUTH_MULTINOMIAL: ModelJSON = {
  gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] },
  experts: { type: 'multinomialLogistic', classes: 2, a: [[1, 0], [-1, 0]], b: [[[2], [0]], [[-1.5], [0]]] },
};

interface Files { dir: string; csv: Record<string, string>; truth: Record<string, string> }
let files: Files | undefined;
function setupFiles(): Files {
  if (files) return files;
  spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'moelab-finish-'));
  const csv: Record<string, string> = { a100000: join(dir, 'a-100000.csv'), d10000: join(dir, 'd2k3-10000.csv'), d100000: join(dir, 'd2k3-100000.csv'), m100000: join(dir, 'multinomial-100000.csv') };
  writeCsvDataset(csv.a100000, simulated(AUTHORS_TRUTH, 100_000, 0, 1)().data);
  writeCsvDataset(csv.d10000, simulated(TRUTH_D2K3, 10_000, -1, 1)().data);
  writeCsvDataset(csv.d100000, simulated(TRUTH_D2K3, 100_000, -1, 1)().data);
  writeCsvDataset(csv.m100000, simulated(TRUTH_MULTINOMIAL, 100_000, -2, 2)().data);
  const truth: Record<string, string> = { m100000: join(dir, 'multinomial-truth.json') };
  writeFileSync(truth.m100000, JSON.stringify(TRUTH_MULTINOMIAL));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  files = { dir, csv, truth };
  return files;
}

/** CPU seconds of every run so far, per case (the table's diagnostics show their median). */
const cpuRuns = new Map<string, number[]>();
function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
function record(key: string, value: number): number {
  const v = cpuRuns.get(key) ?? [];
  v.push(value);
  cpuRuns.set(key, v);
  return median(v);
}

/** `extra`: more CLI arguments (e.g. --expert multinomial); `nearTruth`: start from the file's truth (--truth) instead of the generic start. */
function coldFit(file: string, k: number, finish: 'lbfgs' | 'newton' | undefined, extra: readonly string[] = [], nearTruth = false) {
  const key = `${file}|${k}|${finish ?? 'default'}|${extra.join(' ')}|${nearTruth}`;
  return (st: unknown) => {
    const s = st as Files;
    const cmd = [process.execPath, BIN, 'fit', '--data', s.csv[file], '--k', String(k), '--json', ...(finish ? ['--finish', finish] : []), ...extra, ...(nearTruth ? ['--truth', s.truth[file]] : [])];
    const timeFile = join(s.dir, 'time.txt');
    const env = { ...process.env, MOELAB_SOURCE: '0' };
    const r = TIME ? spawnSync(TIME, ['-f', '%U %S', '-o', timeFile, ...cmd], { env, encoding: 'utf8' }) : spawnSync(cmd[0], cmd.slice(1), { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`moelab fit failed: ${r.stderr}`);
    const fitted = JSON.parse(r.stdout) as { iterations: number; logLikelihood: number; converged: boolean };
    const diag = { iterations: fitted.iterations, logLik: fitted.logLikelihood, converged: fitted.converged };
    if (!TIME) return diag;
    const [u, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
    return { cpuSeconds: u + sys, cpuMedian: record(key, u + sys), ...diag };
  };
}

export const cases: BenchCase[] = [];
for (const [label, file, k] of [
  ['n=1e5 d=1 k=2', 'a100000', 2],
  ['n=1e4 d=2 k=3', 'd10000', 3],
  ['n=1e5 d=2 k=3', 'd100000', 3],
  ['n=1e5 d=1 k=3 over', 'a100000', 3],
] as const) {
  const group = `finish: cold fit --json ${label} (dist)`;
  cases.push({ group, name: '--finish lbfgs (baseline)', setup: setupFiles, run: coldFit(file, k, 'lbfgs'), baseline: true });
  cases.push({ group, name: '--finish newton', setup: setupFiles, run: coldFit(file, k, 'newton') });
  cases.push({ group, name: 'default (auto: newton from 5e4 rows)', setup: setupFiles, run: coldFit(file, k, undefined) });
}

// multinomial experts (issue 16 item 4: ≤ 1.5 s at n = 1e5): the generic start (k-means++ with the
// subsample warm start) against the near-truth start (baseline, the study's protocol), cold CLI
{
  const group = 'finish: cold fit --json multinomial n=1e5 d=1 k=2 (dist)';
  const expert = ['--expert', 'multinomial'];
  cases.push({ group, name: 'near-truth start (baseline)', setup: setupFiles, run: coldFit('m100000', 2, undefined, expert, true), baseline: true });
  cases.push({ group, name: 'generic start (default)', setup: setupFiles, run: coldFit('m100000', 2, undefined, expert) });
  cases.push({ group, name: 'generic start --finish newton', setup: setupFiles, run: coldFit('m100000', 2, 'newton', expert) });
}
// the same fits in process (warm kernels): cpuMs of the whole fit
function multinomialInProcess(key: string, start: 'nearTruth' | 'kmeans++') {
  return (st: unknown) => {
    const { truth, data } = st as SimulatedState;
    const spec = { gate: { type: 'softmax' }, experts: { type: 'multinomialLogistic', classes: 2 }, k: 2, d: 1 };
    const c0 = process.cpuUsage();
    const r = fitEM(spec, data, { init: start === 'nearTruth' ? { type: 'nearTruth', truth } : { type: 'kmeans++' }, seed: 1 });
    const c = process.cpuUsage(c0);
    const cpuMs = (c.user + c.system) / 1000;
    return { cpuMs, cpuMsMedian: record(key, cpuMs), iterations: r.iterations, logLik: r.logLikelihood, gradNorm: r.gradientNorm, converged: r.converged };
  };
}
{
  const group = 'finish: multinomial n=1e5 d=1 k=2 in process';
  const setup = simulated(TRUTH_MULTINOMIAL, 100_000, -2, 2);
  cases.push({ group, name: 'near-truth start (baseline)', setup, run: multinomialInProcess(`${group}|near`, 'nearTruth'), baseline: true });
  cases.push({ group, name: 'generic start (k-means++, warm start)', setup, run: multinomialInProcess(`${group}|generic`, 'kmeans++') });
}

// the softmax rows of gates.bench.ts (same truths, designs, start and seed)
const EXPERTS3 = { type: 'gaussianLinear', a: [[-20], [20], [5]], b: [15, -5, 2], variance: [0.09, 0.16, 0.09] };
const EXPERTS4 = { type: 'gaussianLinear', a: [[-4], [4], [-4], [4]], b: [8, -4, 6, 0], variance: [0.09, 0.16, 0.09, 0.16] };
const SOFTMAX: [string, ModelJSON, number, number][] = [
  ['softmax k=2', AUTHORS_TRUTH, 0, 1],
  ['softmax k=3', { gate: { type: 'softmax', beta0: [-0.5, 0.5, 0], beta1: [[5], [-5], [0]] }, experts: EXPERTS3 }, -1, 1],
  ['softmax k=4', { gate: { type: 'softmax', beta0: [-15, -7.5, -2.5, 0], beta1: [[30], [20], [10], [0]] }, experts: EXPERTS4 }, 0, 1],
];
function inProcess(key: string, finish: 'lbfgs' | 'newton') {
  return (st: unknown) => {
    const { truth, data } = st as SimulatedState;
    const c0 = process.cpuUsage();
    const r = fitEM(truth.spec(), data, { init: { type: 'nearTruth', truth }, seed: 5, finish });
    const c = process.cpuUsage(c0);
    const cpuMs = (c.user + c.system) / 1000;
    return { cpuMs, cpuMsMedian: record(key, cpuMs), iterations: r.iterations, logLik: r.logLikelihood, gradNorm: r.gradientNorm, converged: r.converged };
  };
}
for (const n of [1e4, 1e5]) {
  for (const [name, truth, lo, hi] of SOFTMAX) {
    const group = `finish: softmax gates n=${n} ${name}`;
    const setup = simulated(truth, n, lo, hi);
    cases.push({ group, name: "finish 'lbfgs' (baseline)", setup, run: inProcess(`${group}|lbfgs`, 'lbfgs'), baseline: true });
    cases.push({ group, name: "finish 'newton'", setup, run: inProcess(`${group}|newton`, 'newton') });
  }
}
