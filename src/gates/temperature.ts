/**
 * Dense-to-sparse (temperature) softmax gate (P4, math-spec §6.1; P3 journal version §5.4):
 *   πᵢ(x) = Softmax((β₁ᵢᵀx + β₀ᵢ)/τ)ᵢ,  τ > 0 estimated, or fixed (`fixedTau`).
 *
 * Non-identifiabilities and the canonical form:
 *  - translation (as for softmax): the last expert is the reference, β₁ₖ = 0, β₀ₖ = 0;
 *  - scale: (β₁, β₀, τ) → c·(β₁, β₀, τ), c > 0, leaves every πᵢ unchanged (math-spec §6.1 and
 *    oracle 17), so with τ estimated only γ = β/τ is identifiable.
 *    Convention (estimated τ): the working parameters are the identifiable γⱼ = (β₀ⱼ, β₁ⱼ)/τ of the
 *    k−1 free rows, and the canonical JSON form is the point of the scale orbit whose non-reference
 *    slopes have unit Frobenius norm:  Σ_{j<k} ‖β₁ⱼ‖² = 1,  i.e.  τ = 1/‖γ₁‖_F,  β = τ·γ.
 *    (If every slope is 0 the gate does not depend on x and τ = 1 is reported.) τ is therefore a
 *    smooth function of the identifiable γ: the reported (β₁, β₀, τ) converge whenever γ does, and
 *    a Voronoi loss on them measures the identifiable gate, not the flat scale direction along
 *    which the raw (β, τ) of the paper cannot converge.
 *    With `fixedTau` the working parameters are β itself and τ is the given constant (the paper's
 *    option (a) in math-spec §6.1: the model is then P0's softmax gate with logits divided by τ).
 * Either way θ has no flat direction, and the M-step is the exact Newton/IRLS of the softmax gate
 * (`LinearSoftmaxCore`) on γ (Newton is affine-invariant, so with fixed τ the iterates in β are the
 * same as Newton on β).
 *
 * JSON: { "type": "denseToSparse", "tau": τ, "beta0": [k], "beta1": [[d] × k] }, plus
 * "fixedTau": true when τ is an option rather than a parameter. The atom weights of the mixing
 * measure are exp(β₀ᵢ/τ) (math-spec §6.1).
 */
import { TEMPERATURE_INVARIANCE, type GateInvariance, type BlockInfo, type Gate, type GateJSON, type GateMStepInfo, type GateMStepOptions, type GateState } from './gate.js';
import type { GateFactory } from './gate.js';
import { LinearSoftmaxCore } from '../family/linear-softmax.js';
import { linearBlocksToJSON } from './softmax.js';
import { readTau, cliPositive, linearGateDims, parseCliOptions, readFixedTau, slopeNorm } from './common.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { readMatrix, readVector } from '../json-read.js';

export class TemperatureGate implements Gate {
  readonly type = 'denseToSparse';
  /** The translation of (β₀, β₁) and the scale (β₁, β₀, τ) → c(β₁, β₀, τ) (math-spec §6.1). */
  readonly invariance: GateInvariance = TEMPERATURE_INVARIANCE;
  /** `mStep` honours `GateMStepOptions.bound` (projected Newton; compact Θ, issue 15). */
  readonly supportsBound = true;
  readonly k: number;
  readonly d: number;
  readonly nParams: number;
  /** The fixed temperature, or undefined when τ is estimated. */
  readonly fixedTau: number | undefined;
  readonly blocks: readonly BlockInfo[];
  private readonly core: LinearSoftmaxCore;
  private readonly gamma: Float64Array;

  constructor(k: number, d: number, fixedTau?: number) {
    if (fixedTau !== undefined && !(fixedTau > 0 && Number.isFinite(fixedTau))) throw new OptionError(`denseToSparse gate: fixed τ must be a positive number, got ${fixedTau}`);
    this.k = k;
    this.d = d;
    this.fixedTau = fixedTau;
    this.core = new LinearSoftmaxCore(k, d);
    this.nParams = this.core.nParams;
    this.gamma = new Float64Array(this.nParams);
    this.blocks = [
      { name: 'beta0', perExpert: true, kind: 'gate' },
      { name: 'beta1', perExpert: true, kind: 'gate' },
      ...(fixedTau === undefined ? [{ name: 'tau', perExpert: false, kind: 'scale' } as const] : []),
    ];
  }

