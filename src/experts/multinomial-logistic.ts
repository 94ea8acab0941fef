/**
 * Multinomial-logistic (softmax) experts for classification (paper P2, math-spec §4.1, §9.2):
 *
 *   f(y = s | x; aᵢ, bᵢ) = exp(aᵢₛ + bᵢₛᵀx) / Σ_{ℓ<C} exp(aᵢℓ + bᵢℓᵀx),   s ∈ {0, …, C−1},
 *
 * with the LAST class C−1 as the reference: aᵢ,C−1 = 0 and bᵢ,C−1 = 0_d for every expert (the expert
 * softmax is translation invariant, math-spec §4.1). y holds class codes 0..C−1.
 *
 * θ per expert i (length (C−1)(d+1)): for each non-reference class c = 0..C−2 the row
 * [aᵢ꜀, bᵢ꜀(1..d)] — the same layout as the softmax gate's θ.
 *
 * JSON (reference class stored explicitly as zeros):
 *   { "type": "multinomialLogistic", "classes": C,
 *     "a": [[C] × k],            intercepts, a[i][c]
 *     "b": [[[d] × C] × k],      slopes,     b[i][c][u]
 *     "labels": [C strings]  }   optional: the CSV label of each class code
 * On input a non-zero reference row is accepted and removed by shifting every class of that expert
 * by it (the same probabilities), so hand-written or perturbed models (nearTruth) load; the output
 * always has zeros there.
 *
 * M-step (math-spec §9.2): for each expert, weighted multinomial-logistic regression of one-hot(y) on
 * (1, x) with observation weights R_ti — exact Newton (IRLS) with step-halving, warm-started, never
 * decreasing Σ_t R_ti log f(y_t | x_t; θᵢ). This is the softmax gate's M-step with class weights
 * W_tc = R_ti·1[y_t = c], so every expert runs on the gate's `LinearSoftmaxCore` (its compiled
 * kernels included); the same holds for the log-density and the gradients.
 *
 * For every shape small enough to unroll (C ≤ 64, (C−1)(d+1) ≤ 48) the passes over the data run in
 * the generated one-pass kernels of multinomial-kernels.ts instead (the class weights never
 * stored, one pass per Newton trial): the core's arithmetic operation for operation, hence the
 * same bits, in less time. The core's loops remain the path for larger shapes (and `plain: true`).
 */
import type { BlockInfo } from '../family/blocks.js';
import type { ExpertFamily, ExpertJSON, ExpertMStepOptions } from './expert.js';
import type { ExpertFactory } from './expert.js';
import type { Rng } from '../numeric/rng.js';
import { LinearSoftmaxCore } from '../family/linear-softmax.js';
import { NewtonMaximizer, RIDGE_NEWTON, type NewtonProblem } from '../numeric/newton.js';
import { multinomialKernels, type MultinomialKernels, type NewtonKernel } from './multinomial-kernels.js';
import { DataError, ModelFormatError, OptionError } from '../errors.js';
import { describe, lengthOf, readMatrix, readNumber, widthOf } from '../json-read.js';
import { expNonPositive } from '../numeric/fastmath.js';

export interface MultinomialLogisticOptions {
  /** Number of classes C ≥ 2. */
  classes: number;
  /** Optional label of each class code (length C), kept in the JSON for the CLI round trip. */
  labels?: string[];
  /** Use the softmax core's loops instead of the generated kernels (the reference the tests compare the kernels with). */
  plain?: boolean;
}

