import { describe, it, expect } from 'vitest';
import { Rng, deriveSeed } from '../../src/numeric/rng.js';

describe('Rng', () => {
  it('is deterministic: same seed, same stream', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    for (let i = 0; i < 1000; i++) expect(a.uniform()).toBe(b.uniform());
    const c = new Rng(43);
    expect(new Rng(42).uniform()).not.toBe(c.uniform());
  });

  it('does not start near 1 for small seeds (seeds are hashed)', () => {
    for (const s of [0, 1, 2, 42]) expect(new Rng(s).uniform()).toBeLessThan(0.999);
  });

  it('uniform has the moments of U[0,1)', () => {
    const r = new Rng(7);
    const n = 200000;
    let s = 0, s2 = 0, min = 1, max = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      s += u; s2 += u * u;
      min = Math.min(min, u); max = Math.max(max, u);
    }
    expect(s / n).toBeCloseTo(0.5, 2);
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 3);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
  });

  it('normal has mean 0, variance 1 and kurtosis 3', () => {
    const r = new Rng(9);
    const n = 200000;
    let s = 0, s2 = 0, s4 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z; s2 += z * z; s4 += z ** 4;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.01);
    expect(s2 / n).toBeCloseTo(1, 1);
    expect(s4 / n).toBeGreaterThan(2.9);
    expect(s4 / n).toBeLessThan(3.1);
  });

  it('categorical matches its probabilities (chi-square, 3 dof)', () => {
    const r = new Rng(11);
    const p = [0.1, 0.2, 0.3, 0.4];
    const counts = [0, 0, 0, 0];
    const n = 100000;
    for (let i = 0; i < n; i++) counts[r.categorical(p)]++;
    const chi2 = counts.reduce((acc, c, i) => acc + (c - n * p[i]) ** 2 / (n * p[i]), 0);
    expect(chi2).toBeLessThan(16.27); // 99.9% quantile of χ²(3)
  });

  it('categorical never returns an index with zero probability', () => {
    const r = new Rng(3);
    for (let i = 0; i < 10000; i++) expect(r.categorical([0, 1, 0, 2], 0, 4) % 2).toBe(1);
  });

  it('split streams depend on keys, not on how much the parent drew', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    b.uniform(); b.uniform();
    expect(a.split('job', 3).uniform()).toBe(b.split('job', 3).uniform());
    expect(a.split('job', 3).uniform()).not.toBe(a.split('job', 4).uniform());
    expect(deriveSeed(1, 'x', 2)).toBe(deriveSeed(1, 'x', 2));
    expect(deriveSeed(1, 'x', 2)).not.toBe(deriveSeed(1, 2, 'x'));
  });
});