  /** γ = θ/τ for fixed τ (a scratch copy), θ itself when τ is estimated (θ = γ). */
  private toGamma(theta: Float64Array): Float64Array {
    if (this.fixedTau === undefined) return theta;
    const inv = 1 / this.fixedTau;
    for (let i = 0; i < this.nParams; i++) this.gamma[i] = theta[i] * inv;
    return this.gamma;
  }

  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    // P4 (math-spec §6.1): logits (β₁ᵀx + β₀)/τ = γ₁ᵀx + γ₀
    this.core.logWeights(this.toGamma(theta), X, n, out);
  }

  logits(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    this.core.logits(this.toGamma(theta), X, n, out);
  }

  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array, weights?: Float64Array): void {
    this.core.gradQ(this.toGamma(theta), X, n, W, grad, weights);
    if (this.fixedTau !== undefined) for (let i = 0; i < this.nParams; i++) grad[i] /= this.fixedTau; // ∂z/∂β = (1, x)/τ
  }

  rowGradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    this.core.rowGradQ(this.toGamma(theta), X, n, W, out);
    if (this.fixedTau !== undefined) {
      const inv = 1 / this.fixedTau;
      for (let i = 0; i < n * this.nParams; i++) out[i] *= inv;
    }
  }

  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions, start?: GateState): GateMStepInfo {
    if (this.fixedTau === undefined) return this.core.mStep(theta, X, n, R, options, start);
    const g = this.toGamma(theta);
    // same π and Q: only θ is rescaled; the box |θ| ≤ B on β is |γ| ≤ B/τ on γ = β/τ
    const info = this.core.mStep(g, X, n, R, options.bound !== undefined ? { ...options, bound: options.bound / this.fixedTau } : options, start);
    for (let i = 0; i < this.nParams; i++) theta[i] = g[i] * this.fixedTau;
    return info;
  }

  canonicalize(_theta: Float64Array): void {
    // θ is translation- and scale-free (reference row removed; γ = β/τ or τ fixed): nothing to do.
  }

  /** The canonical (β, τ) of θ: see the file header for the scale convention. */
  natural(theta: Float64Array): { tau: number; beta0: number[]; beta1: number[][] } {
    const { k, d } = this;
    let tau: number;
    let scale: number; // β = scale · θ
    if (this.fixedTau !== undefined) {
      tau = this.fixedTau;
      scale = 1;
    } else {
      const norm = slopeNorm(theta, k - 1, d);
      tau = norm > 0 ? 1 / norm : 1;
      scale = tau;
    }
    return { tau, ...linearBlocksToJSON(theta, k, d, scale, scale) };
  }

  toJSON(theta: Float64Array): GateJSON {
    const { tau, beta0, beta1 } = this.natural(theta);
    return { type: this.type, ...(this.fixedTau !== undefined ? { fixedTau: true } : {}), tau, beta0, beta1 };
  }

  paramsFromJSON(json: GateJSON): Float64Array {
    const { k, d } = this;
    const path = 'gate';
    const tau = readTau(json, path, this.fixedTau);
    const beta0 = readVector(json.beta0, `${path}.beta0`, k);
    const beta1 = readMatrix(json.beta1, `${path}.beta1`, k, d);
    if (k < 1) throw new ModelFormatError(`${path}: needs at least one expert`);
    // translate to the reference expert; with τ estimated divide by τ (θ = γ), else keep β
    const div = this.fixedTau === undefined ? tau : 1;
    const q = d + 1;
    const theta = new Float64Array(this.nParams);
    for (let j = 0; j < k - 1; j++) {
      theta[j * q] = (beta0[j] - beta0[k - 1]) / div;
      for (let u = 0; u < d; u++) theta[j * q + 1 + u] = (beta1[j][u] - beta1[k - 1][u]) / div;
    }
    return theta;
  }

  spec(): GateJSON {
    return this.fixedTau === undefined ? { type: this.type } : { type: this.type, fixedTau: true, tau: this.fixedTau };
  }
}

export const temperatureGateFactory: GateFactory = {
  type: 'denseToSparse',
  cliNames: ['temperature', 'densetosparse', 'dense-to-sparse'],
  help: 'temperature[:fixed=TAU] — softmax((β₁ᵀx + β₀)/τ), τ estimated or fixed (P4); canonical ‖β₁‖_F = 1',
  create: (spec, k, d) => new TemperatureGate(k, d, readFixedTau(spec, 'gate')),
  dims: linearGateDims,
  parseCli: (rest, spec) => {
    const { words, opts } = parseCliOptions(rest, spec, ['fixed']);
    if (words.length > 0) throw new OptionError(`--gate ${spec}: unexpected ${JSON.stringify(words[0])} (use temperature or temperature:fixed=TAU)`);
    const fixed = opts.get('fixed');
    return fixed === undefined ? { type: 'denseToSparse' } : { type: 'denseToSparse', fixedTau: true, tau: cliPositive(fixed, 'fixed', spec) };
  },
};
