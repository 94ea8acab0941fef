/**
 * Deterministic regression experts for least-squares MoE (paper P3, math-spec §5.1):
 *
 *   linear:      h(x, η) = aᵀx + b
 *   one neuron:  h(x, η) = σ(aᵀx + b)        σ ∈ {sigmoid, tanh, gelu, relu}   (default)
 *            or  h(x, η) = c·σ(aᵀx + b)      with `outputWeight: true`
 *
 * and the regression function f_G(x) = Σᵢ πᵢ(x) h(x, ηᵢ). The P3 model is y = f_G*(x) + N(0, ν)
 * (math-spec §5.1, §9.5) — NOT a mixture of densities — so this family is an `ExpertFamily` only in
 * the parts that make sense:
 *   - `mean` = `predict` = h(x_t, ηᵢ) (so `MixtureOfExperts.predictMean` is f_G);
 *   - `gradPredict`: ∇η Σ_t Σ_i V_ti h(x_t, ηᵢ) for arbitrary real V (the LSE gradient);
 *   - `mStep`: weighted least squares per expert, min Σ_t R_ti (y_t − h(x_t, ηᵢ))² (Levenberg–Marquardt,
 *     warm-started, never increasing), so the data-driven initialisations of init.ts work unchanged;
 *   - `regressionNoiseVariance()`: ν from the JSON (`noiseVariance`), used by `MixtureOfExperts.sample`
 *     to draw y = f_G(x) + N(0, ν);
 *   - `logDensity`, `gradQ` and `sample` throw an OptionError: there is no per-expert density.
 *
 * Why no output weight c by default: with c the family is NOT strongly identifiable (math-spec
 * §5.2): h is linear in c, so ∂²h/∂c² ≡ 0 and ∂²h/∂c∂b = (1/c)·∂h/∂b, and in an over-specified fit two
 * atoms with equal (β₁, a, b) can trade c against each other with f_G unchanged (only Σ e^{β₀}c per
 * cell is identified). `moelab identifiability` shows this; σ(aᵀx + b) is identifiable for
 * sigmoid/tanh/GELU.
 *
 * θ per expert i: [bᵢ, aᵢ(1..d)] (+ cᵢ last when `outputWeight`).
 *
 * JSON:
 *   { "type": "regression", "activation": "linear"|"sigmoid"|"tanh"|"gelu"|"relu",
 *     "outputWeight": false,          optional, default false; must be false for linear
 *     "a": [[d] × k], "b": [k],
 *     "c": [k],                       present iff outputWeight
 *     "noiseVariance": ν  }           optional; needed to simulate; a fit writes SSE/n here
 *
 * Canonical form: tanh with c: c ≥ 0 (c·tanh(z) = (−c)·tanh(−z)); relu with c: |c| = 1
 * (c·relu(z) = (c/s)·relu(s·z) for s > 0). No other symmetry.
 */
import type { BlockInfo } from '../family/blocks.js';
import type { ExpertFamily, ExpertJSON, ExpertMStepOptions } from './expert.js';
import type { ExpertFactory } from './expert.js';
import { activationDerivatives, ACTIVATION_FUNCTIONS, LINEAR, RELU, TANH, type ActivationFunction } from '../family/activations.js';
import { solveSPD, weightedLeastSquares } from '../numeric/linalg.js';
import { DataError, ModelFormatError, OptionError } from '../errors.js';
import { describe, lengthOf, readMatrix, readNumber, readString, readVector, widthOf } from '../json-read.js';

/** The expert functions: the whole activation table (family/activations.ts); a code is an index here. */
export const ACTIVATIONS = ACTIVATION_FUNCTIONS;
export type Activation = ActivationFunction;

/**
 * σ(z), σ′(z), σ″(z) into out[0..2] for the code `ACTIVATIONS.indexOf(name)` (the shared
 * activation table, family/activations.ts, whose codes these are).
 */
export const activation = activationDerivatives;

