/**
 * Bounded work, checked before allocation (issue 12, item 5): grids, sample sizes, replicates, jobs,
 * k, columns and fit memory have limits with a one-line message and an override (`--allow-large`);
 * the rows-vs-parameters check comes before any model is built; YAML alias bombs are refused.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStudy, StudyConfigError } from '../../src/study/config.js';
import { plannedCount } from '../../src/study/plan.js';
import { checkFitSize, LIMITS } from '../../src/limits.js';
import { runCli } from '../cli/run-cli.js';
import { fitEM } from '../../src/estimate/em.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { Rng } from '../../src/numeric/rng.js';
import { sampleX } from '../../src/model/data.js';

const cfg = (over: { n?: string; replicates?: string; k?: string; settings?: number } = {}): string => `name: b
seed: 1
truth: authors
n: ${over.n ?? '[200, 400]'}
replicates: ${over.replicates ?? '2'}
settings:
${Array.from({ length: over.settings ?? 1 }, (_, i) => `  - name: s${i}
    k: ${over.k ?? '2'}
    gate: softmax
    experts: gaussian
    losses: [D1]
`).join('')}`;

/** The load fails fast (no expansion, no allocation) with a StudyConfigError matching `pattern`. */
function expectRefused(text: string, pattern: RegExp): void {
  const t0 = performance.now();
  let err: unknown;
  try {
    loadStudy(text, { source: 'b.yaml' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(StudyConfigError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toMatch(/\n/);
  expect(performance.now() - t0).toBeLessThan(2000);
}

describe('study limits', () => {
  it('a grid of 10⁹ sample sizes, n up to 10¹², 10⁷ replicates and 2·10⁶ jobs are refused before expansion', () => {
    expectRefused(cfg({ n: '{ type: linear, from: 100, to: 1000000000, count: 1000000000 }' }), /n \(line 4\): the number of sample sizes = 1000000000 is more than the limit of 1000 \(--allow-large/);
    expectRefused(cfg({ n: '{ type: log, from: 100, to: 1000000000000, count: 5 }' }), /the largest sample size = 1000000000000 is more than the limit of 10000000/);
    expectRefused(cfg({ replicates: '10000000' }), /replicates \(line 5\): replicates = 10000000 is more than the limit of 100000/);
    expectRefused(cfg({ replicates: '100000', n: '{ type: linear, from: 100, to: 10000, count: 20 }' }), /the number of jobs \(1 settings × 20 sample sizes × 100000 replicates\) = 2000000 is more than the limit of 1000000/);
  });

  it('k = 10⁶ and k = 300 are refused before a model is built; n below the parameters is refused at load', () => {
    expectRefused(cfg({ k: '1000000', n: '[200, 400]' }), /the sample size n=200 is below the at least k·\(d\+1\) = 2000000 parameters/);
    expectRefused(cfg({ k: '300', n: '[100000]' }), /settings\[0\]\.k \(line 8\): k=300 experts is more than the limit of 100/);
    expectRefused(cfg({ k: '3', n: '[10, 400]' }), /the sample size n=10 is below the 13 free parameters of setting "s0" \(k=3\)/);
  });

  it('--allow-large lifts the limits, and the plan is still not expanded', () => {
    const text = cfg({ replicates: '300000', n: '{ type: linear, from: 100, to: 10000, count: 2000 }' });
    expect(() => loadStudy(text)).toThrow(StudyConfigError);
    const st = loadStudy(text, { allowLarge: true });
    expect(st.ns).toHaveLength(2000);
    expect(plannedCount(st)).toBe(6e8);
  });

  it('a billion-laughs YAML is one line, not a stack trace', () => {
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    expectRefused(bomb.join('\n') + '\n', /b\.yaml: not a usable YAML\/JSON document: .*alias/i);
  });

  it('study run with a refused config leaves no store and no lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-bounds-'));
    writeFileSync(join(dir, 'b.yaml'), cfg({ replicates: '10000000' }));
    const r = await runCli(['study', 'run', join(dir, 'b.yaml'), '--out', join(dir, 'out'), '--inline', '--no-progress']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/replicates = 10000000 is more than the limit/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});

describe('fit limits', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'moelab-fitbounds-'));
    const cols = 40_000;
    const head = ['y', ...Array.from({ length: cols }, (_, j) => `x${j}`)].join(',');
    const rows = Array.from({ length: 3 }, (_, i) => [i, ...Array.from({ length: cols }, (_, j) => ((i * 7 + j) % 13) / 13)].join(','));
    writeFileSync(join(dir, 'wide.csv'), [head, ...rows].join('\n') + '\n');
    writeFileSync(join(dir, 'n2000.csv'), ['x1,y', ...Array.from({ length: 2000 }, (_, i) => `${(i % 97) / 97},${Math.sin(i)}`)].join('\n') + '\n');
  });

  async function oneLine(args: string[], pattern: RegExp): Promise<void> {
    const t0 = performance.now();
    const r = await runCli(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).not.toMatch(/RangeError|\n\s+at /);
    expect(r.stderr).toMatch(pattern);
    expect(performance.now() - t0).toBeLessThan(15_000);
  }

  it('40,000 columns on 3 rows: the rows-vs-parameters check, before anything is allocated', async () => {
    await oneLine(['fit', '--data', join(dir, 'wide.csv'), '--k', '2'], /3 rows are fewer than the at least k·\(d\+1\) = 80002 free parameters/);
  });

  it('--k 100000 and --k 300 on 2,000 rows: a limit with its override; with the override, the rows check', async () => {
    await oneLine(['fit', '--data', join(dir, 'n2000.csv'), '--k', '300'], /fit: k=300 experts is more than the limit of 100 \(--allow-large to run it anyway\)/);
    await oneLine(['fit', '--data', join(dir, 'n2000.csv'), '--k', '100000'], /2000 rows are fewer than the at least k·\(d\+1\) = 200000 free parameters/);
    await oneLine(['fit', '--data', join(dir, 'n2000.csv'), '--k', '500'], /k=500 experts is more than the limit/);
    await oneLine(['fit', '--data', join(dir, 'n2000.csv'), '--k', '100000', '--allow-large'], /2000 rows are fewer than the at least k·\(d\+1\) = 200000 free parameters/);
    await oneLine(['fit', '--data', join(dir, 'n2000.csv'), '--k', '1000000', '--allow-large'], /2000 rows are fewer than the at least/);
  });

  it('--time-limit stops a slow fit: exit 0, converged false, EM_TIME_LIMIT on stderr and in the JSON', async () => {
    const t0 = performance.now();
    const r = await runCli(['fit', '--data', join(dir, 'n2000.csv'), '--k', '60', '--restarts', '3', '--time-limit', '0.5', '--json']);
    const took = (performance.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { converged: boolean; warnings: { code: string; timeLimit: number }[] };
    expect(out.converged).toBe(false);
    expect(out.warnings.map((w) => w.code)).toContain('EM_TIME_LIMIT');
    expect(out.warnings.find((w) => w.code === 'EM_TIME_LIMIT')?.timeLimit).toBe(0.5);
    expect(out.warnings.map((w) => w.code)).not.toContain('EM_MAX_ITER');
    expect(r.stderr).toMatch(/warning: the fit stopped at the time limit of 0\.5 s after \d+ iterations, before it converged( \(the limit passed during the initialisation[^)]*\))? \[EM_TIME_LIMIT\]/);
    expect(took).toBeLessThan(12);
    await oneLine(['fit', '--data', join(dir, 'n2000.csv'), '--k', '2', '--time-limit', '0'], /--time-limit: must be > 0, got 0/);
  });

  it('a time limit that passes during the k-means++ start cuts the start short: no gate M-step, EM_TIME_LIMIT says so', () => {
    // (the start's k-means and its gate Newton M-step took ~1.5 s at k = 60 on 2,000 rows, over any limit)
    const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
    const n = 2000;
    const rng = new Rng(3);
    const X = sampleX({ type: 'uniform', low: 0, high: 1 }, n, 1, rng.split('x'));
    const data = { X, y: truth.sample(X, n, rng.split('y')).y, n, d: 1 };
    for (const restarts of [1, 3]) {
      // a limit so small it has passed before the first k-means++ distance pass ends
      const r = fitEM({ ...truth.spec(), k: 60 }, data, { timeLimit: 1e-9, restarts });
      expect(r.converged).toBe(false);
      expect(r.iterations).toBe(0);
      expect(r.restartLogLikelihoods).toHaveLength(1); // later restarts are not started
      const w = r.warnings.filter((x) => x.code === 'EM_TIME_LIMIT');
      expect(w).toHaveLength(1);
      expect(w[0].message).toMatch(/after 0 iterations, before it converged \(the limit passed during the initialisation: the model returned is the start, cut short\)/);
      // the gate M-step of the start was skipped: equal gate weights
      const g = r.model.toJSON().gate;
      expect((g.beta1 as number[][]).flat().every((v) => v === 0)).toBe(true);
      expect((g.beta0 as number[]).every((v) => v === 0)).toBe(true);
      expect(Number.isFinite(r.logLikelihood)).toBe(true);
    }
  });

  it('the memory estimate bounds k·d combinations that pass the k and column limits', () => {
    expect(() => checkFitSize({ n: 5_000_000, k: 100, d: 1000 })).toThrow(/needs about .* GiB of working memory, more than the limit of 2\.0 GiB/);
    expect(() => checkFitSize({ n: 5_000_000, k: 100, d: 1000, allowLarge: true })).not.toThrow();
    expect(() => checkFitSize({ n: 1e5, k: 3, d: 5 })).not.toThrow();
    expect(LIMITS.k).toBe(100);
  });
});
