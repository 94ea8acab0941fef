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

/** The options with their defaults, checked. */
interface Settings {
  maxIter: number;
  memory: number;
  gtol: number;
  ftol: number;
  maxLineSearch: number;
  c1: number;
  c2: number;
  maxStep: number;
  signal: { aborted: boolean } | undefined;
}

function resolveSettings(options: LbfgsOptions): Settings {
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
  return { maxIter, memory, gtol, ftol, maxLineSearch, c1, c2, maxStep, signal };
}

/**
 * Everything one run works on, allocated once (the iteration loop allocates nothing): the iterate
 * and its gradient, the trial buffers (swapped with x/g on acceptance), the (s, y) ring of Alg. 7.4,
 * the box, the counters and the line-search scalars.
 */
interface LbfgsState {
  fg: ObjectiveWithGradient;
  /** The caller's options (onIteration is called on them) and the resolved settings. */
  options: LbfgsOptions;
  o: Settings;
  n: number;
  /** Per-coordinate bounds |θ_i| ≤ Bv[i] (Infinity: free); nb = n when any is finite, else 0. */
  Bv: Float64Array;
  nb: number;
  /** Coordinates held at an active bound, and a hash of that set (the memory is reset when it changes). */
  held: Uint8Array;
  heldKey: number;
  x: Float64Array;
  g: Float64Array;
  f: number;
  /** Trial point and gradient; swapped with x and g on acceptance. */
  xt: Float64Array;
  gt: Float64Array;
  /** Search direction. */
  d: Float64Array;
  /** Gradient at the lowest trial point of the current line search. */
  gBest: Float64Array;
  sMem: Float64Array[];
  yMem: Float64Array[];
  rho: Float64Array;
  alpha: Float64Array;
  /** Ring slot receiving the next (s, y) pair, number of stored pairs, H0 scaling from the newest pair. */
  head: number;
  count: number;
  gamma: number;
  evaluations: number;
  iterations: number;
  smallDecreases: number;
  /** Line search: φ(0), φ'(0), evaluations so far, the last trial φ and φ', the lowest trial φ and its step. */
  phi0: number;
  dphi0: number;
  lsEvals: number;
  fTrial: number;
  dTrial: number;
  fBest: number;
  aBest: number;
}

/** Box from the options, x0 clipped into it, buffers, and f(x0) (which must be finite). */
function createState(fg: ObjectiveWithGradient, x0: Float64Array, options: LbfgsOptions, o: Settings): LbfgsState {
  const n = x0.length;
  const m = o.memory;
  const x = Float64Array.from(x0);
  const Bv = new Float64Array(n).fill(Infinity);
  if (options.bounds) for (let i = 0; i < n; i++) Bv[i] = options.bounds[i] ?? Infinity;
  else if (options.box) for (let i = 0; i < Math.min(n, options.box.count); i++) Bv[i] = options.box.bound;
  const nb = Bv.some(Number.isFinite) ? n : 0;
  for (let i = 0; i < nb; i++) x[i] = Math.min(Bv[i], Math.max(-Bv[i], x[i]));
  const g = new Float64Array(n);
  const s: LbfgsState = {
    fg, options, o, n, Bv, nb, held: new Uint8Array(n), heldKey: -1, x, g, f: 0,
    xt: new Float64Array(n), gt: new Float64Array(n), d: new Float64Array(n), gBest: new Float64Array(n),
    sMem: Array.from({ length: m }, () => new Float64Array(n)),
    yMem: Array.from({ length: m }, () => new Float64Array(n)),
    rho: new Float64Array(m), alpha: new Float64Array(m), head: 0, count: 0, gamma: 1,
    evaluations: 0, iterations: 0, smallDecreases: 0,
    phi0: 0, dphi0: 0, lsEvals: 0, fTrial: 0, dTrial: 0, fBest: 0, aBest: 0,
  };
  s.f = fg(x, g);
  s.evaluations = 1;
  if (!Number.isFinite(s.f)) throw new RangeError(`lbfgs: f(x0) must be finite, got ${s.f}`);
  return s;
}

/** ‖g‖∞ over the coordinates not held at an active bound at x. */
function freeNormInf(s: LbfgsState, xv: Float64Array, gv: Float64Array): number {
  const { n, nb, Bv } = s;
  let mx = 0;
  for (let i = 0; i < n; i++) if (!(i < nb && atActiveBound(xv[i], -gv[i], Bv[i]))) mx = Math.max(mx, Math.abs(gv[i]));
  return mx;
}

/** The gradient test at x (the KKT test of the box when there is one). */
function gradientSmall(s: LbfgsState, scale: number): boolean {
  return (s.nb > 0 ? freeNormInf(s, s.x, s.g) : normInf(s.g)) <= s.o.gtol * scale;
}