export class MultinomialLogisticExperts implements ExpertFamily {
  readonly type = 'multinomialLogistic';
  readonly k: number;
  readonly d: number;
  /** Number of classes C. */
  readonly classes: number;
  readonly labels: string[] | undefined;
  readonly nParams: number;
  readonly blocks: readonly BlockInfo[] = [
    { name: 'a', perExpert: true, kind: 'expert' },
    { name: 'b', perExpert: true, kind: 'expert' },
  ];
  /** `mStep` honours `ExpertMStepOptions.bound`: the core's projected Newton (EMOptions.expertBound). */
  readonly supportsBound = true;
  /** Parameters per expert: (C−1)(d+1). */
  private readonly q: number;
  /** Softmax over the C classes on features x (the gate's numerical core). */
  private readonly core: LinearSoftmaxCore;
  private readonly z: Float64Array; // C probabilities of one sample
  private W = new Float64Array(0); // n×C class weights of one expert
  private L = new Float64Array(0); // n×C log-probabilities / per-row scores of one expert
  private readonly g: Float64Array;
  /** The generated kernels of this (C, d), or null (too large: the core's loops). */
  private readonly kernels: MultinomialKernels | null;
  /** The M-step's Newton maximiser and problem on the kernels (one expert at a time). */
  private readonly newton: NewtonMaximizer | null;
  private readonly problem: ExpertNewtonProblem | null;

  constructor(k: number, d: number, options: MultinomialLogisticOptions) {
    const C = options.classes;
    if (!Number.isInteger(C) || C < 2) throw new ModelFormatError(`experts.classes: must be an integer ≥ 2, got ${C}`);
    if (options.labels && options.labels.length !== C) {
      throw new ModelFormatError(`experts.labels: expected ${C} labels (one per class), got ${options.labels.length}`);
    }
    this.k = k;
    this.d = d;
    this.classes = C;
    this.labels = options.labels;
    this.q = (C - 1) * (d + 1);
    this.nParams = k * this.q;
    this.core = new LinearSoftmaxCore(C, d);
    this.z = new Float64Array(C);
    this.g = new Float64Array(this.q);
    this.kernels = options.plain ? null : multinomialKernels(C, d);
    this.newton = this.kernels ? new NewtonMaximizer(this.q, RIDGE_NEWTON) : null;
    this.problem = this.kernels ? new ExpertNewtonProblem(this.q, k, this.kernels.newton) : null;
  }

  private buffers(n: number, width: number): void {
    if (this.W.length < n * this.classes) this.W = new Float64Array(n * this.classes);
    if (this.L.length < n * width) this.L = new Float64Array(n * width);
  }

  /** W_tc = weights_ti·1[y_t = c] (n×C) for expert i. */
  private classWeights(weights: Float64Array, i: number, y: Float64Array, n: number): Float64Array {
    const { k, classes: C } = this;
    const W = this.W;
    W.fill(0, 0, n * C);
    for (let t = 0; t < n; t++) W[t * C + (y[t] | 0)] = weights[t * k + i];
    return W;
  }

