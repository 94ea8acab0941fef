/**
 * Gaussian linear experts: y | x, expert i ~ N(aᵢᵀx + bᵢ, νᵢ), ν a variance (math-spec §1.1, §2.1).
 *
 * θ per expert i: [bᵢ, aᵢ(1..d), log νᵢ]. The M-step is closed form (math-spec §9.1): weighted least
 * squares for (aᵢ, bᵢ), then νᵢ = Σ_t r_ti (y_t − μ_ti)² / Σ_t r_ti, floored at `varianceFloor`
 * (compactness of Θ bounds ν away from 0, math-spec §1.2; the floor also stops a component from
 * collapsing onto one point, where the likelihood is unbounded).
 */
import type { BlockInfo } from '../family/blocks.js';
import type { ExpertFamily, ExpertJSON, ExpertMStepOptions } from './expert.js';
import type { Rng } from '../numeric/rng.js';
import { solveSPD, weightedLeastSquares } from '../numeric/linalg.js';
import { gradientKernel, logDensityKernel, momentsKernel, residualKernel, type GradientKernel, type LogDensityKernel, type MomentsKernel, type ResidualKernel } from './gaussian-kernels.js';
import { DataError } from '../errors.js';
import { readMatrix, readNumber, readVector } from '../json-read.js';

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** The relative (data-dependent) form of the variance floor. */
export interface FloorSpec {
  relative: number;
  perExpert?: boolean;
  global?: number;
}

export interface GaussianLinearOptions {
  /**
   * Lower bound on every variance. A number is absolute; `{ relative: c }` means c·Var(y) of the
   * data being fitted (default relative 1e-6, and 1e-12 absolute when no data was seen).
   * `{ relative: c, perExpert: true }` (issue 12; fitEM's `varianceFloor: { scale: 'expert' }`):
   * expert i's floor is c·σ̂ᵢ², with σ̂ᵢ = 1.4826 × the R-weighted median of |y − aᵢᵀx − bᵢ| at the
   * first M-step after `prepare` (the posteriors of the start), and the global floor where σ̂ᵢ is 0;
   * `global` (absolute) replaces c·Var(y) as the global floor (fitEM passes c·s_y², s_y robust).
   */
  varianceFloor?: number | FloorSpec;
}

export class GaussianLinearExperts implements ExpertFamily {
  readonly type = 'gaussianLinear';
  readonly k: number;
  readonly d: number;
  readonly nParams: number;
  readonly blocks: readonly BlockInfo[] = [
    { name: 'a', perExpert: true, kind: 'expert' },
    { name: 'b', perExpert: true, kind: 'expert' },
    { name: 'variance', perExpert: true, kind: 'scale' },
  ];
  private readonly floorSpec: number | FloorSpec;
  private floor = 1e-12;
  /** The floor of each expert (all `floor` unless per-expert floors were set at the first M-step). */
  private readonly floors: Float64Array;
  /** Per-expert floors wanted and not yet set since `prepare`. */
  private floorsPending = false;
  private readonly coef: Float64Array;
  private readonly gram: Float64Array;
  private readonly rhs: Float64Array;
  private readonly work: Float64Array;
  /** Unrolled kernels (null for shapes too large to unroll: plain loops then). */
  private readonly moments: MomentsKernel | null;
  private readonly residuals: ResidualKernel | null;
  private readonly logDensities: LogDensityKernel | null;
  private readonly gradient: GradientKernel | null;
  private readonly stats: Float64Array;
  private readonly coefs: Float64Array;
  private readonly ss: Float64Array;
  private readonly fittedFlags: Uint8Array;

  constructor(k: number, d: number, options: GaussianLinearOptions = {}) {
    this.k = k;
    this.d = d;
    this.nParams = k * (d + 2);
    this.floorSpec = options.varianceFloor ?? { relative: 1e-6 };
    if (typeof this.floorSpec === 'number') this.floor = this.floorSpec;
    this.floors = new Float64Array(k).fill(this.floor);
    const p = d + 1;
    this.coef = new Float64Array(p);
    this.gram = new Float64Array(p * p);
    this.rhs = new Float64Array(p);
    this.work = new Float64Array(p * p);
    const small = k * p <= 256;
    this.moments = small ? momentsKernel(k, d) : null;
    this.residuals = small ? residualKernel(k, d) : null;
    this.logDensities = small ? logDensityKernel(k, d) : null;
    this.gradient = small ? gradientKernel(k, d) : null;
    this.stats = new Float64Array(k * (p * p + p));
    this.coefs = new Float64Array(k * p);
    this.ss = new Float64Array(k);
    this.fittedFlags = new Uint8Array(k);
  }