/** A regression expert family usable by `fitLSE` and the identifiability checker. */
export interface RegressionExpertFamily extends ExpertFamily {
  /** Parameters per expert (dim η). */
  readonly perExpert: number;
  /** h(x_t, ηᵢ) into out (n×k). */
  predict(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void;
  /** ∇θ Σ_t Σ_i V_ti h(x_t, ηᵢ) for arbitrary real V (n×k), written to grad. */
  gradPredict(theta: Float64Array, X: Float64Array, n: number, V: Float64Array, grad: Float64Array): void;
  /**
   * Optional: the per-row terms of `gradPredict`: row t of out (n×nParams) is ∇θ Σ_i V_ti h(x_t, ηᵢ)
   * (the residual Jacobian of least squares, with V_ti = π_ti).
   */
  rowGradPredict?(theta: Float64Array, X: Float64Array, n: number, V: Float64Array, out: Float64Array): void;
  /**
   * h(x_t, ηᵢ), its gradient ∂h/∂ηᵢ (length perExpert) and Hessian ∂²h/∂ηᵢ∂ηᵢᵀ (perExpert², row-major)
   * at one input. Returns h.
   */
  derivativesAt(theta: Float64Array, i: number, X: Float64Array, t: number, grad: Float64Array, hess: Float64Array): number;
  /** Names of the per-expert parameters in θ order (e.g. b, a1, a2, c). */
  parameterNames(): string[];
}

export function isRegressionFamily(e: ExpertFamily): e is RegressionExpertFamily {
  const r = e as Partial<RegressionExpertFamily>;
  return typeof r.gradPredict === 'function' && typeof r.predict === 'function' && typeof r.derivativesAt === 'function';
}

export interface RegressionExpertOptions {
  activation: Activation;
  /** Multiply the neuron by a free output weight c. Default false (see the file comment). */
  outputWeight?: boolean;
  /** Noise variance ν of the P3 model y = f_G(x) + N(0, ν), for simulation. */
  noiseVariance?: number;
}

const NOT_A_DENSITY = 'regression experts define a regression function, not a density: fit them by least squares (--estimator lse, fitLSE)';

export class RegressionExperts implements RegressionExpertFamily {
  readonly type = 'regression';
  readonly k: number;
  readonly d: number;
  readonly activation: Activation;
  readonly outputWeight: boolean;
  readonly noiseVariance: number | undefined;
  readonly perExpert: number;
  readonly nParams: number;
  readonly blocks: readonly BlockInfo[];
  private readonly kind: number;
  private readonly s = new Float64Array(3);
  // Levenberg–Marquardt buffers (p = perExpert)
  private readonly JtJ: Float64Array;
  private readonly Jtr: Float64Array;
  private readonly A: Float64Array;
  private readonly delta: Float64Array;
  private readonly work: Float64Array;
  private readonly base: Float64Array;
  private readonly jrow: Float64Array;

  constructor(k: number, d: number, options: RegressionExpertOptions) {
    const act = options.activation;
    const idx = ACTIVATIONS.indexOf(act);
    if (idx < 0) throw new ModelFormatError(`experts.activation: expected one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(act)}`);
    const ow = options.outputWeight ?? false;
    if (ow && act === 'linear') throw new ModelFormatError('experts.outputWeight: a linear expert c·(aᵀx + b) is not identifiable in c; use outputWeight false');
    if (options.noiseVariance !== undefined && !(options.noiseVariance > 0 && Number.isFinite(options.noiseVariance))) {
      throw new ModelFormatError(`experts.noiseVariance: must be a finite number > 0, got ${options.noiseVariance}`);
    }
    this.k = k;
    this.d = d;
    this.activation = act;
    this.kind = idx;
    this.outputWeight = ow;
    this.noiseVariance = options.noiseVariance;
    this.perExpert = d + 1 + (ow ? 1 : 0);
    this.nParams = k * this.perExpert;
    this.blocks = ow
      ? [{ name: 'a', perExpert: true, kind: 'expert' }, { name: 'b', perExpert: true, kind: 'expert' }, { name: 'c', perExpert: true, kind: 'expert' }]
      : [{ name: 'a', perExpert: true, kind: 'expert' }, { name: 'b', perExpert: true, kind: 'expert' }];
    const p = this.perExpert;
    this.JtJ = new Float64Array(p * p);
    this.A = new Float64Array(p * p);
    this.work = new Float64Array(p * p);
    this.Jtr = new Float64Array(p);
    this.delta = new Float64Array(p);
    this.base = new Float64Array(p);
    this.jrow = new Float64Array(p);
  }

