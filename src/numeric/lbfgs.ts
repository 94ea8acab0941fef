/**
 * Limited-memory BFGS minimiser with a strong-Wolfe line search.
 *
 * Hand-written: there is no maintained L-BFGS package on npm. References are to Nocedal & Wright,
 * Numerical Optimization, 2nd ed. (Springer, 2006):
 *  - Alg. 7.4, two-loop recursion for H_k ∇f_k, with H_k^0 = γ_k I, γ_k = sᵀy / yᵀy (eq. 7.20);
 *  - Alg. 3.5 (bracketing) and Alg. 3.6 (zoom) for the strong Wolfe conditions, trial steps by
 *    safeguarded cubic interpolation (eq. 3.59), quadratic or bisection as fallbacks.
 *
 * Stopping rules, checked at x0 (gtol only) and after every accepted iterate:
 *  - 'gtol'  ‖∇f‖_∞ ≤ gtol · max(1, |f|)                                   (converged)
 *  - 'ftol'  f_prev − f ≤ ftol · max(1, |f|) on 2 successive iterations      (converged);
 *            a backstop for when f stops moving: it bounds the accuracy of x to about √ftol
 *            relative, so pass ftol = 0 to stop on gtol alone
 *  - 'maxIter'     maxIter iterations (accepted steps) done
 *  - 'lineSearch'  no decrease at all along steepest descent (i.e. after a memory reset)
 *  - 'aborted'     options.signal.aborted seen at the start of an iteration
 *  - 'nonFinite'   the gradient at x0 is not finite, or the search direction overflowed
 *
 * Robustness: a trial point where f or the directional derivative is NaN/±∞ counts as f = +∞, so
 * the line search bisects back toward the last good step instead of failing. If the line search runs
 * out of evaluations, the lowest-f trial point is accepted when it beats f. A non-descent direction or
 * a curvature failure (yᵀs ≤ ε·yᵀy) resets the memory, and the next step is steepest descent with the
 * first-iteration step min(1, 1/‖∇f‖₂). Every accepted iterate satisfies f_new ≤ f_old.
 * All work buffers are allocated once per call: the iteration loop allocates nothing.
 *
 * Box (compact Θ, `options.box`: |x_i| ≤ B on the first `count` coordinates; none by default):
 * projected L-BFGS with an active set, in the spirit of L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995)
 * without its Cauchy point: the start is clipped into the box; a coordinate on the bound whose
 * descent direction −∇f_i points out of the box is held (gradient and direction 0 there), the
 * memory is reset whenever the held set changes, the step is capped where the first free
 * coordinate reaches the bound (accepted there on sufficient decrease alone, as for maxStep), and
 * trial points are clipped. The gradient test (and gradNormInf/gradNorm2) skip held coordinates:
 * the KKT conditions of the box.
 */
import { atActiveBound } from './box.js';

export interface LbfgsOptions {
  /** Maximum number of iterations (accepted steps, not evaluations). Default 200. */
  maxIter?: number;
  /** Number of (s, y) pairs kept. Default 10. */
  memory?: number;
  /** Stop when ‖∇f‖_∞ ≤ gtol · max(1, |f|). Default 1e-8. */
  gtol?: number;
  /** Stop when f_prev − f ≤ ftol · max(1, |f|) on 2 successive iterations. Default 1e-14. */
  ftol?: number;
  /** Maximum number of function evaluations per line search. Default 20. */
  maxLineSearch?: number;
  /** Sufficient-decrease (Armijo) constant, default 1e-4; curvature constant, default 0.9 (0 < c1 < c2 < 1). */
  c1?: number;
  c2?: number;
  /** Cap on the step length ‖α·p‖₂. Default Infinity. */
  maxStep?: number;
  /** Box |x_i| ≤ bound on the coordinates 0 … count−1 (see the file comment). Default none. */
  box?: { count: number; bound: number };
  /** Per-coordinate box |x_i| ≤ bounds[i] (Infinity: free); replaces `box` when given. */
  bounds?: Float64Array;
  /** Cooperative abort, polled once per iteration. */
  signal?: { aborted: boolean };
  /** Called after every accepted step with (iterations so far, f, ∇f); g must not be modified. */
  onIteration?: (iteration: number, f: number, g: Float64Array) => void;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  gradNormInf: number;
  gradNorm2: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  reason: 'gtol' | 'ftol' | 'maxIter' | 'lineSearch' | 'aborted' | 'nonFinite';
}

