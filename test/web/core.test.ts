/**
 * The playground's computations in Node: the URL state round-trips, every gate × expert preset
 * fits, the page's simulate/fit is the library's own (a direct fitEM call gives the same bits),
 * and the mini study is the study a CLI user would run (loadStudy of the equivalent config).
 */
import { describe, expect, it } from 'vitest';
import { AUTHORS_TRUTH, MixtureOfExperts, Rng, fitEM, sampleX } from '../../src/index.js';
import { loadStudy } from '../../src/study/config.js';
import { curves, fit, fitSpec, measure, resolvedStudy, simulate, studyConfig, rateOf } from '../../web/src/core.js';
import { EXPERT_FAMILIES, GATE_FAMILIES, defaultTruth } from '../../web/src/presets.js';
import { defaultState, stateFromQuery, stateToQuery } from '../../web/src/state.js';

describe('playground state', () => {
  it('defaults to the authors\' truth and round-trips through the URL', () => {
    const s = stateFromQuery('?gate=softmax&experts=gaussianLinear&truth=authors&n=2000&seed=1&k=2&autorun=1');
    expect(s.truth).toEqual(AUTHORS_TRUTH);
    expect([s.n, s.seed, s.k, s.estimator, s.init]).toEqual([2000, 1, 2, 'em', 'nearTruth']);
    const t = { ...defaultState('activation', 'multinomialLogistic'), n: 777, seed: 9, k: 3, restarts: 2, x: { low: -2, high: 3 } };
    t.truth = structuredClone(t.truth);
    (t.truth.gate as Record<string, unknown>).tau = 0.3;
    t.study = { ns: [100, 300], replicates: 2 };
    expect(stateFromQuery(`?${stateToQuery(t)}`)).toEqual(t);
  });

  it('names the parameter of a bad URL', () => {
    expect(() => stateFromQuery('?n=abc')).toThrow(/URL parameter n: expected an integer/);
    expect(() => stateFromQuery('?gate=nope')).toThrow(/URL parameter gate: unknown gate family "nope"/);
    expect(() => stateFromQuery('?truth={bad')).toThrow(/URL parameter truth: not valid JSON/);
    expect(() => stateFromQuery('?x=1,0')).toThrow(/URL parameter x/);
  });
});

describe('playground computations', () => {
  it('simulate + fit is the library\'s own fit, bit for bit', () => {
    const s = stateFromQuery('?truth=authors&n=2000&seed=1&k=2');
    const r = fit(s, simulate(s));
    // the README's recipe, written out without the playground
    const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
    const rng = new Rng(1);
    const X = sampleX({ type: 'uniform', low: 0, high: 1 }, 2000, 1, rng.split('x'));
    const { y } = truth.sample(X, 2000, rng.split('y'));
    const direct = fitEM({ ...truth.spec(), k: 2 }, { X, y, n: 2000, d: 1 }, { init: { type: 'nearTruth', truth }, restarts: 1, seed: 1 });
    expect(r.value).toBe(direct.logLikelihood);
    expect(r.converged).toBe(true);
    expect(r.value).toBeCloseTo(-861.706504526767, 9);
  });

  it('the live trace: ℓ per EM cycle (non-decreasing) with gradient norms near convergence; SSE and ‖∇‖ per L-BFGS step', () => {
    const s = stateFromQuery('?truth=authors&n=2000&seed=1&k=3');
    const em: [number, number, number | undefined][] = [];
    const r = fit(s, simulate(s), (it, v, g) => em.push([it, v, g]));
    for (let i = 1; i < em.length; i++) expect(em[i][1]).toBeGreaterThanOrEqual(em[i - 1][1] - 1e-9 * Math.abs(em[i][1]));
    expect(em.some((c) => c[2] !== undefined)).toBe(true);
    expect(em[em.length - 1][1]).toBeLessThanOrEqual(r.value + 1e-9);
    const t = defaultState('softmax', 'regression');
    const lse: [number, number, number | undefined][] = [];
    const rl = fit(t, simulate(t), (it, v, g) => lse.push([it, v, g]));
    expect(lse.map((c) => c[0])).toEqual(lse.map((_, i) => i + 1));
    expect(lse).toHaveLength(rl.iterations);
    expect(lse[lse.length - 1][1]).toBeCloseTo(rl.value, 6);
    expect(lse.every((c) => c[2] !== undefined && c[2] >= 0)).toBe(true);
  });

  it('every gate × expert preset parses, fits (EM or LSE) and is measured', () => {
    for (const g of GATE_FAMILIES) {
      for (const e of EXPERT_FAMILIES) {
        const s = { ...defaultState(g, e), n: 400 };
        const truth = MixtureOfExperts.fromJSON(s.truth);
        expect(truth.k, `${g}/${e}`).toBe(s.k);
        const r = fit(s, simulate(s, truth), undefined, truth);
        expect(Number.isFinite(r.value), `${g}/${e}`).toBe(true);
        expect(r.valueName).toBe(e === 'regression' ? 'sse' : 'loglik');
        const m = MixtureOfExperts.fromJSON(r.model);
        const ms = measure(m, truth, s);
        expect(ms.cells.flat().sort(), `${g}/${e}`).toEqual(Array.from({ length: s.k }, (_, i) => i));
        // a degenerate fit (hierarchical gate × regression experts at n = 400) may give a NaN loss: then it says so
        if (Number.isNaN(ms.D1)) expect(ms.warnings.join(' ')).toMatch(/D1 is not finite/);
        else expect(ms.D1, `${g}/${e}`).toBeGreaterThanOrEqual(0);
        expect(ms.distance).toBeGreaterThanOrEqual(0);
        const c = curves(m, s, 11);
        // gate probabilities sum to one at every x
        for (let gi = 0; gi < 11; gi++) expect(c.gate.reduce((a, row) => a + row[gi], 0)).toBeCloseTo(1, 12);
      }
    }
  }, 60_000);

  it('an over-specified hierarchical fit keeps k = K1·K2', () => {
    const s = { ...defaultState('hierarchical', 'gaussianLinear'), k: 6 };
    expect(fitSpec(s).gate).toMatchObject({ K1: 2, K2: 3 });
    expect(fitSpec({ ...s, k: 5 }).gate).toMatchObject({ K1: 1, K2: 5 });
  });

  it('the mini study is the study `moelab study run` resolves from the same config', () => {
    for (const s of [stateFromQuery('?truth=authors&k=3'), defaultState('softmax', 'regression'), defaultState('topK', 'gaussianLinear')]) {
      const cli = loadStudy(JSON.stringify(studyConfig(s)));
      expect(resolvedStudy(s)).toEqual(cli);
    }
    expect(defaultTruth('softmax', 'gaussianLinear').truth).toEqual(AUTHORS_TRUTH);
  });

  it('rateOf recovers a known slope and refuses too few sizes', () => {
    const pts = [100, 400, 1600].flatMap((n) => [0, 1].map((rep) => ({ n, rep, loss: 3 * n ** -0.5, status: 'ok' })));
    expect(rateOf([100, 400, 1600], pts).rate?.slope).toBeCloseTo(-0.5, 12);
    expect(rateOf([100, 400], pts.filter((p) => p.n === 100)).rate).toBeNull();
  });
});
