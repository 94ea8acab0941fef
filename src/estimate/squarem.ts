/**
 * SQUAREM (Varadhan & Roland 2008, scheme S3 with the step-length adaptation of the SQUAREM
 * package) on the working-parameter vector θ, with a monotonicity safeguard: an extrapolated point
 * is kept only if its log-likelihood is ≥ that of the last EM iterate, so the sequence of
 * log-likelihoods never decreases. The plain EM map is the `accelerate: 'none'` alternative.
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { clipToBox } from '../numeric/box.js';
import { emMap, eStep, mStep, redoMap, type EMWorkspace, type MStepSettings } from './em-step.js';

/**
 * One accelerated (or plain) cycle: θ ← cycle(θ) in place (ws.R holds the posteriors at θ, whose
 * log-likelihood is ll), returns ℓ ≥ ll at the new θ (ws.R holds its posteriors).
 */
export interface EMCycle {
  /** EM map evaluations so far. */
  readonly evaluations: number;
  /** The M-step settings of the next maps (em.ts switches them at gateInexactFrom). */
  settings: MStepSettings;
  step(model: MixtureOfExperts, theta: Float64Array, ll: number, data: Dataset, ws: EMWorkspace): number;
}

/** Plain EM: θ ← F(θ), one map evaluation per cycle. */
export class PlainEM implements EMCycle {
  evaluations = 0;
  private readonly next: Float64Array;
  constructor(p: number, public settings: MStepSettings) {
    this.next = new Float64Array(p);
  }

  step(model: MixtureOfExperts, theta: Float64Array, ll0: number, data: Dataset, ws: EMWorkspace): number {
    this.next.set(theta);
    const redone = ws.redone;
    const ll = emMap(model, this.next, ll0, data, ws, this.settings);
    this.evaluations += 1 + ws.redone - redone;
    theta.set(this.next);
    return ll;
  }
}

/**
 * SQUAREM S3 cycle with its step-length state (step.max0 = 1, mstep = 4); extrapolations past the
 * gate box are clipped onto it.
 */
export class Squarem implements EMCycle {
  evaluations = 0;
  private stepMax = 1;
  private readonly stepMin = 1;
  private readonly th1: Float64Array;
  private readonly th2: Float64Array;
  private readonly thx: Float64Array;
  constructor(p: number, public settings: MStepSettings, private readonly gateBound: number, private readonly expertBound = Infinity) {
    this.th1 = new Float64Array(p);
    this.th2 = new Float64Array(p);
    this.thx = new Float64Array(p);
  }

  step(model: MixtureOfExperts, th0: Float64Array, ll0: number, data: Dataset, ws: EMWorkspace): number {
    const { th1, th2, thx, settings } = this;
    const p = th0.length;
    const pg = model.gate.nParams;
    const redone = ws.redone;
    // θ1 = F(θ0) (ws.R holds the posteriors at θ0)
    th1.set(th0);
    const ll1 = emMap(model, th1, ll0, data, ws, settings);
    this.evaluations++;
    if (!Number.isFinite(ll1)) throw new Error('EM produced an infeasible iterate (log-likelihood −∞)');
    th2.set(th1);
    // θ2 = F(θ1), unchecked (emMap's guard): when θ2 is taken, its ℓ is checked against ℓ(θ1) below
    const defer = settings.gate.inexact?.defer;
    if (defer) defer.pending = false;
    mStep(model, th2, data, ws, settings);
    const unchecked2 = defer?.pending === true;
    this.evaluations++;
    // SQUAREM S3: r = θ1 − θ0, v = (θ2 − θ1) − r, α = ‖r‖/‖v‖ clamped to [stepMin, stepMax]
    let sr = 0;
    let sv = 0;
    for (let i = 0; i < p; i++) {
      const r = th1[i] - th0[i];
      const v = th2[i] - th1[i] - r;
      sr += r * r;
      sv += v * v;
    }
    let alpha = sv > 0 ? Math.sqrt(sr / sv) : 1;
    alpha = Math.max(this.stepMin, Math.min(this.stepMax, alpha));
    if (alpha > 1) {
      for (let i = 0; i < p; i++) {
        const r = th1[i] - th0[i];
        const v = th2[i] - th1[i] - r;
        thx[i] = th0[i] + 2 * alpha * r + alpha * alpha * v;
      }
      clipToBox(thx, 0, pg, this.gateBound); // an extrapolation past the box is cut back onto it
      clipToBox(thx, pg, p, this.expertBound);
      const llx = eStep(model, thx, data, ws);
      if (Number.isFinite(llx) && llx >= ll1) {
        // stabilisation step: θ ← F(θx), ℓ(F(θx)) ≥ ℓ(θx) ≥ ℓ(θ1) ≥ ℓ(θ0)
        const ll = emMap(model, thx, llx, data, ws, settings);
        this.evaluations += 1 + ws.redone - redone;
        th0.set(thx);
        if (alpha === this.stepMax) this.stepMax *= 4;
        return ll;
      } else if (alpha === this.stepMax) {
        this.stepMax = Math.max(1, this.stepMax / 4);
      }
    } else if (alpha === this.stepMax) {
      this.stepMax *= 4;
    }
    th0.set(th2);
    let ll = eStep(model, th0, data, ws);
    if (unchecked2 && !(ll >= ll1) && settings.checked) {
      // the unchecked θ2 lowered ℓ: F(θ1) again with the objective-checked M-step
      ws.from.set(th1);
      ll = redoMap(model, th0, data, ws, settings.checked);
    }
    this.evaluations += ws.redone - redone;
    return ll;
  }
}
