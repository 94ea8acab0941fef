/**
 * The EM map's two halves (math-spec §9.1) and the per-fit workspace they share: the E-step in
 * log space (responsibilities and ℓ(θ)), each family's own weighted M-step, and ∇ℓ by Fisher's
 * identity, ∇ℓ(θ) = ∇_θ Q(θ | θ), from the posteriors of the last E-step (no extra E-step).
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import type { Gate, GateMStepOptions, GateState } from '../gates/gate.js';
import { combineKernel, combineTwo, fusedEStepKernel, fusedMomentsSize, type CombineKernel, type FusedEStepKernel } from './e-step-kernel.js';
import { SoftmaxGate } from '../gates/softmax.js';
import { GaussianLinearExperts } from '../experts/gaussian-linear.js';
import type { ResolvedEMOptions } from './options.js';

/** Reusable per-fit buffers: no allocation inside iterations. */
export class EMWorkspace {
  readonly R: Float64Array;
  readonly S: Float64Array;
  readonly gradG: Float64Array;
  readonly gradE: Float64Array;
  /** Gate weights π at the θ of the last E-step (logit gates only), and its gate objective. */
  readonly G: Float64Array;
  readonly gateInfo = new Float64Array(1);
  /** Gate part of the θ of the last E-step, and whether G / gateInfo describe it. */
  readonly gateTheta: Float64Array;
  gateValid = false;
  /** Box on the gate parameters (EMOptions.gateBound); points outside are infeasible. */
  gateBound = Infinity;
  /** Box on the expert parameters (EMOptions.expertBound); points outside are infeasible. */
  expertBound = Infinity;
  /** The compiled E-step combine for this model (two experts use a hand-written path instead). */
  readonly combine: CombineKernel;
  /**
   * Gaussian linear experts with the softmax gate or a gate with a `logitsFragment`: the one-pass
   * E-step (e-step-kernel.ts), without and with the M-steps' statistics (null for other families
   * and for shapes too large to unroll).
   */
  readonly fused: FusedEStepKernel | null = null;
  readonly fusedStats: FusedEStepKernel | null = null;
  readonly gaussian: GaussianLinearExperts | null = null;
  /** Whether the fused statistics include the softmax gate's first Newton system (softmax only). */
  readonly gateNewton: boolean = false;
  /** Whether E-steps collect the M-steps' statistics (off in the finish: no M-step follows its E-steps). */
  collectStats = true;
  /** The fused E-step's expert moments and gate Newton system, and the θ they were taken at. */
  readonly moments: Float64Array;
  readonly newtonG: Float64Array;
  readonly newtonH: Float64Array;
  readonly statsTheta: Float64Array;
  statsValid = false;
  /** The θ an EM map started from (emMap, for a redone map) and how many maps were redone. */
  from = new Float64Array(0);
  redone = 0;
  /** `fused: false` keeps the separate passes (gate logits, expert densities, combine; the M-steps' own passes). */
  constructor(readonly model: MixtureOfExperts, readonly n: number, options: { fused?: boolean } = {}) {
    const logits = model.gate.logits !== undefined;
    this.combine = combineKernel(model.k, !logits, logits);
    const { gate, expert, k, d } = model;
    if (options.fused !== false && expert instanceof GaussianLinearExperts && expert.unrolled) {
      if (gate instanceof SoftmaxGate && gate.type === 'softmax') {
        this.fused = fusedEStepKernel(k, d, false);
        this.fusedStats = this.fused && fusedEStepKernel(k, d, true);
        this.gateNewton = this.fusedStats !== null;
      } else {
        // another gate's logits inside the same pass (gates/gate.ts LogitsFragment): the expert moments only
        const own: Gate = gate;
        const fragment = own.logits !== undefined ? own.logitsFragment?.() ?? null : null;
        if (fragment) {
          this.fused = fusedEStepKernel(k, d, false, fragment);
          this.fusedStats = this.fused && fusedEStepKernel(k, d, true, fragment);
        }
      }
      if (this.fused) this.gaussian = expert;
    }
    const pg = gate.nParams;
    this.moments = new Float64Array(this.fusedStats ? k * fusedMomentsSize(d) : 0);
    this.newtonG = new Float64Array(this.gateNewton ? pg : 0);
    this.newtonH = new Float64Array(this.gateNewton ? pg * pg : 0);
    this.statsTheta = new Float64Array(this.fusedStats ? gate.nParams + expert.nParams : 0);
    if (this.fused) warmFused([this.fused, this.fusedStats], model, this);
    this.R = new Float64Array(n * model.k);
    this.S = new Float64Array(n * model.k);
    this.gradG = new Float64Array(model.gate.nParams);
    this.gradE = new Float64Array(model.expert.nParams);
    this.G = new Float64Array(model.gate.logits ? n * model.k : 0);
    this.gateTheta = new Float64Array(model.gate.nParams);
  }

