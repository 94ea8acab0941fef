/**
 * Two-level (hierarchical) softmax gate (P3 journal version, math-spec §5.4):
 *   π_{i₁i₂}(x) = Softmax(ω₁ᵀx + ω₀)_{i₁} · Softmax(β₁_{i₁·}ᵀx + β₀_{i₁·})_{i₂},
 * with K1 outer groups of K2 experts each, k = K1·K2, expert index i = i₁·K2 + i₂.
 *
 * Canonical form: a reference at each level (math-spec §5.4): the last group has ω₁ = 0, ω₀ = 0,
 * and within every group the last expert has β₁ = 0, β₀ = 0 (each softmax is translation-invariant
 * on its own). θ = [outer (K1−1) rows (ω₀, ω₁) | group 0: (K2−1) rows (β₀, β₁) | … | group K1−1].
 *
 * JSON: { "type": "hierarchical", "K1": K1, "K2": K2, "omega0": [K1], "omega1": [[d] × K1],
 *         "beta0": [[K2] × K1], "beta1": [[[d] × K2] × K1] }
 * (beta0[i₁][i₂], beta1[i₁][i₂][u]). These blocks are indexed by level, not by expert, so they are
 * declared perExpert: false; the nearTruth initialisation then keeps the experts in order and needs
 * the same K1×K2 as the truth.
 *
 * M-step: log π = log π^outer_{i₁} + log π^inner_{i₂|i₁}, so Σ R log π separates into the outer
 * softmax with weights Σ_{i₂} R_{t,i₁i₂} and K1 inner softmaxes with weights R_{t,i₁·}; each is
 * maximised exactly by `LinearSoftmaxCore` (Newton/IRLS), so Q never decreases.
 */
import type { GateInvariance, BlockInfo, Gate, GateJSON, GateMStepInfo, GateMStepOptions, GateState } from './gate.js';
import type { GateFactory } from './gate.js';
import { LinearSoftmaxCore } from '../family/linear-softmax.js';
import { parseCliOptions } from './common.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { describe, lengthOf, readMatrix, readNumber, readVector } from '../json-read.js';
import { hierarchicalGradientKernel, hierarchicalLogitsKernel, hierarchicalSplitKernel, levelKeptKernel, levelNewtonKernel, type HierarchicalGradientKernel, type HierarchicalLogitsKernel, type HierarchicalSplitKernel, type LevelKeptKernel, type LevelNewtonKernel } from './hierarchical-kernels.js';
import { NewtonMaximizer, RIDGE_CARRY_NEWTON, type NewtonProblem } from '../numeric/newton.js';

export class HierarchicalGate implements Gate {
  readonly type = 'hierarchical';
  /**
   * The outer softmax's translation of (ω₀, ω₁). Each group's inner softmax has its own translation
   * too (removed by the canonical form, the last expert of a group as its reference); a loss cannot
   * match it to true cells that mix groups, so it is not declared.
   */
  readonly invariance: GateInvariance = { translation: { weight: 'omega0', blocks: ['omega1'] }, scale: null };
  /** `mStep` honours `GateMStepOptions.bound` (projected Newton; compact Θ, issue 15). */
  readonly supportsBound = true;
  readonly k: number;
  readonly d: number;
  readonly K1: number;
  readonly K2: number;
  readonly nParams: number;
  readonly blocks: readonly BlockInfo[] = [
    { name: 'omega0', perExpert: false, kind: 'gate' },
    { name: 'omega1', perExpert: false, kind: 'gate' },
    { name: 'beta0', perExpert: false, kind: 'gate' },
    { name: 'beta1', perExpert: false, kind: 'gate' },
  ];
  private readonly outer: LinearSoftmaxCore;
  private readonly inner: LinearSoftmaxCore;
  /** Offset of group i₁'s inner parameters in θ: pOuter + i₁·pInner. */
  private readonly pOuter: number;
  private readonly pInner: number;
  private Wo = new Float64Array(0); // n×K1
  private Wi = new Float64Array(0); // n×K2
  private Lo = new Float64Array(0); // n×K1 outer log-weights
  private Li = new Float64Array(0); // n×K2 inner log-weights
  private G = new Float64Array(0); // n×max(pOuter, pInner) per-row scores
  /** One-pass logits (hierarchical-kernels.ts); null: the plain path, and no `logits` state. */
  private readonly logitsKernel: HierarchicalLogitsKernel | null;
  // the levels' weights and log-weights of the last `logits` call (n×K1; n×K2 per group), at stateTheta on stateX
  private Po = new Float64Array(0);
  private Lk = new Float64Array(0);
  private Pg: Float64Array[] = [];
  private Lg: Float64Array[] = [];
  private readonly stateTheta: Float64Array;
  private stateX: Float64Array | null = null;
  private stateN = 0;
  /** The M-step's split of R by level from the kept state (with the logits kernel only). */
  private readonly splitKernel: HierarchicalSplitKernel | null;
  private Wg: Float64Array[] = []; // n×K2 per group: the inner weights of the split
  private readonly levelObjectives: Float64Array;
  /** ∇Q of every level in one generated loop (with the levels' passes; null: the softmax cores' gradients). */
  private readonly gradientKernel: HierarchicalGradientKernel | null;
  /** The levels' M-step problems on one generated pass each (null: the softmax cores' M-steps). */
  private readonly levels: { outer: LevelProblem; inner: LevelProblem; outerNewton: NewtonMaximizer; innerNewton: NewtonMaximizer } | null;