  parameterNames(): string[] {
    const names = ['b', ...Array.from({ length: this.d }, (_, u) => (this.d === 1 ? 'a' : `a${u + 1}`))];
    if (this.outputWeight) names.push('c');
    return names;
  }

  /** h(x_t, ηᵢ) = c·σ(bᵢ + aᵢᵀx_t) (c ≡ 1 without output weight; σ = identity for linear). */
  predict(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    const { k, d, perExpert: q, kind, s, outputWeight } = this;
    for (let i = 0; i < k; i++) {
      const o = i * q;
      const c = outputWeight ? theta[o + d + 1] : 1;
      for (let t = 0; t < n; t++) {
        let z = theta[o];
        const xo = t * d;
        for (let u = 0; u < d; u++) z += theta[o + 1 + u] * X[xo + u];
        activation(kind, z, s);
        out[t * k + i] = c * s[0];
      }
    }
  }

  mean(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    this.predict(theta, X, n, out);
  }

  /** ∇θ Σ_t Σ_i V_ti h_ti: ∂h/∂b = cσ′, ∂h/∂a = cσ′x, ∂h/∂c = σ. */
  gradPredict(theta: Float64Array, X: Float64Array, n: number, V: Float64Array, grad: Float64Array): void {
    const { k, d, perExpert: q, kind, s, outputWeight } = this;
    grad.fill(0, 0, this.nParams);
    for (let i = 0; i < k; i++) {
      const o = i * q;
      const c = outputWeight ? theta[o + d + 1] : 1;
      let gb = 0;
      let gc = 0;
      for (let t = 0; t < n; t++) {
        const v = V[t * k + i];
        if (v === 0) continue;
        let z = theta[o];
        const xo = t * d;
        for (let u = 0; u < d; u++) z += theta[o + 1 + u] * X[xo + u];
        activation(kind, z, s);
        const e = v * c * s[1];
        gb += e;
        for (let u = 0; u < d; u++) grad[o + 1 + u] += e * X[xo + u];
        gc += v * s[0];
      }
      grad[o] = gb;
      if (outputWeight) grad[o + d + 1] = gc;
    }
  }

  /** Per-row terms of `gradPredict`: row t of out is V_ti·∂h_ti/∂ηᵢ in block i, for every i. */
  rowGradPredict(theta: Float64Array, X: Float64Array, n: number, V: Float64Array, out: Float64Array): void {
    const { k, d, perExpert: q, kind, s, outputWeight, nParams } = this;
    for (let i = 0; i < k; i++) {
      const o = i * q;
      const c = outputWeight ? theta[o + d + 1] : 1;
      for (let t = 0; t < n; t++) {
        const v = V[t * k + i];
        const r = t * nParams + o;
        const xo = t * d;
        if (v === 0) {
          for (let j = 0; j < q; j++) out[r + j] = 0;
          continue;
        }
        let z = theta[o];
        for (let u = 0; u < d; u++) z += theta[o + 1 + u] * X[xo + u];
        activation(kind, z, s);
        const e = v * c * s[1];
        out[r] = e;
        for (let u = 0; u < d; u++) out[r + 1 + u] = e * X[xo + u];
        if (outputWeight) out[r + d + 1] = v * s[0];
      }
    }
  }

