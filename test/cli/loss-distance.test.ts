import { describe, it, expect, vi, afterEach, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';

let dir = '';
const file = (name: string, obj: unknown): string => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(obj));
  return p;
};

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('moelab loss / distance', () => {
  let truth = '';
  let o1 = '';
  let o2 = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'moelab-loss-'));
    truth = file('truth.json', AUTHORS_TRUTH);
    o1 = file('o1.json', { gate: { type: 'softmax', beta0: [-8.1, 0], beta1: [[25.2], [0]] }, experts: { type: 'gaussianLinear', b: [15.05, -4.9], a: [[-20.1], [20.2]], variance: [0.1, 0.15] } });
    // Oracle 2 wrapped as a `fit --json` output
    o2 = file('o2.json', { model: { gate: { type: 'softmax', beta0: [-8.7, -8.8, 0], beta1: [[25.1], [24.9], [0]] }, experts: { type: 'gaussianLinear', b: [15.02, 14.97, -5.01], a: [[-20.05], [-19.9], [20.03]], variance: [0.092, 0.088, 0.161] } }, logLikelihood: -1 });
  });
  afterEach(() => vi.restoreAllMocks());

  it('--raw --json reproduces the oracles with the documented contract', async () => {
    const r1 = await run(['loss', '--fit', o1, '--truth', truth, '--raw', '--json']);
    expect(r1.code).toBe(0);
    const j1 = JSON.parse(r1.out) as { loss: number; cells: number[][]; blocks: Record<string, number> };
    expect(Object.keys(j1)).toEqual(['loss', 'cells', 'blocks', 'warnings']);
    expect(Math.abs(j1.loss - 0.310141197579531)).toBeLessThan(1e-12);
    expect(j1.cells).toEqual([[0], [1]]);
    const r2 = await run(['loss', '--fit', o2, '--truth', truth, '--raw', '--json']);
    const j2 = JSON.parse(r2.out) as { loss: number; cells: number[][] };
    expect(Math.abs(j2.loss - 0.0410201006870104)).toBeLessThan(1e-12);
    expect(j2.cells).toEqual([[0, 1], [2]]);
  });

  it('normalised loss with a preset, human output', async () => {
    const r = await run(['loss', '--fit', o2, '--truth', truth, '--loss', 'D2strong']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^D2strong = /);
    expect(r.out).toMatch(/true 1: 1, 2/);
  });

  it('one-line errors and exit code 2', async () => {
    const bad = await run(['loss', '--fit', o2, '--truth', truth, '--metric', 'l3']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--metric/);
    const four = file('four.json', { gate: { type: 'softmax', beta0: [-9, -9, -9, -9, 0], beta1: [[25], [25.1], [24.9], [25.05], [0]] }, experts: { type: 'gaussianLinear', a: [[-20], [-20], [-20], [-20], [20]], b: [15, 15, 15, 15, -5], variance: [0.09, 0.09, 0.09, 0.09, 0.16] } });
    const r4 = await run(['loss', '--fit', four, '--truth', truth, '--loss', 'D2']);
    expect(r4.code).toBe(2);
    expect(r4.err).toMatch(/r̄\(4\)/);
    const ok4 = await run(['loss', '--fit', four, '--truth', truth, '--loss', 'D2', '--rbar', '4=8', '--json']);
    expect(ok4.code).toBe(0);
    const missing = await run(['loss', '--fit', join(dir, 'none.json'), '--truth', truth]);
    expect(missing.code).toBe(2);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
  });

  it('distance --json prints {distance, stderr}', async () => {
    const r = await run(['distance', '--a', o1, '--b', truth, '--samples', '300', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { distance: number; stderr: number };
    expect(Object.keys(j)).toEqual(['distance', 'stderr']);
    expect(j.distance).toBeGreaterThan(0);
    expect(j.distance).toBeLessThan(1);
    expect(j.stderr).toBeGreaterThan(0);
    const same = await run(['distance', '--a', truth, '--b', truth, '--metric', 'tv', '--samples', '50', '--json']);
    expect((JSON.parse(same.out) as { distance: number }).distance).toBeLessThan(1e-9);
    const bad = await run(['distance', '--a', o1, '--b', truth, '--metric', 'kl']);
    expect(bad.code).toBe(2);
  });
});
