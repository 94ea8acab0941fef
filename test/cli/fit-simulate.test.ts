import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { readCsvDataset } from '../../src/cli/io.js';

let dir = '';
const f = (name: string): string => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'moelab-cli-'));
  writeFileSync(f('truth.json'), JSON.stringify(AUTHORS_TRUTH));
});

/** One user error: exit code 2, exactly one line on stderr, no stack trace, the line matches. */
async function expectUserError(args: string[], pattern: RegExp): Promise<void> {
  const r = await runCli(args);
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines.length, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(lines[0]).toMatch(pattern);
}

describe('moelab simulate and fit', () => {
  it('simulate writes x1..xd,y deterministically from the seed', async () => {
    const a = await runCli(['simulate', '--model', f('truth.json'), '--n', '500', '--seed', '3', '--out', f('a.csv')]);
    expect(a.code).toBe(0);
    await runCli(['simulate', '--model', f('truth.json'), '--n', '500', '--seed', '3', '--out', f('b.csv')]);
    await runCli(['simulate', '--model', f('truth.json'), '--n', '500', '--seed', '4', '--out', f('c.csv')]);
    const text = readFileSync(f('a.csv'), 'utf8');
    expect(text.split('\n')[0]).toBe('x1,y');
    expect(text.trim().split('\n').length).toBe(501);
    expect(readFileSync(f('b.csv'), 'utf8')).toBe(text);
    expect(readFileSync(f('c.csv'), 'utf8')).not.toBe(text);
    const grid = await runCli(['simulate', '--model', f('truth.json'), '--n', '5', '--x', 'grid:0,1', '--out', f('g.csv')]);
    expect(grid.code).toBe(0);
    expect(Array.from(readCsvDataset(f('g.csv')).X)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('fit --gate-bound keeps the gate in the box, and refuses gates and values it cannot honour', async () => {
    await runCli(['simulate', '--model', f('truth.json'), '--n', '3000', '--seed', '6', '--out', f('gb.csv')]);
    const r = await runCli(['fit', '--data', f('gb.csv'), '--k', '2', '--truth', f('truth.json'), '--gate-bound', '10', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { model: { gate: { beta0: number[]; beta1: number[][] } }; converged: boolean };
    expect(out.converged).toBe(true);
    expect(out.model.gate.beta1[0][0]).toBeCloseTo(10, 10); // the true slope 25 lies outside the box
    expect(Math.abs(out.model.gate.beta0[0])).toBeLessThanOrEqual(10);
    // every built-in gate takes the box (issue 15): the top-K fit stays inside it
    const tk = await runCli(['fit', '--data', f('gb.csv'), '--k', '2', '--gate', 'topk:2', '--gate-bound', '3', '--json']);
    expect(tk.code, tk.stderr).toBe(0);
    for (const v of (JSON.parse(tk.stdout) as { model: { gate: { beta1: number[][] } } }).model.gate.beta1.flat()) expect(Math.abs(v)).toBeLessThanOrEqual(3 + 1e-12);
    await expectUserError(['fit', '--data', f('gb.csv'), '--k', '2', '--gate-bound', '0'], /--gate-bound: must be > 0, got 0/);
  });

  it('fit --json prints exactly the documented object, with the log-likelihood of the data', async () => {
    await runCli(['simulate', '--model', f('truth.json'), '--n', '3000', '--seed', '5', '--out', f('d.csv')]);
    const r = await runCli(['fit', '--data', f('d.csv'), '--k', '2', '--json', '--seed', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const out = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(['aic', 'bic', 'converged', 'gradientNorm', 'icl', 'iterations', 'logLikelihood', 'model', 'n', 'parameters', 'restarts', 'seconds', 'trace', 'warnings']);
    // criteria: p = (k−1)(d+1) + k(d+2) = 8 for k = 2, d = 1
    expect(out.n).toBe(3000);
    expect(out.parameters).toBe(8);
    expect(out.aic as number).toBeCloseTo(-2 * (out.logLikelihood as number) + 16, 8);
    expect(out.bic as number).toBeCloseTo(-2 * (out.logLikelihood as number) + 8 * Math.log(3000), 8);
    expect(out.icl as number).toBeGreaterThan(out.bic as number);
    expect((out.trace as number[]).at(-1)).toBeCloseTo(out.logLikelihood as number, 6);
    expect(out.converged).toBe(true);
    expect(out.warnings).toEqual([]);
    expect(out.restarts).toBe(1);
    expect(out.seconds as number).toBeGreaterThan(0);
    const model = MixtureOfExperts.fromJSON(out.model);
    const data = readCsvDataset(f('d.csv'));
    expect(model.logLikelihood(data.X, data.y, data.n)).toBeCloseTo(out.logLikelihood as number, 6);
    // canonical form: the last expert is the reference
    const gate = (out.model as { gate: { beta0: number[]; beta1: number[][] } }).gate;
    expect(gate.beta0[1]).toBe(0);
    expect(gate.beta1[1]).toEqual([0]);
  });

  it('fit with --truth starts near the truth; the human summary names the result', async () => {
    const r = await runCli(['fit', '--data', f('d.csv'), '--k', '3', '--truth', f('truth.json'), '--restarts', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fitted k=3 softmax\/gaussianLinear to 3000 rows × 1 inputs/);
    expect(r.stdout).toMatch(/log-likelihood -?\d+\.\d+/);
    expect(r.stdout).toMatch(/restarts 2/);
  });

  it('fit --x and --y select columns', async () => {
    writeFileSync(f('named.csv'), 'resp,noise,xx\n' + Array.from({ length: 60 }, (_, i) => `${(i % 7) - 3 + 0.1 * i},${i % 3},${i / 60}`).join('\n') + '\n');
    const r = await runCli(['fit', '--data', f('named.csv'), '--k', '1', '--y', 'resp', '--x', 'xx', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { model: { experts: { a: number[][] } } };
    expect(out.model.experts.a[0].length).toBe(1);
  });
});

describe('CLI errors are one line naming the file, row, column or field', () => {
  it('data problems', async () => {
    writeFileSync(f('text.csv'), 'x1,y\n0.1,1\n0.2,abc\n');
    await expectUserError(['fit', '--data', f('text.csv'), '--k', '1'], /text\.csv: line 3, column y: "abc" is not a finite decimal number/);
    writeFileSync(f('empty-cell.csv'), 'x1,y\n0.1,1\n,2\n');
    await expectUserError(['fit', '--data', f('empty-cell.csv'), '--k', '1'], /empty-cell\.csv: line 3, column x1: empty cell/);
    writeFileSync(f('nan.csv'), 'x1,y\n0.1,1\nNaN,2\n');
    await expectUserError(['fit', '--data', f('nan.csv'), '--k', '1'], /nan\.csv: line 3, column x1: "NaN" is not a finite decimal number/);
    writeFileSync(f('inf.csv'), 'x1,y\n0.1,Infinity\n');
    await expectUserError(['fit', '--data', f('inf.csv'), '--k', '1'], /inf\.csv: line 2, column y: "Infinity" is not a finite decimal number/);
    writeFileSync(f('noy.csv'), 'x1,z\n0.1,1\n');
    await expectUserError(['fit', '--data', f('noy.csv'), '--k', '1'], /noy\.csv: no response column "y" \(columns: x1, z\)/);
    await expectUserError(['fit', '--data', f('d.csv'), '--k', '1', '--x', 'x1,x9'], /d\.csv: no input column "x9"/);
    writeFileSync(f('ragged.csv'), 'x1,y\n0.1,1\n0.2\n');
    await expectUserError(['fit', '--data', f('ragged.csv'), '--k', '1'], /ragged\.csv: .*(column|record|field)/i);
    writeFileSync(f('header-only.csv'), 'x1,y\n');
    await expectUserError(['fit', '--data', f('header-only.csv'), '--k', '1'], /header-only\.csv: no data rows/);
    await expectUserError(['fit', '--data', f('missing.csv'), '--k', '1'], /data file .*missing\.csv: no such file/);
    writeFileSync(f('few.csv'), 'x1,y\n0.1,1\n0.2,2\n0.3,3\n');
    await expectUserError(['fit', '--data', f('few.csv'), '--k', '2'], /3 rows are fewer than the 8 free parameters/);
  });

  it('option problems', async () => {
    await expectUserError(['fit', '--data', f('d.csv'), '--k', '0'], /--k: must be ≥ 1, got 0/);
    await expectUserError(['fit', '--data', f('d.csv'), '--k', 'two'], /--k: expected a decimal number, got "two"/);
    await expectUserError(['fit', '--data', f('d.csv'), '--k', '2', '--init', 'near-truth'], /--init near-truth needs --truth FILE/);
    await expectUserError(['fit', '--data', f('d.csv'), '--k', '2', '--init', 'magic'], /--init: expected random, kmeans\+\+, near-truth or model/);
    await expectUserError(['fit', '--data', f('d.csv'), '--k', '2', '--gate', 'nonsense'], /--gate: unknown gate "nonsense"/);
    await expectUserError(['simulate', '--model', f('truth.json'), '--n', '10', '--x', 'beta:1,2', '--out', f('z.csv')], /--x: expected uniform:LOW,HIGH/);
    const r = await runCli(['fit', '--data', f('d.csv')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '--k <k>' not specified/);
  });

  it('malformed model files name the field', async () => {
    writeFileSync(f('bad1.json'), '{ "gate": ');
    await expectUserError(['simulate', '--model', f('bad1.json'), '--n', '10', '--out', f('z.csv')], /bad1\.json: not valid JSON/);
    writeFileSync(f('bad2.json'), JSON.stringify({ ...AUTHORS_TRUTH, experts: { ...AUTHORS_TRUTH.experts, variance: [0.09, 'big'] } }));
    await expectUserError(['simulate', '--model', f('bad2.json'), '--n', '10', '--out', f('z.csv')], /bad2\.json: experts\.variance\[1\]: expected a finite number, got the string "big"/);
    writeFileSync(f('bad3.json'), JSON.stringify({ gate: AUTHORS_TRUTH.gate }));
    await expectUserError(['simulate', '--model', f('bad3.json'), '--n', '10', '--out', f('z.csv')], /bad3\.json: experts: expected an object, got missing/);
    writeFileSync(f('bad4.json'), JSON.stringify({ ...AUTHORS_TRUTH, gate: { ...AUTHORS_TRUTH.gate, beta0: [-8, 0, 1] } }));
    await expectUserError(['simulate', '--model', f('bad4.json'), '--n', '10', '--out', f('z.csv')], /bad4\.json: model: the gate has 3 experts but experts has 2/);
    writeFileSync(f('bad5.json'), JSON.stringify({ ...AUTHORS_TRUTH, experts: { ...AUTHORS_TRUTH.experts, type: 'poisson' } }));
    await expectUserError(['simulate', '--model', f('bad5.json'), '--n', '10', '--out', f('z.csv')], /bad5\.json: experts\.type: unknown expert type "poisson"/);
  });
});