  /** `plain: true` keeps the separate softmax passes (the tests' reference). */
  constructor(K1: number, K2: number, d: number, options: { plain?: boolean } = {}) {
    if (!Number.isInteger(K1) || K1 < 1 || !Number.isInteger(K2) || K2 < 1) throw new OptionError(`hierarchical gate: K1 and K2 must be integers ≥ 1, got ${K1}×${K2}`);
    this.K1 = K1;
    this.K2 = K2;
    this.k = K1 * K2;
    this.d = d;
    this.outer = new LinearSoftmaxCore(K1, d);
    this.inner = new LinearSoftmaxCore(K2, d);
    this.pOuter = this.outer.nParams;
    this.pInner = this.inner.nParams;
    this.nParams = this.pOuter + K1 * this.pInner;
    const outerK = options.plain === true || K1 === 1 ? null : levelNewtonKernel(K1, K2, d, true);
    const innerK = options.plain === true || K2 === 1 ? null : levelNewtonKernel(K1, K2, d, false);
    const own = options.plain !== true && (K1 === 1 || outerK !== null) && (K2 === 1 || innerK !== null);
    // the logits keep the levels' weights for the softmax cores' M-steps, and for the levels' first passes
    this.logitsKernel = options.plain === true ? null : hierarchicalLogitsKernel(K1, K2, d, true);
    this.levels = own && this.logitsKernel
      ? {
          outer: new LevelProblem(this.pOuter, outerK, K1 === 1 ? null : levelKeptKernel(K1, K2, d, true)),
          inner: new LevelProblem(this.pInner, innerK, K2 === 1 ? null : levelKeptKernel(K1, K2, d, false)),
          // the quadratic-convergence constant carried from M-step to M-step: a one-step level run stops before its trial
          outerNewton: new NewtonMaximizer(this.pOuter, RIDGE_CARRY_NEWTON), innerNewton: new NewtonMaximizer(this.pInner, RIDGE_CARRY_NEWTON),
        }
      : null;
    this.gradientKernel = this.levels ? hierarchicalGradientKernel(K1, K2, d) : null;
    this.stateTheta = new Float64Array(this.nParams);
    this.splitKernel = this.logitsKernel ? hierarchicalSplitKernel(K1, K2) : null;
    this.levelObjectives = new Float64Array(K1 + 1);
  }

  private ensure(n: number): void {
    const { K1, K2 } = this;
    if (this.Wo.length < n * K1) { this.Wo = new Float64Array(n * K1); this.Lo = new Float64Array(n * K1); }
    if (this.Wi.length < n * K2) { this.Wi = new Float64Array(n * K2); this.Li = new Float64Array(n * K2); }
  }

  private outerTheta(theta: Float64Array): Float64Array {
    return theta.subarray(0, this.pOuter);
  }
  private innerTheta(theta: Float64Array, i1: number): Float64Array {
    const o = this.pOuter + i1 * this.pInner;
    return theta.subarray(o, o + this.pInner);
  }

