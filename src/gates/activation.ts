/**
 * Activation dense-to-sparse gate (P4, math-spec §6.2). The placement of the bias is uncertain in
 * the spec ([REC]), so both readings are offered:
 *   bias "outside" (variant A, default):  πᵢ(x) = Softmax(σ(β₁ᵢᵀx)/τ + β₀ᵢ)ᵢ
 *   bias "inside"  (variant B):           πᵢ(x) = Softmax(σ(β₁ᵢᵀx + β₀ᵢ)/τ)ᵢ
 * σ ∈ tanh | sigmoid | gelu | identity; τ > 0 estimated on a log scale, or fixed (`fixedTau`).
 *
 * Reference expert and canonical form: the last expert is pinned, β₁ₖ = 0 and β₀ₖ = 0, as in the
 * papers' convention (math-spec §1.2 A.2; §6.2 keeps β*₁ᵢ ≠ 0 "for non-reference experts").
 *  - For non-linear σ the gate is NOT invariant to a common shift of the β₁ᵢ, so β₁ₖ = 0 is part of
 *    the model (a JSON with a non-zero reference β₁ is rejected); with the bias outside, a common
 *    shift of the β₀ᵢ is still an invariance and JSON biases are translated to β₀ₖ = 0; with the
 *    bias inside, β₀ₖ = 0 is part of the model too. Non-linear σ breaks the scale invariance of the
 *    linear temperature gate (math-spec §6.2), so θ = [(β₀ⱼ, β₁ⱼ) for j < k−1, log τ] is identifiable.
 *  - For σ = identity the gate is a linear temperature gate (oracle 18): translations are removed
 *    by the reference row and, with τ estimated, the scale (β₁, τ) → c(β₁, τ) (bias outside) or
 *    (β, τ) → c(β, τ) (bias inside) is removed exactly as in the temperature gate: θ holds the
 *    identifiable β/τ (only β₁/τ when the bias is outside) and the canonical JSON has unit
 *    Frobenius norm of the non-reference slopes, Σ_{j<k}‖β₁ⱼ‖² = 1 (τ = 1 if every slope is 0).
 *
 * The M-step is damped Newton with the exact Hessian of Q = Σ R log π (`NewtonMaximizer`):
 * warm-started, exact to tolerance, never decreasing Q. Logit derivatives (math-spec §9.1):
 *   A: ∂z/∂β₀ = 1, ∂z/∂β₁ = σ′(u)x/τ, ∂z/∂log τ = −σ(u)/τ,   u = β₁ᵀx
 *   B: ∂z/∂(β₀, β₁) = σ′(u)(1, x)/τ, ∂z/∂log τ = −σ(u)/τ,     u = β₁ᵀx + β₀
 * and the reference logit σ(0)/τ depends on τ too.
 *
 * JSON: { "type": "activation", "sigma": "tanh", "bias": "outside", "tau": τ, "beta0": [k],
 * "beta1": [[d] × k] } (+ "fixedTau": true when τ is an option).
 */
import { NO_INVARIANCE, TEMPERATURE_INVARIANCE, type LogitsFragment, type GateInvariance, type BlockInfo, type Gate, type GateJSON, type GateMStepInfo, type GateMStepOptions, type GateState } from './gate.js';
import type { GateFactory } from './gate.js';
import { MARQUARDT_FINAL_NEWTON, NewtonMaximizer, type NewtonProblem } from '../numeric/newton.js';
import { linearBlocksToJSON } from './softmax.js';
import { readTau, cliPositive, linearGateDims, parseCliOptions, readFixedTau, slopeNorm } from './common.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { readMatrix, readString, readVector } from '../json-read.js';
import { activateArray, activationCode, activationDerivatives, LINEAR } from '../family/activations.js';
import { expNonPositive } from '../numeric/fastmath.js';
import { symmetrizeFromLower } from '../numeric/linalg.js';
import { activationGradientKernel, activationLogitsFragment, activationLogitsKernel, activationPassKernel, activationValueGradientKernel, type ActivationGradientKernel, type ActivationLogitsKernel, type ActivationPassKernel, type ActivationValueGradientKernel } from './activation-kernels.js';

export const ACTIVATIONS = ['tanh', 'sigmoid', 'gelu', 'identity'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];
export type BiasPlacement = 'outside' | 'inside';

