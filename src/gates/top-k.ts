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
 * initialisation), the M-step maximises Q restricted to the active experts of each row instead.
 */
import type { BlockInfo, Gate, GateJSON, GateMStepInfo, GateMStepOptions } from './gate.js';
import type { GateFactory } from './registry.js';
import { NewtonMaximizer, type NewtonProblem } from './newton.js';
import { linearBlocksFromJSON, linearBlocksToJSON } from './softmax.js';
import { linearGateDims, parseCliOptions } from './common.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { readNumber } from '../json-read.js';

export class TopKGate implements Gate, NewtonProblem {
  readonly type = 'topK';
  readonly k: number;
  readonly d: number;
  /** Number of experts selected per input. */
  readonly K: number;
  readonly nParams: number;
  readonly blocks: readonly BlockInfo[] = [
    { name: 'beta0', perExpert: true, kind: 'gate' },
    { name: 'beta1', perExpert: true, kind: 'gate' },
  ];
  private readonly v: Float64Array;
  private readonly z: Float64Array;
  private readonly pi: Float64Array;
  private readonly act: Uint8Array;
  private readonly newton: NewtonMaximizer;
  // M-step state for the NewtonProblem view
  private X: Float64Array = new Float64Array(0);
  private R: Float64Array = new Float64Array(0);
  private n = 0;
  private strict = true;

  constructor(k: number, d: number, K: number) {
    if (!Number.isInteger(K) || K < 1 || K > k) throw new OptionError(`topK gate: K must be an integer in 1..k=${k}, got ${K}`);
    this.k = k;
    this.d = d;
    this.K = K;
    this.nParams = (k - 1) * (d + 1);
    this.v = new Float64Array(k);
    this.z = new Float64Array(k);
    this.pi = new Float64Array(k);
    this.act = new Uint8Array(k);
    this.newton = new NewtonMaximizer(this.nParams);
  }