  derivativesAt(theta: Float64Array, i: number, X: Float64Array, t: number, grad: Float64Array, hess: Float64Array): number {
    const { d, perExpert: p, kind, s, outputWeight } = this;
    const o = i * p;
    const c = outputWeight ? theta[o + d + 1] : 1;
    let z = theta[o];
    for (let u = 0; u < d; u++) z += theta[o + 1 + u] * X[t * d + u];
    activation(kind, z, s);
    // with v = ∂z/∂(b, a) = (1, x): ∂h/∂v_j = cσ′v_j, ∂²h/∂v_j∂v_l = cσ″v_j v_l
    const xo = t * d;
    for (let j = 0; j <= d; j++) {
      const vj = j === 0 ? 1 : X[xo + j - 1];
      grad[j] = c * s[1] * vj;
      for (let l = 0; l <= d; l++) hess[j * p + l] = c * s[2] * vj * (l === 0 ? 1 : X[xo + l - 1]);
    }
    if (outputWeight) {
      const ci = d + 1;
      grad[ci] = s[0];
      for (let j = 0; j <= d; j++) {
        const vj = j === 0 ? 1 : X[xo + j - 1];
        hess[j * p + ci] = s[1] * vj;
        hess[ci * p + j] = s[1] * vj;
      }
      hess[ci * p + ci] = 0;
    }
    return c * s[0];
  }

  /**
   * Weighted least squares per expert: min Σ_t R_ti (y_t − h(x_t, ηᵢ))². Linear: exact WLS.
   * Neurons: Levenberg–Marquardt (Marquardt's diagonal scaling), warm-started; a step is accepted
   * only if it lowers the weighted SSE. An all-zero start (from init.ts) is first moved off the
   * flat point (c = 1; relu: b = 1) so the Jacobian is not zero.
   */
  mStep(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, R: Float64Array, options: ExpertMStepOptions): void {
    const { k, d, perExpert: p, JtJ, Jtr, A, delta, work, base, jrow } = this;
    for (let i = 0; i < k; i++) {
      let S = 0;
      for (let t = 0; t < n; t++) S += R[t * k + i];
      if (!(S > 1e-12 * n)) continue;
      const o = i * p;
      const th = theta.subarray(o, o + p);
      if (this.kind === LINEAR) {
        // p = d + 1: JtJ / Jtr / work serve as the Gram matrix, right-hand side and scratch
        if (weightedLeastSquares(X, y, n, d, R, k, i, delta, JtJ, Jtr, work) >= 0) th.set(delta);
        continue;
      }
      if (th.every((v) => v === 0)) {
        if (this.outputWeight) th[d + 1] = 1;
        if (this.kind === RELU) th[0] = 1;
      }
      let sse = this.weightedSSE(theta, i, X, y, n, R);
      let lambda = 1e-3;
      for (let it = 0; it < options.maxIter; it++) {
        JtJ.fill(0);
        Jtr.fill(0);
        for (let t = 0; t < n; t++) {
          const w = R[t * k + i];
          if (w === 0) continue;
          const h = this.rowJacobian(theta, i, X, t, jrow);
          const r = y[t] - h;
          for (let a = 0; a < p; a++) {
            const wa = w * jrow[a];
            Jtr[a] += wa * r;
            for (let b = 0; b <= a; b++) JtJ[a * p + b] += wa * jrow[b];
          }
        }
        for (let a = 0; a < p; a++) for (let b = a + 1; b < p; b++) JtJ[a * p + b] = JtJ[b * p + a];
        base.set(th);
        let improved = false;
        let newSse = sse;
        for (let tries = 0; tries < 12 && !improved; tries++) {
          A.set(JtJ);
          for (let a = 0; a < p; a++) A[a * p + a] += lambda * (JtJ[a * p + a] + 1e-12 * S);
          if (solveSPD(A, Jtr, p, delta, work) < 0) { lambda *= 10; continue; }
          for (let a = 0; a < p; a++) th[a] = base[a] + delta[a];
          newSse = this.weightedSSE(theta, i, X, y, n, R);
          if (newSse < sse) {
            improved = true;
            lambda = Math.max(lambda / 3, 1e-12);
          } else {
            th.set(base);
            lambda *= 4;
          }
        }
        if (!improved) break;
        const change = sse - newSse;
        sse = newSse;
        if (change <= options.tol * Math.max(sse, 1e-300)) break;
      }
    }
  }