  /** Probabilities of expert block θ[o..o+q) at row t of X into z (reference class last, logit 0). */
  private probs(theta: Float64Array, o: number, X: Float64Array, t: number, z: Float64Array): void {
    const { d, classes: C } = this;
    const r = d + 1;
    const xo = t * d;
    let mx = 0;
    for (let c = 0; c < C - 1; c++) {
      const co = o + c * r;
      let v = theta[co];
      for (let u = 0; u < d; u++) v += theta[co + 1 + u] * X[xo + u];
      z[c] = v;
      if (v > mx) mx = v;
    }
    z[C - 1] = 0;
    let s = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp(z[c] - mx);
      z[c] = e;
      s += e;
    }
    for (let c = 0; c < C; c++) z[c] /= s;
  }

  /**
   * log f(y_t | x_t, θᵢ) = (logit of y_t) − log Σ exp(logits)  (P2, math-spec §4.1), straight into
   * out: one pass per expert with only the observed class's log-weight kept (the generated density
   * kernel; for shapes too large to unroll, the plain loop below).
   */
  logDensity(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, out: Float64Array): void {
    const { k, q, d, classes: C } = this;
    if (this.kernels) {
      for (let i = 0; i < k; i++) this.kernels.density(theta, i * q, X, y, n, k, i, out);
      return;
    }
    const r = d + 1;
    const z = this.z;
    for (let i = 0; i < k; i++) {
      const o = i * q;
      if (C === 2 && d === 1) {
        const c0 = theta[o];
        const c1 = theta[o + 1];
        for (let t = 0; t < n; t++) {
          const zt = c0 + c1 * X[t];
          const lse = (zt > 0 ? zt : 0) + Math.log1p(expNonPositive(-Math.abs(zt)));
          out[t * k + i] = ((y[t] | 0) === 0 ? zt : 0) - lse;
        }
        continue;
      }
      for (let t = 0; t < n; t++) {
        const xo = t * d;
        let mx = 0; // the reference logit is 0
        for (let c = 0; c < C - 1; c++) {
          const co = o + c * r;
          let v = theta[co];
          for (let u = 0; u < d; u++) v += theta[co + 1 + u] * X[xo + u];
          z[c] = v;
          if (v > mx) mx = v;
        }
        z[C - 1] = 0;
        let sum = 0;
        for (let c = 0; c < C; c++) sum += expNonPositive(z[c] - mx);
        out[t * k + i] = z[y[t] | 0] - (mx + Math.log(sum));
      }
    }
  }

  /** ∇θ Σ_t Σ_i W_ti log f(y_t|x_t,θᵢ): class c < C−1 of expert i gets Σ_t W_ti (1[y_t=c] − p_tic)(1, x_t). */
  gradQ(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    const { k, q } = this;
    if (this.kernels) {
      for (let i = 0; i < k; i++) this.kernels.gradient(theta, i * q, X, y, n, W, k, i, grad, i * q);
      return;
    }
    this.buffers(n, 0);
    for (let i = 0; i < k; i++) {
      this.core.gradQ(theta.subarray(i * q, (i + 1) * q), X, n, this.classWeights(W, i, y, n), this.g);
      grad.set(this.g, i * q);
    }
  }

  /**
   * −∇²θ Σ_t Σ_i W_ti log f(y_t|x_t,θᵢ) (nParams×nParams, full, row-major), block diagonal by expert:
   * expert i's block is Σ_t W_ti (diag p − p pᵀ) ⊗ v vᵀ, v = (1, x_t) (math-spec §9.2, the IRLS matrix).
   * The EM Newton finish (observed-information.ts) reads it.
   */
  negHessianQ(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, H: Float64Array): void {
    const { k, q } = this;
    const p = this.nParams;
    this.buffers(n, 0);
    H.fill(0);
    const Hi = new Float64Array(q * q);
    for (let i = 0; i < k; i++) {
      if (this.kernels) this.kernels.newton(theta, i * q, X, y, n, W, k, i, this.g, Hi);
      else this.core.negHessianQ(theta.subarray(i * q, (i + 1) * q), X, n, this.classWeights(W, i, y, n), Hi);
      for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) H[(i * q + a) * p + i * q + b] = Hi[a * q + b];
    }
  }

  /**
   * Per-row terms of `gradQ` (the per-observation scores with posterior W): row t of out
   * (n×nParams) holds W_ti (1[y_t=c] − p_tic)(1, x_t) in expert i's class-c slot. Used by the EM
   * finish (BHHH metric).
   */
  rowGradQ(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    const { k, q } = this;
    const p = this.nParams;
    if (this.kernels) {
      for (let i = 0; i < k; i++) this.kernels.rows(theta, i * q, X, y, n, W, k, i, out, p, i * q);
      return;
    }
    this.buffers(n, q);
    const L = this.L;
    for (let i = 0; i < k; i++) {
      this.core.rowGradQ(theta.subarray(i * q, (i + 1) * q), X, n, this.classWeights(W, i, y, n), L);
      for (let t = 0; t < n; t++) for (let j = 0; j < q; j++) out[t * p + i * q + j] = L[t * q + j];
    }
  }

  /**
   * Weighted M-step (math-spec §9.2): per expert, Newton/IRLS on Σ_t R_ti log f(y_t|x_t; θᵢ) with
   * step-halving, warm-started; the objective never decreases.
   */
  mStep(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, R: Float64Array, options: ExpertMStepOptions): void {
    const { k, q } = this;
    this.buffers(n, 0);
    for (let i = 0; i < k; i++) {
      let S = 0;
      for (let t = 0; t < n; t++) S += R[t * k + i];
      if (!(S > 1e-12 * n)) continue; // empty component: keep its parameters
      if (this.problem && this.newton) {
        const pr = this.problem;
        pr.set(X, y, n, R, i);
        this.newton.run(pr, theta.subarray(i * q, (i + 1) * q), options);
        pr.clear();
        continue;
      }
      this.core.mStep(theta.subarray(i * q, (i + 1) * q), X, n, this.classWeights(R, i, y, n), options);
    }
  }

  /** Class codes have no meaningful mean: NaN. Use `classProbabilities`. */
  mean(_theta: Float64Array, _X: Float64Array, n: number, out: Float64Array): void {
    out.fill(NaN, 0, n * this.k);
  }

  /** P(y = c | x_t, expert i) into out[(t·k + i)·C + c] (n×k×C). */
  classProbabilities(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): Float64Array {
    const { k, q, z, classes: C } = this;
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < k; i++) {
        this.probs(theta, i * q, X, t, z);
        const oo = (t * k + i) * C;
        for (let c = 0; c < C; c++) out[oo + c] = z[c];
      }
    }
    return out;
  }

  sample(theta: Float64Array, i: number, X: Float64Array, t: number, rng: Rng): number {
    this.probs(theta, i * this.q, X, t, this.z);
    return rng.categorical(this.z, 0, this.classes);
  }

  validateResponse(y: Float64Array, n: number): void {
    const C = this.classes;
    for (let t = 0; t < n; t++) {
      const v = y[t];
      if (!Number.isInteger(v) || v < 0 || v >= C) {
        const label = this.labels ? ` (labels: ${this.labels.join(', ')})` : '';
        throw new DataError(`row ${t + 1}: response y = ${v} is not a class code 0..${C - 1} of the C=${C} classes${label}`);
      }
    }
  }

  canonicalize(_theta: Float64Array): void {
    // θ excludes the reference class: already canonical
  }

  toJSON(theta: Float64Array): ExpertJSON {
    const { k, d, q, classes: C } = this;
    const r = d + 1;
    const a: number[][] = [];
    const b: number[][][] = [];
    for (let i = 0; i < k; i++) {
      const ai: number[] = [];
      const bi: number[][] = [];
      for (let c = 0; c < C; c++) {
        if (c === C - 1) {
          ai.push(0);
          bi.push(new Array<number>(d).fill(0));
        } else {
          const co = i * q + c * r;
          ai.push(theta[co]);
          bi.push(Array.from(theta.subarray(co + 1, co + 1 + d)));
        }
      }
      a.push(ai);
      b.push(bi);
    }
    const json: ExpertJSON = { type: this.type, classes: C, a, b };
    if (this.labels) json.labels = [...this.labels];
    return json;
  }

  paramsFromJSON(json: ExpertJSON): Float64Array {
    const { k, d, q, classes: C } = this;
    const r = d + 1;
    const a = readMatrix(json.a, 'experts.a', k, C);
    if (!Array.isArray(json.b)) throw new ModelFormatError(`experts.b: expected an array of k=${k} matrices [C][d], got ${describe(json.b)}`);
    if (json.b.length !== k) throw new ModelFormatError(`experts.b: expected ${k} entries (one per expert), got ${json.b.length}`);
    const bArr: unknown[] = json.b;
    const b = bArr.map((bi, i) => readMatrix(bi, `experts.b[${i}]`, C, d));
    const theta = new Float64Array(this.nParams);
    for (let i = 0; i < k; i++) {
      // shift by the reference class (translation invariance): same probabilities, reference = 0
      const aRef = a[i][C - 1];
      const bRef = b[i][C - 1];
      for (let c = 0; c < C - 1; c++) {
        const co = i * q + c * r;
        theta[co] = a[i][c] - aRef;
        for (let u = 0; u < d; u++) theta[co + 1 + u] = b[i][c][u] - bRef[u];
      }
    }
    return theta;
  }

  spec(): ExpertJSON {
    const json: ExpertJSON = { type: this.type, classes: this.classes };
    if (this.labels) json.labels = [...this.labels];
    return json;
  }
}

