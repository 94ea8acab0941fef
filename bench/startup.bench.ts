/**
 * Start-up of the command line (issue 16 item 1), measured as a user runs it: a fresh process per
 * run, `moelab --version` and `moelab fit --data … --k 2 --json` at n = 1e5 (the authors' truth,
 * default kmeans++ start). Baseline: the same bin through tsx (MOELAB_SOURCE=1, the development
 * path); against it the compiled dist/ (MOELAB_SOURCE=0; built first when missing or stale).
 * Diagnostics: the child's CPU time (user + system, from /usr/bin/time when present), which is
 * what a loaded machine does not distort.
 * The "(bundle)" groups are the cold-process table of fit --json at n = 1e3, 1e4, 1e5: the compiled
 * CLI unbundled (MOELAB_BUNDLE=0, dist/cli/main.js) against the default bundle (dist/cli-fast/).
 * The "kmeans++ (dist)" groups are the default start with and without the subsample warm start,
 * exact and over-specified (k = 3 on the 2-expert truth).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchCase } from './types.js';
import { simulated } from './simulated.js';
import { AUTHORS_TRUTH } from '../src/model/presets.js';
import { writeCsvDataset } from '../src/cli/io.js';
import type { ModelJSON } from '../src/model/model.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface State { dir: string; csv: string; d2k3: Record<string, string>; authors: Record<string, string> }

/** The d = 2, k = 3 exact truth of the foundation bench (x ~ U[−1, 1]²). */
const TRUTH_D2K3: ModelJSON = {
  gate: { type: 'softmax', beta0: [0.5, -0.5, 0], beta1: [[4, -3], [-3, 4], [0, 0]] },
  experts: { type: 'gaussianLinear', a: [[2, -1], [-2, 1], [0.5, 3]], b: [1, -1, 4], variance: [0.25, 0.16, 0.36] },
};

let shared: State | undefined;
function setup(): State {
  if (shared) return shared;
  spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'moelab-startup-'));
  const csv = join(dir, 'd.csv');
  writeCsvDataset(csv, simulated(AUTHORS_TRUTH, 100_000, 0, 1)().data);
  const authors: Record<string, string> = { 100000: csv };
  for (const n of [1_000, 10_000]) {
    authors[n] = join(dir, `a-${n}.csv`);
    writeCsvDataset(authors[n], simulated(AUTHORS_TRUTH, n, 0, 1)().data);
  }
  const d2k3: Record<string, string> = {};
  for (const n of [10_000, 100_000]) {
    d2k3[n] = join(dir, `d2k3-${n}.csv`);
    writeCsvDataset(d2k3[n], simulated(TRUTH_D2K3, n, -1, 1)().data);
  }
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  shared = { dir, csv, d2k3, authors };
  return shared;
}

function cold(source: '0' | '1', args: (s: State) => string[], bundle = true) {
  return (st: unknown) => {
    const s = st as State;
    const cmd = [process.execPath, BIN, ...args(s)];
    const timeFile = join(s.dir, 'time.txt');
    const env = { ...process.env, MOELAB_SOURCE: source, MOELAB_BUNDLE: bundle ? '1' : '0' };
    const r = TIME
      ? spawnSync(TIME, ['-f', '%U %S', '-o', timeFile, ...cmd], { env, encoding: 'utf8' })
      : spawnSync(cmd[0], cmd.slice(1), { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`moelab ${args(s).join(' ')} failed: ${r.stderr}`);
    // a fit's own report: iterations and log-likelihood (the cases of a group must agree)
    const fitted = r.stdout.startsWith('{') ? (JSON.parse(r.stdout) as { iterations: number; logLikelihood: number }) : undefined;
    const diag = fitted ? { iterations: fitted.iterations, logLik: fitted.logLikelihood } : {};
    if (!TIME) return diag;
    const [u, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
    return { cpuSeconds: u + sys, ...diag };
  };
}

const version = (): string[] => ['--version'];
const fit = (s: State): string[] => ['fit', '--data', s.csv, '--k', '2', '--json'];

export const cases: BenchCase[] = [
  { group: 'cold process: moelab --version', name: 'tsx (source)', setup, run: cold('1', version), baseline: true },
  { group: 'cold process: moelab --version', name: 'dist/cli/main.js (MOELAB_BUNDLE=0)', setup, run: cold('0', version, false) },
  { group: 'cold process: moelab --version', name: 'dist bundle (default)', setup, run: cold('0', version) },
  { group: 'cold process: fit --json n=1e5 k=2 kmeans++', name: 'tsx (source)', setup, run: cold('1', fit), baseline: true },
  { group: 'cold process: fit --json n=1e5 k=2 kmeans++', name: 'dist (compiled)', setup, run: cold('0', fit) },
];

// the cold-process table of issue 16 item 1 (target: fit --json at n = 1e5 ≤ 0.5 s CPU): the compiled
// CLI unbundled (dist/cli/main.js, the start-up before the bundle) against the bundle, n = 1e3 … 1e5
for (const n of [1_000, 10_000, 100_000]) {
  const group = `cold process: fit --json n=${n} d=1 k=2 kmeans++ (bundle)`;
  const args = (s: State): string[] => ['fit', '--data', s.authors[n], '--k', '2', '--json'];
  cases.push({ group, name: 'dist/cli/main.js (MOELAB_BUNDLE=0, baseline)', setup, run: cold('0', args, false), baseline: true });
  cases.push({ group, name: 'dist bundle (default)', setup, run: cold('0', args) });
}

// issue 16 item 3, as a user runs it: the default start (k-means++ on (x, y)), compiled CLI, with the
// subsample warm start (default) against --no-warm-start (the start before it) in the same run
const generic = (csv: (s: State) => string, k: number, extra: string[]) => (s: State): string[] => ['fit', '--data', csv(s), '--k', String(k), '--json', ...extra];
for (const [label, csv, k] of [
  ['n=1e5 d=1 k=2', (s: State) => s.csv, 2],
  ['n=1e4 d=2 k=3', (s: State) => s.d2k3[10_000], 3],
  ['n=1e5 d=2 k=3', (s: State) => s.d2k3[100_000], 3],
  ['n=1e5 d=1 k=3 over', (s: State) => s.csv, 3], // k = 3 on the 2-expert truth (target ≤ 2 s, a maximum ≥ today's)
] as const) {
  const group = `cold process: fit --json ${label} kmeans++ (dist)`;
  cases.push({ group, name: '--no-warm-start (baseline)', setup, run: cold('0', generic(csv, k, ['--no-warm-start'])), baseline: true });
  cases.push({ group, name: 'default (subsample warm start)', setup, run: cold('0', generic(csv, k, [])) });
}