  /**
   * Logits vᵢ = β₁ᵢᵀx_t, the selection (this.act) and z = v + β₀ on the selected; returns the
   * log-sum-exp over the selected. this.pi receives the weights (0 for the non-selected).
   */
  private row(theta: Float64Array, X: Float64Array, t: number): number {
    const { k, d, K, v, z, pi, act } = this;
    const q = d + 1;
    const xo = t * d;
    for (let j = 0; j < k - 1; j++) {
      let s = 0;
      for (let u = 0; u < d; u++) s += theta[j * q + 1 + u] * X[xo + u];
      v[j] = s;
    }
    v[k - 1] = 0;
    // P1 (math-spec §3.1): select on β₁ᵀx only; ties → lower index
    let mx = -Infinity;
    for (let i = 0; i < k; i++) {
      let rank = 0;
      const vi = v[i];
      for (let j = 0; j < k; j++) if (v[j] > vi || (v[j] === vi && j < i)) rank++;
      if (rank < K) {
        act[i] = 1;
        // bias added after selection
        const zi = vi + (i < k - 1 ? theta[i * q] : 0);
        z[i] = zi;
        if (zi > mx) mx = zi;
      } else {
        act[i] = 0;
      }
    }
    let s = 0;
    for (let i = 0; i < k; i++) {
      if (act[i]) {
        const e = Math.exp(z[i] - mx);
        pi[i] = e;
        s += e;
      } else pi[i] = 0;
    }
    const inv = 1 / s;
    for (let i = 0; i < k; i++) pi[i] *= inv;
    return mx + Math.log(s);
  }

  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    const { k, z, act } = this;
    for (let t = 0; t < n; t++) {
      const lse = this.row(theta, X, t);
      const o = t * k;
      for (let i = 0; i < k; i++) out[o + i] = act[i] ? z[i] - lse : -Infinity;
    }
  }

  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    const { k, d, pi, act } = this;
    const q = d + 1;
    grad.fill(0, 0, this.nParams);
    for (let t = 0; t < n; t++) {
      this.row(theta, X, t);
      const o = t * k;
      let s = 0;
      for (let i = 0; i < k; i++) if (act[i]) s += W[o + i];
      for (let j = 0; j < k - 1; j++) {
        if (!act[j]) continue;
        const c = W[o + j] - s * pi[j];
        grad[j * q] += c;
        for (let u = 0; u < d; u++) grad[j * q + 1 + u] += c * X[t * d + u];
      }
    }
  }

  rowGradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    const { k, d, pi, act } = this;
    const q = d + 1;
    const p = this.nParams;
    out.fill(0, 0, n * p);
    for (let t = 0; t < n; t++) {
      this.row(theta, X, t);
      const o = t * k;
      let s = 0;
      for (let i = 0; i < k; i++) if (act[i]) s += W[o + i];
      for (let j = 0; j < k - 1; j++) {
        if (!act[j]) continue;
        const c = W[o + j] - s * pi[j];
        out[t * p + j * q] = c;
        for (let u = 0; u < d; u++) out[t * p + j * q + 1 + u] = c * X[t * d + u];
      }
    }
  }

  /**
   * Q(θ) = Σ_t Σ_i R_ti log π_ti with the selection recomputed at θ, its gradient and −∇²Q on the
   * selection at θ (NewtonProblem). Strict mode: −Infinity if some R_ti > 0 sits on a non-selected
   * expert; otherwise such entries are skipped.
   */
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    const { k, d, z, pi, act, X, R, n, strict } = this;
    const q = d + 1;
    const p = this.nParams;
    g.fill(0);
    NH.fill(0);
    let Q = 0;
    for (let t = 0; t < n; t++) {
      const lse = this.row(theta, X, t);
      const o = t * k;
      let s = 0;
      for (let i = 0; i < k; i++) {
        const r = R[o + i];
        if (r === 0) continue;
        if (!act[i]) {
          if (strict) return -Infinity;
          continue;
        }
        Q += r * (z[i] - lse);
        s += r;
      }
      if (s === 0) continue;
      const xo = t * d;
      for (let j = 0; j < k - 1; j++) {
        if (!act[j]) continue;
        const pj = pi[j];
        const c = R[o + j] - s * pj;
        const bj = j * q;
        g[bj] += c;
        for (let u = 0; u < d; u++) g[bj + 1 + u] += c * X[xo + u];
        for (let l = 0; l <= j; l++) {
          if (!act[l]) continue;
          const w = s * pj * ((j === l ? 1 : 0) - pi[l]);
          const bl = l * q;
          // block (j, l) += w · v vᵀ with v = (1, x_t), lower triangle
          for (let a = 0; a < q; a++) {
            const va = a === 0 ? w : w * X[xo + a - 1];
            const rowOff = (bj + a) * p + bl;
            const bmax = j === l ? a : q - 1;
            NH[rowOff] += va;
            for (let b = 1; b <= bmax; b++) NH[rowOff + b] += va * X[xo + b - 1];
          }
        }
      }
    }
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) NH[i * p + j] = NH[j * p + i];
    return Q;
  }

  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions): GateMStepInfo {
    this.X = X;
    this.R = R;
    this.n = n;
    this.strict = true;
    try {
      if (this.objective(theta, X, n, R) === -Infinity) this.strict = false;
      return this.newton.run(this, theta, options);
    } finally {
      this.X = new Float64Array(0);
      this.R = new Float64Array(0);
      this.strict = true;
    }
  }

  /** Q(θ) = Σ_t Σ_i R_ti log π_i(x_t; θ) (−Infinity if weight sits on a non-selected expert). */
  objective(theta: Float64Array, X: Float64Array, n: number, R: Float64Array): number {
    const { k, z, act } = this;
    let Q = 0;
    for (let t = 0; t < n; t++) {
      const lse = this.row(theta, X, t);
      for (let i = 0; i < k; i++) {
        const r = R[t * k + i];
        if (r === 0) continue;
        if (!act[i]) return -Infinity;
        Q += r * (z[i] - lse);
      }
    }
    return Q;
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
