import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/run-cli.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { fitFigureSpec } from '../../src/plot/fit-figure.js';
import { dendrogramLayout } from '../../src/plot/select-figure.js';
import type { Dendrogram } from '../../src/select/dendrogram.js';

const dir = mkdtempSync(join(tmpdir(), 'moelab-plot-'));
const f = (name: string): string => join(dir, name);
const TRUTH = { gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[4], [0]] }, experts: { type: 'gaussianLinear', a: [[-2], [2]], b: [1, -1], variance: [0.1, 0.2] } };

describe('moelab plot', () => {
  it('d = 1: SVG with the three panels, PNG, HTML; errors name the problem', async () => {
    writeFileSync(f('truth.json'), JSON.stringify(TRUTH));
    expect((await runCli(['simulate', '--model', f('truth.json'), '--n', '600', '--seed', '1', '--x', 'normal:0,1', '--out', f('d.csv')])).code).toBe(0);
    const fit = await runCli(['fit', '--data', f('d.csv'), '--k', '2', '--json']);
    writeFileSync(f('fit.json'), fit.stdout);
    const svg = await runCli(['plot', '--model', f('fit.json'), '--data', f('d.csv'), '--truth', f('truth.json'), '--out', f('p.svg')]);
    expect(svg.code, svg.stderr).toBe(0);
    const text = readFileSync(f('p.svg'), 'utf8');
    for (const t of ['Data by MAP expert', 'Gate probabilities', 'dashed: the truth', 'Log-likelihood trace']) expect(text).toContain(t);
    expect((await runCli(['plot', '--model', f('fit.json'), '--data', f('d.csv'), '--out', f('p.png')])).code).toBe(0);
    expect(readFileSync(f('p.png')).subarray(1, 4).toString()).toBe('PNG');
    expect((await runCli(['plot', '--model', f('fit.json'), '--data', f('d.csv'), '--out', f('p.html')])).code).toBe(0);
    expect(readFileSync(f('p.html'), 'utf8')).toMatch(/<!doctype html>[\s\S]*<svg/);
    const bad = await runCli(['plot', '--model', f('fit.json'), '--data', f('d.csv'), '--out', f('p.pdf')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/must end in .svg, .png or .html/);
    writeFileSync(f('d2.csv'), 'x1,x2,y\n0,1,2\n1,0,3\n');
    const dim = await runCli(['plot', '--model', f('fit.json'), '--data', f('d2.csv'), '--out', f('q.svg')]);
    expect(dim.stderr).toMatch(/2 input columns .* but the model has d = 1/);
  });

  it('d = 2: observed vs predicted and π against the chosen input; multinomial: class probabilities', () => {
    const m = MixtureOfExperts.fromJSON({ gate: { type: 'softmax', beta0: [0, 0], beta1: [[1, -1], [0, 0]] }, experts: { type: 'gaussianLinear', a: [[1, 0], [0, 1]], b: [0, 1], variance: [1, 1] } });
    const X = Float64Array.from([0, 1, 1, 0, 2, 2, -1, 0.5]);
    const data = { X, y: Float64Array.from([0, 1, 2, 3]), n: 4, d: 2, xNames: ['u', 'v'] };
    const spec = JSON.stringify(fitFigureSpec(m, data, { input: 1 }));
    expect(spec).toContain('Observed against predicted');
    expect(spec).toContain('Gate probabilities πᵢ(x) against v');
    const mm = MixtureOfExperts.fromJSON({ gate: { type: 'softmax', beta0: [0, 0], beta1: [[1], [0]] }, experts: { type: 'multinomialLogistic', classes: 2, labels: ['no', 'yes'], a: [[1, 0], [-1, 0]], b: [[[1], [0]], [[-1], [0]]] } });
    const cs = JSON.stringify(fitFigureSpec(mm, { X: Float64Array.from([0, 1]), y: Float64Array.from([0, 1]), n: 2, d: 1 }));
    expect(cs).toContain('Class probabilities P(y = c | x)');
    expect(cs).toContain('"cls":"yes"');
  });

  it('dendrogram layout: leaves in order, each merge above its children', () => {
    const d = { K: 3, merges: [{ left: 0, right: 2, node: 3, height: 0.1, level: 3 }, { left: 3, right: 1, node: 4, height: 2, level: 2 }], levels: [] } as unknown as Dendrogram;
    const { leaves, nodes } = dendrogramLayout(d);
    expect(leaves.map((l) => l.atom)).toEqual([0, 2, 1]);
    expect(nodes.get(3)).toEqual({ x: 1.5, y: 0.1 });
    expect(nodes.get(4)).toEqual({ x: 2.25, y: 2 });
  });
});

describe('study figure labels', () => {
  it('readable loss names and the profile that ran', async () => {
    const { lossLabel } = await import('../../src/study/report.js');
    expect(lossLabel('param:beta1')).toBe('parameter error of β₁');
    expect(lossLabel('D2:variance')).toBe('D2 term of ν');
    expect(lossLabel('cell:tau')).toBe('per-cell error of τ');
    expect(lossLabel('hellinger')).toBe('Hellinger distance');
    expect(lossLabel('D1')).toBe('D1');
    const { loadStudy, studyHash } = await import('../../src/study/config.js');
    const cfg = `name: s\nseed: 1\ntruth: authors\nn: [100, 200]\nreplicates: 2\nsettings:\n  - { name: a, k: 2, gate: softmax, experts: gaussian, losses: [D1] }\nprofiles:\n  quick: { description: two reps only, replicates: 2 }\n`;
    const q = loadStudy(cfg, { profile: 'quick' });
    expect(q.profileDescription).toBe('two reps only');
    expect(loadStudy(cfg).profileDescription).toBeUndefined();
    // free text does not change the study's identity
    expect(studyHash({ ...q, profileDescription: 'other' })).toBe(studyHash(q));
  });
});