const EMPTY: Float64Array = new Float64Array(0);

/** Expert i's M-step objective Σ_t R_ti log f(y_t | x_t, θᵢ) as a Newton problem on the generated kernel (data set per call). */
class ExpertNewtonProblem implements NewtonProblem {
  private X: Float64Array = EMPTY;
  private y: Float64Array = EMPTY;
  private n = 0;
  private R: Float64Array = EMPTY;
  private i = 0;
  constructor(readonly nParams: number, private readonly k: number, private readonly kernel: NewtonKernel) {}
  set(X: Float64Array, y: Float64Array, n: number, R: Float64Array, i: number): void {
    this.X = X;
    this.y = y;
    this.n = n;
    this.R = R;
    this.i = i;
  }
  clear(): void {
    this.X = this.y = this.R = EMPTY;
  }
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    return this.kernel(theta, 0, this.X, this.y, this.n, this.R, this.k, this.i, g, NH);
  }
}

/** Options of a JSON spec: `classes` (or, failing that, the width of `a`) and optional `labels`. */
export function multinomialOptionsFromJSON(json: ExpertJSON): MultinomialLogisticOptions {
  let classes: number;
  if (json.classes !== undefined) classes = readNumber(json.classes, 'experts.classes', { integer: true, min: 2 });
  else if (Array.isArray(json.a) && json.a.length > 0) classes = widthOf(json.a, 'experts.a');
  else throw new ModelFormatError('experts.classes: missing (the number of classes C ≥ 2 of a multinomialLogistic expert family)');
  if (json.classes !== undefined && Array.isArray(json.a) && json.a.length > 0) {
    const w = widthOf(json.a, 'experts.a');
    if (w !== classes) throw new ModelFormatError(`experts.a: rows have ${w} entries but experts.classes = ${classes}`);
  }
  let labels: string[] | undefined;
  if (json.labels !== undefined) {
    if (!Array.isArray(json.labels)) throw new ModelFormatError(`experts.labels: expected an array of ${classes} strings, got ${describe(json.labels)}`);
    const raw: unknown[] = json.labels;
    labels = raw.map((s, c) => {
      if (typeof s !== 'string') throw new ModelFormatError(`experts.labels[${c}]: expected a string, got ${describe(s)}`);
      if (s === '') throw new ModelFormatError(`experts.labels[${c}]: must not be empty (an empty CSV cell is a missing value)`);
      return s;
    });
    if (labels.length !== classes) throw new ModelFormatError(`experts.labels: expected ${classes} labels, got ${labels.length}`);
    if (new Set(labels).size !== labels.length) throw new ModelFormatError('experts.labels: labels must be distinct');
  }
  if (classes < 2) throw new ModelFormatError(`experts.classes: must be ≥ 2, got ${classes}`);
  return labels ? { classes, labels } : { classes };
}

