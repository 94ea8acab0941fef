import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadStudy, presetPath } from '../../src/study/config.js';
import { planJobs } from '../../src/study/plan.js';
import { simulateJob } from '../../src/study/job.js';
import { estimatorEntry } from '../../src/study/estimators.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { deriveSeed } from '../../src/numeric/rng.js';
import { LSETuningSchema } from '../../src/estimate/options.js';

// The rescue run of the full Levenberg–Marquardt fit (lse.ts solveLM): a fit that stops unconverged
// (maxIter, xtol, stalled) continues from its end with Newton steps under a trust radius
// (numeric/lm-trust.ts). Before it, this lse-gelu study job (over, n = 492, replicate 4: the reference
// atom's weight falls while its expert grows to b ≈ 740) stopped at the iteration limit with
// SSE 18.486785689615633 and ‖∇MSE‖∞ ≈ 1e-5.
function geluJob(n: number, rep: number, extra: Record<string, unknown> = {}) {
  const study = loadStudy(readFileSync(presetPath('lse-gelu'), 'utf8'), { profile: 'medium' });
  const truth = MixtureOfExperts.fromJSON(study.truth, 'truth');
  const job = planJobs(study).find((j) => j.setting === 'over' && j.n === n && j.rep === rep);
  const setting = study.settings.find((x) => x.name === 'over');
  const lse = estimatorEntry('lse');
  if (!job || !setting || !lse) throw new Error('no job');
  const data = simulateJob(study, job);
  return lse.run({
    spec: { gate: setting.gate, experts: setting.experts, k: setting.k, d: study.d }, data, truth, init: setting.init,
    restarts: setting.restarts, tol: setting.tol, maxIter: setting.maxIter, seed: deriveSeed(BigInt(job.seed), 'fit'), options: { ...setting.options, ...extra },
  });
}

describe('LSE Levenberg–Marquardt rescue of an unconverged fit', () => {
  it('lse-gelu over n = 492 rep 4: converges (gradient test), at a lower SSE than where the first run stopped', () => {
    const r = geluJob(492, 4);
    expect(r.converged).toBe(true);
    expect(r.warnings.map((w) => w.code)).not.toContain('LSE_NOT_CONVERGED');
    expect(-r.objective).toBeLessThan(18.486785689615633);
    expect(-r.objective).toBeGreaterThan(18.4867);
  });

  it('lmTrustRegion (opt-in, a study option): the same path as the rescue from the start; n = 2424 rep 4 converges to the rescued minimum', () => {
    expect(LSETuningSchema.safeParse({ lmTrustRegion: true }).success).toBe(true);
    const rescued = geluJob(2424, 4);
    const fast = geluJob(2424, 4, { lmTrustRegion: true });
    expect(rescued.converged && fast.converged).toBe(true);
    // before the rescue this job stopped at xtol with SSE 99.30667199925176 (‖∇MSE‖∞ 5.5e-10)
    expect(-rescued.objective).toBeLessThan(99.306671999);
    expect(Math.abs(fast.objective - rescued.objective) / -rescued.objective).toBeLessThan(1e-9);
    expect(fast.iterations).toBeLessThan(rescued.iterations);
  });
});