  /** h and ∂h/∂ηᵢ at row t into jrow (length perExpert). */
  private rowJacobian(theta: Float64Array, i: number, X: Float64Array, t: number, jrow: Float64Array): number {
    const { d, perExpert: p, kind, s, outputWeight } = this;
    const o = i * p;
    const c = outputWeight ? theta[o + d + 1] : 1;
    let z = theta[o];
    const xo = t * d;
    for (let u = 0; u < d; u++) z += theta[o + 1 + u] * X[xo + u];
    activation(kind, z, s);
    const g = c * s[1];
    jrow[0] = g;
    for (let u = 0; u < d; u++) jrow[1 + u] = g * X[xo + u];
    if (outputWeight) jrow[d + 1] = s[0];
    return c * s[0];
  }

  private weightedSSE(theta: Float64Array, i: number, X: Float64Array, y: Float64Array, n: number, R: Float64Array): number {
    const { k, d, perExpert: p, kind, s, outputWeight } = this;
    const o = i * p;
    const c = outputWeight ? theta[o + d + 1] : 1;
    let sse = 0;
    for (let t = 0; t < n; t++) {
      const w = R[t * k + i];
      if (w === 0) continue;
      let z = theta[o];
      const xo = t * d;
      for (let u = 0; u < d; u++) z += theta[o + 1 + u] * X[xo + u];
      activation(kind, z, s);
      const r = y[t] - c * s[0];
      sse += w * r * r;
    }
    return sse;
  }

  regressionNoiseVariance(): number {
    if (this.noiseVariance === undefined) {
      throw new ModelFormatError('experts.noiseVariance: missing; simulating y = f(x) + N(0, ν) from a regression model needs the noise variance ν in the experts JSON');
    }
    return this.noiseVariance;
  }

  logDensity(): void {
    throw new OptionError(NOT_A_DENSITY);
  }

  gradQ(): void {
    throw new OptionError(NOT_A_DENSITY);
  }

  sample(): number {
    throw new OptionError(`${NOT_A_DENSITY}; simulate with MixtureOfExperts.sample, which draws y = f_G(x) + N(0, ν)`);
  }

  validateResponse(y: Float64Array, n: number): void {
    for (let t = 0; t < n; t++) {
      if (!Number.isFinite(y[t])) throw new DataError(`row ${t + 1}: response y is ${y[t]}, expected a finite number`);
    }
  }

  /** tanh with c: c ≥ 0; relu with c: |c| = 1 (positive homogeneity). Otherwise a no-op. */
  canonicalize(theta: Float64Array): void {
    if (!this.outputWeight) return;
    const { k, d, perExpert: p } = this;
    for (let i = 0; i < k; i++) {
      const o = i * p;
      const c = theta[o + d + 1];
      if (this.kind === TANH && c < 0) {
        for (let j = 0; j < p; j++) theta[o + j] = -theta[o + j];
      } else if (this.kind === RELU && c !== 0 && Number.isFinite(c)) {
        const sc = Math.abs(c);
        for (let j = 0; j <= d; j++) theta[o + j] *= sc;
        theta[o + d + 1] = Math.sign(c);
      }
    }
  }

  toJSON(theta: Float64Array): ExpertJSON {
    const { k, d, perExpert: p } = this;
    const a: number[][] = [];
    const b: number[] = [];
    const c: number[] = [];
    for (let i = 0; i < k; i++) {
      b.push(theta[i * p]);
      a.push(Array.from(theta.subarray(i * p + 1, i * p + 1 + d)));
      if (this.outputWeight) c.push(theta[i * p + d + 1]);
    }
    const json: ExpertJSON = { ...this.spec(), a, b };
    if (this.outputWeight) json.c = c;
    return json;
  }

  paramsFromJSON(json: ExpertJSON): Float64Array {
    const { k, d, perExpert: p } = this;
    const a = readMatrix(json.a, 'experts.a', k, d);
    const b = readVector(json.b, 'experts.b', k);
    let c: number[] | undefined;
    if (this.outputWeight) c = readVector(json.c, 'experts.c', k);
    else if (json.c !== undefined) throw new ModelFormatError('experts.c: given but experts.outputWeight is false (set "outputWeight": true to use c·σ(aᵀx + b))');
    const theta = new Float64Array(this.nParams);
    for (let i = 0; i < k; i++) {
      theta[i * p] = b[i];
      for (let u = 0; u < d; u++) theta[i * p + 1 + u] = a[i][u];
      if (c) theta[i * p + d + 1] = c[i];
    }
    return theta;
  }