/** Bound on |log τ|: points outside are infeasible (τ would under/overflow the logits). */
const LOG_TAU_MAX = 30;
const EMPTY = new Float64Array(0);

export class ActivationGate implements Gate, NewtonProblem {
  readonly type = 'activation';
  /**
   * By σ and the bias placement (math-spec §6.2): σ non-linear breaks the β₁ translation and the
   * scale, so with the bias outside only a common shift of β₀ remains, and with it inside nothing;
   * σ = identity is a linear temperature gate: inside, (β₁ᵀx + β₀)/τ (the temperature gate's
   * group); outside, β₁ᵀx/τ + β₀ (the translation of (β₀, β₁), the scale of (β₁, τ) only).
   */
  get invariance(): GateInvariance {
    const inside = this.bias === 'inside';
    if (this.sigma !== 'identity') return inside ? NO_INVARIANCE : { translation: { weight: 'beta0', blocks: [] }, scale: null };
    return inside ? TEMPERATURE_INVARIANCE : { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: { blocks: ['beta1', 'tau'], anchor: 'tau' } };
  }
  /** `mStep` honours `GateMStepOptions.bound` (projected Newton; compact Θ, issue 15). */
  readonly supportsBound = true;
  readonly k: number;
  readonly d: number;
  readonly nParams: number;
  readonly sigma: ActivationName;
  readonly bias: BiasPlacement;
  readonly fixedTau: number | undefined;
  readonly blocks: readonly BlockInfo[];
  private readonly code: number;
  /** θ ends with log τ (non-linear σ, τ estimated). */
  private readonly hasLogTau: boolean;
  /** σ = identity with τ estimated: θ holds β/τ (scale gauge), internal τ = 1. */
  private readonly gauged: boolean;
  private readonly sigma0: number;
  private readonly newton: NewtonMaximizer;
  /** One-pass kernels for this shape (activation-kernels.ts); null: the plain block-wise path. */
  private readonly passKernel: ActivationPassKernel | null;
  private readonly gradKernel: ActivationGradientKernel | null;
  private readonly logitsKernel: ActivationLogitsKernel | null;
  private readonly valueGradientKernel: ActivationValueGradientKernel | null;
  /** Q and ∇Q without −∇²Q (NewtonProblem; absent on the plain path). */
  readonly gradientPass?: (theta: Float64Array, g: Float64Array) => number;
  // n×(k−1) buffers: σ(u), σ′(u), σ″(u) of the non-reference experts; n×k weights; n row sums
  private S0 = new Float64Array(0);
  private S1 = new Float64Array(0);
  private S2 = new Float64Array(0);
  private P = new Float64Array(0);
  private Sr = new Float64Array(0);
  // M-step state for the NewtonProblem view
  private X: Float64Array = new Float64Array(0);
  private R: Float64Array = new Float64Array(0);
  private n = 0;
  /** The E-step's π and Q at the M-step's start (see `firstPass`). */
  private start: GateState | undefined = undefined;

  /** `plain: true` keeps the block-wise loops instead of the generated kernels (the tests' reference). */
  constructor(k: number, d: number, options: { sigma: ActivationName; bias?: BiasPlacement; fixedTau?: number; plain?: boolean }) {
    const { sigma } = options;
    const bias = options.bias ?? 'outside';
    if (!ACTIVATIONS.includes(sigma)) throw new OptionError(`activation gate: sigma must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(sigma)}`);
    if (bias !== 'outside' && bias !== 'inside') throw new OptionError(`activation gate: bias must be "outside" or "inside", got ${JSON.stringify(bias)}`);
    const fixedTau = options.fixedTau;
    if (fixedTau !== undefined && !(fixedTau > 0 && Number.isFinite(fixedTau))) throw new OptionError(`activation gate: fixed τ must be a positive number, got ${fixedTau}`);
    this.k = k;
    this.d = d;
    this.sigma = sigma;
    this.bias = bias;
    this.fixedTau = fixedTau;
    this.code = activationCode(sigma);
    const linear = this.code === LINEAR;
    this.hasLogTau = fixedTau === undefined && !linear;
    this.gauged = fixedTau === undefined && linear;
    this.nParams = (k - 1) * (d + 1) + (this.hasLogTau ? 1 : 0);
    const der = new Float64Array(3);
    activationDerivatives(this.code, 0, der);
    this.sigma0 = der[0];
    this.newton = new NewtonMaximizer(this.nParams, MARQUARDT_FINAL_NEWTON);
    const shape = { k, d, code: this.code, inside: bias === 'inside', hasLogTau: this.hasLogTau };
    const plain = options.plain === true;
    this.passKernel = plain ? null : activationPassKernel(shape);
    this.gradKernel = plain ? null : activationGradientKernel(shape);
    this.logitsKernel = plain ? null : activationLogitsKernel(shape);
    this.valueGradientKernel = plain ? null : activationValueGradientKernel(shape);
    if (this.valueGradientKernel) this.gradientPass = (theta, g) => this.valueGradient(theta, g);
    const fixedRef = !linear;
    this.blocks = [
      { name: 'beta0', perExpert: true, kind: 'gate', ...(fixedRef && bias === 'inside' ? { fixedReference: true } : {}) },
      { name: 'beta1', perExpert: true, kind: 'gate', ...(fixedRef ? { fixedReference: true } : {}) },
      ...(fixedTau === undefined ? [{ name: 'tau', perExpert: false, kind: 'scale' } as const] : []),
    ];
  }