  /** Outer weights W_o[t,i₁] = Σ_{i₂} W[t, i₁K2+i₂]. */
  private sumGroups(W: Float64Array, n: number): Float64Array {
    const { K1, K2, k } = this;
    const Wo = this.Wo;
    for (let t = 0; t < n; t++) {
      for (let i1 = 0; i1 < K1; i1++) {
        let s = 0;
        for (let i2 = 0; i2 < K2; i2++) s += W[t * k + i1 * K2 + i2];
        Wo[t * K1 + i1] = s;
      }
    }
    return Wo;
  }

  /** Inner weights of group i₁: W_i[t,i₂] = W[t, i₁K2+i₂]. */
  private groupSlice(W: Float64Array, n: number, i1: number): Float64Array {
    const { K2, k } = this;
    const Wi = this.Wi;
    for (let t = 0; t < n; t++) for (let i2 = 0; i2 < K2; i2++) Wi[t * K2 + i2] = W[t * k + i1 * K2 + i2];
    return Wi;
  }

  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    const { K1, K2, k } = this;
    this.ensure(n);
    const Lo = this.Lo;
    const Li = this.Li;
    this.outer.logWeights(this.outerTheta(theta), X, n, Lo);
    for (let i1 = 0; i1 < K1; i1++) {
      this.inner.logWeights(this.innerTheta(theta, i1), X, n, Li);
      // P3 (math-spec §5.4): π_{i₁i₂} = π^outer_{i₁} · π^inner_{i₂|i₁}
      for (let t = 0; t < n; t++) {
        const lo = Lo[t * K1 + i1];
        for (let i2 = 0; i2 < K2; i2++) out[t * k + i1 * K2 + i2] = lo + Li[t * K2 + i2];
      }
    }
  }

  /**
   * Logits z_{i₁i₂} = a_{i₁} + log π^{i₁}_{i₂} (log π = z − lse z, since each inner softmax sums to 1).
   * The kernel also keeps both levels' weights and log-weights at this θ, from which the M-step's
   * first Newton passes start.
   */
  logits(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    if (this.logitsKernel === null) {
      this.logWeights(theta, X, n, out);
      return;
    }
    this.ensure(n);
    const { K1, K2 } = this;
    if (this.Po.length < n * K1) { this.Po = new Float64Array(n * K1); this.Lk = new Float64Array(n * K1); }
    if (this.Pg.length !== K1 || this.Pg[0].length < n * K2) {
      this.Pg = Array.from({ length: K1 }, () => new Float64Array(n * K2));
      this.Lg = Array.from({ length: K1 }, () => new Float64Array(n * K2));
    }
    this.stateX = null;
    this.logitsKernel(theta, X, n, out, this.Po, this.Lk, this.Pg, this.Lg);
    this.stateTheta.set(theta);
    this.stateX = X;
    this.stateN = n;
  }

  /** Whether the kept level weights describe θ on X (n rows). */
  private hasState(theta: Float64Array, X: Float64Array, n: number): boolean {
    if (this.stateX !== X || this.stateN !== n) return false;
    for (let i = 0; i < this.nParams; i++) if (theta[i] !== this.stateTheta[i]) return false;
    return true;
  }

  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array): void {
    if (this.gradientKernel) {
      // one loop over the rows for every level (a split of W and three softmax passes before)
      this.gradientKernel(theta, X, W, n, grad);
      return;
    }
    this.ensure(n);
    const kept = this.hasState(theta, X, n);
    this.outer.gradQ(this.outerTheta(theta), X, n, this.sumGroups(W, n), grad.subarray(0, this.pOuter), kept ? this.Po : undefined);
    for (let i1 = 0; i1 < this.K1; i1++) {
      const o = this.pOuter + i1 * this.pInner;
      this.inner.gradQ(this.innerTheta(theta, i1), X, n, this.groupSlice(W, n, i1), grad.subarray(o, o + this.pInner), kept ? this.Pg[i1] : undefined);
    }
  }

  rowGradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    this.ensure(n);
    const p = this.nParams;
    const width = Math.max(this.pOuter, this.pInner);
    if (this.G.length < n * width) this.G = new Float64Array(n * width);
    const G = this.G;
    const copy = (m: number, off: number): void => {
      for (let t = 0; t < n; t++) for (let j = 0; j < m; j++) out[t * p + off + j] = G[t * m + j];
    };
    if (this.pOuter > 0) {
      this.outer.rowGradQ(this.outerTheta(theta), X, n, this.sumGroups(W, n), G);
      copy(this.pOuter, 0);
    }
    if (this.pInner > 0) {
      for (let i1 = 0; i1 < this.K1; i1++) {
        this.inner.rowGradQ(this.innerTheta(theta, i1), X, n, this.groupSlice(W, n, i1), G);
        copy(this.pInner, this.pOuter + i1 * this.pInner);
      }
    }
  }

  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions): GateMStepInfo {
    this.ensure(n);
    // each level starts from the weights of the last logits at this θ when there are any (no first pass)
    const kept = this.hasState(theta, X, n);
    this.stateX = null; // θ moves
    if (this.levels) return this.levelMStep(theta, X, n, R, options, this.levels, kept);
    if (kept && this.splitKernel) return this.keptMStep(theta, X, n, R, options, this.splitKernel);
    // the objective separates: outer softmax on group sums + one inner softmax per group
    const Wo = this.sumGroups(R, n);
    const info = this.outer.mStep(this.outerTheta(theta), X, n, Wo, options, kept ? levelState(this.Po, this.Lk, Wo, n * this.K1) : undefined);
    let { iterations, objective, converged } = info;
    for (let i1 = 0; i1 < this.K1; i1++) {
      const Wi = this.groupSlice(R, n, i1);
      const r = this.inner.mStep(this.innerTheta(theta, i1), X, n, Wi, options, kept ? levelState(this.Pg[i1], this.Lg[i1], Wi, n * this.K2) : undefined);
      iterations += r.iterations;
      objective += r.objective;
      converged &&= r.converged;
    }
    return { iterations, objective, converged };
  }

  /**
   * The M-step as the levels' Newton problems, each pass one generated loop over R (no split of R,
   * no stored weights): the same damped Newton (numeric/newton.ts, ridge) and stopping rule as the
   * softmax cores' M-steps, on the same objectives.
   */
  private levelMStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions, lv: NonNullable<HierarchicalGate['levels']>, kept: boolean): GateMStepInfo {
    let iterations = 0;
    let objective = 0;
    let converged = true;
    const add = (r: GateMStepInfo): void => {
      iterations += r.iterations;
      objective += r.objective;
      converged &&= r.converged;
    };
    // each level's first pass from the weights the last logits kept at this θ (no exps, no logs), when they did
    if (this.pOuter > 0) add(lv.outer.run(lv.outerNewton, this.outerTheta(theta), X, n, R, 0, options, kept ? this.Po : null, this.Lk));
    if (this.pInner > 0) for (let i1 = 0; i1 < this.K1; i1++) add(lv.inner.run(lv.innerNewton, this.innerTheta(theta, i1), X, n, R, i1 * this.K2, options, kept ? this.Pg[i1] : null, this.Lg[i1]));
    return { iterations, objective, converged };
  }

  /** The M-step from the kept level weights: R split by level and each level's start objective in one pass. */
  private keptMStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions, split: HierarchicalSplitKernel): GateMStepInfo {
    const { K1, K2 } = this;
    if (this.Wg.length !== K1 || this.Wg[0].length < n * K2) this.Wg = Array.from({ length: K1 }, () => new Float64Array(n * K2));
    const obj = this.levelObjectives;
    split(R, n, this.Lk, this.Lg, this.Wo, this.Wg, obj);
    const info = this.outer.mStep(this.outerTheta(theta), X, n, this.Wo, options, { weights: this.Po, objective: obj[0] });
    let { iterations, objective, converged } = info;
    for (let i1 = 0; i1 < K1; i1++) {
      const r = this.inner.mStep(this.innerTheta(theta, i1), X, n, this.Wg[i1], options, { weights: this.Pg[i1], objective: obj[1 + i1] });
      iterations += r.iterations;
      objective += r.objective;
      converged &&= r.converged;
    }
    return { iterations, objective, converged };
  }

  canonicalize(_theta: Float64Array): void {
    // θ excludes the reference group and each group's reference expert: already canonical.
  }

  toJSON(theta: Float64Array): GateJSON {
    const { K1, K2, d } = this;
    const q = d + 1;
    const omega0: number[] = [];
    const omega1: number[][] = [];
    for (let i1 = 0; i1 < K1; i1++) {
      if (i1 < K1 - 1) {
        omega0.push(theta[i1 * q]);
        omega1.push(Array.from(theta.subarray(i1 * q + 1, i1 * q + 1 + d)));
      } else {
        omega0.push(0);
        omega1.push(new Array<number>(d).fill(0));
      }
    }
    const beta0: number[][] = [];
    const beta1: number[][][] = [];
    for (let i1 = 0; i1 < K1; i1++) {
      const th = this.innerTheta(theta, i1);
      const b0: number[] = [];
      const b1: number[][] = [];
      for (let i2 = 0; i2 < K2; i2++) {
        if (i2 < K2 - 1) {
          b0.push(th[i2 * q]);
          b1.push(Array.from(th.subarray(i2 * q + 1, i2 * q + 1 + d)));
        } else {
          b0.push(0);
          b1.push(new Array<number>(d).fill(0));
        }
      }
      beta0.push(b0);
      beta1.push(b1);
    }
    return { type: this.type, K1, K2, omega0, omega1, beta0, beta1 };
  }

  paramsFromJSON(json: GateJSON): Float64Array {
    const { K1, K2, d } = this;
    const q = d + 1;
    checkLevels(json, 'gate', K1, K2);
    const omega0 = readVector(json.omega0, 'gate.omega0', K1);
    const omega1 = readMatrix(json.omega1, 'gate.omega1', K1, d);
    const beta0 = readMatrix(json.beta0, 'gate.beta0', K1, K2);
    if (!Array.isArray(json.beta1) || json.beta1.length !== K1) throw new ModelFormatError(`gate.beta1: expected an array of ${K1} groups of ${K2}×${d} matrices, got ${describe(json.beta1)}`);
    const beta1 = (json.beta1 as unknown[]).map((g, i1) => readMatrix(g, `gate.beta1[${i1}]`, K2, d));
    const theta = new Float64Array(this.nParams);
    // translate each level to its reference (math-spec §5.4)
    for (let i1 = 0; i1 < K1 - 1; i1++) {
      theta[i1 * q] = omega0[i1] - omega0[K1 - 1];
      for (let u = 0; u < d; u++) theta[i1 * q + 1 + u] = omega1[i1][u] - omega1[K1 - 1][u];
    }
    for (let i1 = 0; i1 < K1; i1++) {
      const o = this.pOuter + i1 * this.pInner;
      for (let i2 = 0; i2 < K2 - 1; i2++) {
        theta[o + i2 * q] = beta0[i1][i2] - beta0[i1][K2 - 1];
        for (let u = 0; u < d; u++) theta[o + i2 * q + 1 + u] = beta1[i1][i2][u] - beta1[i1][K2 - 1][u];
      }
    }
    return theta;
  }

  spec(): GateJSON {
    return { type: this.type, K1: this.K1, K2: this.K2 };
  }
}