  /** Whether the unrolled kernels serve this shape (the fused E-step reproduces them). */
  get unrolled(): boolean {
    return this.moments !== null && this.logDensities !== null;
  }

  /** The variance floor in force (the global one; see `varianceFloors` for per-expert floors). */
  get varianceFloor(): number {
    return this.floor;
  }

  /** The floor of each expert in force (a copy). */
  get varianceFloors(): number[] {
    return Array.from(this.floors);
  }

  prepare(_X: Float64Array, y: Float64Array, n: number): void {
    if (typeof this.floorSpec === 'number') return;
    this.floorsPending = this.floorSpec.perExpert === true;
    let m = 0;
    for (let t = 0; t < n; t++) m += y[t];
    m /= n;
    let v = 0;
    for (let t = 0; t < n; t++) v += (y[t] - m) * (y[t] - m);
    v /= n;
    this.floor = this.floorSpec.global ?? Math.max(1e-12, this.floorSpec.relative * v);
    this.floors.fill(this.floor);
  }

  /**
   * Per-expert floors from the posteriors R of the start: c·σ̂ᵢ², σ̂ᵢ = 1.4826·(R-weighted median of
   * |y − aᵢᵀx − bᵢ|) at θ, a robust scale of the points each expert explains (one outlier cannot lift
   * it); the global floor where σ̂ᵢ is 0 (an expert already sitting on duplicated points).
   */
  private setPerExpertFloors(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, R: Float64Array): void {
    this.floorsPending = false;
    const { k, d } = this;
    const q = d + 2;
    const rel = typeof this.floorSpec === 'number' ? 0 : this.floorSpec.relative;
    const res = new Float64Array(n);
    const order = new Uint32Array(n);
    for (let i = 0; i < k; i++) {
      const o = i * q;
      let total = 0;
      for (let t = 0; t < n; t++) {
        let mu = theta[o];
        for (let u = 0; u < d; u++) mu += theta[o + 1 + u] * X[t * d + u];
        res[t] = Math.abs(y[t] - mu);
        order[t] = t;
        total += R[t * k + i];
      }
      order.sort((p1, p2) => res[p1] - res[p2]);
      let acc = 0;
      let med = 0;
      for (let j = 0; j < n; j++) {
        acc += R[order[j] * k + i];
        if (acc >= 0.5 * total) {
          med = res[order[j]];
          break;
        }
      }
      const s = 1.4826 * med;
      const f = rel * s * s;
      // never above the start's own variance (the start stays feasible)
      this.floors[i] = f > 0 && Number.isFinite(f) ? Math.min(f, Math.exp(theta[o + d + 1])) : this.floor;
    }
  }

  logDensity(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, out: Float64Array): void {
    if (this.logDensities) {
      this.logDensities(theta, X, y, n, out);
      return;
    }
    const { k, d } = this;
    const q = d + 2;
    for (let i = 0; i < k; i++) {
      const o = i * q;
      const b = theta[o];
      const logv = theta[o + d + 1];
      const inv2v = 0.5 * Math.exp(-logv);
      const c = -HALF_LOG_2PI - 0.5 * logv;
      if (d === 1) {
        const a = theta[o + 1];
        for (let t = 0; t < n; t++) {
          const r = y[t] - b - a * X[t];
          out[t * k + i] = c - r * r * inv2v;
        }
      } else {
        for (let t = 0; t < n; t++) {
          let mu = b;
          const xo = t * d;
          for (let u = 0; u < d; u++) mu += theta[o + 1 + u] * X[xo + u];
          const r = y[t] - mu;
          out[t * k + i] = c - r * r * inv2v;
        }
      }
    }
  }

  mStep(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, R: Float64Array, _options: ExpertMStepOptions): void {
    if (this.floorsPending) this.setPerExpertFloors(theta, X, y, n, R);
    if (this.moments && this.residuals) {
      this.mStepUnrolled(theta, X, y, n, R);
      return;
    }
    const { k, d, coef } = this;
    const q = d + 2;
    for (let i = 0; i < k; i++) {
      let S = 0;
      for (let t = 0; t < n; t++) S += R[t * k + i];
      if (!(S > 1e-12 * n)) continue; // empty component: keep its parameters
      const ridge = weightedLeastSquares(X, y, n, d, R, k, i, coef, this.gram, this.rhs, this.work);
      if (ridge < 0) continue;
      const o = i * q;
      for (let u = 0; u <= d; u++) theta[o + u] = coef[u];
      // ν = weighted mean squared residual (math-spec §8.1 M-step)
      let ss = 0;
      for (let t = 0; t < n; t++) {
        const w = R[t * k + i];
        if (w === 0) continue;
        let mu = coef[0];
        for (let u = 0; u < d; u++) mu += coef[u + 1] * X[t * d + u];
        const r = y[t] - mu;
        ss += w * r * r;
      }
      theta[o + d + 1] = Math.log(Math.max(ss / S, this.floors[i]));
    }
  }

