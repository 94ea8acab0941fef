/**
 * Standard softmax gate: π_i(x) = exp(β₁ᵢᵀx + β₀ᵢ) / Σ_j exp(β₁ⱼᵀx + β₀ⱼ)   (math-spec §1.2).
 *
 * Identifiability: the gate is invariant to a common shift of all (β₁ᵢ, β₀ᵢ); the canonical form
 * pins the LAST expert as the reference, β₁ₖ = 0, β₀ₖ = 0 (math-spec §1.2, assumption A.2), so θ
 * holds only the k−1 free rows [β₀ⱼ, β₁ⱼ(1..d)], j < k−1.
 *
 * The M-step is exact Newton/IRLS with step-halving (math-spec §8.1 IRLS, §9.1), warm-started.
 *
 * The computation is `LinearSoftmaxCore` (family/linear-softmax.ts) on F = X; the modified gate
 * softmax(β₁ᵀM(x) + β₀) reuses it on F = M(X).
 */
import { LINEAR_TRANSLATION, type GateInvariance, type BlockInfo, type Gate, type GateJSON, type GateMStepInfo, type GateMStepOptions, type GateState } from './gate.js';
import { LinearSoftmaxCore } from '../family/linear-softmax.js';
import { ModelFormatError } from '../errors.js';
import { readMatrix, readVector } from '../json-read.js';

/** Re-exported from the shared floor (family/linear-softmax.ts). */
export { LinearSoftmaxCore };

export class SoftmaxGate implements Gate {
  readonly type: string = 'softmax';
  /** (β₀, β₁) → (β₀ + t₀, β₁ + t) for every expert (math-spec §1.2). */
  readonly invariance: GateInvariance = LINEAR_TRANSLATION;
  readonly supportsBound = true;
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
  logits(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    this.core.logits(theta, X, n, out);
  }
  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array, weights?: Float64Array): void {
    this.core.gradQ(theta, X, n, W, grad, weights);
  }
  rowGradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    this.core.rowGradQ(theta, X, n, W, out);
  }
  negHessianQ(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, H: Float64Array): void {
    this.core.negHessianQ(theta, X, n, R, H);
  }
  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions, start?: GateState): GateMStepInfo {
    return this.core.mStep(theta, X, n, R, options, start);
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

/**
 * beta0 (k) and beta1 (k×d) with the reference (last) expert at zero, from θ rows [β₀ⱼ, β₁ⱼ];
 * `s0` and `s1` scale the two blocks (β₀ = s0·θ₀, β₁ = s1·θ₁) for gates whose θ is a rescaled form.
 */
export function linearBlocksToJSON(theta: Float64Array, k: number, d: number, s0 = 1, s1 = 1): { beta0: number[]; beta1: number[][] } {
  const q = d + 1;
  const beta0: number[] = [];
  const beta1: number[][] = [];
  for (let j = 0; j < k; j++) {
    if (j < k - 1) {
      beta0.push(theta[j * q] * s0);
      beta1.push(Array.from(theta.subarray(j * q + 1, j * q + 1 + d), (v) => v * s1));
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
