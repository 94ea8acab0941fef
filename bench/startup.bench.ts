/**
 * Start-up of the command line (issue 16 item 1), measured as a user runs it: a fresh process per
 * run, `moelab --version` and `moelab fit --data … --k 2 --json` at n = 1e5 (the authors' truth,
 * default kmeans++ start). Baseline: the same bin through tsx (MOELAB_SOURCE=1, the development
 * path); against it the compiled dist/ (MOELAB_SOURCE=0; built first when missing or stale).
 * Diagnostics: the child's CPU time (user + system, from /usr/bin/time when present), which is
 * what a loaded machine does not distort.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchCase } from './types.js';
import { simulated } from './simulated.js';
import { AUTHORS_TRUTH } from '../src/model/presets.js';
import { writeCsvDataset } from '../src/cli/io.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface State { dir: string; csv: string }

let shared: State | undefined;
function setup(): State {
  if (shared) return shared;
  spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'moelab-startup-'));
  const csv = join(dir, 'd.csv');
  writeCsvDataset(csv, simulated(AUTHORS_TRUTH, 100_000, 0, 1)().data);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  shared = { dir, csv };
  return shared;
}

function cold(source: '0' | '1', args: (s: State) => string[]) {
  return (st: unknown) => {
    const s = st as State;
    const cmd = [process.execPath, BIN, ...args(s)];
    const timeFile = join(s.dir, 'time.txt');
    const r = TIME
      ? spawnSync(TIME, ['-f', '%U %S', '-o', timeFile, ...cmd], { env: { ...process.env, MOELAB_SOURCE: source }, encoding: 'utf8' })
      : spawnSync(cmd[0], cmd.slice(1), { env: { ...process.env, MOELAB_SOURCE: source }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`moelab ${args(s).join(' ')} failed: ${r.stderr}`);
    if (!TIME) return {};
    const [u, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
    return { cpuSeconds: u + sys };
  };
}

const version = (): string[] => ['--version'];
const fit = (s: State): string[] => ['fit', '--data', s.csv, '--k', '2', '--json'];

export const cases: BenchCase[] = [
  { group: 'cold process: moelab --version', name: 'tsx (source)', setup, run: cold('1', version), baseline: true },
  { group: 'cold process: moelab --version', name: 'dist (compiled)', setup, run: cold('0', version) },
  { group: 'cold process: fit --json n=1e5 k=2 kmeans++', name: 'tsx (source)', setup, run: cold('1', fit), baseline: true },
  { group: 'cold process: fit --json n=1e5 k=2 kmeans++', name: 'dist (compiled)', setup, run: cold('0', fit) },
];
