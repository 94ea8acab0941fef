/**
 * Adaptive Gauss–Kronrod (G7/K15) quadrature on a finite interval, hand-written for the y-integrals
 * of the density distances (math-spec §1.1: Hellinger and total variation of conditional densities).
 *
 * The integrand is an object with a batch method (no closure per evaluation): it fills `out` with
 * f(y) for the 15 nodes of a panel. Panels are refined by bisection, on an explicit stack, until the
 * Kronrod–Gauss difference of every panel is below its share of the tolerance.
 */

/** f evaluated at n points: out[i] = f(ys[i]) (n = 15 in `integrate`, any multiple of 15 in `integrateBatched`). */
export interface BatchIntegrand {
  evaluate(ys: Float64Array, out: Float64Array, n: number): void;
}

// Kronrod nodes (positive half, descending, last = 0) and weights; Gauss-7 weights for the odd nodes
// (QUADPACK qk15).
const XGK = [
  0.9914553711208126, 0.9491079123427585, 0.8648644233597691,
  0.7415311855993945, 0.5860872354676911, 0.4058451513773972,
  0.20778495500789848, 0.0,
];
const WGK = [
  0.022935322010529224, 0.06309209262997856, 0.10479001032225019,
  0.14065325971552592, 0.1690047266392679, 0.19035057806478542,
  0.20443294007529889, 0.20948214108472782,
];
const WG = [0.1294849661688697, 0.27970539148927664, 0.3818300505051189, 0.4179591836734694];

export interface QuadratureOptions {
  /** Absolute tolerance on the whole integral (default 1e-12). */
  absTol?: number;
  /** Relative tolerance per panel (default 1e-10). */
  relTol?: number;
  /** Maximum bisection depth of a panel (default 40). */
  maxDepth?: number;
}

export interface QuadratureResult {
  value: number;
  /** Sum of the panels' |K15 − G7| estimates. */
  error: number;
  /** Number of integrand evaluations. */
  evaluations: number;
}

/** Reusable adaptive integrator (its buffers are kept between calls). */
export class AdaptiveGK15 {
  private readonly ys = new Float64Array(15);
  private readonly fs = new Float64Array(15);
  private stackA = new Float64Array(256);
  private stackB = new Float64Array(256);
  private stackD = new Int32Array(256);
  private kVal = 0;
  private gVal = 0;

  /** One panel: sets kVal, gVal. */
  private panel(f: BatchIntegrand, a: number, b: number): void {
    const c = 0.5 * (a + b);
    const h = 0.5 * (b - a);
    const ys = this.ys;
    for (let j = 0; j < 7; j++) {
      ys[2 * j] = c - h * XGK[j];
      ys[2 * j + 1] = c + h * XGK[j];
    }
    ys[14] = c;
    f.evaluate(ys, this.fs, 15);
    const fs = this.fs;
    let k = WGK[7] * fs[14];
    let g = WG[3] * fs[14];
    for (let j = 0; j < 7; j++) {
      const s = fs[2 * j] + fs[2 * j + 1];
      k += WGK[j] * s;
      if (j % 2 === 1) g += WG[(j - 1) / 2] * s;
    }
    this.kVal = k * h;
    this.gVal = g * h;
  }

  private push(top: number, a: number, b: number, depth: number): void {
    if (top >= this.stackA.length) {
      const n = this.stackA.length * 2;
      const A = new Float64Array(n); A.set(this.stackA); this.stackA = A;
      const B = new Float64Array(n); B.set(this.stackB); this.stackB = B;
      const D = new Int32Array(n); D.set(this.stackD); this.stackD = D;
    }
    this.stackA[top] = a;
    this.stackB[top] = b;
    this.stackD[top] = depth;
  }

  /**
   * ∫ f over [breaks[0], breaks[m−1]], with the given (sorted, increasing) breakpoints as the initial
   * panels. Each panel is accepted when |K − G| ≤ max(absTol·len/total, relTol·|K|).
   */
  integrate(f: BatchIntegrand, breaks: Float64Array, m: number, options: QuadratureOptions = {}): QuadratureResult {
    const absTol = options.absTol ?? 1e-12;
    const relTol = options.relTol ?? 1e-10;
    const maxDepth = options.maxDepth ?? 40;
    const total = breaks[m - 1] - breaks[0];
    let value = 0;
    let error = 0;
    let evaluations = 0;
    if (!(total > 0)) return { value: 0, error: 0, evaluations: 0 };
    for (let p = 0; p + 1 < m; p++) {
      if (!(breaks[p + 1] > breaks[p])) continue;
      let top = 0;
      this.push(top++, breaks[p], breaks[p + 1], 0);
      while (top > 0) {
        top--;
        const a = this.stackA[top];
        const b = this.stackB[top];
        const depth = this.stackD[top];
        this.panel(f, a, b);
        evaluations += 15;
        const k = this.kVal;
        const err = Math.abs(k - this.gVal);
        if (panelAccepted(k, err, a, b, absTol * ((b - a) / total), relTol, depth, maxDepth)) {
          value += k;
          error += err;
        } else {
          const c = 0.5 * (a + b);
          this.push(top++, a, c, depth + 1);
          this.push(top++, c, b, depth + 1);
        }
      }
    }
    return { value, error, evaluations };
  }

