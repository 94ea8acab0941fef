/**
 * Standard softmax gate: π_i(x) = exp(β₁ᵢᵀx + β₀ᵢ) / Σ_j exp(β₁ⱼᵀx + β₀ⱼ)   (math-spec §1.2).
 *
 * Identifiability: the gate is invariant to a common shift of all (β₁ᵢ, β₀ᵢ); the canonical form
 * pins the LAST expert as the reference, β₁ₖ = 0, β₀ₖ = 0 (math-spec §1.2, assumption A.2), so θ
 * holds only the k−1 free rows [β₀ⱼ, β₁ⱼ(1..d)], j < k−1.
 *
 * The M-step is exact Newton/IRLS with step-halving (math-spec §8.1 IRLS, §9.1), warm-started.
 *
 * `LinearSoftmaxCore` is the same computation on an arbitrary feature matrix F (n×m) with an
 * implicit intercept; the modified gate softmax(β₁ᵀM(x) + β₀) reuses it on F = M(X).
 */
import type { BlockInfo, Gate, GateJSON, GateMStepInfo, GateMStepOptions } from './gate.js';
import { solveSPD } from '../numeric/linalg.js';
import { ModelFormatError } from '../errors.js';
import { readMatrix, readVector } from '../json-read.js';

/** Softmax over linear logits with the last class as reference, on features F (n×m). */
export class LinearSoftmaxCore {
  readonly k: number;
  readonly m: number;
  /** Parameters: (k−1) rows of [β₀ⱼ, β₁ⱼ(1..m)]. */
  readonly nParams: number;
  private P = new Float64Array(0); // n×k probabilities at the current iterate
  private Ptrial = new Float64Array(0);
  private readonly H: Float64Array;
  private readonly g: Float64Array;
  private readonly step: Float64Array;
  private readonly work: Float64Array;
  private readonly trial: Float64Array;
  private readonly z: Float64Array;

  constructor(k: number, m: number) {
    this.k = k;
    this.m = m;
    this.nParams = (k - 1) * (m + 1);
    const p = this.nParams;
    this.H = new Float64Array(p * p);
    this.work = new Float64Array(p * p);
    this.g = new Float64Array(p);
    this.step = new Float64Array(p);
    this.trial = new Float64Array(p);
    this.z = new Float64Array(k);
  }

  /** log π written to out (n×k); returns nothing. */
  logWeights(theta: Float64Array, F: Float64Array, n: number, out: Float64Array): void {
    const { k, m } = this;
    const q = m + 1;
    for (let t = 0; t < n; t++) {
      const fo = t * m;
      const oo = t * k;
      let mx = 0; // the reference logit is 0
      for (let j = 0; j < k - 1; j++) {
        let zj = theta[j * q];
        for (let u = 0; u < m; u++) zj += theta[j * q + 1 + u] * F[fo + u];
        out[oo + j] = zj;
        if (zj > mx) mx = zj;
      }
      out[oo + k - 1] = 0;
      let s = 0;
      for (let i = 0; i < k; i++) s += Math.exp(out[oo + i] - mx);
      const lse = mx + Math.log(s);
      for (let i = 0; i < k; i++) out[oo + i] -= lse;
    }
  }

  /**
   * Probabilities into P (n×k) and Q = Σ_t Σ_i R_ti log π_ti. Entries with R_ti = 0 contribute 0
   * even when π_ti underflows.
   */
  private probsAndQ(theta: Float64Array, F: Float64Array, n: number, R: Float64Array, P: Float64Array): number {
    const { k, m, z } = this;
    const q = m + 1;
    let Q = 0;
    for (let t = 0; t < n; t++) {
      const fo = t * m;
      const oo = t * k;
      let mx = 0;
      for (let j = 0; j < k - 1; j++) {
        let zj = theta[j * q];
        for (let u = 0; u < m; u++) zj += theta[j * q + 1 + u] * F[fo + u];
        z[j] = zj;
        if (zj > mx) mx = zj;
      }
      z[k - 1] = 0;
      let s = 0;
      for (let i = 0; i < k; i++) {
        const e = Math.exp(z[i] - mx);
        P[oo + i] = e;
        s += e;
      }
      const lse = mx + Math.log(s);
      const inv = 1 / s;
      for (let i = 0; i < k; i++) {
        P[oo + i] *= inv;
        const r = R[oo + i];
        if (r !== 0) Q += r * (z[i] - lse);
      }
    }
    return Q;
  }