  /** The τ used inside the logits for working parameters θ. */
  private tauOf(theta: Float64Array): number {
    if (this.hasLogTau) return Math.exp(theta[this.nParams - 1]);
    return this.fixedTau ?? 1;
  }

  feasible(theta: Float64Array): boolean {
    if (!this.hasLogTau) return true;
    const l = theta[this.nParams - 1];
    return l >= -LOG_TAU_MAX && l <= LOG_TAU_MAX;
  }

  private ensure(n: number): void {
    const m = n * (this.k - 1);
    if (this.S0.length < m) {
      this.S0 = new Float64Array(m);
      this.S1 = new Float64Array(m);
      this.S2 = new Float64Array(m);
    }
    if (this.P.length < n * this.k) this.P = new Float64Array(n * this.k);
    if (this.Sr.length < n) this.Sr = new Float64Array(n);
  }

  /**
   * Column-wise evaluation at θ: σ (and σ′ for level ≥ 1, σ″ for level 2) of u = β₁ᵀx (+ β₀ when
   * the bias is inside) into S0/S1/S2, then per row the weights into P and, when W is given, the row
   * sums into Sr; log π into L (n×k) when given. Returns Σ_t Σ_i W_ti log π_ti (0 without W).
   */
  private evaluate(theta: Float64Array, X: Float64Array, n: number, level: 0 | 1 | 2, W: Float64Array | null, L: Float64Array | null): number {
    const { k, d } = this;
    const q = d + 1;
    const km = k - 1;
    this.ensure(n);
    const { S0, S1, S2, P, Sr } = this;
    const inside = this.bias === 'inside';
    const invTau = 1 / this.tauOf(theta);
    for (let j = 0; j < km; j++) {
      const bj = j * q;
      const b0 = inside ? theta[bj] : 0;
      if (d === 1) {
        const c1 = theta[bj + 1];
        for (let t = 0; t < n; t++) S0[t * km + j] = b0 + c1 * X[t];
      } else {
        for (let t = 0; t < n; t++) {
          let u = b0;
          for (let a = 0; a < d; a++) u += theta[bj + 1 + a] * X[t * d + a];
          S0[t * km + j] = u;
        }
      }
    }
    activateArray(this.code, S0, n * km, level >= 1 ? S1 : null, level === 2 ? S2 : null);
    const zRef = this.sigma0 * invTau; // reference logit σ(0)/τ
    let Q = 0;
    if (k === 2) {
      // two experts: one logit difference δ per row, log π = (δ, 0) − lse with one exp and one log1p
      const b0 = inside ? 0 : theta[0];
      for (let t = 0; t < n; t++) {
        const delta = S0[t] * invTau + b0 - zRef;
        const e = expNonPositive(-Math.abs(delta));
        const lse = (delta > 0 ? delta : 0) + Math.log1p(e); // relative to zRef
        const p0 = delta > 0 ? 1 / (1 + e) : e / (1 + e);
        P[2 * t] = p0;
        P[2 * t + 1] = 1 - p0;
        const l0 = delta - lse;
        const l1 = -lse;
        if (L !== null) {
          L[2 * t] = l0;
          L[2 * t + 1] = l1;
        }
        if (W !== null) {
          const w0 = W[2 * t];
          const w1 = W[2 * t + 1];
          if (w0 !== 0) Q += w0 * l0;
          if (w1 !== 0) Q += w1 * l1;
          Sr[t] = w0 + w1;
        }
      }
      return Q;
    }
    for (let t = 0; t < n; t++) {
      const o = t * k;
      const os = t * km;
      let mx = zRef;
      for (let j = 0; j < km; j++) {
        // P4 (math-spec §6.2): A: σ(β₁ᵀx)/τ + β₀;  B: σ(β₁ᵀx + β₀)/τ
        const zj = inside ? S0[os + j] * invTau : S0[os + j] * invTau + theta[j * q];
        P[o + j] = zj;
        if (zj > mx) mx = zj;
      }
      P[o + km] = zRef;
      let sum = 0;
      for (let i = 0; i < k; i++) sum += expNonPositive(P[o + i] - mx);
      const lse = mx + Math.log(sum);
      let s = 0;
      for (let i = 0; i < k; i++) {
        const l = P[o + i] - lse;
        if (L !== null) L[o + i] = l;
        if (W !== null) {
          const w = W[o + i];
          if (w !== 0) {
            Q += w * l;
            s += w;
          }
        }
        P[o + i] = expNonPositive(l);
      }
      if (W !== null) Sr[t] = s;
    }
    return Q;
  }

  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    this.evaluate(theta, X, n, 0, null, out);
  }

  /**
   * Logits δ_i = z_i − z_ref (log π = δ − lse δ): the E-step then needs no normaliser of its own
   * and hands π and Q to the M-step (`GateState`). Without a kernel, log π itself (also logits).
   */
  logits(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    if (this.logitsKernel === null) {
      this.evaluate(theta, X, n, 0, null, out);
      return;
    }
    const invTau = 1 / this.tauOf(theta);
    this.logitsKernel(theta, X, n, invTau, this.sigma0 * invTau, out);
  }

  /** `logits` as a row fragment for the fused E-step (null without the generated kernels). */
  logitsFragment(): LogitsFragment | null {
    if (this.logitsKernel === null) return null;
    return activationLogitsFragment({ k: this.k, d: this.d, code: this.code, inside: this.bias === 'inside', hasLogTau: this.hasLogTau }, this.sigma0, this.fixedTau ?? 1);
  }

  /**
   * Gradient Σ_t Σ_i c_ti ∇z_ti, c_ti = W_ti − π_ti Σ_j W_tj, from the buffers of evaluate(level ≥ 1,
   * W): into grad (length nParams) when rows is null, else per row into rows (n×nParams).
   */
  private gradient(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array | null, rows: Float64Array | null): void {
    const { k, d, S0, S1, P, Sr } = this;
    const q = d + 1;
    const km = k - 1;
    const p = this.nParams;
    const inside = this.bias === 'inside';
    const invTau = 1 / this.tauOf(theta);
    if (grad !== null) grad.fill(0, 0, p);
    for (let j = 0; j < km; j++) {
      const bj = j * q;
      for (let t = 0; t < n; t++) {
        const c = W[t * k + j] - Sr[t] * P[t * k + j];
        const a1 = c * S1[t * km + j] * invTau; // c σ′/τ
        const g0 = inside ? a1 : c;
        if (rows !== null) {
          const o = t * p + bj;
          rows[o] = g0;
          for (let a = 0; a < d; a++) rows[o + 1 + a] = a1 * X[t * d + a];
        } else if (grad !== null) {
          grad[bj] += g0;
          for (let a = 0; a < d; a++) grad[bj + 1 + a] += a1 * X[t * d + a];
        }
      }
    }
    if (this.hasLogTau) {
      // ∂z_i/∂log τ = −σ_i/τ (the reference: −σ(0)/τ)
      const L = p - 1;
      let gl = 0;
      for (let t = 0; t < n; t++) {
        let ch = -(W[t * k + km] - Sr[t] * P[t * k + km]) * this.sigma0 * invTau;
        for (let j = 0; j < km; j++) ch -= (W[t * k + j] - Sr[t] * P[t * k + j]) * S0[t * km + j] * invTau;
        if (rows !== null) rows[t * p + L] = ch;
        gl += ch;
      }
      if (grad !== null) grad[L] = gl;
    }
  }

  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array, weights?: Float64Array): void {
    if (this.gradKernel !== null) {
      const invTau = 1 / this.tauOf(theta);
      this.gradKernel(theta, X, W, n, invTau, this.sigma0 * invTau, grad, weights ?? null);
      return;
    }
    this.evaluate(theta, X, n, 1, W, null);
    this.gradient(theta, X, n, W, grad, null);
  }

  rowGradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    this.evaluate(theta, X, n, 1, W, null);
    this.gradient(theta, X, n, W, null, out);
  }

  /**
   * Q(θ) = Σ R log π, its gradient and the exact −∇²Q (NewtonProblem):
   *   −∇²Q = Σ_t [ S_t (Σ_i π_i ∇z_i ∇z_iᵀ − m mᵀ) − Σ_i c_i ∇²z_i ],  m = Σ_i π_i ∇z_i,
   * with ∇z_j = (g_j on row j, h_j on log τ), g_j = A: (1, σ′x/τ), B: σ′/τ (1, x), h_j = −σ_j/τ;
   * ∇²z_j = σ″/τ ṽṽᵀ on row j (ṽ = (0, x) for A, (1, x) for B), −σ′/τ ṽ across row j and log τ,
   * σ/τ on (log τ, log τ). Accumulated block by block over long loops in t.
   */
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    if (!this.feasible(theta)) return -Infinity;
    const { k, d, X, R, n } = this;
    if (this.passKernel !== null) {
      const invTau = 1 / this.tauOf(theta);
      return this.passKernel(theta, X, R, n, invTau, this.sigma0 * invTau, g, NH, null);
    }
    const q = d + 1;
    const km = k - 1;
    const p = this.nParams;
    const Q = this.evaluate(theta, X, n, 2, R, null);
    this.gradient(theta, X, n, R, g, null);
    const { S0, S1, S2, P, Sr } = this;
    const inside = this.bias === 'inside';
    const invTau = 1 / this.tauOf(theta);
    NH.fill(0);
    // Fisher blocks (j, l), l ≤ j: Σ_t S π_j (δ_jl − π_l) g_j g_lᵀ
    for (let j = 0; j < km; j++) {
      const bj = j * q;
      for (let l = 0; l <= j; l++) {
        const bl = l * q;
        const diag = j === l ? 1 : 0;
        if (d === 1) {
          let h00 = 0, h01 = 0, h10 = 0, h11 = 0;
          for (let t = 0; t < n; t++) {
            const w = Sr[t] * P[t * k + j] * (diag - P[t * k + l]);
            const aj = S1[t * km + j] * invTau;
            const al = S1[t * km + l] * invTau;
            const gj0 = inside ? aj : 1;
            const gl0 = inside ? al : 1;
            const x = X[t];
            h00 += w * gj0 * gl0;
            h10 += w * aj * x * gl0;
            h01 += w * gj0 * al * x;
            h11 += w * aj * al * x * x;
          }
          NH[bj * p + bl] += h00;
          NH[(bj + 1) * p + bl] += h10;
          NH[(bj + 1) * p + bl + 1] += h11;
          if (!diag) NH[bj * p + bl + 1] += h01;
        } else {
          for (let t = 0; t < n; t++) {
            const w = Sr[t] * P[t * k + j] * (diag - P[t * k + l]);
            if (w === 0) continue;
            const aj = S1[t * km + j] * invTau;
            const al = S1[t * km + l] * invTau;
            const gj0 = inside ? aj : 1;
            const gl0 = inside ? al : 1;
            const xo = t * d;
            for (let a = 0; a < q; a++) {
              const ga = w * (a === 0 ? gj0 : aj * X[xo + a - 1]);
              const row = (bj + a) * p + bl;
              const bmax = diag ? a : q - 1;
              NH[row] += ga * gl0;
              for (let b = 1; b <= bmax; b++) NH[row + b] += ga * al * X[xo + b - 1];
            }
          }
        }
      }
      // curvature of logit j: −Σ_t c_j σ″_j/τ ṽ ṽᵀ (lower triangle of block (j, j))
      const a0 = inside ? 0 : 1;
      for (let t = 0; t < n; t++) {
        const c = R[t * k + j] - Sr[t] * P[t * k + j];
        const w2 = -c * S2[t * km + j] * invTau;
        if (w2 === 0) continue;
        const xo = t * d;
        for (let a = a0; a < q; a++) {
          const va = w2 * (a === 0 ? 1 : X[xo + a - 1]);
          const row = (bj + a) * p + bj;
          for (let b = a0; b <= a; b++) NH[row + b] += va * (b === 0 ? 1 : X[xo + b - 1]);
        }
      }
    }
    if (this.hasLogTau) {
      const L = p - 1;
      const hr = -this.sigma0 * invTau;
      let ll = 0;
      for (let t = 0; t < n; t++) {
        const o = t * k;
        const os = t * km;
        const S = Sr[t];
        // h̄ = Σ π h, Σ π h², Σ c h over all experts including the reference
        let hbar = P[o + km] * hr;
        let hh = P[o + km] * hr * hr;
        let ch = (R[o + km] - S * P[o + km]) * hr;
        for (let j = 0; j < km; j++) {
          const hj = -S0[os + j] * invTau;
          hbar += P[o + j] * hj;
          hh += P[o + j] * hj * hj;
          ch += (R[o + j] - S * P[o + j]) * hj;
        }
        // (log τ, log τ): S(Σ π h² − h̄²) − Σ c ∂²z/∂ℓ², ∂²z/∂ℓ² = σ/τ = −h
        ll += S * (hh - hbar * hbar) + ch;
        // (row j, log τ): S π_j (h_j − h̄) g_j + c_j σ′_j/τ ṽ
        for (let j = 0; j < km; j++) {
          const pj = P[o + j];
          const c = R[o + j] - S * pj;
          const aj = S1[os + j] * invTau;
          const wf = S * pj * (-S0[os + j] * invTau - hbar);
          const bj = j * q;
          NH[L * p + bj] += wf * (inside ? aj : 1) + (inside ? c * aj : 0);
          for (let a = 0; a < d; a++) NH[L * p + bj + 1 + a] += (wf + c) * aj * X[t * d + a];
        }
      }
      NH[L * p + L] = ll;
    }
    symmetrizeFromLower(NH, p);
    return Q;
  }

  /** Q and ∇Q at θ on the M-step's data (NewtonProblem `gradientPass`: the Newton trials near the end). */
  private valueGradient(theta: Float64Array, g: Float64Array): number {
    if (!this.feasible(theta)) return -Infinity;
    const invTau = 1 / this.tauOf(theta);
    return this.valueGradientKernel!(theta, this.X, this.R, this.n, invTau, this.sigma0 * invTau, g, EMPTY, null);
  }

  /** The first Newton system from the E-step's π (no exps, no logs) when it describes this θ and R. */
  firstPass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    const st = this.start;
    if (st === undefined || this.passKernel === null || !this.feasible(theta)) return this.pass(theta, g, NH);
    const invTau = 1 / this.tauOf(theta);
    this.passKernel(theta, this.X, this.R, this.n, invTau, this.sigma0 * invTau, g, NH, st.weights);
    return st.objective;
  }

  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions, start?: GateState): GateMStepInfo {
    this.X = X;
    this.R = R;
    this.n = n;
    this.start = start !== undefined && Number.isFinite(start.objective) ? start : undefined;
    try {
      return this.newton.run(this, theta, options);
    } finally {
      this.X = new Float64Array(0);
      this.R = new Float64Array(0);
      this.start = undefined;
    }
  }

  /** Q(θ) = Σ_t Σ_i R_ti log π_i(x_t; θ). */
  objective(theta: Float64Array, X: Float64Array, n: number, R: Float64Array): number {
    return this.evaluate(theta, X, n, 0, R, null);
  }

  canonicalize(_theta: Float64Array): void {
    // θ is free of translation (reference row removed) and of scale (log τ identifiable for
    // non-linear σ; β/τ for the identity): nothing to do.
  }

  /** Canonical natural parameters of θ (see the header for the conventions). */
  natural(theta: Float64Array): { tau: number; beta0: number[]; beta1: number[][] } {
    const { k, d } = this;
    let tau = this.tauOf(theta);
    let s0 = 1; // β₀ = s0 · θ₀
    let s1 = 1; // β₁ = s1 · θ₁
    if (this.gauged) {
      const norm = slopeNorm(theta, k - 1, d);
      tau = norm > 0 ? 1 / norm : 1;
      s1 = tau;
      s0 = this.bias === 'inside' ? tau : 1;
    }
    return { tau, ...linearBlocksToJSON(theta, k, d, s0, s1) };
  }

  toJSON(theta: Float64Array): GateJSON {
    const { tau, beta0, beta1 } = this.natural(theta);
    return { ...this.spec(), tau, beta0, beta1 };
  }

  paramsFromJSON(json: GateJSON): Float64Array {
    const { k, d } = this;
    const path = 'gate';
    const q = d + 1;
    const tau = readTau(json, path, this.fixedTau);
    const beta0 = readVector(json.beta0, `${path}.beta0`, k);
    const beta1 = readMatrix(json.beta1, `${path}.beta1`, k, d);
    if (k < 1) throw new ModelFormatError(`${path}: needs at least one expert`);
    const linear = this.code === LINEAR;
    const inside = this.bias === 'inside';
    if (!linear) {
      for (let a = 0; a < d; a++) {
        if (beta1[k - 1][a] !== 0) {
          throw new ModelFormatError(`${path}.beta1[${k - 1}][${a}]: the reference (last) expert of an activation gate with sigma=${this.sigma} must have beta1 = 0 (σ is not translation-invariant), got ${beta1[k - 1][a]}`);
        }
      }
      if (inside && beta0[k - 1] !== 0) {
        throw new ModelFormatError(`${path}.beta0[${k - 1}]: the reference (last) expert of an activation gate with the bias inside σ must have beta0 = 0, got ${beta0[k - 1]}`);
      }
    }
    // translation to the reference (exact for the bias outside, and for σ = identity)
    const div1 = this.gauged ? tau : 1;
    const div0 = this.gauged && inside ? tau : 1;
    const theta = new Float64Array(this.nParams);
    for (let j = 0; j < k - 1; j++) {
      theta[j * q] = (beta0[j] - beta0[k - 1]) / div0;
      for (let a = 0; a < d; a++) theta[j * q + 1 + a] = (beta1[j][a] - beta1[k - 1][a]) / div1;
    }
    if (this.hasLogTau) theta[this.nParams - 1] = Math.log(tau);
    return theta;
  }

  spec(): GateJSON {
    return {
      type: this.type,
      sigma: this.sigma,
      bias: this.bias,
      ...(this.fixedTau !== undefined ? { fixedTau: true, tau: this.fixedTau } : {}),
    };
  }
}

