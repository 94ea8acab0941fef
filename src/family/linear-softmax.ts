/**
 * Softmax over linear logits on an arbitrary feature matrix F (n×m) with an implicit intercept,
 * the last class as reference: π_j(f) = exp(β₀ⱼ + β₁ⱼᵀf) / Σ_l exp(β₀ₗ + β₁ₗᵀf)   (math-spec §1.2).
 *
 * Shared floor of the softmax-type gates (softmax, modified, temperature, top-K dense part,
 * hierarchical levels) and of the multinomial-logistic experts (which run it on class weights).
 * The M-step is exact Newton/IRLS with step-halving (math-spec §8.1 IRLS, §9.1), warm-started.
 */
import type { GateMStepInfo, GateMStepOptions, GateState } from './mstep.js';
import { symmetrizeFromLower } from '../numeric/linalg.js';
import { expNonPositive, LOG_BLOCK } from '../numeric/fastmath.js';
import { NewtonMaximizer, RIDGE_NEWTON, type NewtonProblem } from '../numeric/newton.js';
import { fusedNewtonKernel, gradientKernel, logitsKernel, newtonSystemKernel, probabilitiesKernel, type FusedNewtonKernel, type GradientKernel, type LogitsKernel, type NewtonSystemKernel, type ProbabilitiesKernel } from './softmax-kernels.js';

/** Softmax over linear logits with the last class as reference, on features F (n×m). */
export class LinearSoftmaxCore {
  readonly k: number;
  readonly m: number;
  /** Parameters: (k−1) rows of [β₀ⱼ, β₁ⱼ(1..m)]. */
  readonly nParams: number;
  private P = new Float64Array(0); // n×k probabilities
  private S = new Float64Array(0); // row sums of the weights
  private c = new Float64Array(0); // per-row scratch column
  private readonly newton: NewtonMaximizer;
  private readonly problem: SoftmaxMStepProblem;
  private readonly kernel: NewtonSystemKernel | null;
  private readonly probsKernel: ProbabilitiesKernel | null;
  /** π and s without the objective (for gradients). */
  private readonly weightsKernel: ProbabilitiesKernel | null;
  private readonly gradKernel: GradientKernel | null;
  private readonly logitsKernel: LogitsKernel | null;
  /** Q, g and −H in one pass without storing π (the Newton trial passes). */
  private readonly fusedKernel: FusedNewtonKernel | null;
  /** Q alone (the trial passes of a capped generalized-EM step, whose Newton system is not used). */
  private readonly objectiveKernel: ProbabilitiesKernel | null;
  /** The last M-step with `inexact` stopped at its cap (EM far from converged). */
  private capped = false;

  constructor(k: number, m: number) {
    this.k = k;
    this.m = m;
    this.nParams = (k - 1) * (m + 1);
    this.kernel = newtonSystemKernel(k, m);
    this.gradKernel = gradientKernel(k, m);
    this.logitsKernel = logitsKernel(k, m);
    this.probsKernel = k > 2 || m > 1 ? probabilitiesKernel(k, m, weightCorrection) : null;
    this.weightsKernel = probabilitiesKernel(k, m, weightCorrection, false);
    // one fused trial pass for every k: k ≥ 3 gained from it in session 5 (bench "EM iteration d=2 k=3":
    // 221 -> 196-206 ms); k = 2 measured slower then (95 vs 76 ms), but with the fused E-step it is
    // faster (interleaved CPU, loaded, min of 15: 61.1 -> 51.9 ms per 10 iterations; same bits)
    this.fusedKernel = this.kernel ? fusedNewtonKernel(k, m) : null;
    // k ≥ 3: Q alone, the same operations as the fused pass's Q (k = 2 has its own one-exp path)
    this.objectiveKernel = this.fusedKernel && k > 2 ? probabilitiesKernel(k, m, weightCorrection, true, false) : null;
    if (this.fusedKernel) warmFused(this.fusedKernel, k, m, this.nParams);
    if (this.objectiveKernel) {
      const kernel = this.objectiveKernel;
      const none = new Float64Array(0);
      warmFused((th, F, R, n) => kernel(th, F, R, n, none, none), k, m, this.nParams);
    }
    this.newton = new NewtonMaximizer(this.nParams, RIDGE_NEWTON);
    this.problem = new SoftmaxMStepProblem(this.nParams, (th, F, n, R, g, H) => this.fullPass(th, F, n, R, g, H), this.kernel);
  }

