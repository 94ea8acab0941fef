/**
 * The EM map's two halves (math-spec §9.1) and the per-fit workspace they share: the E-step in
 * log space (responsibilities and ℓ(θ)), each family's own weighted M-step, and ∇ℓ by Fisher's
 * identity, ∇ℓ(θ) = ∇_θ Q(θ | θ), from the posteriors of the last E-step (no extra E-step).
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import type { GateState } from '../gates/gate.js';
import { combineKernel, combineTwo, type CombineKernel } from './e-step-kernel.js';
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
  constructor(readonly model: MixtureOfExperts, readonly n: number) {
    const logits = model.gate.logits !== undefined;
    this.combine = combineKernel(model.k, !logits, logits);
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
    return { weights: this.G, objective: this.gateInfo[0] };
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
  if (!feasible(model, theta, ws.gateBound, ws.expertBound)) return -Infinity;
  const R = ws.R;
  const S = ws.S;
  const G = ws.G;
  const thetaGate = theta.subarray(0, gate.nParams);
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
  gate: { maxIter: number; tol: number; bound?: number };
  expert: { maxIter: number; tol: number; bound?: number };
}

/** The M-step settings of a fit's options (defaults in EM_DEFAULTS; no box unless gateBound / expertBound). */
export function mStepSettings(o: ResolvedEMOptions): MStepSettings {
  return {
    gate: { maxIter: o.gateMaxIter, tol: o.gateTol, ...(o.gateBound !== undefined ? { bound: o.gateBound } : {}) },
    expert: { maxIter: o.expertMaxIter, tol: o.expertTol, ...(o.expertBound !== undefined ? { bound: o.expertBound } : {}) },
  };
}

/** M-step in place on θ given ws.R. */
export function mStep(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, s: MStepSettings): void {
  const { gate, expert } = model;
  expert.mStep(theta.subarray(gate.nParams), data.X, data.y, data.n, ws.R, s.expert);
  const thetaGate = theta.subarray(0, gate.nParams);
  gate.mStep(thetaGate, data.X, data.n, ws.R, s.gate, ws.gateState(thetaGate));
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

