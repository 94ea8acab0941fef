import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadStudy } from '../../src/study/config.js';
import { planJobs } from '../../src/study/plan.js';
import { StudyStore } from '../../src/study/store.js';
import { runStudy } from '../../src/study/runner.js';
import { computeCurves, reportJSON, writeReport } from '../../src/study/report.js';
import { exportCSV } from '../../src/study/export.js';
import type { ResultRow } from '../../src/study/job.js';
import { Rng } from '../../src/numeric/rng.js';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');
const CURVE_KEYS = ['setting', 'loss', 'slope', 'ci', 'intercept', 'medianSlope', 'nMin', 'nMax', 'reps', 'quantileSlope', 'localSlopes', 'verdict'];

const SYNTH = `name: synth
seed: 5
truth: authors
n: { type: log, from: 100, to: 100000, count: 7 }
replicates: 20
settings:
  - name: exact
    k: 2
    gate: softmax
    experts: gaussian
    losses:
      - { name: D1, theory: -0.5 }
      - { name: D2:beta1, theory: -0.125 }
`;

/** A store filled with synthetic losses: D1 = 3·n^-0.5·e^ε, D2:beta1 = 0.2·n^-0.125·e^ε, ε ~ N(0, 0.3²). */
function syntheticStore(dir: string): StudyStore {
  const study = loadStudy(SYNTH);
  const store = StudyStore.create(dir, study);
  const rng = new Rng(77);
  for (const job of planJobs(study)) {
    const row: ResultRow = {
      jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'ok', error: null,
      objectiveName: 'logLikelihood', objectiveValue: -1, iterations: 1, converged: true, seconds: 0.01, model: '{}', warnings: null,
      losses: { D1: 3 * Math.pow(job.n, -0.5) * Math.exp(0.3 * rng.normal()), 'D2:beta1': 0.2 * Math.pow(job.n, -0.125) * Math.exp(0.3 * rng.normal()) },
    };
    // one failed job: recorded, and excluded from the curves
    if (job.id === 'exact/100/0') Object.assign(row, { status: 'failed', error: 'fit: Error: boom', losses: { D1: null, 'D2:beta1': null } });
    expect(store.write(row)).toBe(true);
    expect(store.write(row)).toBe(false); // a second write of the same job is a no-op
  }
  return store;
}

