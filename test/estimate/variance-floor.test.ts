/**
 * The variance floor per expert (issue 12, item 1; EMOptions.varianceFloor): the default floor is
 * 1e-6·s_y² for every expert (s_y the robust scale of y); `{ scale: 'expert' }` gives expert i the
 * floor 1e-6·σ̂ᵢ² with σ̂ᵢ the robust scale of its residuals under the start's posteriors. A
 * component that collapses onto duplicated points ends at its floor and the fit says so
 * (EM_VARIANCE_AT_FLOOR, in the result and so in `fit` text and --json).
 */
import { describe, expect, it } from 'vitest';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { Rng } from '../../src/numeric/rng.js';
import { sampleX, type Dataset } from '../../src/model/data.js';
import { fitEM } from '../../src/estimate/em.js';
import { robustScale, RELATIVE_VARIANCE_FLOOR } from '../../src/estimate/standardize.js';
import { OptionError } from '../../src/errors.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/run-cli.js';

const TRUTH: ModelJSON = { gate: { type: 'softmax', beta0: [0, 0], beta1: [[6], [0]] }, experts: { type: 'gaussianLinear', a: [[2], [-2]], b: [-1, 1], variance: [0.04, 0.04] } };

/** 300 rows of the truth plus 8 copies of the point (0.5, 5), far from both experts. */
function withDuplicates(): Dataset {
  const truth = MixtureOfExperts.fromJSON(TRUTH);
  const rng = new Rng(5);
  const n0 = 300;
  const X0 = sampleX({ type: 'uniform', low: 0, high: 1 }, n0, 1, rng.split('x'));
  const y0 = truth.sample(X0, n0, rng.split('y')).y;
  const n = n0 + 8;
  const X = new Float64Array(n);
  const y = new Float64Array(n);
  X.set(X0);
  y.set(y0);
  for (let t = n0; t < n; t++) {
    X[t] = 0.5;
    y[t] = 5;
  }
  return { X, y, n, d: 1 };
}

/** 1e-6·(1.4826·weighted median of |y − μᵢ(x)|)² with the start's posteriors as weights (computed independently). */
function startFloor(data: Dataset, i: number): number {
  const m = MixtureOfExperts.fromJSON(START);
  const R = m.posterior(data.X, data.y, data.n);
  const e = START.experts as unknown as { a: number[][]; b: number[] };
  const rows = Array.from({ length: data.n }, (_, t) => ({ r: Math.abs(data.y[t] - e.b[i] - e.a[i][0] * data.X[t]), w: R[t * 3 + i] })).sort((p, q) => p.r - q.r);
  const total = rows.reduce((s, x) => s + x.w, 0);
  let acc = 0;
  const med = rows.find((x) => (acc += x.w) >= total / 2)?.r ?? 0;
  return RELATIVE_VARIANCE_FLOOR * (1.4826 * med) ** 2;
}

/** A 3-expert start with expert 3 broad (ν = 4) around y = 5: it explains many points at the start, then collapses. */
const START: ModelJSON = { gate: { type: 'softmax', beta0: [0, 0, -1], beta1: [[6], [0], [0]] }, experts: { type: 'gaussianLinear', a: [[2], [-2], [0]], b: [-1, 1, 4.5], variance: [0.04, 0.04, 4] } };