  /**
   * The same M-step with the sufficient statistics of all k experts from one unrolled pass, k
   * weighted least-squares solves, and one more pass for the residual sums of squares (computed
   * from the residuals, not from the moments, which would cancel catastrophically when ν ≪ Var y).
   */
  private mStepUnrolled(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, R: Float64Array): void {
    const { k, d, stats, coefs, coef } = this;
    const p = d + 1;
    const q = d + 2;
    const size = p * p + p;
    this.moments!(X, y, R, n, stats);
    const fitted: boolean[] = [];
    for (let i = 0; i < k; i++) {
      const o = i * size;
      const S = stats[o];
      // empty component, or a singular system beyond the ridge fallback: keep its parameters
      let ok = S > 1e-12 * n && solveSPD(stats.subarray(o, o + p * p), stats.subarray(o + p * p, o + size), p, coef, this.work) >= 0;
      if (ok) for (let u = 0; u < p; u++) if (!Number.isFinite(coef[u])) ok = false;
      fitted.push(ok);
      for (let u = 0; u < p; u++) coefs[i * p + u] = ok ? coef[u] : theta[i * q + u];
    }
    this.residuals!(X, y, R, n, coefs, this.ss);
    for (let i = 0; i < k; i++) {
      if (!fitted[i]) continue;
      for (let u = 0; u < p; u++) theta[i * q + u] = coefs[i * p + u];
      // ν = weighted mean squared residual (math-spec §8.1 M-step)
      theta[i * q + d + 1] = Math.log(Math.max(this.ss[i] / stats[i * size], this.floors[i]));
    }
  }

  /**
   * The M-step from the moments of the fused E-step (estimate/e-step-kernel.ts, `fusedMomentsSize`
   * per expert: Σ r v vᵀ, Σ r e v, Σ r e² with e = y − cᵢ·v the residual at the current θ), so it
   * needs no pass over the data: cᵢ ← cᵢ + Δ with (Σ r v vᵀ) Δ = Σ r e v, and the new weighted
   * residual sum of squares Σ r (e − Δ·v)² = Σ r e² − Δ·(Σ r e v) (math-spec §9.1, the same weighted
   * least squares centred at θ). Centring costs digits where the step is large: cᵢ + Δ is exact only
   * relative to |cᵢ|, and the difference only relative to Σ r e². So where some |cᵢ| exceeds 16× the
   * new coefficients (a far start, e.g. 1e148 in standardised units), the M-step runs its own passes
   * instead, and where the difference loses more than 4 digits the residuals are summed again in
   * one pass (early iterations only; near convergence Δ → 0 and neither happens).
   */
  mStepFromMoments(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, R: Float64Array, moments: Float64Array): void {
    if (this.floorsPending) this.setPerExpertFloors(theta, X, y, n, R);
    const { k, d, coefs, coef, ss } = this;
    const p = d + 1;
    const q = d + 2;
    const size = p * p + p + 1;
    let recompute = false;
    const fitted = this.fittedFlags;
    for (let i = 0; i < k; i++) {
      const o = i * size;
      const S = moments[o];
      let ok = S > 1e-12 * n && solveSPD(moments.subarray(o, o + p * p), moments.subarray(o + p * p, o + p * p + p), p, coef, this.work) >= 0;
      if (ok) for (let u = 0; u < p; u++) if (!Number.isFinite(coef[u])) ok = false;
      fitted[i] = ok ? 1 : 0;
      let gain = 0;
      let before = 0;
      let after = 0;
      for (let u = 0; u < p; u++) {
        const c = ok ? theta[i * q + u] + coef[u] : theta[i * q + u];
        coefs[i * p + u] = c;
        gain += coef[u] * moments[o + p * p + u];
        before = Math.max(before, Math.abs(theta[i * q + u]));
        after = Math.max(after, Math.abs(c));
      }
      if (ok && before > 16 * after) {
        this.mStepUnrolled(theta, X, y, n, R);
        return;
      }
      const e2 = moments[o + p * p + p];
      ss[i] = e2 - gain;
      if (ok && !(ss[i] > 1e-4 * e2)) recompute = true;
    }
    if (recompute) this.residualSums(X, y, n, R);
    for (let i = 0; i < k; i++) {
      if (!fitted[i]) continue;
      for (let u = 0; u < p; u++) theta[i * q + u] = coefs[i * p + u];
      // ν = weighted mean squared residual (math-spec §8.1 M-step)
      theta[i * q + d + 1] = Math.log(Math.max(ss[i] / moments[i * size], this.floors[i]));
    }
  }