  /** ∇θ Σ W log π for arbitrary real W (rows need not sum to 1). */
  gradQ(theta: Float64Array, F: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    const { k, m } = this;
    const q = m + 1;
    if (this.P.length < n * k) this.P = new Float64Array(n * k);
    this.probsAndQ(theta, F, n, W, this.P);
    const P = this.P;
    grad.fill(0, 0, this.nParams);
    for (let t = 0; t < n; t++) {
      const oo = t * k;
      let s = 0;
      for (let i = 0; i < k; i++) s += W[oo + i];
      const fo = t * m;
      for (let j = 0; j < k - 1; j++) {
        const c = W[oo + j] - s * P[oo + j]; // ∂/∂z_j Σ_i W_i log π_i = W_j − π_j Σ_i W_i
        if (c === 0) continue;
        grad[j * q] += c;
        for (let u = 0; u < m; u++) grad[j * q + 1 + u] += c * F[fo + u];
      }
    }
  }

  /** Exact Newton/IRLS maximisation of Σ R log π with step-halving, warm-started (math-spec §8.1). */
  mStep(theta: Float64Array, F: Float64Array, n: number, R: Float64Array, options: GateMStepOptions): GateMStepInfo {
    const { k, m, H, g, step, trial, work } = this;
    const q = m + 1;
    const p = this.nParams;
    if (p === 0) return { iterations: 0, objective: 0, converged: true };
    if (this.P.length < n * k) this.P = new Float64Array(n * k);
    if (this.Ptrial.length < n * k) this.Ptrial = new Float64Array(n * k);
    let Q = this.probsAndQ(theta, F, n, R, this.P);
    let iterations = 0;
    let converged = false;
    while (iterations < options.maxIter) {
      iterations++;
      const P = this.P;
      // gradient and negative Hessian: −H = Σ_t s_t (diag π − π πᵀ) ⊗ v vᵀ, v = (1, f_t)
      g.fill(0);
      H.fill(0);
      for (let t = 0; t < n; t++) {
        const oo = t * k;
        const fo = t * m;
        let s = 0;
        for (let i = 0; i < k; i++) s += R[oo + i];
        if (s === 0) continue;
        for (let j = 0; j < k - 1; j++) {
          const pj = P[oo + j];
          const c = R[oo + j] - s * pj;
          const bj = j * q;
          g[bj] += c;
          for (let u = 0; u < m; u++) g[bj + 1 + u] += c * F[fo + u];
          for (let l = 0; l <= j; l++) {
            const w = s * pj * ((j === l ? 1 : 0) - P[oo + l]);
            if (w === 0) continue;
            const bl = l * q;
            // block (j,l): w · v vᵀ, lower triangle of the full matrix (row index ≥ column index)
            for (let a = 0; a < q; a++) {
              const va = a === 0 ? 1 : F[fo + a - 1];
              const row = (bj + a) * p + bl;
              const bmax = j === l ? a : q - 1;
              for (let b = 0; b <= bmax; b++) {
                const vb = b === 0 ? 1 : F[fo + b - 1];
                H[row + b] += w * va * vb;
              }
            }
          }
        }
      }
      for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) H[i * p + j] = H[j * p + i];
      if (solveSPD(H, g, p, step, work) < 0) {
        // Hessian unusable (no data weight at all): gradient ascent direction
        for (let i = 0; i < p; i++) step[i] = g[i];
      }
      let decrement = 0;
      for (let i = 0; i < p; i++) decrement += g[i] * step[i];
      if (!(decrement > 0)) { converged = true; break; }
      // step-halving line search: accept the first α with Q(θ + α Δ) ≥ Q(θ)
      let alpha = 1;
      let Qnew = -Infinity;
      let accepted = false;
      for (let h = 0; h < 40; h++) {
        for (let i = 0; i < p; i++) trial[i] = theta[i] + alpha * step[i];
        Qnew = this.probsAndQ(trial, F, n, R, this.Ptrial);
        if (Qnew >= Q) { accepted = true; break; }
        alpha *= 0.5;
      }
      if (!accepted) { converged = true; break; }
      theta.set(trial.subarray(0, p));
      const tmp = this.P; this.P = this.Ptrial; this.Ptrial = tmp;
      const gain = Qnew - Q;
      Q = Qnew;
      // Newton decrement: predicted remaining gain ≈ ½ gᵀΔ
      if (gain <= options.tol * Math.max(1, Math.abs(Q)) && 0.5 * decrement <= options.tol * Math.max(1, Math.abs(Q))) {
        converged = true;
        break;
      }
    }
    return { iterations, objective: Q, converged };
  }
}

