import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';
import { MixtureOfExperts } from '../../src/model/model.js';

let dir = '';
const f = (name: string): string => join(dir, name);

const GELU_TRUTH = {
  gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2.5], [0]] },
  experts: { type: 'regression', activation: 'gelu', a: [[1.5], [-2]], b: [0.5, 1], noiseVariance: 0.04 },
};
const MN_TRUTH = {
  gate: { type: 'softmax', beta0: [0.3, 0], beta1: [[2, -1.5], [0, 0]] },
  experts: {
    type: 'multinomialLogistic', classes: 3, labels: ['cat', 'dog', 'eel'],
    a: [[1, -0.5, 0], [-1, 0.5, 0]],
    b: [[[2, 1], [-1, 2], [0, 0]], [[-2, 0.5], [1.5, -2], [0, 0]]],
  },
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'moelab-experts-cli-'));
  writeFileSync(f('gelu.json'), JSON.stringify(GELU_TRUTH));
  writeFileSync(f('mn.json'), JSON.stringify(MN_TRUTH));
});

async function expectUserError(args: string[], pattern: RegExp): Promise<void> {
  const r = await runCli(args);
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(pattern);
}

describe('CLI: regression experts by least squares', () => {
  it('simulate y = f(x) + N(0, ν), then fit --expert regression:gelu --estimator lse --json (sse/mse contract)', async () => {
    const s = await runCli(['simulate', '--model', f('gelu.json'), '--n', '3000', '--x', 'uniform:-3,3', '--seed', '2', '--out', f('gelu.csv')]);
    expect(s.code, s.stderr).toBe(0);
    const r = await runCli(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:gelu', '--estimator', 'lse', '--truth', f('gelu.json'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(['converged', 'gradientNorm', 'iterations', 'model', 'mse', 'restarts', 'seconds', 'solver', 'sse', 'warnings']);
    expect(out.solver).toBe('lm'); // auto: Levenberg–Marquardt for GELU experts
    expect(out.logLikelihood).toBeUndefined();
    expect(out.converged).toBe(true);
    expect(out.mse as number).toBeCloseTo((out.sse as number) / 3000, 12);
    expect(Math.abs((out.mse as number) - 0.04)).toBeLessThan(0.006);
    // the output is a loadable model, with ν = SSE/n, that simulate accepts
    writeFileSync(f('fitted.json'), r.stdout);
    const m = MixtureOfExperts.fromJSON(JSON.parse(r.stdout));
    expect(m.toJSON().experts.noiseVariance).toBeCloseTo(out.mse as number, 12);
    const again = await runCli(['simulate', '--model', f('fitted.json'), '--n', '10', '--out', f('again.csv')]);
    expect(again.code, again.stderr).toBe(0);
  });

  it('the estimator defaults by family; mismatches are one-line errors', async () => {
    const r = await runCli(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:gelu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/by least squares/);
    expect(r.stdout).toMatch(/SSE /);
    await expectUserError(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:gelu', '--estimator', 'mle'], /--estimator mle: .* use --estimator lse/);
    await expectUserError(['fit', '--data', f('gelu.csv'), '--k', '2', '--estimator', 'lse'], /--estimator lse: --expert gaussian is a density family/);
    await expectUserError(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:gelu', '--estimator', 'ols'], /--estimator: expected mle or lse/);
    await expectUserError(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:swish'], /unknown expert function "swish"/);
    // --solver: varpro for linear experts (auto picks it), refused for GELU, validated, LSE only
    const lin = await runCli(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:linear', '--json']);
    expect(lin.code, lin.stderr).toBe(0);
    expect((JSON.parse(lin.stdout) as { solver: string }).solver).toBe('varpro');
    const lm = await runCli(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:linear', '--solver', 'lm', '--json']);
    expect((JSON.parse(lm.stdout) as { solver: string; sse: number }).solver).toBe('lm');
    expect((JSON.parse(lm.stdout) as { sse: number }).sse).toBeCloseTo((JSON.parse(lin.stdout) as { sse: number }).sse, 6);
    await expectUserError(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:gelu', '--solver', 'varpro'], /solver: 'varpro' needs experts linear in their parameters/);
    await expectUserError(['fit', '--data', f('gelu.csv'), '--k', '2', '--expert', 'regression:linear', '--solver', 'fast'], /--solver: expected one of auto, varpro, lm, lbfgs, got "fast"/);
    await expectUserError(['fit', '--data', f('gelu.csv'), '--k', '2', '--solver', 'lm'], /--solver applies to least-squares fits/);
  });

  it('simulate needs the noise variance of a regression model', async () => {
    const noNu = structuredClone(GELU_TRUTH) as { experts: Record<string, unknown> };
    delete noNu.experts.noiseVariance;
    writeFileSync(f('nonu.json'), JSON.stringify(noNu));
    await expectUserError(['simulate', '--model', f('nonu.json'), '--n', '10', '--out', f('x.csv')], /experts\.noiseVariance: missing/);
  });
});

describe('CLI: multinomial experts', () => {
  it('simulate writes the class labels; fit --expert multinomial infers C and keeps the labels', async () => {
    const s = await runCli(['simulate', '--model', f('mn.json'), '--n', '2000', '--x', 'uniform:-1,1', '--seed', '4', '--out', f('mn.csv')]);
    expect(s.code, s.stderr).toBe(0);
    const labels = new Set(readFileSync(f('mn.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[2]));
    expect([...labels].sort()).toEqual(['cat', 'dog', 'eel']);
    const r = await runCli(['fit', '--data', f('mn.csv'), '--k', '2', '--expert', 'multinomial', '--truth', f('mn.json'), '--max-iter', '200', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { model: { experts: { classes: number; labels: string[]; a: number[][] } }; logLikelihood: number };
    expect(out.model.experts.classes).toBe(3);
    expect(out.model.experts.labels).toEqual(['cat', 'dog', 'eel']); // the truth's order
    expect(out.model.experts.a[0]).toHaveLength(3);
    expect(out.model.experts.a[0][2]).toBe(0); // reference class stored as 0
    expect(Number.isFinite(out.logLikelihood)).toBe(true);
  });

  it('a truth with labels fixes the class order (data codes remapped); unseen labels are errors naming the row', async () => {
    // the same data with the rows reversed: first-appearance order differs, the fit must not care
    const lines = readFileSync(f('mn.csv'), 'utf8').trim().split('\n');
    writeFileSync(f('mn-rev.csv'), [lines[0], ...lines.slice(1).reverse()].join('\n') + '\n');
    const a = await runCli(['fit', '--data', f('mn.csv'), '--k', '2', '--expert', 'multinomial', '--truth', f('mn.json'), '--max-iter', '200', '--json']);
    const b = await runCli(['fit', '--data', f('mn-rev.csv'), '--k', '2', '--expert', 'multinomial', '--truth', f('mn.json'), '--max-iter', '200', '--json']);
    const ja = JSON.parse(a.stdout) as { model: { experts: { labels: string[] } }; logLikelihood: number };
    const jb = JSON.parse(b.stdout) as { model: { experts: { labels: string[] } }; logLikelihood: number };
    expect(ja.model.experts.labels).toEqual(['cat', 'dog', 'eel']);
    expect(jb.model.experts.labels).toEqual(['cat', 'dog', 'eel']);
    expect(jb.logLikelihood).toBeCloseTo(ja.logLikelihood, 5);
    writeFileSync(f('fox.csv'), 'x1,x2,y\n0.1,0.2,cat\n0.2,0.1,fox\n0.3,0.3,eel\n');
    await expectUserError(['fit', '--data', f('fox.csv'), '--k', '2', '--expert', 'multinomial', '--truth', f('mn.json')], /line 3, column y: class label "fox" is not one of the model's classes \(cat, dog, eel\)/);
  });

  it('fit --expert-bound keeps every expert coefficient in the box; Gaussian experts refuse it in one line', async () => {
    const r = await runCli(['fit', '--data', f('mn.csv'), '--k', '2', '--expert', 'multinomial', '--truth', f('mn.json'), '--max-iter', '200', '--expert-bound', '1.5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { model: { experts: { a: number[][]; b: number[][][] } } };
    const coef = [...out.model.experts.a.flat(), ...out.model.experts.b.flat(2)];
    for (const v of coef) expect(Math.abs(v)).toBeLessThanOrEqual(1.5);
    expect(coef.some((v) => Math.abs(v) === 1.5)).toBe(true); // the truth's 2 lies outside: the box binds
    await expectUserError(['fit', '--data', f('mn.csv'), '--k', '2', '--expert', 'multinomial', '--expert-bound', '-2'], /--expert-bound: must be > 0, got -2/);
    writeFileSync(f('g.csv'), 'x1,y\n0.1,1\n0.2,2\n0.3,1.5\n0.4,0.2\n0.5,3\n0.6,1\n');
    await expectUserError(['fit', '--data', f('g.csv'), '--k', '1', '--expert-bound', '2'], /expertBound: the gaussianLinear experts do not support a parameter box/);
  });

  it('too few classes for the labels, or a single label, are one-line errors', async () => {
    await expectUserError(['fit', '--data', f('mn.csv'), '--k', '2', '--expert', 'multinomial:2'], /3 distinct labels .* C=2 classes/);
    writeFileSync(f('one.csv'), 'x1,y\n0.1,a\n0.2,a\n0.3,a\n');
    await expectUserError(['fit', '--data', f('one.csv'), '--k', '1', '--expert', 'multinomial'], /1 distinct label\(s\) \(a\); a classifier needs at least 2 classes/);
    writeFileSync(f('gap.csv'), 'x1,y\n0.1,a\n0.2,\n0.3,b\n');
    await expectUserError(['fit', '--data', f('gap.csv'), '--k', '1', '--expert', 'multinomial'], /line 3, column y: empty class label/);
  });
});

describe('CLI: identifiability', () => {
  it('GELU is identifiable, linear is not (exit 0 both, verdict in text and JSON)', async () => {
    const g = await runCli(['identifiability', '--expert', 'regression:gelu']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/verdict: strongly identifiable/);
    const l = await runCli(['identifiability', '--expert', 'regression:linear', '--k', '2', '--json']);
    expect(l.code, l.stderr).toBe(0);
    const rep = JSON.parse(l.stdout) as { status: string; identifiable: boolean; zeroFunctions: string[] };
    expect(rep.status).toBe('not identifiable');
    expect(rep.identifiable).toBe(false);
    expect(rep.zeroFunctions.length).toBe(6);
  });

  it('rejects density families and bad ranges with one line', async () => {
    await expectUserError(['identifiability', '--expert', 'gaussian'], /identifiability check is for regression experts/);
    await expectUserError(['identifiability', '--expert', 'regression:gelu', '--range', '3,-3'], /--range: need LOW < HIGH/);
  });
});