  /** ss_i = Σ_t R_ti (y_t − coefsᵢ·v_t)² for every expert, from this.coefs. */
  private residualSums(X: Float64Array, y: Float64Array, n: number, R: Float64Array): void {
    if (this.residuals) {
      this.residuals(X, y, R, n, this.coefs, this.ss);
      return;
    }
    const { k, d, coefs, ss } = this;
    const p = d + 1;
    for (let i = 0; i < k; i++) {
      let acc = 0;
      for (let t = 0; t < n; t++) {
        let mu = coefs[i * p];
        for (let u = 0; u < d; u++) mu += coefs[i * p + 1 + u] * X[t * d + u];
        const r = y[t] - mu;
        acc += R[t * k + i] * r * r;
      }
      ss[i] = acc;
    }
  }

  gradQ(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    if (this.gradient) {
      this.gradient(theta, X, y, n, W, grad);
      return;
    }
    const { k, d } = this;
    const q = d + 2;
    grad.fill(0, 0, this.nParams);
    for (let i = 0; i < k; i++) {
      const o = i * q;
      const iv = Math.exp(-theta[o + d + 1]);
      let gb = 0;
      let gv = 0;
      if (d === 1) {
        const b = theta[o];
        const a = theta[o + 1];
        let ga = 0;
        for (let t = 0; t < n; t++) {
          const w = W[t * k + i];
          const r = y[t] - b - a * X[t];
          const wr = w * r;
          gb += wr;
          ga += wr * X[t];
          gv += wr * r;
        }
        grad[o] = gb * iv;
        grad[o + 1] = ga * iv;
        let sw = 0;
        for (let t = 0; t < n; t++) sw += W[t * k + i];
        grad[o + 2] = 0.5 * gv * iv - 0.5 * sw; // ∂/∂logν of −½logν − r²/(2ν)
        continue;
      }
      for (let t = 0; t < n; t++) {
        const w = W[t * k + i];
        if (w === 0) continue;
        let mu = theta[o];
        const xo = t * d;
        for (let u = 0; u < d; u++) mu += theta[o + 1 + u] * X[xo + u];
        const r = y[t] - mu;
        const wr = w * r * iv;
        gb += wr;
        for (let u = 0; u < d; u++) grad[o + 1 + u] += wr * X[xo + u];
        gv += w * (0.5 * r * r * iv - 0.5); // ∂/∂logν of −½logν − r²/(2ν)
      }
      grad[o] = gb;
      grad[o + d + 1] = gv;
    }
  }

  /** Per-row gradQ terms into out (n×nParams). */
  rowGradQ(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    const { k, d } = this;
    const q = d + 2;
    const p = this.nParams;
    for (let i = 0; i < k; i++) {
      const o = i * q;
      const iv = Math.exp(-theta[o + d + 1]);
      for (let t = 0; t < n; t++) {
        const w = W[t * k + i];
        let mu = theta[o];
        const xo = t * d;
        for (let u = 0; u < d; u++) mu += theta[o + 1 + u] * X[xo + u];
        const r = y[t] - mu;
        const wr = w * r * iv;
        const ro = t * p + o;
        out[ro] = wr;
        for (let u = 0; u < d; u++) out[ro + 1 + u] = wr * X[xo + u];
        out[ro + d + 1] = w * (0.5 * r * r * iv - 0.5);
      }
    }
  }