function readSigma(v: unknown, path: string): ActivationName {
  const s = readString(v, path);
  if (!(ACTIVATIONS as readonly string[]).includes(s)) throw new ModelFormatError(`${path}: expected one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(s)}`);
  return s as ActivationName;
}

function readBias(v: unknown, path: string): BiasPlacement {
  if (v === undefined) return 'outside';
  const s = readString(v, path);
  if (s !== 'outside' && s !== 'inside') throw new ModelFormatError(`${path}: expected "outside" or "inside", got ${JSON.stringify(s)}`);
  return s;
}

export const activationGateFactory: GateFactory = {
  type: 'activation',
  cliNames: ['activation'],
  help: 'activation:SIGMA[,bias=outside|inside][,fixed=TAU] — softmax(σ(β₁ᵀx)/τ + β₀) (bias outside) or softmax(σ(β₁ᵀx + β₀)/τ); σ = tanh|sigmoid|gelu|identity (P4)',
  create: (spec, k, d) => new ActivationGate(k, d, {
    sigma: readSigma(spec.sigma, 'gate.sigma'),
    bias: readBias(spec.bias, 'gate.bias'),
    fixedTau: readFixedTau(spec, 'gate'),
  }),
  dims: linearGateDims,
  parseCli: (rest, spec) => {
    const { words, opts } = parseCliOptions(rest, spec, ['bias', 'fixed']);
    if (words.length !== 1 || !(ACTIVATIONS as readonly string[]).includes(words[0].toLowerCase())) {
      throw new OptionError(`--gate ${spec}: expected activation:SIGMA with SIGMA one of ${ACTIVATIONS.join(', ')}, e.g. activation:tanh or activation:tanh,bias=inside`);
    }
    const bias = opts.get('bias') ?? 'outside';
    if (bias !== 'outside' && bias !== 'inside') throw new OptionError(`--gate ${spec}: bias must be outside or inside, got ${JSON.stringify(bias)}`);
    const fixed = opts.get('fixed');
    return {
      type: 'activation',
      sigma: words[0].toLowerCase(),
      bias,
      ...(fixed !== undefined ? { fixedTau: true, tau: cliPositive(fixed, 'fixed', spec) } : {}),
    };
  },
};