  /** log π written to out (n×k); returns nothing. */
  logWeights(theta: Float64Array, F: Float64Array, n: number, out: Float64Array): void {
    const { k, m } = this;
    if (k === 2 && m === 1) {
      const c0 = theta[0];
      const c1 = theta[1];
      for (let t = 0; t < n; t++) {
        const z = c0 + c1 * F[t];
        const lse = (z > 0 ? z : 0) + Math.log1p(expNonPositive(-Math.abs(z)));
        out[2 * t] = z - lse;
        out[2 * t + 1] = -lse;
      }
      return;
    }
    this.logits(theta, F, n, out);
    for (let t = 0; t < n; t++) {
      const oo = t * k;
      let mx = 0; // the reference logit is 0
      for (let i = 0; i < k - 1; i++) if (out[oo + i] > mx) mx = out[oo + i];
      let s = 0;
      for (let i = 0; i < k; i++) s += expNonPositive(out[oo + i] - mx);
      const lse = mx + Math.log(s);
      for (let i = 0; i < k; i++) out[oo + i] -= lse;
    }
  }

  /**
   * ∇θ Σ_t Σ_i W_ti log π_ti for arbitrary real W (rows need not sum to 1): Σ_t (W_tj − π_tj Σ_i W_ti) v_t.
   * `weights` = π at θ when the caller already has them (the E-step's gate state).
   */
  gradQ(theta: Float64Array, F: Float64Array, n: number, W: Float64Array, grad: Float64Array, weights?: Float64Array): void {
    const k = this.k;
    if (this.P.length < n * k) this.P = new Float64Array(n * k);
    if (this.S.length < n) this.S = new Float64Array(n);
    const S = this.S;
    const P: Float64Array = weights ?? this.P;
    if (!weights) this.weights(theta, F, n, W); // π into this.P, row sums of W into S
    if (this.gradKernel) {
      this.gradKernel(P, W, F, n, grad);
      return;
    }
    if (weights) {
      for (let t = 0; t < n; t++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += W[t * k + i];
        S[t] = s;
      }
    }
    this.columnGradient(P, W, F, n, grad);
  }

  /**
   * Σ_t (W_tj − s_t π_tj) v_t into grad, column by column (shapes too large for the gradient
   * kernel), with s_t = this.S already holding the row sums of W.
   */
  private columnGradient(P: Float64Array, W: Float64Array, F: Float64Array, n: number, grad: Float64Array): void {
    const { k, m } = this;
    const q = m + 1;
    const S = this.S;
    if (this.c.length < n) this.c = new Float64Array(n);
    const c = this.c;
    for (let j = 0; j < k - 1; j++) {
      const bj = j * q;
      let g0 = 0;
      for (let t = 0; t < n; t++) {
        const ct = W[t * k + j] - S[t] * P[t * k + j];
        c[t] = ct;
        g0 += ct;
      }
      grad[bj] = g0;
      for (let u = 0; u < m; u++) grad[bj + 1 + u] = dotStrided(c, F, n, m, u);
    }
  }

  /** −∇²Q of Q = Σ R log π at θ (nParams×nParams, full, row-major) into H: the M-step's Newton system. */
  negHessianQ(theta: Float64Array, F: Float64Array, n: number, R: Float64Array, H: Float64Array): void {
    const g = new Float64Array(this.nParams);
    this.fullPass(theta, F, n, R, g, H);
    symmetrizeFromLower(H, this.nParams);
  }