/** φ(a) = f(x + a·d) into xt/gt, fTrial, dTrial; non-finite values count as f = +∞. */
function evalAt(s: LbfgsState, a: number): void {
  const { n, nb, Bv, x, xt, gt, d } = s;
  for (let i = 0; i < n; i++) xt[i] = x[i] + a * d[i];
  for (let i = 0; i < nb; i++) xt[i] = Math.min(Bv[i], Math.max(-Bv[i], xt[i]));
  const fv = s.fg(xt, gt);
  s.evaluations++;
  s.lsEvals++;
  const dv = dot(gt, d);
  const ok = Number.isFinite(fv) && Number.isFinite(dv);
  s.fTrial = ok ? fv : Infinity;
  s.dTrial = ok ? dv : NaN;
  if (s.fTrial < s.fBest) {
    s.fBest = s.fTrial;
    s.aBest = a;
    s.gBest.set(gt);
  }
}

const armijo = (s: LbfgsState, a: number, fa: number): boolean => fa <= s.phi0 + s.o.c1 * a * s.dphi0;
const curvature = (s: LbfgsState, da: number): boolean => Math.abs(da) <= -s.o.c2 * s.dphi0;

/** Alg. 3.6: φ(aLo) is the lowest sufficient-decrease value so far, φ'(aLo)(aHi − aLo) < 0. */
function zoom(s: LbfgsState, aLo: number, fLo: number, dLo: number, aHi: number, fHi: number, dHi: number): boolean {
  while (s.lsEvals < s.o.maxLineSearch) {
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
    evalAt(s, a);
    if (!armijo(s, a, s.fTrial) || s.fTrial >= fLo) {
      aHi = a; fHi = s.fTrial; dHi = s.dTrial;
    } else {
      if (curvature(s, s.dTrial)) return true;
      if (s.dTrial * (aHi - aLo) >= 0) {
        aHi = aLo; fHi = fLo; dHi = dLo;
      }
      aLo = a; fLo = s.fTrial; dLo = s.dTrial;
    }
  }
  return false;
}

/** Alg. 3.5: true when xt/gt hold a strong-Wolfe point (or a sufficient-decrease point at aMax). */
function lineSearch(s: LbfgsState, a1: number, aMax: number): boolean {
  s.lsEvals = 0;
  s.fBest = s.phi0;
  s.aBest = 0;
  let aPrev = 0, fPrev = s.phi0, dPrev = s.dphi0, a = a1;
  while (s.lsEvals < s.o.maxLineSearch) {
    evalAt(s, a);
    const fa = s.fTrial, da = s.dTrial;
    if (!armijo(s, a, fa) || (s.lsEvals > 1 && fa >= fPrev)) return zoom(s, aPrev, fPrev, dPrev, a, fa, da);
    if (curvature(s, da)) return true;
    if (da >= 0) return zoom(s, a, fa, da, aPrev, fPrev, dPrev);
    if (a >= aMax) return true; // step capped by maxStep: accept on sufficient decrease alone
    // Extrapolate: cubic step, safeguarded to [a + 1.1(a − aPrev), a + 4(a − aPrev)].
    const lo = a + 1.1 * (a - aPrev), hi = a + 4 * (a - aPrev);
    const c = cubicMin(aPrev, fPrev, dPrev, a, fa, da);
    aPrev = a; fPrev = fa; dPrev = da;
    a = Math.min(aMax, Number.isFinite(c) ? Math.min(hi, Math.max(lo, c)) : hi);
  }
  return false;
}

/** Alg. 7.4: d = −H·g from the stored pairs, oldest pair at (head − count) mod m. */
function twoLoop(s: LbfgsState): void {
  const { n, nb, held, d, sMem, yMem, rho, alpha, head, count } = s;
  const m = s.o.memory;
  d.set(s.g);
  for (let i = 0; i < nb; i++) if (held[i]) d[i] = 0;
  for (let j = 0, k = head; j < count; j++) {
    k = (k - 1 + m) % m;
    const sk = sMem[k], y = yMem[k];
    const ak = rho[k] * dot(sk, d);
    alpha[k] = ak;
    for (let i = 0; i < n; i++) d[i] -= ak * y[i];
  }
  for (let i = 0; i < n; i++) d[i] *= s.gamma;
  for (let j = 0, k = (head - count + m) % m; j < count; j++, k = (k + 1) % m) {
    const sk = sMem[k], y = yMem[k];
    const c = alpha[k] - rho[k] * dot(y, d);
    for (let i = 0; i < n; i++) d[i] += c * sk[i];
  }
  for (let i = 0; i < n; i++) d[i] = -d[i];
  for (let i = 0; i < nb; i++) if (held[i]) d[i] = 0;
}

/** The held set at x (on the bound, −∇f pointing out); a change of it resets the memory. */
function updateHeldSet(s: LbfgsState): void {
  const { nb, held, x, g, Bv } = s;
  let key = 0;
  for (let i = 0; i < nb; i++) {
    held[i] = atActiveBound(x[i], -g[i], Bv[i]) ? 1 : 0;
    key = (key * 31 + (held[i] ? i + 1 : 0)) % 1000000007;
  }
  if (key !== s.heldKey) s.count = 0; // the active set changed: the stored curvature pairs no longer apply
  s.heldKey = key;
}

