/**
 * predict (issue 11 item 2): against hand computation on small models, against the library's own
 * values (predictMean, posterior, logLikelihood), against Monte Carlo moments, and the CLI's CSV and
 * JSON against the library function, including `-` round trips.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { predict } from '../../src/model/predict.js';
import { Rng } from '../../src/numeric/rng.js';
import { runCli } from '../cli/run-cli.js';

const close = (a: number, b: number, rel = 1e-12): void => {
  expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(b)));
};
const normLogPdf = (y: number, m: number, v: number): number => -0.5 * Math.log(2 * Math.PI * v) - (y - m) ** 2 / (2 * v);

describe('predict: Gaussian experts', () => {
  const model = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
  const xs = [0.1, 0.32, 0.9];
  const ys = [13.2, 2.0, 12.9];
  it('matches the hand computation: softmax gate, total-variance formula, Bayes responsibilities, log-density', () => {
    const p = predict(model, Float64Array.from(xs), 3, Float64Array.from(ys));
    expect(p.kind).toBe('density');
    xs.forEach((x, t) => {
      const e0 = Math.exp(-8 + 25 * x);
      const pi = [e0 / (e0 + 1), 1 / (e0 + 1)];
      const mu = [-20 * x + 15, 20 * x - 5];
      const nu = [0.09, 0.16];
      const mean = pi[0] * mu[0] + pi[1] * mu[1];
      const second = pi[0] * (nu[0] + mu[0] ** 2) + pi[1] * (nu[1] + mu[1] ** 2);
      close(p.gate[t * 2], pi[0]);
      close(p.gate[t * 2 + 1], pi[1]);
      close(p.mean?.[t] ?? NaN, mean);
      close(p.variance?.[t] ?? NaN, second - mean ** 2, 1e-10);
      const joint = [0, 1].map((i) => pi[i] * Math.exp(normLogPdf(ys[t], mu[i], nu[i])));
      const dens = joint[0] + joint[1];
      close(p.logDensity?.[t] ?? NaN, Math.log(dens), 1e-10);
      close(p.responsibilities?.[t * 2] ?? NaN, joint[0] / dens, 1e-10);
      expect(p.map?.[t]).toBe(joint[0] >= joint[1] ? 0 : 1);
    });
    expect(p.warnings).toEqual([]);
  });
  it('agrees with predictMean, posterior and logLikelihood; without y only the x-parts', () => {
    const rng = new Rng(5);
    const n = 500;
    const X = new Float64Array(n).map(() => rng.uniform());
    const { y } = model.sample(X, n, rng.split('y'));
    const p = predict(model, X, n, y);
    const mean = model.predictMean(X, n);
    const post = model.posterior(X, y, n);
    for (let t = 0; t < n; t++) close(p.mean?.[t] ?? NaN, mean[t]);
    for (let j = 0; j < 2 * n; j++) close(p.responsibilities?.[j] ?? NaN, post[j], 1e-12);
    close(Array.from(p.logDensity ?? []).reduce((s, v) => s + v, 0), model.logLikelihood(X, y, n), 1e-12);
    const q = predict(model, X, n);
    expect(q.logDensity).toBeUndefined();
    expect(q.responsibilities).toBeUndefined();
    expect(q.mean).toEqual(p.mean);
  });
  it('mean and variance are the moments of draws from the model at a fixed x (Monte Carlo, 4 sd)', () => {
    const n = 200_000;
    const x = 0.33; // both experts carry mass here
    const X = new Float64Array(n).fill(x);
    const { y } = model.sample(X, n, new Rng(9));
    let m = 0;
    for (let t = 0; t < n; t++) m += y[t];
    m /= n;
    let v = 0;
    for (let t = 0; t < n; t++) v += (y[t] - m) ** 2;
    v /= n - 1;
    const p = predict(model, Float64Array.of(x), 1);
    const V = p.variance?.[0] ?? NaN;
    expect(Math.abs(m - (p.mean?.[0] ?? NaN))).toBeLessThan(4 * Math.sqrt(V / n));
    expect(Math.abs(v / V - 1)).toBeLessThan(0.02);
  });
});

describe('predict: multinomial experts and least-squares models', () => {
  const classModel: ModelJSON = {
    gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] },
    experts: { type: 'multinomialLogistic', classes: 3, a: [[1, -1, 0], [0, 2, 0]], b: [[[3], [0], [0]], [[-1], [1], [0]]], labels: ['lo', 'mid', 'hi'] },
  };
  it('class probabilities are Σᵢ πᵢ softmax_c, the log-density is log P(y | x), responsibilities by Bayes', () => {
    const m = MixtureOfExperts.fromJSON(classModel);
    const xs = [-0.5, 0.2, 1.3];
    const ys = [0, 2, 1];
    const p = predict(m, Float64Array.from(xs), 3, Float64Array.from(ys));
    expect(p.kind).toBe('classes');
    expect(p.classLabels).toEqual(['lo', 'mid', 'hi']);
    xs.forEach((x, t) => {
      const g = Math.exp(0.5 + 2 * x);
      const pi = [g / (g + 1), 1 / (g + 1)];
      const sm = (z: number[]): number[] => { const e = z.map(Math.exp); const s = e[0] + e[1] + e[2]; return e.map((v) => v / s); };
      const f = [sm([1 + 3 * x, -1, 0]), sm([-x, 2 + x, 0])];
      for (let c = 0; c < 3; c++) close(p.classProbabilities?.[t * 3 + c] ?? NaN, pi[0] * f[0][c] + pi[1] * f[1][c]);
      const mix = [0, 1, 2].map((c) => pi[0] * f[0][c] + pi[1] * f[1][c]);
      expect(p.predictedClass?.[t]).toBe(mix.indexOf(Math.max(...mix)));
      close(p.logDensity?.[t] ?? NaN, Math.log(mix[ys[t]]), 1e-12);
      close(p.responsibilities?.[t * 2] ?? NaN, pi[0] * f[0][ys[t]] / mix[ys[t]], 1e-12);
    });
    expect(p.mean).toBeUndefined();
  });
  it('a regression (LSE) model: mean f_G(x), variance ν, Gaussian log-density; no ν → a warning', () => {
    const json: ModelJSON = { gate: { type: 'softmax', beta0: [0, 0], beta1: [[4], [0]] }, experts: { type: 'regression', activation: 'linear', a: [[1], [-2]], b: [0.5, 1], noiseVariance: 0.25 } };
    const m = MixtureOfExperts.fromJSON(json);
    const x = 0.4;
    const pi0 = 1 / (1 + Math.exp(-4 * x));
    const f = pi0 * (x + 0.5) + (1 - pi0) * (-2 * x + 1);
    const p = predict(m, Float64Array.of(x), 1, Float64Array.of(0.3));
    expect(p.kind).toBe('regression');
    close(p.mean?.[0] ?? NaN, f);
    expect(p.variance?.[0]).toBe(0.25);
    close(p.logDensity?.[0] ?? NaN, normLogPdf(0.3, f, 0.25));
    expect(p.responsibilities).toBeUndefined();
    const { noiseVariance: _drop, ...noNu } = json.experts;
    const q = predict(MixtureOfExperts.fromJSON({ ...json, experts: noNu }), Float64Array.of(x), 1, Float64Array.of(0.3));
    expect(q.variance).toBeUndefined();
    expect(q.warnings.map((w) => w.code)).toEqual(['PREDICT_NO_VARIANCE']);
    expect(q.warnings.join()).toMatch(/noiseVariance/);
  });
});

describe('moelab predict', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'moelab-predict-'));
    writeFileSync(join(dir, 'truth.json'), JSON.stringify(AUTHORS_TRUTH));
    writeFileSync(join(dir, 'new.csv'), 'x1,y\n0.1,13.2\n0.32,2\n0.9,12.9\n');
    writeFileSync(join(dir, 'xonly.csv'), 'x1\n0.1\n0.32\n');
    writeFileSync(join(dir, 'classes.json'), JSON.stringify({
      gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] },
      experts: { type: 'multinomialLogistic', classes: 3, a: [[1, -1, 0], [0, 2, 0]], b: [[[3], [0], [0]], [[-1], [1], [0]]], labels: ['lo', 'mid', 'hi'] },
    }));
    writeFileSync(join(dir, 'labels.csv'), 'x,y\n-0.5,lo\n0.2,hi\n1.3,mid\n');
  });
  const f = (name: string): string => join(dir, name);

  it('writes a CSV with a header and one line per row, equal to the library values', async () => {
    const r = await runCli(['predict', '--model', f('truth.json'), '--data', f('new.csv'), '--out', f('pred.csv')]);
    expect(r.code, r.stderr).toBe(0);
    const rows = parse(readFileSync(f('pred.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0])).toEqual(['mean', 'variance', 'pi_1', 'pi_2', 'resp_1', 'resp_2', 'map', 'log_density']);
    expect(rows.length).toBe(3);
    const p = predict(MixtureOfExperts.fromJSON(AUTHORS_TRUTH), Float64Array.of(0.1, 0.32, 0.9), 3, Float64Array.of(13.2, 2, 12.9));
    rows.forEach((row, t) => {
      expect(Number(row.mean)).toBe(p.mean?.[t]);
      expect(Number(row.variance)).toBe(p.variance?.[t]);
      expect(Number(row.pi_2)).toBe(p.gate[t * 2 + 1]);
      expect(Number(row.resp_1)).toBe(p.responsibilities?.[t * 2]);
      expect(Number(row.map)).toBe((p.map?.[t] ?? -1) + 1);
      expect(Number(row.log_density)).toBe(p.logDensity?.[t]);
    });
  });
  it('without y: mean, variance and gate only; --json carries the arrays and warnings', async () => {
    const r = await runCli(['predict', '--model', f('truth.json'), '--data', f('xonly.csv')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('mean,variance,pi_1,pi_2');
    expect(r.stdout.trim().split('\n').length).toBe(3);
    const j = await runCli(['predict', '--model', f('truth.json'), '--data', f('new.csv'), '--json']);
    const o = JSON.parse(j.stdout) as { n: number; kind: string; mean: number[]; map: number[]; logLikelihood: number; warnings: string[] };
    expect(o).toMatchObject({ n: 3, kind: 'density', warnings: [] });
    close(o.logLikelihood, MixtureOfExperts.fromJSON(AUTHORS_TRUTH).logLikelihood(Float64Array.of(0.1, 0.32, 0.9), Float64Array.of(13.2, 2, 12.9), 3), 1e-12);
  });
  it('class labels are read in the model\'s coding; unknown labels and wrong d are one-line errors', async () => {
    const r = await runCli(['predict', '--model', f('classes.json'), '--data', f('labels.csv')]);
    expect(r.code, r.stderr).toBe(0);
    const rows = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0])).toEqual(['p_lo', 'p_mid', 'p_hi', 'class', 'pi_1', 'pi_2', 'resp_1', 'resp_2', 'map', 'log_density']);
    // hi is the model's class 2: the log-density of row 2 is log P(y = hi | x = 0.2)
    expect(Number(rows[1].log_density)).toBeCloseTo(Math.log(Number(rows[1].p_hi)), 12);
    expect(Number(rows[2].log_density)).toBeCloseTo(Math.log(Number(rows[2].p_mid)), 12);
    writeFileSync(f('bad-labels.csv'), 'x,y\n0.1,lo\n0.2,top\n');
    const bad = await runCli(['predict', '--model', f('classes.json'), '--data', f('bad-labels.csv')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/class label "top" is not one of the model's classes \(lo, mid, hi\)/);
    writeFileSync(f('d2.csv'), 'x1,x2,y\n0.1,0.2,1\n');
    const wrongD = await runCli(['predict', '--model', f('truth.json'), '--data', f('d2.csv')]);
    expect(wrongD.code).toBe(2);
    expect(wrongD.stderr.trim()).toMatch(/2 input columns \(x1, x2\) but the model takes d = 1/);
  });
  it('fit --json | predict --model - and predict --data - give the bytes of the file route', () => {
    const BIN = join(resolve(import.meta.dirname, '..', '..'), 'bin', 'moelab.mjs');
    const sh = (args: string[], input?: string): string => {
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    const viaFile = readFileSync(f('pred.csv'), 'utf8');
    expect(sh(['predict', '--model', '-', '--data', 'new.csv'], JSON.stringify(AUTHORS_TRUTH))).toBe(viaFile);
    expect(sh(['predict', '--model', 'truth.json', '--data', '-', '--out', '-'], readFileSync(f('new.csv'), 'utf8'))).toBe(viaFile);
  });
});
