import { describe, expect, it } from 'vitest';
import { runTiming, settingFacts } from '../../src/study/run-facts.js';
import { loadStudy } from '../../src/study/config.js';
import type { ResultRow } from '../../src/study/job.js';

const at = (sec: number): string => new Date(Date.UTC(2026, 11, 1, 22, 0, 0) + sec * 1000).toISOString();

describe('run timing from the stores', () => {
  it('busy wall time, pauses, jobs/s, parallelism and the later-round slowdown', () => {
    // store A: 10 jobs of 2 s finishing every second (two workers), then a 30-minute pause, then 10 more of 4 s
    const a = [
      ...Array.from({ length: 10 }, (_, i) => ({ setting: 's', n: 100 + (i % 2), rep: Math.floor(i / 2), seconds: 2, finishedAt: at(i + 1) })),
      ...Array.from({ length: 10 }, (_, i) => ({ setting: 's', n: 100 + (i % 2), rep: 5 + Math.floor(i / 2), seconds: 4, finishedAt: at(1810 + 2 * i) })),
    ];
    const t = runTiming([{ rows: a }], 5);
    expect(t.jobs).toBe(20);
    expect(t.computeSeconds).toBe(60);
    expect(t.spanSeconds).toBe(1828 - 1);
    expect(t.pauses.length).toBe(1);
    expect(t.pauses[0].seconds).toBe(1800);
    // busy: 9 gaps of 1 s + 9 gaps of 2 s + the first job's 2 s
    expect(t.activeSeconds).toBeCloseTo(9 + 18 + 2, 9);
    expect(t.jobsPerSecond).toBeCloseTo(20 / 29, 9);
    expect(t.parallelism).toBeCloseTo(60 / 29, 9);
    expect(t.laterRoundRatio).toBeCloseTo(2, 9); // the same (setting, n) took 4 s in round 2 against 2 s in round 1
    expect(runTiming([]).jobs).toBe(0);
  });
});

describe('setting facts from the stored fits', () => {
  it('counts fits on the gate bound, runaway expert coefficients and fits that did not converge', () => {
    const study = loadStudy(`name: f
seed: 1
truth: authors
n: { type: log, from: 100, to: 10000, count: 3 }
replicates: 2
settings:
  - name: s
    k: 2
    gate: softmax
    experts: gaussian
    options: { gateBound: 50 }
    losses: [ { name: D1, theory: -0.5 } ]
`);
    const model = (b1: number, a: number): string => JSON.stringify({ gate: { type: 'softmax', beta0: [-8, 0], beta1: [[b1], [0]] }, experts: { type: 'gaussianLinear', a: [[a], [20]], b: [15, -5], variance: [0.09, 0.16] } });
    const row = (n: number, rep: number, m: string, converged: boolean, warnings: string | null = null): ResultRow => ({ jobId: `${n}-${rep}`, setting: 's', n, rep, seed: '1', status: 'ok', error: null, objectiveName: 'logLikelihood', objectiveValue: 0, iterations: 1, converged, seconds: 1, model: m, losses: {}, warnings });
    const rows = [
      row(100, 0, model(50, -20), true), // on the bound
      row(100, 1, model(25, -2000), true), // expert slope 2000 > 10 × 20
      row(1000, 0, model(25, -20), false, 'gradient norm 1.4e-6 after the finish: the log-likelihood still rises slowly along a flat direction (typical of over-specified fits); the fit is returned where the finish stopped; the variance of expert 2 is at the floor 1e-8 (…)'),
      row(1000, 1, model(-50, -20), true), // on the bound (negative side)
      row(10000, 0, model(25, -20), false),
      row(10000, 1, model(25, -20), true),
      { ...row(10000, 2, model(25, -20), true), status: 'failed' as const, model: null },
    ];
    const [f] = settingFacts(study, rows);
    expect(f.ok).toBe(6);
    expect(f.failed).toBe(1);
    expect(f.gateBound).toBe(50);
    expect(f.atBound).toBe(2);
    expect(f.trueExpertMax).toBe(20);
    expect(f.expertFar).toBe(1);
    expect(f.expertFarSmall).toBe(1);
    expect(f.expertMax).toBe(2000);
    expect(f.nonConverged).toBe(2);
    expect(f.nonConvergedLarge).toBe(1);
    expect(f.ridge).toBe(1);
    expect(f.varianceFloor).toBe(1);
    expect(f.nLargeFrom).toBe(10000);
    expect(f.nSmallTo).toBe(100);
  });
});
