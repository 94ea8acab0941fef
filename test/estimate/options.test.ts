import { describe, it, expect } from 'vitest';
import { fitEM, fitLSE, runEM, resolveEMOptions, resolveLSEOptions, EM_DEFAULTS, LSE_DEFAULTS, OptionError, AUTHORS_TRUTH, MixtureOfExperts, type EMOptions } from '../../src/index.js';
import { loadStudy, StudyConfigError } from '../../src/study/config.js';
import { simulate } from '../helpers.js';

const data = simulate(AUTHORS_TRUTH, 300, 4);
const spec = data.truth.spec();

function optionError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OptionError);
    return (e as Error).message;
  }
  throw new Error('expected an OptionError');
}

describe('EM options: one schema, parsed by fitEM and runEM', () => {
  it('rejects bad values with one message naming the field and the value', () => {
    expect(optionError(() => fitEM(spec, data, { tol: -1 }))).toBe('tol: must be a finite number > 0, got -1');
    expect(optionError(() => fitEM(spec, data, { accelerate: 'fast' } as unknown as EMOptions))).toMatch(/^accelerate: .*"squarem"\|"none".*got "fast"$/);
    expect(optionError(() => fitEM(spec, data, { maxIter: -5 }))).toBe('maxIter: must be an integer ≥ 1, got -5');
    expect(optionError(() => fitEM(spec, data, { maxIter: 2.5 }))).toBe('maxIter: must be an integer ≥ 1, got 2.5');
    expect(optionError(() => fitEM(spec, data, { gtol: NaN }))).toBe('gtol: must be a finite number > 0, got NaN');
    expect(optionError(() => fitEM(spec, data, { gateBound: Infinity }))).toBe('gateBound: must be a finite number > 0, got Infinity');
    expect(optionError(() => fitEM(spec, data, { restarts: 0 }))).toBe('restarts: must be an integer ≥ 1, got 0');
    expect(optionError(() => fitEM(spec, data, { tolerance: 1e-6 } as unknown as EMOptions))).toBe('tolerance: unknown EM option');
    const model = MixtureOfExperts.fromSpec(spec);
    expect(optionError(() => runEM(model, data.truth.theta, data, { polishRound: 0 }))).toBe('polishRound: must be an integer ≥ 1, got 0');
  });

  it('fills in the defaults from EM_DEFAULTS: explicit defaults give the same fit as none', () => {
    const r = resolveEMOptions({});
    expect(r).toEqual({ ...EM_DEFAULTS });
    expect(resolveEMOptions({ tol: 1e-6, gateBound: 5 })).toEqual({ ...EM_DEFAULTS, tol: 1e-6, gateBound: 5 });
    const init = { type: 'nearTruth' as const, truth: data.truth };
    const a = fitEM({ ...spec, k: 3 }, data, { init });
    const b = fitEM({ ...spec, k: 3 }, data, { ...EM_DEFAULTS, init });
    expect(b.logLikelihood).toBe(a.logLikelihood);
    expect(b.iterations).toBe(a.iterations);
    expect(Array.from(b.model.theta)).toEqual(Array.from(a.model.theta));
  });
});

describe('LSE options', () => {
  it('rejects bad values naming the field; defaults from LSE_DEFAULTS', () => {
    const lspec = { gate: { type: 'softmax' }, experts: { type: 'regression', activation: 'gelu' }, k: 2, d: 1 };
    expect(optionError(() => fitLSE(lspec, data, { memory: 0 }))).toBe('memory: must be an integer ≥ 1, got 0');
    expect(optionError(() => fitLSE(lspec, data, { maxIter: -5 }))).toBe('maxIter: must be an integer ≥ 1, got -5');
    expect(optionError(() => fitLSE(lspec, data, { tol: 1e-6 } as never))).toBe('tol: unknown LSE option');
    expect(resolveLSEOptions({})).toEqual({ ...LSE_DEFAULTS });
  });
});

describe('the study config validates setting options with the same schema', () => {
  const config = (options: string): string => `name: t
seed: 7
truth: authors
n: [200, 400]
replicates: 1
settings:
  - name: s
    k: 2
    gate: softmax
    experts: gaussian
    options: ${options}
    losses: [D1]
`;
  it('accepts every tuning option of fitEM and rejects bad values with the field path', () => {
    const st = loadStudy(config('{ polishTrust: 2, polishRound: 5, finishMaxIter: 3, gateBound: 20 }'), { source: 'cfg.yaml' });
    expect(st.settings[0].options).toEqual({ polishTrust: 2, polishRound: 5, finishMaxIter: 3, gateBound: 20 });
    expect(st.settings[0].maxIter).toBe(EM_DEFAULTS.maxIter);
    let err: unknown;
    try {
      loadStudy(config('{ polishTrust: -1 }'), { source: 'cfg.yaml' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StudyConfigError);
    expect((err as Error).message).toMatch(/settings\[0\]\.options\.polishTrust .*must be a finite number > 0/);
  });
});
