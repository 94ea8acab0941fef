import { describe, it, expect } from 'vitest';
import { jacobiSVD } from '../../src/numeric/svd.js';
import { Rng } from '../../src/numeric/rng.js';

describe('one-sided Jacobi SVD', () => {
  it('known singular values of a 3×2 matrix', () => {
    // A = [[3, 0], [0, 4], [0, 0]] column-major → σ = (4, 3)
    const A = Float64Array.from([3, 0, 0, 0, 4, 0]);
    const { values } = jacobiSVD(A, 3, 2);
    expect(Array.from(values)).toEqual([4, 3]);
  });

  it('reconstructs ‖A v_j‖ = σ_j, V orthogonal, Σσ² = ‖A‖_F² (random 30×6)', () => {
    const rng = new Rng(3);
    const m = 30, p = 6;
    const A = Float64Array.from({ length: m * p }, () => rng.normal());
    const { values, V } = jacobiSVD(A, m, p);
    let fro = 0;
    for (const a of A) fro += a * a;
    expect(values.reduce((s, v) => s + v * v, 0)).toBeCloseTo(fro, 10);
    for (let j = 0; j < p; j++) {
      let s = 0;
      for (let r = 0; r < m; r++) {
        let av = 0;
        for (let c = 0; c < p; c++) av += A[c * m + r] * V[c * p + j];
        s += av * av;
      }
      expect(Math.sqrt(s)).toBeCloseTo(values[j], 10);
      for (let l = 0; l < p; l++) {
        let dot = 0;
        for (let c = 0; c < p; c++) dot += V[c * p + j] * V[c * p + l];
        expect(dot).toBeCloseTo(j === l ? 1 : 0, 12);
      }
      if (j > 0) expect(values[j]).toBeLessThanOrEqual(values[j - 1]);
    }
  });

  it('an exactly dependent column gives σ_min at rounding level and its null vector', () => {
    const rng = new Rng(8);
    const m = 50;
    const a = Float64Array.from({ length: m }, () => rng.normal());
    const b = Float64Array.from({ length: m }, () => rng.normal());
    const A = new Float64Array(3 * m);
    A.set(a, 0);
    A.set(b, m);
    for (let r = 0; r < m; r++) A[2 * m + r] = 2 * a[r] - 0.5 * b[r];
    const { values, V } = jacobiSVD(A, m, 3);
    expect(values[2] / values[0]).toBeLessThan(1e-14);
    // null vector ∝ (2, −0.5, −1)
    const v = [V[2], V[5], V[8]];
    expect(v[0] / v[2]).toBeCloseTo(-2, 10);
    expect(v[1] / v[2]).toBeCloseTo(0.5, 10);
  });
});