describe('variance floor', () => {
  const data = withDuplicates();
  const spec = { ...MixtureOfExperts.fromJSON(START).spec() };
  const init = { type: 'model' as const, model: MixtureOfExperts.fromJSON(START) };

  for (const scale of ['response', 'expert'] as const) {
    it(`${scale} floor: a component collapsing onto 8 duplicated points ends at its floor, with EM_VARIANCE_AT_FLOOR naming it and the floor`, () => {
      const r = fitEM(spec, data, { init, varianceFloor: { scale } });
      const v = r.model.toJSON().experts.variance as number[];
      const w = r.warnings.find((x) => x.code === 'EM_VARIANCE_AT_FLOOR');
      expect(w, r.warnings.map(String).join('; ')).toBeDefined();
      expect(String(w?.details.experts)).toBe('3');
      const floor = Number(w?.details.floor);
      expect(v[2]).toBeGreaterThanOrEqual(floor * (1 - 1e-9));
      expect(v[2]).toBeLessThanOrEqual(floor * (1 + 1e-6));
      const sy = robustScale(data.n, (t) => data.y[t]).scale;
      if (scale === 'response') expect(floor / (RELATIVE_VARIANCE_FLOOR * sy * sy)).toBeCloseTo(1, 9);
      // per expert: 1e-6·σ̂₃², σ̂₃ = 1.4826 × the posterior-weighted median of |y − b₃| at the start
      else expect(Math.abs(floor / startFloor(data, 2) - 1)).toBeLessThan(1e-9);
      // the other experts are not floored, and the warning is in the JSON form too
      expect(v[0]).toBeGreaterThan(1e-3);
      expect(v[1]).toBeGreaterThan(1e-3);
      expect(JSON.parse(JSON.stringify(r.warnings))).toContainEqual(expect.objectContaining({ code: 'EM_VARIANCE_AT_FLOOR', experts: '3' }));
    });
  }

  it('the per-expert floor is scale-equivariant: y·1e-3 and y·1e5 give the floor·c² and the same fit', () => {
    const base = fitEM(spec, data, { init, varianceFloor: { scale: 'expert' } });
    const f0 = Number(base.warnings.find((x) => x.code === 'EM_VARIANCE_AT_FLOOR')?.details.floor);
    for (const c of [1e-3, 1e5]) {
      const j = MixtureOfExperts.fromJSON(START).toJSON();
      const scaled: ModelJSON = { gate: j.gate, experts: { ...j.experts, a: (j.experts.a as number[][]).map((r) => r.map((v) => v * c)), b: (j.experts.b as number[]).map((v) => v * c), variance: (j.experts.variance as number[]).map((v) => v * c * c) } };
      const r = fitEM(spec, { ...data, y: data.y.map((v) => v * c) }, { init: { type: 'model', model: MixtureOfExperts.fromJSON(scaled) }, varianceFloor: { scale: 'expert' } });
      const f = Number(r.warnings.find((x) => x.code === 'EM_VARIANCE_AT_FLOOR')?.details.floor);
      expect(Math.abs(f / (c * c) - f0) / f0).toBeLessThan(1e-8);
      expect(Math.abs(r.logLikelihood + data.n * Math.log(c) - base.logLikelihood) / Math.abs(base.logLikelihood)).toBeLessThan(1e-8);
    }
  });

  it('heteroscedastic experts: the response floor clips the quiet expert (and says so), the per-expert floor does not', () => {
    // expert 1 has sd 1e-4, expert 2 sd 30: 1e-6·s_y² is far above 1e-8
    const truth: ModelJSON = { gate: { type: 'softmax', beta0: [0, 0], beta1: [[8], [0]] }, experts: { type: 'gaussianLinear', a: [[1], [-1]], b: [0, 0], variance: [1e-8, 900] } };
    const m = MixtureOfExperts.fromJSON(truth);
    const rng = new Rng(6);
    const n = 600;
    const X = sampleX({ type: 'uniform', low: -1, high: 1 }, n, 1, rng.split('x'));
    const d: Dataset = { X, y: m.sample(X, n, rng.split('y')).y, n, d: 1 };
    const opts = { init: { type: 'model' as const, model: m } };
    const global = fitEM(m.spec(), d, opts);
    const perExpert = fitEM(m.spec(), d, { ...opts, varianceFloor: { scale: 'expert' } });
    const vg = global.model.toJSON().experts.variance as number[];
    const ve = perExpert.model.toJSON().experts.variance as number[];
    expect(global.warnings.map((w) => w.code)).toContain('EM_VARIANCE_AT_FLOOR');
    expect(vg[0]).toBeGreaterThan(1e-6);
    expect(perExpert.warnings.map((w) => w.code)).not.toContain('EM_VARIANCE_AT_FLOOR');
    expect(ve[0] / 1e-8).toBeGreaterThan(0.7);
    expect(ve[0] / 1e-8).toBeLessThan(1.4);
    expect(perExpert.logLikelihood).toBeGreaterThan(global.logLikelihood);
  });

  it('a bad varianceFloor option is one OptionError naming the field', () => {
    expect(() => fitEM(spec, data, { varianceFloor: { scale: 'cell' as 'expert' } })).toThrow(OptionError);
    expect(() => fitEM(spec, data, { varianceFloor: { relative: -1 } })).toThrow(/varianceFloor\.relative: must be a finite number > 0/);
  });

  it('fit --variance-floor expert: the floored expert is warned on stderr (text and --json) and in the JSON; a bad value is one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-floor-'));
    const csv = join(dir, 'dup.csv');
    writeFileSync(csv, 'x,y\n' + Array.from({ length: data.n }, (_, t) => `${data.X[t]},${data.y[t]}`).join('\n') + '\n');
    const start = join(dir, 'start.json');
    writeFileSync(start, JSON.stringify(START));
    for (const json of [false, true]) {
      const r = await runCli(['fit', '--data', csv, '--k', '3', '--init-model', start, '--variance-floor', 'expert', ...(json ? ['--json'] : [])]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/warning: the variance of expert 3 is at the floor \S+ .*\[EM_VARIANCE_AT_FLOOR\]/);
      if (json) expect((JSON.parse(r.stdout) as { warnings: { code: string; experts: string }[] }).warnings).toContainEqual(expect.objectContaining({ code: 'EM_VARIANCE_AT_FLOOR', experts: '3' }));
    }
    const bad = await runCli(['fit', '--data', csv, '--k', '3', '--variance-floor', 'cell']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--variance-floor: expected response or expert, got "cell"/);
  });
});