  /** The E-step's `GateState` if it was computed at this gate θ, else undefined. */
  gateState(thetaGate: Float64Array): GateState | undefined {
    if (!this.gateValid) return undefined;
    for (let i = 0; i < thetaGate.length; i++) if (thetaGate[i] !== this.gateTheta[i]) return undefined;
    return this.statsValid && this.gateNewton ? { weights: this.G, objective: this.gateInfo[0], newton: { g: this.newtonG, negHessian: this.newtonH } } : { weights: this.G, objective: this.gateInfo[0] };
  }
}

/**
 * Run the fused kernels a few times on a few rows before the first real call, so that V8 has
 * type feedback for the code after their loop when it optimises the loop: otherwise the
 * on-stack-replaced loop deopts at the stores after it on every call, V8 stops optimising the
 * function, and every E-step runs its first thousands of rows in the interpreter (measured
 * 14–38 ms instead of ≈ 5 ms for k = 3, d = 2 at n = 1e5).
 */
function warmFused(kernels: (FusedEStepKernel | null)[], model: MixtureOfExperts, ws: EMWorkspace): void {
  const rows = 4;
  const { k, d } = model;
  const pg = model.gate.nParams;
  const th = new Float64Array(pg + model.expert.nParams);
  const X = new Float64Array(rows * d);
  const y = new Float64Array(rows);
  for (let i = 0; i < X.length; i++) X[i] = ((i * 7) % 5) - 2;
  for (let t = 0; t < rows; t++) y[t] = (t % 3) - 1;
  const R = new Float64Array(rows * k);
  const G = new Float64Array(rows * k);
  const info = new Float64Array(1);
  for (const kernel of kernels) {
    if (!kernel) continue;
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < pg; j++) th[j] = ((i + j) % 3) - 1; // logits of both signs
      kernel(th.subarray(0, pg), th.subarray(pg), X, y, rows, R, G, info, ws.moments, ws.newtonG, ws.newtonH);
    }
  }
}

function feasible(model: MixtureOfExperts, theta: Float64Array, gateBound: number, expertBound: number): boolean {
  for (let i = 0; i < theta.length; i++) if (!Number.isFinite(theta[i])) return false;
  const g = model.gate;
  const e = model.expert;
  for (let i = 0; i < g.nParams; i++) if (Math.abs(theta[i]) > gateBound) return false;
  if (expertBound !== Infinity) for (let i = g.nParams; i < theta.length; i++) if (Math.abs(theta[i]) > expertBound) return false;
  if (g.feasible && !g.feasible(theta.subarray(0, g.nParams))) return false;
  if (e.feasible && !e.feasible(theta.subarray(g.nParams))) return false;
  return true;
}

/**
 * E-step at θ: responsibilities into ws.R, returns ℓ(θ). Non-finite (−Infinity) if some row has
 * zero likelihood or θ is infeasible.
 *
 * With a gate that supplies logits z (log π = z − lse z) and a_ti = z_ti + log f_ti, the row's
 * log-likelihood is lse(a) − lse(z) and its posteriors are softmax(a). The logs of the row sums
 * are taken once per LOG_BLOCK rows as the log of their product (each ratio lies in [1/k, k]),
 * and exps use `expNonPositive`: the E-step runs in every EM map and every finish evaluation.
 */
export function eStep(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace): number {
  const { gate, expert, k } = model;
  const { X, y, n } = data;
  ws.gateValid = false;
  ws.statsValid = false;
  if (!feasible(model, theta, ws.gateBound, ws.expertBound)) return -Infinity;
  const R = ws.R;
  const S = ws.S;
  const G = ws.G;
  const thetaGate = theta.subarray(0, gate.nParams);
  if (ws.fused) {
    const stats = ws.collectStats && ws.fusedStats !== null;
    const kernel = stats ? ws.fusedStats! : ws.fused;
    const ll = kernel(thetaGate, theta.subarray(gate.nParams), X, y, n, R, G, ws.gateInfo, ws.moments, ws.newtonG, ws.newtonH);
    if (!Number.isFinite(ll)) return -Infinity;
    setGateState(ws, thetaGate, ws.gateInfo[0]);
    if (stats) {
      ws.statsTheta.set(theta);
      ws.statsValid = true;
    }
    return ll;
  }
  const normalised = gate.logits === undefined;
  if (gate.logits) gate.logits(thetaGate, X, n, R);
  else gate.logWeights(thetaGate, X, n, R);
  expert.logDensity(theta.subarray(gate.nParams), X, y, n, S);
  const ll = k === 2 ? combineTwo(R, S, n, normalised ? undefined : G, ws.gateInfo) : ws.combine(R, S, n, G, ws.gateInfo);
  if (!Number.isFinite(ll)) return -Infinity; // a row of zero likelihood (the combine stopped there) or NaN
  if (!normalised) setGateState(ws, thetaGate, ws.gateInfo[0]);
  return ll;
}

