import { describe, it, expect } from 'vitest';
import { fitEM, EMWorkspace, eStep, logLikelihoodGradient } from '../../src/estimate/em.js';
import { observedInformation, observedInformationGeneric, usesStructuredInformation } from '../../src/estimate/observed-information.js';
import { blockInformationPass, informationKernel } from '../../src/estimate/information-kernel.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { simulate, TRUTH_D2K3 } from '../helpers.js';
import type { FitResult } from '../../src/estimate/result.js';
import { autoNewton, newtonFinish, NEWTON_AUTO_MIN_ROWS } from '../../src/estimate/finish.js';
import { MultinomialLogisticExperts } from '../../src/experts/multinomial-logistic.js';
import { gradientFromPosteriors } from '../../src/estimate/em-step.js';
import { SoftmaxGate } from '../../src/gates/softmax.js';
import { GaussianLinearExperts } from '../../src/experts/gaussian-linear.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/run-cli.js';

const monotone = (trace: number[]): boolean => trace.every((v, i) => i === 0 || v >= trace[i - 1] - 1e-12 * Math.abs(v));

describe('exact observed information (Louis) and the Newton finish', () => {
  it('−∇²ℓ equals central differences of the analytic score (d = 2, k = 3, off the maximum)', () => {
    const { truth, X, y, n, d } = simulate(TRUTH_D2K3, 400, 71, -1, 1);
    const data = { X, y, n, d };
    const model = MixtureOfExperts.fromSpec({ ...truth.spec(), k: 3 });
    const theta = truth.theta.slice();
    for (let i = 0; i < theta.length; i++) theta[i] += 0.05 * Math.sin(3 * i + 1); // not a stationary point
    const ws = new EMWorkspace(model, n);
    eStep(model, theta, data, ws);
    const H = observedInformation(model, theta, data, ws);
    expect(H).toBeDefined();
    const p = theta.length;
    const gp = new Float64Array(p);
    const gm = new Float64Array(p);
    const h = 1e-5;
    let worst = 0;
    let scale = 0;
    for (let j = 0; j < p; j++) {
      const tp = theta.slice();
      const tm = theta.slice();
      tp[j] += h;
      tm[j] -= h;
      logLikelihoodGradient(model, tp, data, ws, gp);
      logLikelihoodGradient(model, tm, data, ws, gm);
      for (let i = 0; i < p; i++) {
        const fd = -(gp[i] - gm[i]) / (2 * h);
        worst = Math.max(worst, Math.abs(fd - H![i * p + j]));
        scale = Math.max(scale, Math.abs(fd));
      }
    }
    expect(worst / scale).toBeLessThan(1e-6);
  });

  it('the structured information (softmax × Gaussian; by blocks and unrolled) equals the generic assembly to 1e-10', () => {
    for (const [json, k, d, lo, hi, seed] of [[TRUTH_D2K3, 3, 2, -1, 1, 81], [AUTHORS_TRUTH, 2, 1, 0, 1, 82], [AUTHORS_TRUTH, 3, 1, 0, 1, 83], [AUTHORS_TRUTH, 4, 1, 0, 1, 84]] as const) {
      const { truth, X, y, n } = simulate(json, 1000 + 37, seed, lo, hi); // not a multiple of the block
      const data = { X, y, n, d };
      const model = MixtureOfExperts.fromSpec({ ...truth.spec(), k });
      const theta = new Float64Array(model.gate.nParams + model.expert.nParams);
      if (k === truth.k) theta.set(truth.theta);
      else for (let i = model.gate.nParams; i < theta.length; i += d + 2) theta[i] = (i % 3) - 1; // distinct experts, variance 1
      for (let i = 0; i < theta.length; i++) theta[i] += 0.1 * Math.sin(5 * i + seed);
      expect(usesStructuredInformation(model, d)).toBe(true);
      const ws = new EMWorkspace(model, n);
      eStep(model, theta, data, ws);
      const generic = observedInformationGeneric(model, theta, data, ws)!;
      const p = theta.length;
      const blocks = new Float64Array(p * p);
      blockInformationPass(k, d, theta, X, y, ws.R, n, blocks);
      const unrolled = new Float64Array(p * p);
      informationKernel(k, d)!(theta, X, y, ws.R, n, unrolled);
      // the two forms add the same numbers in the same order: the same bits (a fit's bytes do not depend on the form)
      expect(Array.from(unrolled)).toEqual(Array.from(blocks));
      for (const [form, fast] of [['default', observedInformation(model, theta, data, ws)!], ['blocks', blocks], ['unrolled', unrolled]] as const) {
        expect(fast.length).toBe(p * p);
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < p * p; i++) {
          worst = Math.max(worst, Math.abs(fast[i] - generic[i]));
          scale = Math.max(scale, Math.abs(generic[i]));
        }
        expect(worst / scale, `k = ${k}, d = ${d}, ${form}`).toBeLessThan(1e-10);
        for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) expect(fast[a * p + b]).toBe(fast[b * p + a]);
      }
    }
  });

  const cases = [
    { name: 'd = 2, k = 3, n = 1e4', json: TRUTH_D2K3, n: 10000, seed: 72, k: 3, d: 2 },
    { name: 'd = 1, k = 2, n = 1e4', json: AUTHORS_TRUTH, n: 10000, seed: 73, k: 2, d: 1 },
  ];
  for (const c of cases) {
    for (const start of ['kmeans++', 'truth'] as const) {
      it(`${c.name} from ${start === 'truth' ? 'the truth' : 'k-means++'}: the same maximum as the L-BFGS finish, ∇ ≈ 0, monotone, fewer iterations`, () => {
        const { truth, X, y, n, d } = c.d === 2 ? simulate(c.json, c.n, c.seed, -1, 1) : simulate(c.json, c.n, c.seed);
        const data = { X, y, n, d };
        const init = start === 'truth' ? { type: 'model' as const, model: truth } : { type: 'kmeans++' as const };
        const fit = (finish: 'newton' | 'lbfgs'): FitResult => fitEM({ ...truth.spec(), k: c.k }, data, { init, finish });
        const nw = fit('newton');
        const lb = fit('lbfgs');
        expect(nw.converged).toBe(true);
        expect(nw.warnings).toEqual([]);
        expect(Math.abs(nw.logLikelihood - lb.logLikelihood)).toBeLessThan(1e-9 * Math.abs(lb.logLikelihood));
        expect(nw.gradientNorm).toBeLessThan(1e-7);
        expect(monotone(nw.trace)).toBe(true);
        expect(nw.iterations).toBeLessThan(lb.iterations + (c.k === 2 ? 1 : 0));
        expect(nw.iterations).toBeLessThanOrEqual(10);
      });
    }
  }

  it('d = 2, k = 3 at n = 1e4 from k-means++ (the default start): finish newton takes ≤ 10 counted iterations; the L-BFGS finish (the default below 5e4 rows) 14', () => {
    const { truth, X, y, n, d } = simulate(TRUTH_D2K3, 10000, 74, -1, 1);
    const r = fitEM({ ...truth.spec(), k: 3 }, { X, y, n, d }, { finish: 'newton' });
    expect(fitEM({ ...truth.spec(), k: 3 }, { X, y, n, d }).iterations).toBe(fitEM({ ...truth.spec(), k: 3 }, { X, y, n, d }, { finish: 'lbfgs' }).iterations);
    const old = fitEM({ ...truth.spec(), k: 3 }, { X, y, n, d }, { finish: 'lbfgs' });
    expect(r.iterations).toBeLessThanOrEqual(10);
    expect(old.iterations).toBeGreaterThan(10);
    expect(Math.abs(r.logLikelihood - old.logLikelihood)).toBeLessThan(1e-9 * Math.abs(old.logLikelihood));
  });

  it('over-specified fits (k = 3 on a 2-expert truth): a singular information keeps the old path (one counted pass more); where it is positive definite, Newton ends at the same maximum sooner', () => {
    // seed 76: the information at the hand-over is not positive definite, SQUAREM goes on as before
    const a = simulate(AUTHORS_TRUTH, 3000, 76);
    const specA = { ...a.truth.spec(), k: 3 };
    const nwA = fitEM(specA, a, { finish: 'newton' });
    const lbA = fitEM(specA, a, { finish: 'lbfgs' });
    expect(nwA.logLikelihood).toBe(lbA.logLikelihood);
    expect(nwA.iterations).toBe(lbA.iterations + 1);
    // seed 75: positive definite at the hand-over (measured: 44 counted iterations against 72)
    const b = simulate(AUTHORS_TRUTH, 3000, 75);
    const specB = { ...b.truth.spec(), k: 3 };
    const nwB = fitEM(specB, b, { finish: 'newton' });
    const lbB = fitEM(specB, b, { finish: 'lbfgs' });
    expect(Math.abs(nwB.logLikelihood - lbB.logLikelihood)).toBeLessThan(1e-9 * Math.abs(lbB.logLikelihood));
    expect(nwB.converged).toBe(true);
    expect(nwB.iterations).toBeLessThan(lbB.iterations);
    expect(monotone(nwB.trace)).toBe(true);
  });

  it(`finish 'auto' (default) from ${NEWTON_AUTO_MIN_ROWS} rows: the Newton path (same bits), ≤ 10 iterations, the L-BFGS finish's maximum to 1e-9, ∇ ≈ 0, monotone, not below plain EM`, () => {
    const { truth, X, y, n, d } = simulate(TRUTH_D2K3, NEWTON_AUTO_MIN_ROWS, 85, -1, 1);
    const data = { X, y, n, d };
    const spec = { ...truth.spec(), k: 3 };
    const auto = fitEM(spec, data);
    const nw = fitEM(spec, data, { finish: 'newton' });
    const lb = fitEM(spec, data, { finish: 'lbfgs' });
    expect(auto.logLikelihood).toBe(nw.logLikelihood);
    expect(auto.iterations).toBe(nw.iterations);
    expect(auto.iterations).toBeLessThanOrEqual(10);
    expect(auto.iterations).toBeLessThan(lb.iterations);
    expect(auto.converged).toBe(true);
    expect(auto.warnings).toEqual([]);
    expect(auto.gradientNorm).toBeLessThan(1e-7);
    expect(Math.abs(auto.logLikelihood - lb.logLikelihood)).toBeLessThan(1e-9 * Math.abs(lb.logLikelihood));
    expect(monotone(auto.trace)).toBe(true);
    // plain EM (no acceleration, no finish) from the same start, run far: never above the default's maximum
    const plain = fitEM(spec, data, { accelerate: 'none', polish: false, tol: 1e-12, maxIter: 1000, warmStart: false });
    const fromPlainStart = fitEM(spec, data, { warmStart: false });
    expect(fromPlainStart.logLikelihood).toBeGreaterThanOrEqual(plain.logLikelihood - 1e-12 * Math.abs(plain.logLikelihood));
    // below the threshold 'auto' is the L-BFGS finish, bit for bit
    const small = simulate(TRUTH_D2K3, 3000, 86, -1, 1);
    const sd = { X: small.X, y: small.y, n: small.n, d: small.d };
    const sa = fitEM(spec, sd);
    const sl = fitEM(spec, sd, { finish: 'lbfgs' });
    expect(sa.logLikelihood).toBe(sl.logLikelihood);
    expect(sa.iterations).toBe(sl.iterations);
  });

  it('Newton trial points below the variance floor are halved without a pass; ℓ never falls; the end is feasible', () => {
    const { truth, X, y, n, d } = simulate(AUTHORS_TRUTH, 2000, 87);
    const data = { X, y, n, d };
    const v0 = truth.expert.toJSON(truth.theta.subarray(truth.gate.nParams)) as unknown as { variance: number[] };
    // a floor above the maximum's variances: the unconstrained Newton step leaves the domain
    const floor = 1.5 * Math.max(...v0.variance);
    const expert = new GaussianLinearExperts(2, 1, { varianceFloor: floor });
    const model = new MixtureOfExperts(new SoftmaxGate(2, 1), expert);
    const theta = truth.theta.slice();
    const q = d + 2;
    for (let i = 0; i < 2; i++) theta[truth.gate.nParams + i * q + q - 1] = Math.log(2 * floor); // start inside, above the floor
    const ws = new EMWorkspace(model, n);
    const ll0 = eStep(model, theta, data, ws);
    expect(Number.isFinite(ll0)).toBe(true);
    const grad = new Float64Array(theta.length);
    gradientFromPosteriors(model, theta, data, ws, grad);
    const r = newtonFinish(model, theta, ll0, grad, data, ws, { gtol: 1e-7, maxEvaluations: 20 });
    expect(expert.feasible(theta.subarray(model.gate.nParams))).toBe(true);
    expect(r.ll).toBeGreaterThanOrEqual(ll0);
    expect(r.trace.length).toBeGreaterThan(0); // it moved (a halved step inside the domain)
    // ws.R is the E-step at the returned θ
    const again = new EMWorkspace(model, n);
    expect(eStep(model, theta, data, again)).toBe(r.ll);
  });

  it('fit --finish auto|newton|lbfgs: the same maximum; a bad value is one line', async () => {
    const { X, y, n } = simulate(AUTHORS_TRUTH, 3000, 88);
    const dir = mkdtempSync(join(tmpdir(), 'moelab-finish-'));
    const csv = join(dir, 'd.csv');
    writeFileSync(csv, 'x,y\n' + Array.from({ length: n }, (_, t) => `${X[t]},${y[t]}`).join('\n') + '\n');
    const ll: Record<string, { logLikelihood: number; iterations: number }> = {};
    for (const f of ['auto', 'newton', 'lbfgs']) {
      const r = await runCli(['fit', '--data', csv, '--k', '2', '--json', '--finish', f]);
      expect(r.code, r.stderr).toBe(0);
      ll[f] = JSON.parse(r.stdout) as { logLikelihood: number; iterations: number };
    }
    expect([ll.auto.logLikelihood, ll.auto.iterations]).toEqual([ll.lbfgs.logLikelihood, ll.lbfgs.iterations]); // 3000 rows: below the auto threshold
    expect(Math.abs(ll.newton.logLikelihood - ll.lbfgs.logLikelihood)).toBeLessThan(1e-9 * Math.abs(ll.lbfgs.logLikelihood));
    const bad = await runCli(['fit', '--data', csv, '--k', '2', '--finish', 'bfgs']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--finish: expected auto, newton or lbfgs, got "bfgs"/);
  });

  it("finish 'auto' takes Newton only for softmax × Gaussian linear experts from 5e4 rows (multinomial experts keep the L-BFGS finish)", () => {
    const data = (n: number, d: number) => ({ X: new Float64Array(n * d), y: new Float64Array(n), n, d });
    const gauss = new MixtureOfExperts(new SoftmaxGate(3, 2), new GaussianLinearExperts(3, 2));
    expect(autoNewton(gauss, data(NEWTON_AUTO_MIN_ROWS, 2))).toBe(true);
    expect(autoNewton(gauss, data(NEWTON_AUTO_MIN_ROWS - 1, 2))).toBe(false);
    const multi = new MixtureOfExperts(new SoftmaxGate(2, 1), new MultinomialLogisticExperts(2, 1, { classes: 3 }));
    expect(autoNewton(multi, data(2 * NEWTON_AUTO_MIN_ROWS, 1))).toBe(false);
  });
});