  /** Per-row gradQ terms: row t of out (n×nParams) is Σ_i W_ti ∇θ log π_ti. */
  rowGradQ(theta: Float64Array, F: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    const { k, m } = this;
    const q = m + 1;
    const p = this.nParams;
    if (this.P.length < n * k) this.P = new Float64Array(n * k);
    if (this.S.length < n) this.S = new Float64Array(n);
    this.weights(theta, F, n, W);
    const P = this.P;
    const S = this.S;
    for (let t = 0; t < n; t++) {
      const o = t * p;
      for (let j = 0; j < k - 1; j++) {
        const c = W[t * k + j] - S[t] * P[t * k + j];
        out[o + j * q] = c;
        for (let u = 0; u < m; u++) out[o + j * q + 1 + u] = c * F[t * m + u];
      }
    }
  }

  /** π into this.P and the row sums of W into this.S, without the objective (no logs). */
  private weights(theta: Float64Array, F: Float64Array, n: number, W: Float64Array): void {
    if (this.weightsKernel) this.weightsKernel(theta, F, W, n, this.P, this.S);
    else this.probs(theta, F, n, W);
  }

  /**
   * Probabilities π (into this.P, n×k), row weights s_t = Σ_i R_ti (into this.S) and
   * Q = Σ_t Σ_i R_ti log π_ti at θ. Entries with R_ti = 0 contribute 0 even when π_ti underflows.
   * Σ_t s_t·log(row sum) is taken as Σ_blocks log Π(row sums) (`LOG_BLOCK`) plus a correction
   * for the rows with s_t ≠ 1 (see `weightCorrection`).
   */
  private probs(theta: Float64Array, F: Float64Array, n: number, R: Float64Array): number {
    const { k, m } = this;
    const P = this.P;
    const S = this.S;
    let Q = 0;
    let prod = 1;
    let count = 0;
    let corr = 0;
    if (k === 2 && m === 1) {
      // the papers' setting (two experts, scalar x): one logit per row
      const c0 = theta[0];
      const c1 = theta[1];
      for (let t = 0; t < n; t++) {
        const z = c0 + c1 * F[t];
        const r0 = R[2 * t];
        const r1 = R[2 * t + 1];
        // log π0 = z − lse, log π1 = −lse, lse = max(z,0) + log(1 + e^{−|z|})
        const e = expNonPositive(-Math.abs(z));
        const p0 = z > 0 ? 1 / (1 + e) : e / (1 + e);
        P[2 * t] = p0;
        P[2 * t + 1] = 1 - p0;
        const s = r0 + r1;
        S[t] = s;
        Q += r0 * z - s * (z > 0 ? z : 0);
        prod *= 1 + e;
        if (s !== 1) corr += weightCorrection(s, 1 + e);
        if (++count === LOG_BLOCK) {
          Q -= Math.log(prod);
          prod = 1;
          count = 0;
        }
      }
      return Q - Math.log(prod) - corr;
    }
    if (this.probsKernel) return this.probsKernel(theta, F, R, n, P, S);
    // logits column by column (long loops), the reference column is 0
    this.logits(theta, F, n, P);
    for (let t = 0; t < n; t++) {
      const oo = t * k;
      let mx = 0;
      let rz = 0;
      let s = 0;
      for (let i = 0; i < k; i++) {
        const zi = P[oo + i];
        if (zi > mx) mx = zi;
        const r = R[oo + i];
        rz += r * zi;
        s += r;
      }
      let sum = 0;
      for (let i = 0; i < k; i++) {
        const e = expNonPositive(P[oo + i] - mx);
        P[oo + i] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let i = 0; i < k; i++) P[oo + i] *= inv;
      S[t] = s;
      Q += rz - s * mx; // Σ_i R_ti (z_ti − lse_t), lse_t = mx + log(sum)
      prod *= sum;
      if (s !== 1) corr += weightCorrection(s, sum);
      if (++count === LOG_BLOCK) {
        Q -= Math.log(prod);
        prod = 1;
        count = 0;
      }
    }
    return Q - Math.log(prod) - corr;
  }