function setGateState(ws: EMWorkspace, thetaGate: Float64Array, objective: number): void {
  ws.gateInfo[0] = objective;
  ws.gateTheta.set(thetaGate);
  ws.gateValid = Number.isFinite(objective);
}

/** Inner-iteration settings of the two M-steps. */
export interface MStepSettings {
  gate: GateMStepOptions;
  expert: { maxIter: number; tol: number; bound?: number };
  /** With the likelihood guard (gate.inexact.defer): the same settings without it, for a redone M-step. */
  checked?: MStepSettings;
}

/** The M-step settings of a fit's options (defaults in EM_DEFAULTS; no box unless gateBound / expertBound). */
export function mStepSettings(o: ResolvedEMOptions): MStepSettings {
  const gate = { maxIter: o.gateMaxIter, tol: o.gateTol, ...(o.gateBound !== undefined ? { bound: o.gateBound } : {}) };
  const expert = { maxIter: o.expertMaxIter, tol: o.expertTol, ...(o.expertBound !== undefined ? { bound: o.expertBound } : {}) };
  if (!(o.gateInexact > 0)) return { gate, expert };
  const inexact = { steps: o.gateInexact, above: o.gateInexactAbove };
  const checked: MStepSettings = { gate: { ...gate, inexact }, expert };
  if (o.gateInexactCheck !== 'likelihood' || o.gateInexact !== 1) return checked;
  return { gate: { ...gate, inexact: { ...inexact, defer: { pending: false } } }, expert, checked };
}

/** M-step in place on θ given ws.R. */
export function mStep(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, s: MStepSettings): void {
  const { gate, expert } = model;
  if (ws.gaussian && ws.statsValid && sameVector(theta, ws.statsTheta)) ws.gaussian.mStepFromMoments(theta.subarray(gate.nParams), data.X, data.y, data.n, ws.R, ws.moments);
  else {
    ws.statsValid = false; // the gate's Newton system belongs to another θ too
    expert.mStep(theta.subarray(gate.nParams), data.X, data.y, data.n, ws.R, s.expert);
  }
  const thetaGate = theta.subarray(0, gate.nParams);
  gate.mStep(thetaGate, data.X, data.n, ws.R, s.gate, ws.gateState(thetaGate));
}

/**
 * The EM map with the likelihood guard: θ ← F(θ) in place (ws.R holds the posteriors at θ, whose
 * log-likelihood is llFrom), returns ℓ at the new θ with ws.R its posteriors. When the gate took a
 * step without a trial pass (GateMStepOptions.inexact.defer) and ℓ fell below llFrom, the map is
 * redone from θ with the objective-checked M-step (`s.checked`, a generalized EM step: Q does not
 * decrease, so neither does ℓ), at the cost of two more E-steps. `redone` counts those.
 */
export function emMap(model: MixtureOfExperts, theta: Float64Array, llFrom: number, data: Dataset, ws: EMWorkspace, s: MStepSettings): number {
  const defer = s.gate.inexact?.defer;
  if (!defer || !s.checked) {
    mStep(model, theta, data, ws, s);
    return eStep(model, theta, data, ws);
  }
  if (ws.from.length !== theta.length) ws.from = new Float64Array(theta.length);
  ws.from.set(theta);
  defer.pending = false;
  mStep(model, theta, data, ws, s);
  const ll = eStep(model, theta, data, ws);
  if (!defer.pending || ll >= llFrom) return ll;
  return redoMap(model, theta, data, ws, s.checked);
}

/** The map from ws.from again with the objective-checked settings (emMap's fallback). */
export function redoMap(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, checked: MStepSettings): number {
  ws.redone++;
  theta.set(ws.from);
  eStep(model, theta, data, ws);
  mStep(model, theta, data, ws, checked);
  return eStep(model, theta, data, ws);
}

function sameVector(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * ∇ℓ(θ) (not divided by n) into grad, via Fisher's identity; returns ℓ(θ). Leaves posteriors in ws.R.
 */
export function logLikelihoodGradient(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, grad: Float64Array): number {
  const ll = eStep(model, theta, data, ws);
  if (!Number.isFinite(ll)) return ll;
  gradientFromPosteriors(model, theta, data, ws, grad);
  return ll;
}

/** ∇ℓ(θ) into grad given that ws.R already holds the posteriors at θ (no E-step). */
export function gradientFromPosteriors(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, grad: Float64Array): void {
  const { gate, expert } = model;
  const thetaGate = theta.subarray(0, gate.nParams);
  gate.gradQ(thetaGate, data.X, data.n, ws.R, ws.gradG, ws.gateState(thetaGate)?.weights);
  expert.gradQ(theta.subarray(gate.nParams), data.X, data.y, data.n, ws.R, ws.gradE);
  grad.set(ws.gradG, 0);
  grad.set(ws.gradE, gate.nParams);
}

