import { describe, it, expect } from 'vitest';
import { lbfgs, type ObjectiveWithGradient } from '../../src/numeric/lbfgs.js';

/** Chained Rosenbrock: Σ 100(x_{i+1} − x_i²)² + (1 − x_i)²; n = 2 is the classic one. */
const rosenbrock: ObjectiveWithGradient = (x, g) => {
  g.fill(0);
  let f = 0;
  for (let i = 0; i + 1 < x.length; i++) {
    const t = x[i + 1] - x[i] * x[i];
    const u = 1 - x[i];
    f += 100 * t * t + u * u;
    g[i] += -400 * x[i] * t - 2 * u;
    g[i + 1] += 200 * t;
  }
  return f;
};

function alternating(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => (i % 2 === 0 ? -1.2 : 1));
}

/** Numerical Recipes LCG, uniform on [-1, 1). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 2 - 1;
  };
}

/** Solve A x = b by Gaussian elimination with partial pivoting (A row-major, n×n). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = c + 1; r < n; r++) {
      const k = m[r][c] / m[c][c];
      for (let j = c; j <= n; j++) m[r][j] -= k * m[c][j];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let j = r + 1; j < n; j++) s -= m[r][j] * x[j];
    x[r] = s / m[r][r];
  }
  return x;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('lbfgs', () => {
  it('minimises the 2-d Rosenbrock function from (-1.2, 1)', () => {
    const r = lbfgs(rosenbrock, Float64Array.of(-1.2, 1));
    expect(r.converged).toBe(true);
    expect(r.reason).toBe('gtol');
    expect(maxAbsDiff(r.x, [1, 1])).toBeLessThan(1e-6);
    expect(r.iterations).toBeLessThan(50);
    expect(r.evaluations).toBeLessThan(80);
  });

  it('minimises the 10-d chained Rosenbrock function from alternating -1.2/1', () => {
    const r = lbfgs(rosenbrock, alternating(10));
    expect(r.converged).toBe(true);
    expect(maxAbsDiff(r.x, new Array<number>(10).fill(1))).toBeLessThan(1e-6);
    expect(r.f).toBeLessThan(1e-12);
    expect(r.iterations).toBeLessThan(100);
  });

  it('solves a random SPD quadratic ½xᵀAx − bᵀx exactly (n = 20)', () => {
    const n = 20;
    const rand = lcg(12345);
    const mRows = Array.from({ length: n }, () => Array.from({ length: n }, rand));
    const a = Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (_, j) => {
        let s = i === j ? 1 : 0;
        for (let k = 0; k < n; k++) s += mRows[k][i] * mRows[k][j];
        return s;
      }),
    );
    const b = Array.from({ length: n }, rand);
    const quad: ObjectiveWithGradient = (x, g) => {
      let f = 0;
      for (let i = 0; i < n; i++) {
        let ax = 0;
        for (let j = 0; j < n; j++) ax += a[i][j] * x[j];
        g[i] = ax - b[i];
        f += 0.5 * x[i] * ax - b[i] * x[i];
      }
      return f;
    };
    const xStar = solve(a, b);
    const r = lbfgs(quad, new Float64Array(n));
    expect(r.converged).toBe(true);
    const scale = Math.max(...xStar.map(Math.abs));
    expect(maxAbsDiff(r.x, xStar) / scale).toBeLessThan(1e-7);
  });

  it('is monotone: each accepted iterate has f no higher than the previous one', () => {
    const calls: number[] = [];
    const wrapped: ObjectiveWithGradient = (x, g) => {
      const f = rosenbrock(x, g);
      calls.push(f);
      return f;
    };
    const x0 = Float64Array.of(-1.2, 1);
    const f0 = rosenbrock(x0, new Float64Array(2));
    const full = lbfgs(wrapped, x0);
    expect(calls[0]).toBe(f0);
    expect(calls.length).toBe(full.evaluations);
    expect(full.f).toBeLessThanOrEqual(f0);
    expect(full.f).toBe(rosenbrock(full.x, new Float64Array(2)));
    // The run is deterministic, so stopping after k iterations yields the k-th iterate.
    let prev = f0;
    for (let k = 1; k <= full.iterations; k++) {
      const r = lbfgs(rosenbrock, x0, { maxIter: k });
      expect(r.iterations).toBe(k);
      expect(r.f).toBeLessThan(prev);
      expect(r.f).toBe(rosenbrock(r.x, new Float64Array(2)));
      prev = r.f;
    }
    expect(prev).toBe(full.f);
  });

  it.each([
    { name: 'x − log x from 10', scale: 1, start: 10 },
    { name: '100x − log x from 0.1 (first step leaves the domain)', scale: 100, start: 0.1 },
  ])('backtracks out of the domain: $name', ({ scale, start }) => {
    let outside = 0;
    const fg: ObjectiveWithGradient = (x, g) => {
      if (!(x[0] > 0)) outside++;
      g[0] = scale - 1 / x[0];
      return scale * x[0] - Math.log(x[0]); // NaN for x < 0, Infinity at 0
    };
    const r = lbfgs(fg, Float64Array.of(start));
    expect(outside).toBeGreaterThan(0); // the domain handling was actually exercised
    expect(r.converged).toBe(true);
    expect(Math.abs(r.x[0] * scale - 1)).toBeLessThan(1e-7);
  });

  it('accepts the best decrease when the strong Wolfe conditions cannot be met in time', () => {
    // c2 = 1e-9 asks for a near-exact line search, which 20 evaluations rarely achieve.
    const r = lbfgs(rosenbrock, Float64Array.of(-1.2, 1), { c1: 1e-10, c2: 1e-9 });
    expect(r.converged).toBe(true);
    expect(maxAbsDiff(r.x, [1, 1])).toBeLessThan(1e-6);
  });

  it("stops with 'lineSearch' when no decrease exists along the (wrong) gradient", () => {
    const uphill: ObjectiveWithGradient = (x, g) => {
      g[0] = -2 * x[0]; // sign error: -g points uphill
      return x[0] * x[0];
    };
    const r = lbfgs(uphill, Float64Array.of(3));
    expect(r.reason).toBe('lineSearch');
    expect(r.converged).toBe(false);
    expect(r.iterations).toBe(0);
    expect(r.x[0]).toBe(3);
    expect(r.f).toBe(9);
    expect(r.gradNormInf).toBe(6);
  });

  it('respects maxIter and reports it', () => {
    const r = lbfgs(rosenbrock, alternating(10), { maxIter: 3 });
    expect(r.iterations).toBe(3);
    expect(r.reason).toBe('maxIter');
    expect(r.converged).toBe(false);
  });

  it('does not mutate x0 and returns a fresh array', () => {
    const x0 = alternating(6);
    const copy = Float64Array.from(x0);
    const r = lbfgs(rosenbrock, x0);
    expect(Array.from(x0)).toEqual(Array.from(copy));
    expect(r.x).not.toBe(x0);
  });

  it('throws a RangeError when f(x0) is not finite', () => {
    const fg: ObjectiveWithGradient = (x, g) => {
      g[0] = 1;
      return Math.log(x[0]);
    };
    expect(() => lbfgs(fg, Float64Array.of(-1))).toThrow(RangeError);
  });

  it('never takes a step longer than maxStep', () => {
    const x0 = Float64Array.of(-1.2, 1);
    const maxStep = 0.05;
    let prev: Float64Array = x0;
    for (let k = 1; k <= 30; k++) {
      const r = lbfgs(rosenbrock, x0, { maxIter: k, maxStep });
      expect(Math.hypot(r.x[0] - prev[0], r.x[1] - prev[1])).toBeLessThanOrEqual(maxStep * (1 + 1e-12));
      prev = r.x;
    }
    expect(lbfgs(rosenbrock, x0, { maxStep }).converged).toBe(true);
  });

  it('stops on an abort signal', () => {
    const signal = { aborted: false };
    let calls = 0;
    const fg: ObjectiveWithGradient = (x, g) => {
      if (++calls === 5) signal.aborted = true;
      return rosenbrock(x, g);
    };
    const r = lbfgs(fg, alternating(10), { signal });
    expect(r.reason).toBe('aborted');
    expect(r.converged).toBe(false);
    expect(r.iterations).toBeLessThan(5);
  });
});