  /** Linear logits z_tj = β₀ⱼ + β₁ⱼᵀf_t into out (n×k), reference column 0 (unnormalised log π). */
  logits(theta: Float64Array, F: Float64Array, n: number, out: Float64Array): void {
    if (this.logitsKernel) {
      this.logitsKernel(theta, F, n, out);
      return;
    }
    const { k, m } = this;
    const q = m + 1;
    for (let j = 0; j < k - 1; j++) {
      const c0 = theta[j * q];
      if (m === 1) {
        const c1 = theta[j * q + 1];
        for (let t = 0; t < n; t++) out[t * k + j] = c0 + c1 * F[t];
      } else if (m === 2) {
        const c1 = theta[j * q + 1];
        const c2 = theta[j * q + 2];
        for (let t = 0; t < n; t++) out[t * k + j] = c0 + c1 * F[2 * t] + c2 * F[2 * t + 1];
      } else {
        for (let t = 0; t < n; t++) {
          let z = c0;
          for (let u = 0; u < m; u++) z += theta[j * q + 1 + u] * F[t * m + u];
          out[t * k + j] = z;
        }
      }
    }
    for (let t = 0; t < n; t++) out[t * k + k - 1] = 0;
  }

  /**
   * One pass at θ: Q, gradient g and negative Hessian H of Q = Σ R log π:
   * −∇²Q = Σ_t s_t (diag π − π πᵀ) ⊗ v vᵀ, v = (1, f_t) (math-spec §8.1 IRLS). The accumulation
   * runs column-wise (long loops over t per block) because tiny nested per-row loops cost 3–4× more
   * in V8. An accepted Newton step already holds the next Newton system.
   */
  private fullPass(theta: Float64Array, F: Float64Array, n: number, R: Float64Array, g: Float64Array, H: Float64Array): number {
    // one fused pass (the same bits as probs + the Newton-system kernel; π is not needed afterwards)
    if (this.fusedKernel) return this.fusedKernel(theta, F, R, n, g, H);
    const { k, m } = this;
    const q = m + 1;
    const p = this.nParams;
    if (this.P.length < n * k) this.P = new Float64Array(n * k);
    if (this.S.length < n) this.S = new Float64Array(n);
    const Q = this.probs(theta, F, n, R);
    const P = this.P;
    const S = this.S;
    if (this.kernel) {
      this.kernel(P, R, F, n, g, H);
      return Q;
    }
    // shapes too large for an unrolled kernel: column-wise accumulation
    this.columnGradient(P, R, F, n, g);
    const c = this.c;
    H.fill(0);
    for (let j = 0; j < k - 1; j++) {
      const bj = j * q;
      for (let l = 0; l <= j; l++) {
        const bl = l * q;
        const diag = j === l;
        // weights w_t = s_t π_tj (δ_jl − π_tl); block (j,l) = Σ_t w_t v_t v_tᵀ, one long loop per entry
        let h00 = 0;
        for (let t = 0; t < n; t++) {
          const w = S[t] * P[t * k + j] * ((diag ? 1 : 0) - P[t * k + l]);
          c[t] = w;
          h00 += w;
        }
        H[bj * p + bl] = h00;
        for (let a = 0; a < m; a++) {
          const h0a = dotStrided(c, F, n, m, a);
          H[(bj + 1 + a) * p + bl] = h0a; // (row a+1, col 0) of the block
          if (!diag) H[bj * p + bl + 1 + a] = h0a; // (row 0, col a+1)
          for (let b = 0; b <= a; b++) {
            const hab = dot2Strided(c, F, n, m, a, b);
            H[(bj + 1 + a) * p + bl + 1 + b] = hab;
            if (!diag && b !== a) H[(bj + 1 + b) * p + bl + 1 + a] = hab;
          }
        }
      }
    }
    symmetrizeFromLower(H, p);
    return Q;
  }