export class SoftmaxGate implements Gate {
  readonly type: string = 'softmax';
  readonly k: number;
  readonly d: number;
  readonly nParams: number;
  readonly blocks: readonly BlockInfo[] = [
    { name: 'beta0', perExpert: true, kind: 'gate' },
    { name: 'beta1', perExpert: true, kind: 'gate' },
  ];
  protected readonly core: LinearSoftmaxCore;

  constructor(k: number, d: number) {
    this.k = k;
    this.d = d;
    this.core = new LinearSoftmaxCore(k, d);
    this.nParams = this.core.nParams;
  }

  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    this.core.logWeights(theta, X, n, out);
  }
  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    this.core.gradQ(theta, X, n, W, grad);
  }
  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions): GateMStepInfo {
    return this.core.mStep(theta, X, n, R, options);
  }
  canonicalize(_theta: Float64Array): void {
    // θ excludes the reference expert: already canonical.
  }
  toJSON(theta: Float64Array): GateJSON {
    return { type: this.type, ...linearBlocksToJSON(theta, this.k, this.d) };
  }
  paramsFromJSON(json: GateJSON): Float64Array {
    return linearBlocksFromJSON(json, this.k, this.d, 'gate');
  }
  spec(): GateJSON {
    return { type: this.type };
  }
}

/** beta0 (k) and beta1 (k×d) with the reference (last) expert at zero. */
export function linearBlocksToJSON(theta: Float64Array, k: number, d: number): { beta0: number[]; beta1: number[][] } {
  const q = d + 1;
  const beta0: number[] = [];
  const beta1: number[][] = [];
  for (let j = 0; j < k; j++) {
    if (j < k - 1) {
      beta0.push(theta[j * q]);
      beta1.push(Array.from(theta.subarray(j * q + 1, j * q + 1 + d)));
    } else {
      beta0.push(0);
      beta1.push(new Array<number>(d).fill(0));
    }
  }
  return { beta0, beta1 };
}

/**
 * Read beta0/beta1 and translate so the last expert is the reference (canonical form):
 * the gate function is unchanged by this shift (math-spec §1.2).
 */
export function linearBlocksFromJSON(json: GateJSON, k: number, d: number, path: string): Float64Array {
  const beta0 = readVector(json.beta0, `${path}.beta0`, k);
  const beta1 = readMatrix(json.beta1, `${path}.beta1`, k, d);
  if (k < 1) throw new ModelFormatError(`${path}: needs at least one expert`);
  const q = d + 1;
  const theta = new Float64Array((k - 1) * q);
  for (let j = 0; j < k - 1; j++) {
    theta[j * q] = beta0[j] - beta0[k - 1];
    for (let u = 0; u < d; u++) theta[j * q + 1 + u] = beta1[j][u] - beta1[k - 1][u];
  }
  return theta;
}