/** One level's M-step objective Σ w log π as a Newton problem on its generated pass (fields set per run). */
class LevelProblem implements NewtonProblem {
  private X: Float64Array = EMPTY;
  private R: Float64Array = EMPTY;
  private n = 0;
  private off = 0;
  /** The level's kept weights and log-weights at the run's start θ (null: none, the first pass computes them). */
  private P: Float64Array | null = null;
  private L: Float64Array = EMPTY;
  constructor(readonly nParams: number, private readonly kernel: LevelNewtonKernel | null, private readonly keptKernel: LevelKeptKernel | null) {}
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    return this.kernel ? this.kernel(theta, this.X, this.R, this.n, this.off, g, NH) : 0;
  }
  firstPass(theta: Float64Array, g: Float64Array, NH: Float64Array): number {
    if (this.P === null || this.keptKernel === null) return this.pass(theta, g, NH);
    return this.keptKernel(this.P, this.L, this.X, this.R, this.n, this.off, g, NH);
  }
  run(newton: NewtonMaximizer, theta: Float64Array, X: Float64Array, n: number, R: Float64Array, off: number, options: GateMStepOptions, P: Float64Array | null = null, L: Float64Array = EMPTY): GateMStepInfo {
    this.X = X;
    this.R = R;
    this.n = n;
    this.off = off;
    this.P = P;
    this.L = L;
    const info = newton.run(this, theta, options);
    this.X = this.R = this.L = EMPTY;
    this.P = null;
    return info;
  }
}

