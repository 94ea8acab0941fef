/**
 * Top-K sparse softmax gate (P1, math-spec §3.1):
 *   π(x) = Softmax(TopK(β₁₁ᵀx, K; β₀₁), …, TopK(β₁ₖᵀx, K; β₀ₖ)),
 *   TopK(vᵢ, K; uᵢ) = vᵢ + uᵢ if vᵢ is among the K largest of v, −∞ otherwise.
 * Selection uses only vᵢ = β₁ᵢᵀx; ties go to the lower index. Non-selected experts get weight 0
 * (log-weight −Infinity).
 *
 * Canonical form: adding (t₁, t₀) to every (β₁ᵢ, β₀ᵢ) shifts every vᵢ by t₁ᵀx, so the selection and
 * the softmax among the selected are unchanged; the last expert is pinned as the reference
 * (β₁ₖ = 0, β₀ₖ = 0) exactly as for the softmax gate, and θ holds the k−1 free rows [β₀ⱼ, β₁ⱼ].
 *
 * JSON: { "type": "topK", "K": K, "beta0": [k], "beta1": [[d] × k] }. A fit with more experts than
 * the truth uses its own K (the K̄ of math-spec §3.4).
 *
 * M-step (math-spec §3.6, §9.1): Newton on Q = Σ_t Σ_i R_ti log π_i(x_t) with the active sets frozen
 * at the current θ (on a fixed selection Q is a concave softmax objective), then the sets are
 * recomputed at the trial point and the step is accepted only if Q, evaluated with the recomputed
 * sets, did not decrease (step-halving otherwise). With E-step weights R_ti = 0 for experts inactive
 * at the current θ, so a trial that deactivates an expert with R_ti > 0 has Q = −∞ and is halved.
 * If Q is already −∞ at the start (weights on experts inactive there, e.g. the soft labels of an
 * initialisation), the M-step first fits the dense softmax gate (K = k) to the weights, then
 * maximises Q restricted to the experts selected in each row.
 *
 * Consequence for fitting: EM never changes the selection of any data row (that would put −∞ in Q),
 * so it maximises the likelihood within the selection pattern of its start. In d = 1 the pattern is
 * the ordering of the β₁ᵢ (and the sign of x), so a nearTruth start is in the right cell, while
 * data-driven starts (kmeans++, random) need restarts to visit the orderings. In d ≥ 2 the
 * selection boundaries are hyperplanes through the origin that EM cannot move across data points.
 * The likelihood is discontinuous across selection changes; the L-BFGS finish only accepts gains.
 */
import { LINEAR_TRANSLATION, type GateInvariance, type BlockInfo, type Gate, type GateJSON, type GateMStepInfo, type GateMStepOptions } from './gate.js';
import type { GateFactory } from './gate.js';
import { NewtonMaximizer, type NewtonProblem } from '../numeric/newton.js';
import { LinearSoftmaxCore } from '../family/linear-softmax.js';
import { linearBlocksFromJSON, linearBlocksToJSON } from './softmax.js';
import { linearGateDims, parseCliOptions } from './common.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { readNumber } from '../json-read.js';
import { expNonPositive } from '../numeric/fastmath.js';
import { topKKernel, type TopKKernel } from './top-k-kernels.js';
import { symmetrizeFromLower } from '../numeric/linalg.js';