  // integrateBatched: the panels of one bisection level, their nodes and values
  private levA = new Float64Array(64);
  private levB = new Float64Array(64);
  private nextA = new Float64Array(64);
  private nextB = new Float64Array(64);
  private bys = new Float64Array(64 * 15);
  private bfs = new Float64Array(64 * 15);

  /**
   * The same integral, panels and acceptance test as `integrate`, evaluated level by level: the 15
   * nodes of every panel of a bisection level go to `f.evaluate` in one call (so the integrand's
   * loops run over hundreds of points instead of 15), the panels that fail the test are bisected
   * into the next level. The accepted panels are exactly those of `integrate` (the test of a panel
   * does not depend on the order panels are visited in); only the order of the final sum differs,
   * so the value agrees to rounding (≈ 1e-16 relative).
   */
  integrateBatched(f: BatchIntegrand, breaks: Float64Array, m: number, options: QuadratureOptions = {}): QuadratureResult {
    const absTol = options.absTol ?? 1e-12;
    const relTol = options.relTol ?? 1e-10;
    const maxDepth = options.maxDepth ?? 40;
    const total = breaks[m - 1] - breaks[0];
    if (!(total > 0)) return { value: 0, error: 0, evaluations: 0 };
    let np = 0;
    if (this.levA.length < m) {
      this.levA = new Float64Array(2 * m);
      this.levB = new Float64Array(2 * m);
    }
    for (let p = 0; p + 1 < m; p++) {
      if (!(breaks[p + 1] > breaks[p])) continue;
      this.levA[np] = breaks[p];
      this.levB[np] = breaks[p + 1];
      np++;
    }
    let value = 0;
    let error = 0;
    let evaluations = 0;
    for (let depth = 0; np > 0; depth++) {
      if (this.bys.length < 15 * np) {
        this.bys = new Float64Array(30 * np);
        this.bfs = new Float64Array(30 * np);
      }
      if (this.nextA.length < 2 * np) {
        this.nextA = new Float64Array(4 * np);
        this.nextB = new Float64Array(4 * np);
      }
      const ys = this.bys;
      const fs = this.bfs;
      const A = this.levA;
      const B = this.levB;
      for (let q = 0; q < np; q++) {
        const c = 0.5 * (A[q] + B[q]);
        const h = 0.5 * (B[q] - A[q]);
        const o = 15 * q;
        for (let j = 0; j < 7; j++) {
          ys[o + 2 * j] = c - h * XGK[j];
          ys[o + 2 * j + 1] = c + h * XGK[j];
        }
        ys[o + 14] = c;
      }
      f.evaluate(ys, fs, 15 * np);
      evaluations += 15 * np;
      let nn = 0;
      for (let q = 0; q < np; q++) {
        const a = A[q];
        const b = B[q];
        const h = 0.5 * (b - a);
        const o = 15 * q;
        let k = WGK[7] * fs[o + 14];
        let g = WG[3] * fs[o + 14];
        for (let j = 0; j < 7; j++) {
          const sj = fs[o + 2 * j] + fs[o + 2 * j + 1];
          k += WGK[j] * sj;
          if (j % 2 === 1) g += WG[(j - 1) / 2] * sj;
        }
        k *= h;
        g *= h;
        const err = Math.abs(k - g);
        if (panelAccepted(k, err, a, b, absTol * ((b - a) / total), relTol, depth, maxDepth)) {
          value += k;
          error += err;
        } else {
          const c = 0.5 * (a + b);
          this.nextA[nn] = a;
          this.nextB[nn] = c;
          nn++;
          this.nextA[nn] = c;
          this.nextB[nn] = b;
          nn++;
        }
      }
      // the next level becomes the current one
      const tA = this.levA;
      const tB = this.levB;
      this.levA = this.nextA;
      this.levB = this.nextB;
      this.nextA = tA;
      this.nextB = tB;
      np = nn;
    }
    return { value, error, evaluations };
  }
}

/**
 * A panel [a, b] with Kronrod value k and error estimate err is kept when err is within
 * max(its share of the absolute tolerance, relTol·|k|), at the depth limit, or too narrow to split.
 */
function panelAccepted(k: number, err: number, a: number, b: number, absShare: number, relTol: number, depth: number, maxDepth: number): boolean {
  return err <= Math.max(absShare, relTol * Math.abs(k)) || depth >= maxDepth || !(b - a > 4 * Number.EPSILON * Math.max(Math.abs(a), Math.abs(b), 1));
}
