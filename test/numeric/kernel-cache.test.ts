/**
 * Kernels generated per shape are compiled once and kept for the life of the process (issue 16
 * item 1): a second fit of the same shape compiles nothing, a new shape compiles its own; a study's
 * worker threads keep their module state between jobs (piscina, minThreads = threads), so each
 * worker compiles a shape once.
 */
import { describe, it, expect } from 'vitest';
import { compiledKernelCount } from '../../src/numeric/codegen.js';
import { fitEM } from '../../src/estimate/em.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { Rng } from '../../src/numeric/rng.js';
import { sampleX } from '../../src/model/data.js';

function data(seed: number, n: number): { X: Float64Array; y: Float64Array; n: number; d: number } {
  const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', low: 0, high: 1 }, n, 1, rng.split('x'));
  return { X, y: truth.sample(X, n, rng.split('y')).y, n, d: 1 };
}

describe('kernel cache', () => {
  it('compiles a shape once per process', () => {
    const spec = { ...MixtureOfExperts.fromJSON(AUTHORS_TRUTH).spec(), k: 2 };
    const before = compiledKernelCount();
    fitEM(spec, data(1, 500), {});
    const afterFirst = compiledKernelCount();
    expect(afterFirst).toBeGreaterThan(before);
    fitEM(spec, data(2, 800), { restarts: 2 });
    expect(compiledKernelCount()).toBe(afterFirst);
    fitEM({ ...spec, k: 3 }, data(3, 500), {});
    expect(compiledKernelCount()).toBeGreaterThan(afterFirst);
  });
});