export class TopKGate implements Gate, NewtonProblem {
  readonly type = 'topK';
  /** As softmax: adding t₀ + tᵀx to every logit keeps the ranking and the weights (math-spec §3). */
  readonly invariance: GateInvariance = LINEAR_TRANSLATION;
  /** `mStep` honours `GateMStepOptions.bound` (projected Newton; compact Θ, issue 15). */
  readonly supportsBound = true;
  readonly k: number;
  readonly d: number;
  /** Number of experts selected per input. */
  readonly K: number;
  readonly nParams: number;
  readonly blocks: readonly BlockInfo[] = [
    { name: 'beta0', perExpert: true, kind: 'gate' },
    { name: 'beta1', perExpert: true, kind: 'gate' },
  ];
  private readonly newton: NewtonMaximizer;
  /** n×k: logits z (−Infinity when not selected), then log-weights. */
  private Lz = new Float64Array(0);
  /** n×k weights (0 when not selected). */
  private P = new Float64Array(0);
  /** Row sums of the weights over the selected experts. */
  private S = new Float64Array(0);
  // M-step state for the NewtonProblem view
  private X: Float64Array = new Float64Array(0);
  private R: Float64Array = new Float64Array(0);
  private n = 0;
  private strict = true;
  private dense: LinearSoftmaxCore | undefined;
  /** Compiled passes (strict / lenient), null for shapes too large to unroll. */
  private readonly kernels: [TopKKernel | null, TopKKernel | null];

  constructor(k: number, d: number, K: number) {
    if (!Number.isInteger(K) || K < 1 || K > k) throw new OptionError(`topK gate: K must be an integer in 1..k=${k}, got ${K}`);
    this.k = k;
    this.d = d;
    this.K = K;
    this.nParams = (k - 1) * (d + 1);
    this.newton = new NewtonMaximizer(this.nParams);
    this.kernels = [topKKernel(k, d, K, false), topKKernel(k, d, K, true)];
  }

  private ensure(n: number): void {
    const nk = n * this.k;
    if (this.P.length < nk) {
      this.P = new Float64Array(nk);
      this.Lz = new Float64Array(nk);
    }
    if (this.S.length < n) this.S = new Float64Array(n);
  }