/** d: steepest descent (count = 0) or the two-loop direction; returns the first trial step. */
function searchDirection(s: LbfgsState): number {
  const { n, nb, held, d, g } = s;
  if (s.count !== 0) {
    twoLoop(s);
    return 1;
  }
  for (let i = 0; i < n; i++) d[i] = i < nb && held[i] ? 0 : -g[i];
  return Math.min(1, 1 / Math.sqrt(dot(d, d)));
}

/** A free coordinate on the bound may not move out of the box; the step ends where the first one reaches it. */
function boxStepLimit(s: LbfgsState): number {
  const { nb, Bv, x, d } = s;
  let boxStep = Infinity;
  for (let i = 0; i < nb; i++) {
    if (d[i] === 0) continue;
    const room = d[i] > 0 ? Bv[i] - x[i] : -Bv[i] - x[i];
    if (room * d[i] <= 0) { d[i] = 0; continue; }
    boxStep = Math.min(boxStep, room / d[i]);
  }
  return boxStep;
}

/**
 * Direction and line search until xt/gt/fTrial hold a point to accept (undefined), resetting to
 * steepest descent on a non-descent direction or a failed search; a stop reason when steepest descent fails.
 */
function findStep(s: LbfgsState): StopReason | undefined {
  const { n, x, xt, d } = s;
  for (;;) {
    const steepest = s.count === 0;
    const a1 = searchDirection(s);
    const boxStep = s.nb > 0 ? boxStepLimit(s) : Infinity;
    s.phi0 = s.f;
    s.dphi0 = dot(s.g, d);
    if (!(s.dphi0 < 0 && Number.isFinite(s.dphi0))) {
      if (steepest) return Number.isFinite(s.dphi0) ? 'lineSearch' : 'nonFinite';
      s.count = 0; // not a descent direction: reset to steepest descent
      continue;
    }
    const aMax = Math.min(s.o.maxStep / Math.sqrt(dot(d, d)), boxStep);
    if (lineSearch(s, Math.min(a1, aMax), aMax)) return undefined;
    if (s.fBest < s.phi0) {
      // Line search failed but found a decrease: take the lowest trial point.
      for (let i = 0; i < n; i++) xt[i] = x[i] + s.aBest * d[i];
      s.gt.set(s.gBest);
      s.fTrial = s.fBest;
      return undefined;
    }
    if (steepest) return 'lineSearch';
    s.count = 0;
  }
}

/** Accept xt: store s = xt − x, y = gt − g in the ring (unless the curvature test fails), swap buffers; returns the previous f. */
function acceptStep(s: LbfgsState): number {
  const { n, x, g, xt, gt, head } = s;
  const sv = s.sMem[head], y = s.yMem[head];
  let ys = 0, yy = 0;
  for (let i = 0; i < n; i++) {
    sv[i] = xt[i] - x[i];
    y[i] = gt[i] - g[i];
    ys += y[i] * sv[i];
    yy += y[i] * y[i];
  }
  s.x = xt; s.xt = x;
  s.g = gt; s.gt = g;
  const fPrev = s.f;
  s.f = s.fTrial;
  if (ys > Number.EPSILON * yy) {
    s.rho[head] = 1 / ys;
    s.gamma = ys / yy;
    s.head = (head + 1) % s.o.memory;
    s.count = Math.min(s.count + 1, s.o.memory);
  } else {
    s.count = 0; // curvature failure
  }
  return fPrev;
}

/** One iteration: returns a stop reason, or undefined to continue. */
function iterate(s: LbfgsState): StopReason | undefined {
  if (s.nb > 0) updateHeldSet(s);
  const stop = findStep(s);
  if (stop !== undefined) return stop;
  const fPrev = acceptStep(s);
  s.iterations++;
  s.options.onIteration?.(s.iterations, s.f, s.g);
  const scale = Math.max(1, Math.abs(s.f));
  if (gradientSmall(s, scale)) return 'gtol';
  s.smallDecreases = fPrev - s.f <= s.o.ftol * scale ? s.smallDecreases + 1 : 0;
  return s.smallDecreases >= 2 ? 'ftol' : undefined;
}

/** The result at x; held coordinates get gradient 0 (KKT: they are stationary). */
function result(s: LbfgsState, reason: StopReason): LbfgsResult {
  const { x, g, nb, Bv } = s;
  if (nb > 0) for (let i = 0; i < nb; i++) if (atActiveBound(x[i], -g[i], Bv[i])) g[i] = 0;
  return {
    x,
    f: s.f,
    gradNormInf: normInf(g),
    gradNorm2: Math.sqrt(dot(g, g)),
    iterations: s.iterations,
    evaluations: s.evaluations,
    converged: reason === 'gtol' || reason === 'ftol',
    reason,
  };
}

export function lbfgs(fg: ObjectiveWithGradient, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const o = resolveSettings(options);
  const s = createState(fg, x0, options, o);
  let reason: StopReason | undefined;
  if (!s.g.every(Number.isFinite)) reason = 'nonFinite';
  else if (gradientSmall(s, Math.max(1, Math.abs(s.f)))) reason = 'gtol';
  while (reason === undefined) {
    if (s.iterations >= o.maxIter) reason = 'maxIter';
    else if (o.signal?.aborted) reason = 'aborted';
    else reason = iterate(s);
  }
  return result(s, reason);
}