/** Registry entry: `--expert multinomial` (C from the data) or `multinomial:C`. */
export const multinomialLogisticFactory: ExpertFactory = {
  type: 'multinomialLogistic',
  cliNames: ['multinomial', 'multinomiallogistic', 'logistic'],
  help: 'P(y=c|x) = softmax_c(a_c + b_cᵀx), class C−1 the reference; `multinomial` (C = number of labels in the data) or `multinomial:C`',
  kind: 'density',
  create: (spec, k, d) => new MultinomialLogisticExperts(k, d, multinomialOptionsFromJSON(spec)),
  dims: (json, path) => {
    const k = lengthOf(json.a, `${path}.a`);
    if (!Array.isArray(json.b) || json.b.length === 0) throw new ModelFormatError(`${path}.b: expected a non-empty array of [C][d] matrices, got ${describe(json.b)}`);
    const b0: unknown = json.b[0];
    return { k, d: widthOf(b0, `${path}.b[0]`) };
  },
  parseCli: (rest, spec) => {
    if (rest === undefined || rest.trim() === '') return { type: 'multinomialLogistic' };
    const C = Number(rest.trim());
    if (!Number.isInteger(C) || C < 2) throw new OptionError(`--expert ${spec}: the number of classes must be an integer ≥ 2, got ${JSON.stringify(rest)}`);
    return { type: 'multinomialLogistic', classes: C };
  },
};