  /**
   * −∇²Q of Q = Σ_t Σ_i W_ti log N(y_t; aᵢ + bᵢᵀx_t, e^{vᵢ}) (nParams×nParams, full, row-major), block
   * diagonal by expert; with z = (1, x), r = y − μ: (z zᵀ, r z, ½ r²)·W e^{−v} (math-spec §1.3).
   */
  negHessianQ(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, H: Float64Array): void {
    const { k, d } = this;
    const q = d + 2;
    const p = this.nParams;
    H.fill(0);
    const z = new Float64Array(d + 1);
    for (let i = 0; i < k; i++) {
      const o = i * q;
      const iv = Math.exp(-theta[o + d + 1]);
      for (let t = 0; t < n; t++) {
        const w = W[t * k + i] * iv;
        if (w === 0) continue;
        const xo = t * d;
        z[0] = 1;
        let mu = theta[o];
        for (let u = 0; u < d; u++) {
          z[1 + u] = X[xo + u];
          mu += theta[o + 1 + u] * X[xo + u];
        }
        const r = y[t] - mu;
        for (let a = 0; a <= d; a++) {
          const row = (o + a) * p + o;
          const wa = w * z[a];
          for (let b = 0; b <= a; b++) H[row + b] += wa * z[b];
          H[(o + d + 1) * p + o + a] += wa * r;
        }
        H[(o + d + 1) * p + o + d + 1] += 0.5 * w * r * r;
      }
    }
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) H[b * p + a] = H[a * p + b];
  }

  mean(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    const { k, d } = this;
    const q = d + 2;
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < k; i++) {
        let mu = theta[i * q];
        for (let u = 0; u < d; u++) mu += theta[i * q + 1 + u] * X[t * d + u];
        out[t * k + i] = mu;
      }
    }
  }

  sample(theta: Float64Array, i: number, X: Float64Array, t: number, rng: Rng): number {
    const { d } = this;
    const o = i * (d + 2);
    let mu = theta[o];
    for (let u = 0; u < d; u++) mu += theta[o + 1 + u] * X[t * d + u];
    return mu + Math.sqrt(Math.exp(theta[o + d + 1])) * rng.normal();
  }

  validateResponse(y: Float64Array, n: number): void {
    for (let t = 0; t < n; t++) {
      if (!Number.isFinite(y[t])) throw new DataError(`row ${t + 1}: response y is ${y[t]}, expected a finite number`);
    }
  }

  feasible(theta: Float64Array): boolean {
    const q = this.d + 2;
    for (let i = 0; i < this.k; i++) if (!(theta[i * q + q - 1] >= Math.log(this.floors[i]) - 1e-12)) return false;
    return true;
  }

  canonicalize(_theta: Float64Array): void {
    // no non-identifiability within a Gaussian linear expert
  }

  toJSON(theta: Float64Array): ExpertJSON {
    const { k, d } = this;
    const q = d + 2;
    const a: number[][] = [];
    const b: number[] = [];
    const variance: number[] = [];
    for (let i = 0; i < k; i++) {
      b.push(theta[i * q]);
      a.push(Array.from(theta.subarray(i * q + 1, i * q + 1 + d)));
      variance.push(Math.exp(theta[i * q + d + 1]));
    }
    const json: ExpertJSON = { type: this.type, a, b, variance };
    if (typeof this.floorSpec === 'number') json.varianceFloor = this.floorSpec;
    return json;
  }

  paramsFromJSON(json: ExpertJSON): Float64Array {
    const { k, d } = this;
    const a = readMatrix(json.a, 'experts.a', k, d);
    const b = readVector(json.b, 'experts.b', k);
    const variance = readVector(json.variance, 'experts.variance', k, { positive: true });
    const q = d + 2;
    const theta = new Float64Array(k * q);
    for (let i = 0; i < k; i++) {
      theta[i * q] = b[i];
      for (let u = 0; u < d; u++) theta[i * q + 1 + u] = a[i][u];
      theta[i * q + d + 1] = Math.log(variance[i]);
    }
    return theta;
  }

  spec(): ExpertJSON {
    return typeof this.floorSpec === 'number' ? { type: this.type, varianceFloor: this.floorSpec } : { type: this.type };
  }
}

/** Parse the optional `varianceFloor` of a JSON spec. */
export function gaussianOptionsFromJSON(json: ExpertJSON): GaussianLinearOptions {
  if (json.varianceFloor === undefined) return {};
  const f = json.varianceFloor;
  // the fitting form { relative, perExpert } (set by fitEM's varianceFloor option, not written to JSON)
  if (typeof f === 'object' && f !== null && !Array.isArray(f) && 'relative' in f) {
    const o = f as { relative: unknown; perExpert?: unknown; global?: unknown };
    const spec: FloorSpec = { relative: readNumber(o.relative, 'experts.varianceFloor.relative', { positive: true }), perExpert: o.perExpert === true };
    if (o.global !== undefined) spec.global = readNumber(o.global, 'experts.varianceFloor.global', { positive: true });
    return { varianceFloor: spec };
  }
  return { varianceFloor: readNumber(json.varianceFloor, 'experts.varianceFloor', { positive: true }) };
}
