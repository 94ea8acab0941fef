import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fitEM, fitLSE, voronoiLoss, WARNING_CODES, MoeWarning, formatWarning, AUTHORS_TRUTH, MixtureOfExperts, type ModelJSON } from '../src/index.js';
import { simulate } from './helpers.js';
import { runCli } from './cli/run-cli.js';

const LSE_TRUTH: ModelJSON = {
  gate: { type: 'softmax', beta0: [-0.5, 0], beta1: [[3], [0]] },
  experts: { type: 'regression', activation: 'gelu', a: [[1.5], [-2]], b: [0.5, 1], noiseVariance: 0.04 },
};

describe('typed warnings', () => {
  const data = simulate(AUTHORS_TRUTH, 600, 11);

  it('fitEM stopped by maxIter warns EM_MAX_ITER with the limit, as text and as JSON', () => {
    const r = fitEM({ ...data.truth.spec(), k: 3 }, data, { maxIter: 2, init: { type: 'nearTruth', truth: data.truth } });
    expect(r.converged).toBe(false);
    expect(r.warnings.map((w) => w.code)).toEqual(['EM_MAX_ITER']);
    const w = r.warnings[0];
    expect(w).toBeInstanceOf(MoeWarning);
    expect(w.details).toEqual({ maxIter: 2 });
    expect(String(w)).toBe('EM reached maxIter=2 before the relative change fell below tol');
    expect(JSON.parse(JSON.stringify(w))).toEqual({ code: 'EM_MAX_ITER', message: w.message, maxIter: 2 });
    expect(formatWarning(w)).toBe(`warning: ${w.message} [EM_MAX_ITER]`);
  });

  it('a converged fit has no warnings', () => {
    const r = fitEM(data.truth.spec(), data, { init: { type: 'nearTruth', truth: data.truth } });
    expect(r.converged).toBe(true);
    expect(r.warnings).toEqual([]);
  });

  it('fitLSE stopped by maxIter warns LSE_NOT_CONVERGED with the reason', () => {
    const lse = simulate(LSE_TRUTH, 400, 5, -2, 2);
    const r = fitLSE(lse.truth.spec(), lse, { maxIter: 1, init: { type: 'nearTruth', truth: lse.truth } });
    expect(r.converged).toBe(false);
    expect(r.warnings.map((w) => w.code)).toEqual(['LSE_NOT_CONVERGED']);
    expect(r.warnings[0].details).toEqual({ reason: 'maxIter' });
  });

  it('raw Voronoi loss in d = 2 warns VORONOI_RAW_FIRST_COORDINATE with d', () => {
    const truth = MixtureOfExperts.fromJSON({
      gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[1, 2], [0, 0]] },
      experts: { type: 'gaussianLinear', a: [[1, 0], [0, 1]], b: [0, 1], variance: [0.1, 0.2] },
    });
    const r = voronoiLoss(truth, truth, { raw: true });
    expect(r.warnings.map((w) => [w.code, w.details])).toEqual([['VORONOI_RAW_FIRST_COORDINATE', { d: 2 }]]);
  });

  it('every code has a description', () => {
    for (const [code, text] of Object.entries(WARNING_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(text.length).toBeGreaterThan(10);
    }
  });
});

describe('typed warnings in the CLI', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'moelab-warn-'));
    writeFileSync(join(dir, 'truth.json'), JSON.stringify(AUTHORS_TRUTH));
  });

  it('fit --json carries {code, message, maxIter}; the text output names the code', async () => {
    const csv = join(dir, 'd.csv');
    expect((await runCli(['simulate', '--model', join(dir, 'truth.json'), '--n', '400', '--seed', '2', '--out', csv])).code).toBe(0);
    const args = ['fit', '--data', csv, '--k', '3', '--max-iter', '2', '--truth', join(dir, 'truth.json')];
    const j = await runCli([...args, '--json']);
    expect(j.code, j.stderr).toBe(0);
    const out = JSON.parse(j.stdout) as { converged: boolean; warnings: { code: string; message: string; maxIter: number }[] };
    expect(out.converged).toBe(false);
    expect(out.warnings).toEqual([{ code: 'EM_MAX_ITER', message: 'EM reached maxIter=2 before the relative change fell below tol', maxIter: 2 }]);
    expect(j.stderr).toBe('warning: EM reached maxIter=2 before the relative change fell below tol [EM_MAX_ITER]\n');
    const t = await runCli(args);
    expect(t.stderr).toContain('warning: EM reached maxIter=2 before the relative change fell below tol [EM_MAX_ITER]');
    expect(t.stdout).not.toContain('warning:');
  });
});