  /**
   * For every row: the selection, the logits into Lz (−Infinity when not selected), the weights into
   * P and, when W is given, S_t = Σ_{selected} W_ti and Q = Σ_t Σ_i W_ti log π_ti. Strict mode
   * returns −Infinity as soon as some W_ti ≠ 0 sits on a non-selected expert; otherwise those entries
   * are skipped. Lz finally holds log π (log-weights).
   */
  private probs(theta: Float64Array, X: Float64Array, n: number, W: Float64Array | null, strict: boolean, out?: Float64Array): number {
    const { k, d, K } = this;
    const q = d + 1;
    this.ensure(n);
    const Lz = out ?? this.Lz;
    const P = this.P;
    const S = this.S;
    const kernel = this.kernels[strict ? 1 : 0];
    if (kernel) return kernel(theta, X, n, W, Lz, P, S);
    // selection logits v = β₁ᵀx column by column (reference column 0)
    for (let j = 0; j < k - 1; j++) {
      const bj = j * q;
      if (d === 1) {
        const c1 = theta[bj + 1];
        for (let t = 0; t < n; t++) Lz[t * k + j] = c1 * X[t];
      } else {
        for (let t = 0; t < n; t++) {
          let s = 0;
          for (let u = 0; u < d; u++) s += theta[bj + 1 + u] * X[t * d + u];
          Lz[t * k + j] = s;
        }
      }
    }
    for (let t = 0; t < n; t++) Lz[t * k + k - 1] = 0;
    let Q = 0;
    for (let t = 0; t < n; t++) {
      const o = t * k;
      // P1 (math-spec §3.1): select the K largest v on β₁ᵀx only (ties → lower index), then add β₀
      if (K === k - 1) {
        // drop the lowest-ranked expert: the smallest v, the highest index among ties
        let lo = 0;
        for (let i = 1; i < k; i++) if (Lz[o + i] <= Lz[o + lo]) lo = i;
        for (let i = 0; i < k; i++) P[o + i] = i === lo ? 0 : 1;
      } else if (K === 1) {
        // keep the top-ranked expert: the largest v, the lowest index among ties
        let hi = 0;
        for (let i = 1; i < k; i++) if (Lz[o + i] > Lz[o + hi]) hi = i;
        for (let i = 0; i < k; i++) P[o + i] = i === hi ? 1 : 0;
      } else if (K < k) {
        for (let i = 0; i < k; i++) {
          const vi = Lz[o + i];
          let rank = 0;
          for (let j = 0; j < k; j++) {
            const vj = Lz[o + j];
            if (vj > vi || (vj === vi && j < i)) rank++;
          }
          P[o + i] = rank < K ? 1 : 0; // selection flag, overwritten below
        }
      } else {
        for (let i = 0; i < k; i++) P[o + i] = 1;
      }
      let mx = -Infinity;
      for (let i = 0; i < k; i++) {
        if (P[o + i] === 1) {
          const zi = Lz[o + i] + (i < k - 1 ? theta[i * q] : 0); // bias added after selection
          Lz[o + i] = zi;
          if (zi > mx) mx = zi;
        } else Lz[o + i] = -Infinity;
      }
      let sum = 0;
      for (let i = 0; i < k; i++) {
        const e = expNonPositive(Lz[o + i] - mx); // exp(−∞) = 0 for the non-selected
        P[o + i] = e;
        sum += e;
      }
      const lse = mx + Math.log(sum);
      const inv = 1 / sum;
      let s = 0;
      for (let i = 0; i < k; i++) {
        P[o + i] *= inv;
        const l = Lz[o + i] - lse;
        Lz[o + i] = l;
        if (W !== null) {
          const w = W[o + i];
          if (w === 0) continue;
          if (l === -Infinity) {
            if (strict) return -Infinity;
            continue;
          }
          Q += w * l;
          s += w;
        }
      }
      S[t] = s;
    }
    return Q;
  }

  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    this.probs(theta, X, n, null, false, out);
  }

  /** c_tj = W_tj − S_t π_tj on the selected experts, 0 elsewhere (W on non-selected ignored). */
  private coef(W: Float64Array, t: number, j: number): number {
    const o = t * this.k + j;
    return this.Lz[o] === -Infinity ? 0 : W[o] - this.S[t] * this.P[o];
  }

  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    this.probs(theta, X, n, W, false);
    this.selectedGradient(X, n, W, grad);
  }

  /** Σ_t c_tj (1, x_t) into grad, c as in `coef`, from the buffers of the last `probs` pass. */
  private selectedGradient(X: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    const { k, d, P, S, Lz } = this;
    const q = d + 1;
    grad.fill(0, 0, this.nParams);
    for (let j = 0; j < k - 1; j++) {
      const bj = j * q;
      let g0 = 0;
      for (let t = 0; t < n; t++) {
        const o = t * k + j;
        if (Lz[o] === -Infinity) continue;
        const c = W[o] - S[t] * P[o];
        g0 += c;
        for (let u = 0; u < d; u++) grad[bj + 1 + u] += c * X[t * d + u];
      }
      grad[bj] = g0;
    }
  }

  rowGradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    const { k, d } = this;
    const q = d + 1;
    const p = this.nParams;
    this.probs(theta, X, n, W, false);
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < k - 1; j++) {
        const c = this.coef(W, t, j);
        out[t * p + j * q] = c;
        for (let u = 0; u < d; u++) out[t * p + j * q + 1 + u] = c * X[t * d + u];
      }
    }
  }

  /**
   * Q(θ) = Σ_t Σ_i R_ti log π_ti with the selection recomputed at θ, its gradient and
   * −∇²Q = Σ_t S_t (diag π − π πᵀ) ⊗ v vᵀ (v = (1, x_t)) on the selection at θ (NewtonProblem;
   * π = 0 off the selection, so the non-selected blocks vanish). Accumulated block by block over
   * long loops in t.
   */
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    const { k, d, X, R, n } = this;
    const q = d + 1;
    const p = this.nParams;
    const Q = this.probs(theta, X, n, R, this.strict);
    if (Q === -Infinity) return Q;
    const { P, S } = this;
    this.selectedGradient(X, n, R, g);
    NH.fill(0);
    for (let j = 0; j < k - 1; j++) {
      const bj = j * q;
      for (let l = 0; l <= j; l++) {
        const bl = l * q;
        const diag = j === l ? 1 : 0;
        if (d === 1) {
          let h00 = 0, h01 = 0, h11 = 0;
          for (let t = 0; t < n; t++) {
            const w = S[t] * P[t * k + j] * (diag - P[t * k + l]);
            const x = X[t];
            h00 += w;
            h01 += w * x;
            h11 += w * x * x;
          }
          NH[bj * p + bl] = h00;
          NH[(bj + 1) * p + bl] = h01;
          NH[(bj + 1) * p + bl + 1] = h11;
          if (!diag) NH[bj * p + bl + 1] = h01;
        } else {
          for (let t = 0; t < n; t++) {
            const w = S[t] * P[t * k + j] * (diag - P[t * k + l]);
            if (w === 0) continue;
            const xo = t * d;
            NH[bj * p + bl] += w;
            if (!diag) for (let b = 0; b < d; b++) NH[bj * p + bl + 1 + b] += w * X[xo + b];
            for (let a = 0; a < d; a++) {
              const wa = w * X[xo + a];
              const row = (bj + 1 + a) * p + bl;
              NH[row] += wa;
              const bmax = diag ? a : d - 1;
              for (let b = 0; b <= bmax; b++) NH[row + 1 + b] += wa * X[xo + b];
            }
          }
        }
      }
    }
    symmetrizeFromLower(NH, p);
    return Q;
  }

  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions): GateMStepInfo {
    this.X = X;
    this.R = R;
    this.n = n;
    this.strict = true;
    try {
      const info = this.newton.run(this, theta, options);
      if (info.objective === -Infinity) {
        // weights on experts that are not selected at θ (soft labels of an initialisation): no
        // selection can carry them, so fit the dense softmax gate to them first (its β₁ ordering
        // gives the selection), then ascend the objective restricted to the selected experts
        this.dense ??= new LinearSoftmaxCore(this.k, this.d);
        const dense = this.dense.mStep(theta, X, n, R, options);
        this.strict = false;
        const sparse = this.newton.run(this, theta, options);
        return { iterations: dense.iterations + sparse.iterations, objective: this.objective(theta, X, n, R), converged: sparse.converged };
      }
      return info;
    } finally {
      this.X = new Float64Array(0);
      this.R = new Float64Array(0);
      this.strict = true;
    }
  }

  /** Q(θ) = Σ_t Σ_i R_ti log π_i(x_t; θ) (−Infinity if weight sits on a non-selected expert). */
  objective(theta: Float64Array, X: Float64Array, n: number, R: Float64Array): number {
    return this.probs(theta, X, n, R, true);
  }

  canonicalize(_theta: Float64Array): void {
    // θ excludes the reference expert: already canonical (translation removed).
  }
  toJSON(theta: Float64Array): GateJSON {
    return { type: this.type, K: this.K, ...linearBlocksToJSON(theta, this.k, this.d) };
  }
  paramsFromJSON(json: GateJSON): Float64Array {
    return linearBlocksFromJSON(json, this.k, this.d, 'gate');
  }
  spec(): GateJSON {
    return { type: this.type, K: this.K };
  }
}

export const topKGateFactory: GateFactory = {
  type: 'topK',
  cliNames: ['topk', 'top-k'],
  help: 'topk:K — top-K sparse softmax: select the K largest β₁ᵀx, add β₀ after selection (P1)',
  create: (spec, k, d) => {
    const K = readNumber(spec.K, 'gate.K', { integer: true, min: 1 });
    if (K > k) throw new ModelFormatError(`gate.K: must be ≤ the number of experts k=${k}, got ${K}`);
    return new TopKGate(k, d, K);
  },
  dims: linearGateDims,
  parseCli: (rest, spec) => {
    const { words } = parseCliOptions(rest, spec, []);
    if (words.length !== 1) throw new OptionError(`--gate ${spec}: expected topk:K with K the number of selected experts, e.g. topk:2`);
    const K = Number(words[0]);
    if (!Number.isInteger(K) || K < 1) throw new OptionError(`--gate ${spec}: K must be an integer ≥ 1, got ${JSON.stringify(words[0])}`);
    return { type: 'topK', K };
  },
};