const EMPTY = new Float64Array(0);

/** A level's start: its weights and Σ W log π from its log-weights (m = n × classes entries). */
function levelState(P: Float64Array, L: Float64Array, W: Float64Array, m: number): GateState {
  let objective = 0;
  for (let i = 0; i < m; i++) if (W[i] !== 0) objective += W[i] * L[i];
  return { weights: P, objective };
}

/** Validate optional K1/K2 fields of a JSON gate against the block shapes. */
function checkLevels(json: GateJSON, path: string, K1: number, K2: number): void {
  if (json.K1 !== undefined && readNumber(json.K1, `${path}.K1`, { integer: true, min: 1 }) !== K1) {
    throw new ModelFormatError(`${path}.K1: ${String(json.K1)} does not match the ${K1} groups of this gate`);
  }
  if (json.K2 !== undefined && readNumber(json.K2, `${path}.K2`, { integer: true, min: 1 }) !== K2) {
    throw new ModelFormatError(`${path}.K2: ${String(json.K2)} does not match the ${K2} experts per group of this gate`);
  }
}

/** (K1, K2, d) from the blocks of a JSON hierarchical gate. */
function levelDims(json: GateJSON, path: string): { K1: number; K2: number; d: number } {
  const K1 = lengthOf(json.beta0, `${path}.beta0`);
  if (K1 === 0) throw new ModelFormatError(`${path}.beta0: expected ${'K1'} ≥ 1 groups, got an empty array`);
  const K2 = lengthOf((json.beta0 as unknown[])[0], `${path}.beta0[0]`);
  const o1 = json.omega1;
  if (!Array.isArray(o1) || o1.length === 0 || !Array.isArray(o1[0])) throw new ModelFormatError(`${path}.omega1: expected a non-empty array of rows, got ${describe(o1)}`);
  const d = (o1[0] as unknown[]).length;
  return { K1, K2, d };
}