describe('study report', () => {
  it('recovers known synthetic rates and has exactly the JSON contract shape', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-report-'));
    try {
      const store = syntheticStore(dir);
      const { curves, skipped } = computeCurves(store);
      expect(skipped).toEqual([]);
      expect(curves.map((c) => [c.setting, c.loss])).toEqual([['exact', 'D1'], ['exact', 'D2:beta1']]);
      const [d1, b1] = curves;
      expect(d1.slope).toBeCloseTo(-0.5, 1);
      expect(b1.slope).toBeCloseTo(-0.125, 1);
      for (const c of curves) {
        expect(c.ci[0]).toBeLessThan(c.slope);
        expect(c.ci[1]).toBeGreaterThan(c.slope);
        expect(c.nMin).toBe(100);
        expect(c.nMax).toBe(100000);
        expect(c.reps).toBe(19); // n = 100 lost its failed replicate
        expect(Math.abs(c.medianSlope - c.slope)).toBeLessThan(0.1);
      }
      expect(d1.ci[0]).toBeLessThan(-0.5);
      expect(d1.ci[1]).toBeGreaterThan(-0.5);
      // intercept: log of the mean of 3·e^ε = log 3 + 0.3²/2
      expect(d1.intercept).toBeCloseTo(Math.log(3) + 0.045, 1);
      const json = reportJSON(curves);
      expect(Object.keys(json)).toEqual(['curves']);
      for (const c of json.curves) {
        expect(Object.keys(c)).toEqual(CURVE_KEYS);
        expect(c.ci.length).toBe(2);
        for (const k of ['slope', 'intercept', 'medianSlope', 'nMin', 'nMax', 'reps'] as const) expect(typeof c[k]).toBe('number');
        expect(c.quantileSlope.q).toBe(0.8);
        expect(c.quantileSlope.ci[0]).toBeLessThanOrEqual(c.quantileSlope.slope);
        expect(c.quantileSlope.ci[1]).toBeGreaterThanOrEqual(c.quantileSlope.slope);
        expect(Array.isArray(c.localSlopes)).toBe(true);
        // D1 ∝ n^-1/2 and D2:beta1 ∝ n^-1/8 against those theories: the verdict rule reproduces both
        expect(c.verdict?.verdict).toBe('reproduced');
      }
      // figures: SVG + PNG per setting, a self-contained HTML page
      const files = await writeReport(store, join(dir, 'report'), { curves, skipped });
      expect(files.svg.length).toBe(1);
      const svg = readFileSync(files.svg[0], 'utf8');
      expect(svg).toMatch(/^<svg/);
      expect(svg).toContain('exact · synth (profile full)');
      expect(svg).toContain('D2 term of β₁'); // readable loss names, not D2:beta1
      expect(svg).toContain('median, bands 25–75 % and 10–90 %'); // quantile bands, not ± 2 sd bars
      expect(svg).not.toContain('± 2 sd');
      expect(svg).toContain('theory n^−0.125');
      expect(svg).toMatch(/OLS of log mean: 3\.\d\d·n\^−0\.\d{3}/);
      const png = readFileSync(files.png[0]);
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      expect(png.readUInt32BE(16)).toBeGreaterThan(1000); // width at zoom 2
      const html = readFileSync(files.html, 'utf8');
      expect(html).toContain('<svg');
      expect(html).not.toMatch(/<script|<link|src="http/); // self-contained
      expect(JSON.parse(readFileSync(files.json, 'utf8'))).toEqual(JSON.parse(JSON.stringify(json)));
      // CSV export: header + one line per job, losses as columns, failed job with its error
      const csv = exportCSV(store).text.trim().split('\n');
      expect(csv.length).toBe(1 + 7 * 20);
      expect(csv[0]).toBe('job_id,setting,n,rep,seed,status,error,objective_name,objective_value,iterations,converged,seconds,warnings,D1,D2:beta1');
      expect(csv.find((l) => l.startsWith('exact/100/0,'))).toMatch(/,failed,fit: Error: boom,/);
      store.close();

      // the CLI prints the same contract
      const r = spawnSync(process.execPath, [BIN, 'study', 'report', dir, '--json', '--no-figures'], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { curves: Record<string, unknown>[]; settings: unknown[] };
      expect(Object.keys(out)).toEqual(['curves', 'settings']);
      expect(out.settings).toEqual([{ name: 'exact', estimator: 'em', objective: 'logLikelihood' }]); // what the stored objective is
      expect(out.curves.map((c) => Object.keys(c))).toEqual([CURVE_KEYS, CURVE_KEYS]);
      expect(out.curves[0].slope).toBe(d1.slope);
      expect(out.curves[0].ci).toEqual(d1.ci);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('end to end: the exact softmax D1 slope has a 95% interval covering −0.5', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-e2e-'));
    try {
      const study = loadStudy(`name: e2e-exact
seed: 2024
truth: authors
n: { type: log, from: 300, to: 30000, count: 8 }
replicates: 10
settings:
  - name: exact
    k: 2
    gate: softmax
    experts: gaussian
    losses:
      - { name: D1, theory: -0.5 }
      - { name: hellinger, theory: -0.5, options: { samples: 64 } }
`);
      const store = StudyStore.create(dir, study);
      const s = await runStudy(store, { threads: 2, progress: false });
      expect(s).toMatchObject({ planned: 80, ran: 80, ok: 80, failed: 0 });
      const { curves } = computeCurves(store);
      const d1 = curves.find((c) => c.loss === 'D1')!;
      const h = curves.find((c) => c.loss === 'hellinger')!;
      expect(d1.ci[0]).toBeLessThan(-0.5);
      expect(d1.ci[1]).toBeGreaterThan(-0.5);
      expect(d1.slope).toBeGreaterThan(-0.7);
      expect(d1.slope).toBeLessThan(-0.35);
      expect(h.ci[0]).toBeLessThan(-0.5);
      expect(h.ci[1]).toBeGreaterThan(-0.5);
      expect(statSync(StudyStore.pathIn(dir)).size).toBeGreaterThan(0);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
