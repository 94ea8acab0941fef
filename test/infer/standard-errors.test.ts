import { describe, expect, it } from 'vitest';
import { fitEM } from '../../src/estimate/em.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { Rng } from '../../src/numeric/rng.js';
import { sampleX } from '../../src/model/data.js';
import { observedInformation, parameterStandardErrors, invertInformation } from '../../src/infer/standard-errors.js';
import { bootstrap } from '../../src/infer/bootstrap.js';
import { modelCriteria, criteriaFrom } from '../../src/select/criteria.js';

const TRUTH: ModelJSON = {
  gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[4], [0]] },
  experts: { type: 'gaussianLinear', a: [[-2], [2]], b: [1, -1], variance: [0.1, 0.2] },
};

function data(json: ModelJSON, n: number, seed: number) {
  const truth = MixtureOfExperts.fromJSON(json);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'normal', mean: 0, sd: 1 }, n, truth.d, rng.split('x'));
  const { y } = truth.sample(X, n, rng.split('y'));
  return { truth, ds: { X, y, n, d: truth.d } };
}

describe('information criteria', () => {
  it('AIC, BIC, ICL against a hand computation', () => {
    const { ds } = data(TRUTH, 300, 5);
    const fit = fitEM({ ...MixtureOfExperts.fromJSON(TRUTH).spec() }, ds, { restarts: 2 });
    const c = modelCriteria(fit.model, ds, fit.logLikelihood);
    // hand: p = gate (k−1)(d+1) + experts k(d+2) = 2 + 6
    expect(c.parameters).toBe(8);
    expect(c.n).toBe(300);
    // posterior responsibilities by hand from the JSON parameters
    const j = fit.model.toJSON();
    const b0 = j.gate.beta0 as number[];
    const b1 = j.gate.beta1 as number[][];
    const a = j.experts.a as number[][];
    const b = j.experts.b as number[];
    const v = j.experts.variance as number[];
    let ll = 0;
    let en = 0;
    for (let t = 0; t < ds.n; t++) {
      const x = ds.X[t];
      const z = [0, 1].map((i) => b0[i] + b1[i][0] * x);
      const lse = Math.log(Math.exp(z[0]) + Math.exp(z[1]));
      const joint = [0, 1].map((i) => Math.exp(z[i] - lse) * Math.exp(-((ds.y[t] - a[i][0] * x - b[i]) ** 2) / (2 * v[i])) / Math.sqrt(2 * Math.PI * v[i]));
      const p = joint[0] + joint[1];
      ll += Math.log(p);
      for (const q of joint) if (q > 0) en -= (q / p) * Math.log(q / p);
    }
    expect(c.logLikelihood).toBeCloseTo(ll, 6);
    expect(c.aic).toBeCloseTo(-2 * ll + 16, 6);
    expect(c.bic).toBeCloseTo(-2 * ll + 8 * Math.log(300), 6);
    expect(c.icl).toBeCloseTo(-2 * ll + 8 * Math.log(300) + 2 * en, 5);
    expect(c.entropy).toBeGreaterThan(0);
    expect(criteriaFrom(-10, 3, 100, 0).bic).toBeCloseTo(20 + 3 * Math.log(100), 12);
  });
});