export const hierarchicalGateFactory: GateFactory = {
  type: 'hierarchical',
  cliNames: ['hierarchical'],
  help: 'hierarchical:K1xK2 — two-level softmax, K1 groups of K2 experts (k = K1·K2, expert i₁·K2+i₂), reference at each level (P3)',
  create: (spec, k, d) => {
    let K1: number;
    let K2: number;
    if (spec.K1 !== undefined || spec.K2 !== undefined) {
      K1 = readNumber(spec.K1, 'gate.K1', { integer: true, min: 1 });
      K2 = readNumber(spec.K2, 'gate.K2', { integer: true, min: 1 });
    } else {
      ({ K1, K2 } = levelDims(spec, 'gate'));
    }
    if (K1 * K2 !== k) throw new OptionError(`hierarchical gate ${K1}x${K2} has ${K1 * K2} experts, but k=${k} (use --k ${K1 * K2})`);
    return new HierarchicalGate(K1, K2, d);
  },
  dims: (json, path) => {
    const { K1, K2, d } = levelDims(json, path);
    checkLevels(json, path, K1, K2);
    return { k: K1 * K2, d };
  },
  parseCli: (rest, spec) => {
    const { words } = parseCliOptions(rest, spec, []);
    const m = words.length === 1 ? /^(\d+)\s*[xX×*]\s*(\d+)$/.exec(words[0]) : null;
    if (!m) throw new OptionError(`--gate ${spec}: expected hierarchical:K1xK2, e.g. hierarchical:2x2`);
    const K1 = Number(m[1]);
    const K2 = Number(m[2]);
    if (K1 < 1 || K2 < 1) throw new OptionError(`--gate ${spec}: K1 and K2 must be ≥ 1`);
    return { type: 'hierarchical', K1, K2 };
  },
};