/** fg(x, g) returns f(x) and writes the gradient into g. It may return Infinity/NaN for points outside the domain: the line search must then backtrack (shrink the step) instead of failing. */
export type ObjectiveWithGradient = (x: Float64Array, g: Float64Array) => number;

type StopReason = LbfgsResult['reason'];

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function normInf(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Minimiser of the cubic interpolating φ(a), φ'(a), φ(b), φ'(b) (N&W eq. 3.59); NaN if none. */
function cubicMin(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - da * db;
  if (!(disc >= 0)) return NaN;
  const d2 = Math.sign(b - a) * Math.sqrt(disc);
  return b - ((b - a) * (db + d2 - d1)) / (db - da + 2 * d2);
}

/** Minimiser of the quadratic interpolating φ(a), φ'(a), φ(b); NaN if it is not convex. */
function quadMin(a: number, fa: number, da: number, b: number, fb: number): number {
  const h = b - a;
  const curv = fb - fa - da * h;
  return curv > 0 ? a - (da * h * h) / (2 * curv) : NaN;
}

function checkOption(name: string, value: number, ok: boolean): number {
  if (!ok) throw new RangeError(`lbfgs: invalid option ${name} = ${value}`);
  return value;
}

export function lbfgs(fg: ObjectiveWithGradient, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const { maxIter = 200, memory = 10, gtol = 1e-8, ftol = 1e-14, maxLineSearch = 20 } = options;
  const { c1 = 1e-4, c2 = 0.9, maxStep = Infinity, signal } = options;
  checkOption('maxIter', maxIter, Number.isInteger(maxIter) && maxIter >= 0);
  checkOption('memory', memory, Number.isInteger(memory) && memory >= 1);
  checkOption('gtol', gtol, gtol >= 0);
  checkOption('ftol', ftol, ftol >= 0);
  checkOption('maxLineSearch', maxLineSearch, Number.isInteger(maxLineSearch) && maxLineSearch >= 1);
  checkOption('c1', c1, c1 > 0 && c1 < 1);
  checkOption('c2', c2, c2 > c1 && c2 < 1);
  checkOption('maxStep', maxStep, maxStep > 0);

  const n = x0.length;
  const m = memory;
  let x = Float64Array.from(x0);
  // per-coordinate bounds |θ_i| ≤ Bv[i] (Infinity: free); nb = n when any is finite, else 0
  const Bv = new Float64Array(n).fill(Infinity);
  if (options.bounds) for (let i = 0; i < n; i++) Bv[i] = options.bounds[i] ?? Infinity;
  else if (options.box) for (let i = 0; i < Math.min(n, options.box.count); i++) Bv[i] = options.box.bound;
  const nb = Bv.some(Number.isFinite) ? n : 0;
  for (let i = 0; i < nb; i++) x[i] = Math.min(Bv[i], Math.max(-Bv[i], x[i]));
  const held = new Uint8Array(n); // coordinates held at an active bound
  let heldKey = -1; // a hash of the held set, to reset the memory when it changes
  /** ‖g‖∞ over the coordinates not held at an active bound at x. */
  const freeNormInf = (xv: Float64Array, gv: Float64Array): number => {
    let mx = 0;
    for (let i = 0; i < n; i++) if (!(i < nb && atActiveBound(xv[i], -gv[i], Bv[i]))) mx = Math.max(mx, Math.abs(gv[i]));
    return mx;
  };
  let g = new Float64Array(n);
  let xt = new Float64Array(n); // trial point; swapped with x on acceptance
  let gt = new Float64Array(n); // trial gradient; swapped with g on acceptance
  const d = new Float64Array(n); // search direction
  const gBest = new Float64Array(n); // gradient at the lowest trial point of the current line search
  const sMem = Array.from({ length: m }, () => new Float64Array(n));
  const yMem = Array.from({ length: m }, () => new Float64Array(n));
  const rho = new Float64Array(m);
  const alpha = new Float64Array(m);
  let head = 0; // ring slot receiving the next (s, y) pair
  let count = 0; // number of stored pairs
  let gamma = 1; // H0 scaling from the newest pair

  let f = fg(x, g);
  let evaluations = 1;
  if (!Number.isFinite(f)) throw new RangeError(`lbfgs: f(x0) must be finite, got ${f}`);

  // Line-search state lives in the closure so that the iteration loop allocates nothing.
  let phi0 = 0, dphi0 = 0, lsEvals = 0, fTrial = 0, dTrial = 0, fBest = 0, aBest = 0;

  /** φ(a) = f(x + a·d) into xt/gt, fTrial, dTrial; non-finite values count as f = +∞. */
  const evalAt = (a: number): void => {
    for (let i = 0; i < n; i++) xt[i] = x[i] + a * d[i];
    for (let i = 0; i < nb; i++) xt[i] = Math.min(Bv[i], Math.max(-Bv[i], xt[i]));
    const fv = fg(xt, gt);
    evaluations++;
    lsEvals++;
    const dv = dot(gt, d);
    const ok = Number.isFinite(fv) && Number.isFinite(dv);
    fTrial = ok ? fv : Infinity;
    dTrial = ok ? dv : NaN;
    if (fTrial < fBest) {
      fBest = fTrial;
      aBest = a;
      gBest.set(gt);
    }
  };
  const armijo = (a: number, fa: number): boolean => fa <= phi0 + c1 * a * dphi0;
  const curvature = (da: number): boolean => Math.abs(da) <= -c2 * dphi0;

  /** Alg. 3.6: φ(aLo) is the lowest sufficient-decrease value so far, φ'(aLo)(aHi − aLo) < 0. */
  const zoom = (aLo: number, fLo: number, dLo: number, aHi: number, fHi: number, dHi: number): boolean => {
    while (lsEvals < maxLineSearch) {
      const w = aHi - aLo;
      if (Math.abs(w) <= Number.EPSILON * Math.max(Math.abs(aLo), Math.abs(aHi))) return false;
      let a = aLo + 0.5 * w; // bisection when φ(aHi) is not finite (outside the domain)
      if (Number.isFinite(fHi)) {
        let c = cubicMin(aLo, fLo, dLo, aHi, fHi, dHi);
        if (!Number.isFinite(c)) c = quadMin(aLo, fLo, dLo, aHi, fHi);
        const lo = Math.min(aLo, aHi) + 0.1 * Math.abs(w);
        const hi = Math.max(aLo, aHi) - 0.1 * Math.abs(w);
        if (Number.isFinite(c)) a = Math.min(hi, Math.max(lo, c));
      }
      evalAt(a);
      if (!armijo(a, fTrial) || fTrial >= fLo) {
        aHi = a; fHi = fTrial; dHi = dTrial;
      } else {
        if (curvature(dTrial)) return true;
        if (dTrial * (aHi - aLo) >= 0) {
          aHi = aLo; fHi = fLo; dHi = dLo;
        }
        aLo = a; fLo = fTrial; dLo = dTrial;
      }
    }
    return false;
  };

  /** Alg. 3.5: true when xt/gt hold a strong-Wolfe point (or a sufficient-decrease point at aMax). */
  const lineSearch = (a1: number, aMax: number): boolean => {
    lsEvals = 0;
    fBest = phi0;
    aBest = 0;
    let aPrev = 0, fPrev = phi0, dPrev = dphi0, a = a1;
    while (lsEvals < maxLineSearch) {
      evalAt(a);
      if (!armijo(a, fTrial) || (lsEvals > 1 && fTrial >= fPrev)) return zoom(aPrev, fPrev, dPrev, a, fTrial, dTrial);
      if (curvature(dTrial)) return true;
      if (dTrial >= 0) return zoom(a, fTrial, dTrial, aPrev, fPrev, dPrev);
      if (a >= aMax) return true; // step capped by maxStep: accept on sufficient decrease alone
      // Extrapolate: cubic step, safeguarded to [a + 1.1(a − aPrev), a + 4(a − aPrev)].
      const lo = a + 1.1 * (a - aPrev), hi = a + 4 * (a - aPrev);
      const c = cubicMin(aPrev, fPrev, dPrev, a, fTrial, dTrial);
      aPrev = a; fPrev = fTrial; dPrev = dTrial;
      a = Math.min(aMax, Number.isFinite(c) ? Math.min(hi, Math.max(lo, c)) : hi);
    }
    return false;
  };

  /** Alg. 7.4: d = −H·g from the stored pairs, oldest pair at (head − count) mod m. */
  const twoLoop = (): void => {
    d.set(g);
    for (let i = 0; i < nb; i++) if (held[i]) d[i] = 0;
    for (let j = 0, k = head; j < count; j++) {
      k = (k - 1 + m) % m;
      const s = sMem[k], y = yMem[k];
      const ak = rho[k] * dot(s, d);
      alpha[k] = ak;
      for (let i = 0; i < n; i++) d[i] -= ak * y[i];
    }
    for (let i = 0; i < n; i++) d[i] *= gamma;
    for (let j = 0, k = (head - count + m) % m; j < count; j++, k = (k + 1) % m) {
      const s = sMem[k], y = yMem[k];
      const c = alpha[k] - rho[k] * dot(y, d);
      for (let i = 0; i < n; i++) d[i] += c * s[i];
    }
    for (let i = 0; i < n; i++) d[i] = -d[i];
    for (let i = 0; i < nb; i++) if (held[i]) d[i] = 0;
  };

  let iterations = 0;
  let smallDecreases = 0;
  /** One iteration: returns a stop reason, or undefined to continue. */
  const iterate = (): StopReason | undefined => {
    let boxStep = Infinity;
    if (nb > 0) {
      let key = 0;
      for (let i = 0; i < nb; i++) {
        held[i] = atActiveBound(x[i], -g[i], Bv[i]) ? 1 : 0;
        key = (key * 31 + (held[i] ? i + 1 : 0)) % 1000000007;
      }
      if (key !== heldKey) count = 0; // the active set changed: the stored curvature pairs no longer apply
      heldKey = key;
    }
    for (;;) {
      const steepest = count === 0;
      let a1 = 1;
      if (steepest) {
        for (let i = 0; i < n; i++) d[i] = i < nb && held[i] ? 0 : -g[i];
        a1 = Math.min(1, 1 / Math.sqrt(dot(d, d)));
      } else {
        twoLoop();
      }
      if (nb > 0) {
        // a free coordinate on the bound may not move out of the box; the step ends where the first one reaches it
        boxStep = Infinity;
        for (let i = 0; i < nb; i++) {
          if (d[i] === 0) continue;
          const room = d[i] > 0 ? Bv[i] - x[i] : -Bv[i] - x[i];
          if (room * d[i] <= 0) { d[i] = 0; continue; }
          boxStep = Math.min(boxStep, room / d[i]);
        }
      }
      phi0 = f;
      dphi0 = dot(g, d);
      if (!(dphi0 < 0 && Number.isFinite(dphi0))) {
        if (steepest) return Number.isFinite(dphi0) ? 'lineSearch' : 'nonFinite';
        count = 0; // not a descent direction: reset to steepest descent
        continue;
      }
      const aMax = Math.min(maxStep / Math.sqrt(dot(d, d)), boxStep);
      if (lineSearch(Math.min(a1, aMax), aMax)) break;
      if (fBest < phi0) {
        // Line search failed but found a decrease: take the lowest trial point.
        for (let i = 0; i < n; i++) xt[i] = x[i] + aBest * d[i];
        gt.set(gBest);
        fTrial = fBest;
        break;
      }
      if (steepest) return 'lineSearch';
      count = 0;
    }
    // Accept xt: store s = xt − x, y = gt − g in the ring, then swap buffers.
    const s = sMem[head], y = yMem[head];
    let ys = 0, yy = 0;
    for (let i = 0; i < n; i++) {
      s[i] = xt[i] - x[i];
      y[i] = gt[i] - g[i];
      ys += y[i] * s[i];
      yy += y[i] * y[i];
    }
    const xOld = x, gOld = g;
    x = xt; xt = xOld;
    g = gt; gt = gOld;
    const fPrev = f;
    f = fTrial;
    if (ys > Number.EPSILON * yy) {
      rho[head] = 1 / ys;
      gamma = ys / yy;
      head = (head + 1) % m;
      count = Math.min(count + 1, m);
    } else {
      count = 0; // curvature failure
    }
    iterations++;
    options.onIteration?.(iterations, f, g);
    const scale = Math.max(1, Math.abs(f));
    if ((nb > 0 ? freeNormInf(x, g) : normInf(g)) <= gtol * scale) return 'gtol';
    smallDecreases = fPrev - f <= ftol * scale ? smallDecreases + 1 : 0;
    return smallDecreases >= 2 ? 'ftol' : undefined;
  };

  let reason: StopReason | undefined;
  if (!g.every(Number.isFinite)) reason = 'nonFinite';
  else if ((nb > 0 ? freeNormInf(x, g) : normInf(g)) <= gtol * Math.max(1, Math.abs(f))) reason = 'gtol';
  while (reason === undefined) {
    if (iterations >= maxIter) reason = 'maxIter';
    else if (signal?.aborted) reason = 'aborted';
    else reason = iterate();
  }
  if (nb > 0) for (let i = 0; i < nb; i++) if (atActiveBound(x[i], -g[i], Bv[i])) g[i] = 0; // KKT: held coordinates are stationary
  return {
    x,
    f,
    gradNormInf: normInf(g),
    gradNorm2: Math.sqrt(dot(g, g)),
    iterations,
    evaluations,
    converged: reason === 'gtol' || reason === 'ftol',
    reason,
  };
}