  spec(): ExpertJSON {
    const json: ExpertJSON = { type: this.type, activation: this.activation };
    if (this.outputWeight) json.outputWeight = true;
    if (this.noiseVariance !== undefined) json.noiseVariance = this.noiseVariance;
    return json;
  }

  /** The same family with another noise variance (e.g. the SSE/n of a fit). */
  withNoiseVariance(noiseVariance: number | undefined): RegressionExperts {
    return new RegressionExperts(this.k, this.d, { activation: this.activation, outputWeight: this.outputWeight, noiseVariance });
  }
}

/** Options of a JSON spec (activation, outputWeight, noiseVariance), validated. */
export function regressionOptionsFromJSON(json: ExpertJSON): RegressionExpertOptions {
  const act = readString(json.activation, 'experts.activation');
  if (!(ACTIVATIONS as readonly string[]).includes(act)) {
    throw new ModelFormatError(`experts.activation: expected one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(act)}`);
  }
  let outputWeight = false;
  if (json.outputWeight !== undefined) {
    if (typeof json.outputWeight !== 'boolean') throw new ModelFormatError(`experts.outputWeight: expected true or false, got ${describe(json.outputWeight)}`);
    outputWeight = json.outputWeight;
  }
  const opts: RegressionExpertOptions = { activation: act as Activation, outputWeight };
  if (json.noiseVariance !== undefined) opts.noiseVariance = readNumber(json.noiseVariance, 'experts.noiseVariance', { positive: true });
  return opts;
}

/**
 * Registry entry. CLI: `regression:ACT[,c][,noise=V]`, e.g. `regression:gelu`, `regression:tanh,c`,
 * `regression:linear,noise=0.1`.
 */
export const regressionFactory: ExpertFactory = {
  type: 'regression',
  cliNames: ['regression', 'reg'],
  help: 'deterministic h(x) for LSE: regression:linear|sigmoid|tanh|gelu|relu[,c][,noise=V] (c: output weight c·σ(aᵀx+b))',
  kind: 'regression',
  create: (spec, k, d) => new RegressionExperts(k, d, regressionOptionsFromJSON(spec)),
  dims: (json, path) => ({ k: lengthOf(json.b, `${path}.b`), d: widthOf(json.a, `${path}.a`) }),
  parseCli: (rest, spec) => {
    const parts = (rest ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (parts.length === 0) throw new OptionError(`--expert ${spec}: name the expert function, e.g. regression:gelu (one of ${ACTIVATIONS.join(', ')})`);
    const act = parts[0].toLowerCase();
    if (!(ACTIVATIONS as readonly string[]).includes(act)) throw new OptionError(`--expert ${spec}: unknown expert function ${JSON.stringify(parts[0])} (expected one of ${ACTIVATIONS.join(', ')})`);
    const json: ExpertJSON = { type: 'regression', activation: act };
    for (const part of parts.slice(1)) {
      const m = /^(\w+)(?:=(.*))?$/.exec(part);
      const key = m?.[1].toLowerCase();
      if (key === 'c' && m?.[2] === undefined) {
        if (act === 'linear') throw new OptionError(`--expert ${spec}: a linear expert takes no output weight c`);
        json.outputWeight = true;
      } else if ((key === 'noise' || key === 'nu') && m?.[2] !== undefined) {
        const v = Number(m[2]);
        if (!(v > 0) || !Number.isFinite(v)) throw new OptionError(`--expert ${spec}: noise variance must be a number > 0, got ${JSON.stringify(m[2])}`);
        json.noiseVariance = v;
      } else {
        throw new OptionError(`--expert ${spec}: unknown option ${JSON.stringify(part)} (expected c or noise=V)`);
      }
    }
    return json;
  },
};
