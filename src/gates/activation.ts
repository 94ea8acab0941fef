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
import type { BlockInfo, Gate, GateJSON, GateMStepInfo, GateMStepOptions } from './gate.js';
import type { GateFactory } from './registry.js';
import { NewtonMaximizer, type NewtonProblem } from './newton.js';
import { checkFixedTau, cliPositive, linearGateDims, parseCliOptions, readFixedTau, slopeNorm } from './common.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { readMatrix, readNumber, readString, readVector } from '../json-read.js';
import { normalCdf, normalPdf } from '../numeric/special.js';

export const ACTIVATIONS = ['tanh', 'sigmoid', 'gelu', 'identity'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];
export type BiasPlacement = 'outside' | 'inside';

const TANH = 0;
const SIGMOID = 1;
const GELU = 2;
const IDENTITY = 3;

/** σ(u), σ′(u), σ″(u) into out[0..2]. */
export function activationDerivatives(code: number, u: number, out: Float64Array): void {
  switch (code) {
    case TANH: {
      const s = Math.tanh(u);
      const s1 = 1 - s * s;
      out[0] = s; out[1] = s1; out[2] = -2 * s * s1;
      return;
    }
    case SIGMOID: {
      const e = Math.exp(-Math.abs(u));
      const s = u >= 0 ? 1 / (1 + e) : e / (1 + e);
      const s1 = s * (1 - s);
      out[0] = s; out[1] = s1; out[2] = s1 * (1 - 2 * s);
      return;
    }
    case GELU: {
      // gelu(u) = u Φ(u); gelu′ = Φ + uφ; gelu″ = φ(2 − u²)
      const P = normalCdf(u);
      const p = normalPdf(u);
      out[0] = u * P; out[1] = P + u * p; out[2] = p * (2 - u * u);
      return;
    }
    default:
      out[0] = u; out[1] = 1; out[2] = 0;
  }
}

/** Bound on |log τ|: points outside are infeasible (τ would under/overflow the logits). */
const LOG_TAU_MAX = 30;

export class ActivationGate implements Gate, NewtonProblem {
  readonly type = 'activation';
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
  // per-row scratch
  private readonly z: Float64Array;
  private readonly pi: Float64Array;
  private readonly s0: Float64Array;
  private readonly s1: Float64Array;
  private readonly s2: Float64Array;
  private readonly der = new Float64Array(3);
  // M-step state for the NewtonProblem view
  private X: Float64Array = new Float64Array(0);
  private R: Float64Array = new Float64Array(0);
  private n = 0;

  constructor(k: number, d: number, options: { sigma: ActivationName; bias?: BiasPlacement; fixedTau?: number }) {
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
    this.code = sigma === 'tanh' ? TANH : sigma === 'sigmoid' ? SIGMOID : sigma === 'gelu' ? GELU : IDENTITY;
    const linear = this.code === IDENTITY;
    this.hasLogTau = fixedTau === undefined && !linear;
    this.gauged = fixedTau === undefined && linear;
    this.nParams = (k - 1) * (d + 1) + (this.hasLogTau ? 1 : 0);
    activationDerivatives(this.code, 0, this.der);
    this.sigma0 = this.der[0];
    this.newton = new NewtonMaximizer(this.nParams);
    this.z = new Float64Array(k);
    this.pi = new Float64Array(k);
    this.s0 = new Float64Array(k);
    this.s1 = new Float64Array(k);
    this.s2 = new Float64Array(k);
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

  /**
   * Logits of row t into this.z, σ, σ′, σ″ of the non-reference experts into s0/s1/s2 and the
   * weights into this.pi; returns the log-sum-exp.
   */
  private row(theta: Float64Array, X: Float64Array, t: number, invTau: number): number {
    const { k, d, z, pi, s0, s1, s2, der, code } = this;
    const q = d + 1;
    const xo = t * d;
    const inside = this.bias === 'inside';
    let mx = this.sigma0 * invTau; // reference logit σ(0)/τ
    z[k - 1] = mx;
    for (let j = 0; j < k - 1; j++) {
      let u = inside ? theta[j * q] : 0;
      for (let a = 0; a < d; a++) u += theta[j * q + 1 + a] * X[xo + a];
      activationDerivatives(code, u, der);
      s0[j] = der[0]; s1[j] = der[1]; s2[j] = der[2];
      // P4 (math-spec §6.2): A: σ(β₁ᵀx)/τ + β₀;  B: σ(β₁ᵀx + β₀)/τ
      const zj = inside ? der[0] * invTau : der[0] * invTau + theta[j * q];
      z[j] = zj;
      if (zj > mx) mx = zj;
    }
    let s = 0;
    for (let i = 0; i < k; i++) {
      const e = Math.exp(z[i] - mx);
      pi[i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let i = 0; i < k; i++) pi[i] *= inv;
    return mx + Math.log(s);
  }

  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    const { k, z } = this;
    const invTau = 1 / this.tauOf(theta);
    for (let t = 0; t < n; t++) {
      const lse = this.row(theta, X, t, invTau);
      for (let i = 0; i < k; i++) out[t * k + i] = z[i] - lse;
    }
  }

  /**
   * Per-row gradient of Σ_i W_ti log π_ti written to g at offset go (length nParams), i.e.
   * Σ_i c_i ∇z_i with c_i = W_ti − π_i Σ_j W_tj. Requires row() to have been called for t.
   */
  private rowGrad(X: Float64Array, t: number, W: Float64Array, invTau: number, g: Float64Array, go: number, accumulate: boolean): void {
    const { k, d, pi, s0, s1 } = this;
    const q = d + 1;
    const xo = t * d;
    const o = t * k;
    const inside = this.bias === 'inside';
    let S = 0;
    for (let i = 0; i < k; i++) S += W[o + i];
    let gl = 0;
    for (let j = 0; j < k - 1; j++) {
      const c = W[o + j] - S * pi[j];
      const a1 = c * s1[j] * invTau;
      const b = go + j * q;
      if (accumulate) {
        g[b] += inside ? a1 : c;
        for (let a = 0; a < d; a++) g[b + 1 + a] += a1 * X[xo + a];
      } else {
        g[b] = inside ? a1 : c;
        for (let a = 0; a < d; a++) g[b + 1 + a] = a1 * X[xo + a];
      }
      gl -= c * s0[j] * invTau; // ∂z/∂log τ = −σ/τ
    }
    if (this.hasLogTau) {
      const c = W[o + k - 1] - S * pi[k - 1];
      gl -= c * this.sigma0 * invTau;
      if (accumulate) g[go + this.nParams - 1] += gl;
      else g[go + this.nParams - 1] = gl;
    }
  }

  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    const invTau = 1 / this.tauOf(theta);
    grad.fill(0, 0, this.nParams);
    for (let t = 0; t < n; t++) {
      this.row(theta, X, t, invTau);
      this.rowGrad(X, t, W, invTau, grad, 0, true);
    }
  }

  rowGradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    const invTau = 1 / this.tauOf(theta);
    const p = this.nParams;
    for (let t = 0; t < n; t++) {
      this.row(theta, X, t, invTau);
      this.rowGrad(X, t, W, invTau, out, t * p, false);
    }
  }

  /** Q(θ) = Σ R log π, gradient and −∇²Q (NewtonProblem; the exact Hessian, see the header). */
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    if (!this.feasible(theta)) return -Infinity;
    const { k, d, z, pi, s0, s1, s2, X, R, n } = this;
    const q = d + 1;
    const p = this.nParams;
    const L = p - 1; // index of log τ when present
    const hasL = this.hasLogTau;
    const inside = this.bias === 'inside';
    const invTau = 1 / this.tauOf(theta);
    const off0 = inside ? 1 : 0; // ṽ = (inside ? 1 : 0, x): the part of the row scaled by σ′/τ
    g.fill(0);
    NH.fill(0);
    let Q = 0;
    for (let t = 0; t < n; t++) {
      const lse = this.row(theta, X, t, invTau);
      const o = t * k;
      const xo = t * d;
      let S = 0;
      for (let i = 0; i < k; i++) {
        const r = R[o + i];
        if (r !== 0) {
          Q += r * (z[i] - lse);
          S += r;
        }
      }
      if (S === 0) continue;
      // h_i = ∂z_i/∂log τ = −σ_i/τ ; hbar = Σ π_i h_i
      let hbar = -pi[k - 1] * this.sigma0 * invTau;
      for (let j = 0; j < k - 1; j++) hbar -= pi[j] * s0[j] * invTau;
      let hh = 0; // Σ π h²
      let ch = 0; // Σ c h = the row's ∂Q/∂log τ;  Σ c ∂²z/∂ℓ² = Σ c σ/τ = −ch
      {
        const hr = -this.sigma0 * invTau;
        hh += pi[k - 1] * hr * hr;
        ch += (R[o + k - 1] - S * pi[k - 1]) * hr;
      }
      for (let j = 0; j < k - 1; j++) {
        const pj = pi[j];
        const c = R[o + j] - S * pj;
        const a1 = s1[j] * invTau; // σ′/τ
        const bj = j * q;
        // gradient: c · g_j, g_j = A: (1, σ′x/τ), B: σ′/τ (1, x)
        const g0 = inside ? a1 : 1;
        g[bj] += c * g0;
        for (let a = 0; a < d; a++) g[bj + 1 + a] += c * a1 * X[xo + a];
        const hj = -s0[j] * invTau;
        hh += pj * hj * hj;
        ch += c * hj;
        // Fisher blocks S(δ π_j − π_j π_l) g_j g_lᵀ, l ≤ j
        for (let l = 0; l <= j; l++) {
          const w = S * pj * ((j === l ? 1 : 0) - pi[l]);
          const al = s1[l] * invTau;
          const gl0 = inside ? al : 1;
          const bl = l * q;
          for (let a = 0; a < q; a++) {
            const ga = a === 0 ? g0 : a1 * X[xo + a - 1];
            const rowOff = (bj + a) * p + bl;
            const bmax = j === l ? a : q - 1;
            const wa = w * ga;
            NH[rowOff] += wa * gl0;
            for (let b = 1; b <= bmax; b++) NH[rowOff + b] += wa * al * X[xo + b - 1];
          }
        }
        // curvature of the logit: −c ∇²z_j = −c σ″/τ ṽ ṽᵀ
        const w2 = -c * s2[j] * invTau;
        if (w2 !== 0) {
          for (let a = off0 === 1 ? 0 : 1; a < q; a++) {
            const va = a === 0 ? 1 : X[xo + a - 1];
            const rowOff = (bj + a) * p + bj;
            for (let b = off0 === 1 ? 0 : 1; b <= a; b++) NH[rowOff + b] += w2 * va * (b === 0 ? 1 : X[xo + b - 1]);
          }
        }
        if (hasL) {
          // (row j, log τ): S π_j g_j (h_j − hbar) − c ∂²z_j/∂row∂ℓ, ∂²z_j/∂row∂ℓ = −σ′/τ ṽ
          const wf = S * pj * (hj - hbar);
          for (let a = 0; a < q; a++) {
            const ga = a === 0 ? g0 : a1 * X[xo + a - 1];
            const va = a === 0 ? off0 : X[xo + a - 1];
            NH[L * p + bj + a] += wf * ga + c * a1 * va;
          }
        }
      }
      if (hasL) {
        g[L] += ch;
        NH[L * p + L] += S * (hh - hbar * hbar) + ch;
      }
    }
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) NH[i * p + j] = NH[j * p + i];
    return Q;
  }

  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions): GateMStepInfo {
    this.X = X;
    this.R = R;
    this.n = n;
    try {
      return this.newton.run(this, theta, options);
    } finally {
      this.X = new Float64Array(0);
      this.R = new Float64Array(0);
    }
  }

  /** Q(θ) = Σ_t Σ_i R_ti log π_i(x_t; θ). */
  objective(theta: Float64Array, X: Float64Array, n: number, R: Float64Array): number {
    const { k, z } = this;
    const invTau = 1 / this.tauOf(theta);
    let Q = 0;
    for (let t = 0; t < n; t++) {
      const lse = this.row(theta, X, t, invTau);
      for (let i = 0; i < k; i++) if (R[t * k + i] !== 0) Q += R[t * k + i] * (z[i] - lse);
    }
    return Q;
  }

  canonicalize(_theta: Float64Array): void {
    // θ is free of translation (reference row removed) and of scale (log τ identifiable for
    // non-linear σ; β/τ for the identity): nothing to do.
  }

  /** Canonical natural parameters of θ (see the header for the conventions). */
  natural(theta: Float64Array): { tau: number; beta0: number[]; beta1: number[][] } {
    const { k, d } = this;
    const q = d + 1;
    let tau = this.tauOf(theta);
    let s0 = 1; // β₀ = s0 · θ₀
    let s1 = 1; // β₁ = s1 · θ₁
    if (this.gauged) {
      const norm = slopeNorm(theta, k - 1, d);
      tau = norm > 0 ? 1 / norm : 1;
      s1 = tau;
      s0 = this.bias === 'inside' ? tau : 1;
    }
    const beta0: number[] = [];
    const beta1: number[][] = [];
    for (let j = 0; j < k - 1; j++) {
      beta0.push(theta[j * q] * s0);
      const row: number[] = [];
      for (let a = 0; a < d; a++) row.push(theta[j * q + 1 + a] * s1);
      beta1.push(row);
    }
    beta0.push(0);
    beta1.push(new Array<number>(d).fill(0));
    return { tau, beta0, beta1 };
  }

  toJSON(theta: Float64Array): GateJSON {
    const { tau, beta0, beta1 } = this.natural(theta);
    return { ...this.spec(), tau, beta0, beta1 };
  }

  paramsFromJSON(json: GateJSON): Float64Array {
    const { k, d } = this;
    const path = 'gate';
    const q = d + 1;
    let tau: number;
    if (this.fixedTau !== undefined) {
      checkFixedTau(json, path, this.fixedTau);
      tau = this.fixedTau;
    } else {
      tau = readNumber(json.tau, `${path}.tau`, { positive: true });
    }
    const beta0 = readVector(json.beta0, `${path}.beta0`, k);
    const beta1 = readMatrix(json.beta1, `${path}.beta1`, k, d);
    if (k < 1) throw new ModelFormatError(`${path}: needs at least one expert`);
    const linear = this.code === IDENTITY;
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