describe('standard errors', () => {
  const { ds } = data(TRUTH, 4000, 11);
  const spec = MixtureOfExperts.fromJSON(TRUTH).spec();
  const fit = fitEM(spec, ds, { restarts: 3 });
  const model = fit.model;

  it('the observed information equals a second-difference Hessian of the log-likelihood values', () => {
    const p = model.nParams;
    const I = observedInformation(model, ds);
    const f = (th: Float64Array): number => model.withTheta(th).logLikelihood(ds.X, ds.y, ds.n);
    const th = model.theta.slice();
    const h = 1e-4;
    let maxRel = 0;
    for (let i = 0; i < p; i++) {
      for (let j = 0; j <= i; j++) {
        const e = (di: number, dj: number): number => {
          const x = th.slice();
          x[i] += di * h;
          x[j] += dj * h;
          return f(x);
        };
        const H = (e(1, 1) - e(1, -1) - e(-1, 1) + e(-1, -1)) / (4 * h * h);
        maxRel = Math.max(maxRel, Math.abs(-H - I[i * p + j]) / Math.max(1, Math.abs(I[i * p + i])));
      }
    }
    expect(maxRel).toBeLessThan(2e-3);
    // and the reported SE of ν is the delta-method map of the log-variance SE: se(ν) = ν·se(log ν)
    const inv = invertInformation(I, p)!;
    const r = parameterStandardErrors(model, ds);
    const nu = r.parameters.filter((q) => q.block === 'variance');
    const v = model.toJSON().experts.variance as number[];
    const pg = model.gate.nParams;
    for (const q of nu) {
      const i = q.expert! - 1;
      const logIdx = pg + i * (model.d + 2) + model.d + 1;
      expect(q.se!).toBeCloseTo(v[i] * Math.sqrt(inv.cov[logIdx * p + logIdx]), 6);
    }
    expect(r.status).toBe('ok');
    expect(r.parameters).toHaveLength(8);
    for (const q of r.parameters) expect(q.z).toBeCloseTo(q.estimate / q.se!, 10);
  });

  it('BHHH and bootstrap SEs agree with the observed-information SEs on a well-posed fit', async () => {
    const obs = parameterStandardErrors(model, ds);
    const bh = parameterStandardErrors(model, ds, { method: 'bhhh' });
    const bs = await bootstrap(model, ds, { replicates: 60, seed: 3, threads: 1 });
    expect(bs.succeeded).toBe(60);
    for (let e = 0; e < obs.parameters.length; e++) {
      const s = obs.parameters[e].se!;
      expect(bh.parameters[e].se! / s).toBeGreaterThan(0.85);
      expect(bh.parameters[e].se! / s).toBeLessThan(1.15);
      // 60 replicates: the relative sd of a bootstrap SE is ≈ 1/√(2·60) ≈ 0.09
      expect(bs.parameters[e].se! / s).toBeGreaterThan(0.7);
      expect(bs.parameters[e].se! / s).toBeLessThan(1.3);
      expect(bs.parameters[e].lower!).toBeLessThan(obs.parameters[e].estimate);
      expect(bs.parameters[e].upper!).toBeGreaterThan(obs.parameters[e].estimate);
    }
  });

  it('bootstrap: same seed, same numbers; threads do not change them', async () => {
    const small = { ...ds, n: 800, X: ds.X.subarray(0, 800), y: ds.y.subarray(0, 800) };
    const a = await bootstrap(model, small, { replicates: 6, seed: 9, threads: 1 });
    const b = await bootstrap(model, small, { replicates: 6, seed: 9, threads: 2 });
    expect(JSON.stringify(b.parameters)).toBe(JSON.stringify(a.parameters));
    const c = await bootstrap(model, small, { replicates: 6, seed: 10, threads: 1, type: 'parametric' });
    expect(JSON.stringify(c.parameters)).not.toBe(JSON.stringify(a.parameters));
  });

  it('an over-specified fit: singular or ill-conditioned information is flagged, never NaN; the bootstrap still answers', async () => {
    const over = fitEM({ ...spec, k: 3 }, { ...ds, n: 1500, X: ds.X.subarray(0, 1500), y: ds.y.subarray(0, 1500) }, { restarts: 1 });
    const small = { ...ds, n: 1500, X: ds.X.subarray(0, 1500), y: ds.y.subarray(0, 1500) };
    const r = parameterStandardErrors(over.model, small);
    expect(r.status).not.toBe('ok');
    expect(r.indistinguishable.length).toBeGreaterThan(0);
    expect(r.warnings.map((w) => w.code)).toContain('SE_INDISTINGUISHABLE_EXPERTS');
    expect(r.warnings.length).toBeGreaterThan(0);
    for (const q of r.parameters) {
      if (q.se !== null) expect(Number.isFinite(q.se)).toBe(true);
      expect(Number.isNaN(q.z as number)).toBe(false);
    }
    const bs = await bootstrap(over.model, small, { replicates: 4, seed: 1, threads: 1, em: { maxIter: 300 } });
    expect(bs.succeeded).toBe(4);
    for (const q of bs.parameters) expect(Number.isFinite(q.se!)).toBe(true);
  });
});

describe('fit --se / --bootstrap (CLI)', () => {
  it('prints a labelled table and JSON without NaN', async () => {
    const { runCli } = await import('../cli/run-cli.js');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'moelab-se-'));
    const { ds } = data(TRUTH, 1000, 2);
    writeFileSync(join(dir, 'd.csv'), 'x,y\n' + Array.from({ length: ds.n }, (_, t) => `${ds.X[t]},${ds.y[t]}`).join('\n') + '\n');
    const r = await runCli(['fit', '--data', join(dir, 'd.csv'), '--k', '2', '--se', '--bootstrap', '5', '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/standard errors: observed information .*status ok/);
    expect(r.stdout).toMatch(/block\s+expert\s+component\s+estimate\s+SE\s+z/);
    expect(r.stdout).toMatch(/gate β₁\s+1\s+x\s/);
    expect(r.stdout).toMatch(/nonparametric bootstrap: 5 of 5 replicates/);
    const j = await runCli(['fit', '--data', join(dir, 'd.csv'), '--k', '3', '--se', 'bhhh', '--json']);
    expect(j.code, j.stderr).toBe(0);
    expect(j.stdout).not.toMatch(/NaN/);
    const out = JSON.parse(j.stdout) as { standardErrors: { method: string; status: string; parameters: { se: number | null }[] } };
    expect(out.standardErrors.method).toBe('bhhh');
    for (const q of out.standardErrors.parameters) if (q.se !== null) expect(Number.isFinite(q.se)).toBe(true);
    const bad = await runCli(['fit', '--data', join(dir, 'd.csv'), '--k', '2', '--se', 'louis']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--se: expected hessian or bhhh/);
  });
});