  /**
   * Exact Newton/IRLS maximisation of Σ R log π with step-halving, warm-started (math-spec §8.1),
   * by the shared damped-Newton maximiser (numeric/newton.ts, ridge damping: Q is concave).
   * Stops when the Newton decrement ½ gᵀ(−∇²Q)⁻¹g (the predicted remaining gain) is ≤ tol·max(1,|Q|).
   */
  mStep(theta: Float64Array, F: Float64Array, n: number, R: Float64Array, options: GateMStepOptions, start?: GateState): GateMStepInfo {
    if (this.nParams === 0) return { iterations: 0, objective: 0, converged: true };
    const pr = this.problem;
    pr.F = F;
    pr.n = n;
    pr.R = R;
    // the E-step's π and Q at the warm start: the first Newton system needs no exps
    pr.start = start && this.kernel && Number.isFinite(start.objective) ? start : undefined;
    pr.forget();
    const inexact = options.inexact;
    let info: GateMStepInfo;
    if (inexact?.defer && inexact.steps === 1 && options.maxIter > 1) {
      // generalized EM checked on ℓ by the caller: one step without a trial pass while its predicted
      // gain is large, else on to tol (the first Newton system is the problem's cached pass then)
      const q = this.newton.uncheckedStep(pr, theta, options, inexact.above);
      if (q === q) {
        inexact.defer.pending = true;
        info = { iterations: 1, objective: q, converged: false };
      } else {
        pr.start = undefined;
        info = this.newton.run(pr, theta, options);
      }
    } else if (inexact && inexact.steps < options.maxIter) {
      // generalized EM: stop after `steps` Newton steps while they still gain much (GateMStepOptions).
      // If the last M-step stopped at the cap, this one likely does too: its one step's trial passes
      // then compute Q alone (the Newton system at the trial point is not used). Only the cost
      // depends on this guess, not θ: a wrong guess costs one full pass when continuing to tol.
      pr.qOnly = this.capped && inexact.steps === 1 ? this.objectiveKernel : null;
      const first = this.newton.run(pr, theta, { ...options, maxIter: inexact.steps });
      pr.qOnly = null;
      const gain = first.objective - pr.firstQ;
      this.capped = !first.converged && first.iterations === inexact.steps && gain > inexact.above * Math.max(1, Math.abs(first.objective));
      if (first.converged || first.iterations < inexact.steps || this.capped) info = first;
      else {
        // on to tol from the last accepted trial point (its Newton system is the problem's last pass)
        pr.start = undefined;
        const rest = this.newton.run(pr, theta, { ...options, maxIter: options.maxIter - first.iterations });
        info = { iterations: first.iterations + rest.iterations, objective: rest.objective, converged: rest.converged };
      }
    } else info = this.newton.run(pr, theta, options);
    pr.F = pr.R = EMPTY;
    pr.start = undefined;
    return info;
  }
}

const EMPTY = new Float64Array(0);

/** The M-step objective Σ R log π on features F as a Newton problem (fields set per call). */
class SoftmaxMStepProblem implements NewtonProblem {
  F: Float64Array = EMPTY;
  n = 0;
  R: Float64Array = EMPTY;
  start: GateState | undefined = undefined;
  constructor(
    readonly nParams: number,
    private readonly full: (theta: Float64Array, F: Float64Array, n: number, R: Float64Array, g: Float64Array, H: Float64Array) => number,
    private readonly kernel: NewtonSystemKernel | null,
  ) {
    this.lastTheta = new Float64Array(nParams);
    this.lastG = new Float64Array(nParams);
    this.lastNH = new Float64Array(nParams * nParams);
  }
  /** Q at the first pass of the last run. */
  firstQ = NaN;
  /** The last pass (θ, Q, g, −H) of this M-step, for a second run that starts where the first stopped. */
  private readonly lastTheta: Float64Array;
  private lastQ = NaN;
  private readonly lastG: Float64Array;
  private readonly lastNH: Float64Array;
  /** A new M-step (other weights R): drop the last pass. */
  forget(): void {
    this.lastQ = NaN;
  }
  /** When set, trial passes compute Q alone (g, NH left as they are) and are not cached. */
  qOnly: ProbabilitiesKernel | null = null;
  private readonly dummy = new Float64Array(0);
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    if (this.qOnly) {
      this.lastQ = NaN;
      return this.qOnly(theta, this.F, this.R, this.n, this.dummy, this.dummy);
    }
    const Q = this.full(theta, this.F, this.n, this.R, g, NH);
    this.lastTheta.set(theta);
    this.lastQ = Q;
    this.lastG.set(g);
    this.lastNH.set(NH);
    return Q;
  }
  firstPass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    const start = this.start;
    if (start && ((start.newton && start.newton.g.length === this.nParams) || this.kernel)) {
      if (start.newton && start.newton.g.length === this.nParams) {
        g.set(start.newton.g);
        NH.set(start.newton.negHessian);
      } else this.kernel!(start.weights, this.R, this.F, this.n, g, NH);
      this.firstQ = start.objective;
      // cached: a run that follows (an unchecked step not taken) starts from it without a pass
      this.lastTheta.set(theta);
      this.lastQ = start.objective;
      this.lastG.set(g);
      this.lastNH.set(NH);
      return start.objective;
    }
    if (this.lastQ > -Infinity && sameVector(theta, this.lastTheta)) {
      g.set(this.lastG);
      NH.set(this.lastNH);
      return this.lastQ;
    }
    const qOnly = this.qOnly;
    this.qOnly = null; // the first pass needs the Newton system
    this.firstQ = this.pass(theta, g, NH);
    this.qOnly = qOnly;
    return this.firstQ;
  }
}

/**
 * (s − 1)·log(sum), the correction of a row whose weight s is not 1 when Σ_t s_t·log(sum_t) is
 * computed as Σ_t log(sum_t) (sum_t ∈ [1, k]). Posterior rows sum to 1 up to an ulp or two; for
 * |s − 1| < 1e-14 the log is replaced by 2(sum − 1)/(sum + 1) (relative error < 1/3 for
 * sum ≤ 10), an error below 1e-14·log k per row, at the rounding level of Q itself. Other rows get the exact log.
 */
function weightCorrection(s: number, sum: number): number {
  const d = s - 1;
  return d > -1e-14 && d < 1e-14 ? (2 * d * (sum - 1)) / (sum + 1) : d * Math.log(sum);
}

/**
 * Run the fused Newton kernel on a few varied rows (both signs of the logits, rows of weight 1 and
 * an ulp off 1, as posteriors are) before its first real call. Its first real call at large n is
 * optimised in the middle of the loop (on-stack replacement) before the code after the loop and
 * the branch of the rows whose weight is not exactly 1 have type feedback; hitting them deopts it,
 * and in about one process in three V8 then keeps it slow (bench "EM iteration d=1 k=2": 86–89
 * instead of 51–58 ms per 10 iterations, CPU, loaded). Rows of weight ½ are left out: warming
 * that branch too made k = 3 slower (interleaved A/B, min of 9: 0.95–0.97 → 1.03–1.06 of 12141f1).
 */
function warmFused(kernel: FusedNewtonKernel, k: number, m: number, p: number): void {
  const rows = 8;
  const F = new Float64Array(rows * m);
  for (let i = 0; i < F.length; i++) F[i] = ((i * 7) % 5) - 2;
  const R = new Float64Array(rows * k);
  for (let t = 0; t < rows; t++) {
    const w = t % 2 === 1 ? 1 + 2 * Number.EPSILON : 1;
    R[t * k + (t % k)] = w;
  }
  const theta = new Float64Array(p);
  const g = new Float64Array(p);
  const H = new Float64Array(p * p);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < p; j++) theta[j] = ((i + j) % 3) - 1;
    kernel(theta, F, R, rows, g, H);
  }
}

function sameVector(a: Float64Array, b: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Σ_t a_t F[t·m + u] (one long loop). */
function dotStrided(a: Float64Array, F: Float64Array, n: number, m: number, u: number): number {
  let s = 0;
  for (let t = 0; t < n; t++) s += a[t] * F[t * m + u];
  return s;
}

/** Σ_t a_t F[t·m + u] F[t·m + v]. */
function dot2Strided(a: Float64Array, F: Float64Array, n: number, m: number, u: number, v: number): number {
  let s = 0;
  for (let t = 0; t < n; t++) s += a[t] * F[t * m + u] * F[t * m + v];
  return s;
}
