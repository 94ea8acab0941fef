/**
 * Distances between the conditional densities of two models, averaged over x (math-spec §1.1, §2.4):
 *
 *   Hellinger  E_X[h(p_A(·|X), p_B(·|X))],  h² = ½∫(√p − √q)²   (h ≤ 1)
 *   TV         E_X[V(p_A(·|X), p_B(·|X))],  V = ½∫|p − q|         (V ≤ 1)
 *
 * The expectation over X is a Monte Carlo average over draws from an input design (or over given
 * points) with its standard error sd/√n. For each x the y-part is exact up to quadrature error:
 * Gaussian experts (and regression models with Gaussian noise) are integrated by adaptive
 * Gauss–Kronrod on panels whose breakpoints are every component's mean ± {1, 2, 4, 8, 38} sd (beyond
 * 38 sd a Gaussian density is below 1e-313); multinomial experts are summed over the classes.
 *
 * `regressionDistance` is the L²(μ) distance ‖f_A − f_B‖ of two regression functions (math-spec §5.1).
 */
import { MixtureOfExperts } from '../model/model.js';
import { sampleX, type XDesign } from '../model/data.js';
import { Rng } from '../numeric/rng.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { readNumber, readVector } from '../json-read.js';
import { resolveModel, type ModelInput } from './atoms.js';
import { AdaptiveGK15, type BatchIntegrand } from './quadrature.js';
import { expNonPositive } from '../numeric/fastmath.js';

export type DensityMetric = 'hellinger' | 'tv';

export interface DensityDistanceOptions {
  metric?: DensityMetric;
  /** Input design to draw x from (default uniform on [0,1]^d), or the points themselves (row-major n×d). */
  x?: XDesign | Float64Array;
  /** Number of x draws for a design (default 2000). */
  samples?: number;
  seed?: number;
  /** Absolute tolerance of each y-integral (default 1e-9; see DEFAULT_TOL). */
  tol?: number;
  /** Relative tolerance per quadrature panel (default 1e-7). */
  relTol?: number;
}

export interface DistanceResult {
  /** Mean over x of the per-x distance. */
  distance: number;
  /** Monte Carlo standard error sd/√n (for a deterministic grid or given points: the same formula). */
  stderr: number;
  samples: number;
  metric: string;
  /** Integrand evaluations of the y-quadrature (Gaussian responses; 0 when the y-part is a sum). */
  evaluations?: number;
}

/**
 * The conditional law of y given x for a model, at n inputs:
 *  - `gaussian`: a mixture of m Gaussian components per x (weights w, means mu, variances v, each n×m);
 *  - `discrete`: class probabilities n×C.
 */
export type ConditionalLaw =
  | { kind: 'gaussian'; m: number; w: Float64Array; mu: Float64Array; v: Float64Array }
  | { kind: 'discrete'; classes: number; p: Float64Array };

/** Builds the conditional law of a model at the inputs X (n×d). */
export type ConditionalProvider = (model: MixtureOfExperts, X: Float64Array, n: number) => ConditionalLaw;

const providers = new Map<string, ConditionalProvider>();

/** Register how an expert family's conditional law is evaluated, by its JSON `type`. */
export function registerConditional(expertType: string, provider: ConditionalProvider): void {
  providers.set(expertType, provider);
}

/** Gaussian mixture: weights π(x), means from `expert.mean`, per-expert variances from the JSON `variance` block. */
const gaussianMixture: ConditionalProvider = (model, X, n) => {
  const k = model.k;
  const w = model.gateProbabilities(X, n);
  const mu = new Float64Array(n * k);
  model.expert.mean(model.expertTheta, X, n, mu);
  const variance = readVector(model.expert.toJSON(model.expertTheta).variance, 'experts.variance', k, { positive: true });
  const v = new Float64Array(n * k);
  for (let t = 0; t < n; t++) for (let i = 0; i < k; i++) v[t * k + i] = variance[i];
  return { kind: 'gaussian', m: k, w, mu, v };
};

/** Class probabilities Σᵢ πᵢ(x) f(c|x, θᵢ), from `logDensity` at y ≡ c (any class family). */
const classMixture: ConditionalProvider = (model, X, n) => {
  const k = model.k;
  const json = model.expert.toJSON(model.expertTheta);
  const C = readNumber(json.classes, 'experts.classes', { integer: true, min: 2 });
  const w = model.gateProbabilities(X, n);
  const lf = new Float64Array(n * k);
  const y = new Float64Array(n);
  const p = new Float64Array(n * C);
  for (let c = 0; c < C; c++) {
    y.fill(c);
    model.expert.logDensity(model.expertTheta, X, y, n, lf);
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let i = 0; i < k; i++) if (w[t * k + i] > 0) s += w[t * k + i] * Math.exp(lf[t * k + i]);
      p[t * C + c] = s;
    }
  }
  return { kind: 'discrete', classes: C, p };
};

/** Regression model y = f_G(x) + N(0, ν) (math-spec §5.1): one Gaussian component per x. */
const regressionNoise: ConditionalProvider = (model, X, n) => {
  const nu = model.expert.regressionNoiseVariance?.();
  if (nu === undefined) throw new ModelFormatError(`experts: family ${model.expert.type} has no noise variance`);
  const mu = model.predictMean(X, n);
  return { kind: 'gaussian', m: 1, w: new Float64Array(n).fill(1), mu, v: new Float64Array(n).fill(nu) };
};

registerConditional('gaussianLinear', gaussianMixture);
registerConditional('multinomialLogistic', classMixture);
registerConditional('regression', regressionNoise);

function conditionalProvider(model: MixtureOfExperts, which: string): ConditionalProvider {
  const p = providers.get(model.expert.type);
  if (p) return p;
  if (model.expert.regressionNoiseVariance) return regressionNoise;
  if (model.expert.blocks.some((b) => b.name === 'variance')) return gaussianMixture;
  throw new ModelFormatError(`${which}: no density distance for expert family ${JSON.stringify(model.expert.type)} (register one with registerConditional)`);
}

/**
 * How the y-part of a density distance is computed for this model's response: 'gaussian' by
 * quadrature (the cost of a distance: ≈ 250–450 integrand evaluations per x point), 'discrete' as an
 * exact sum over the classes. Throws as `densityDistance` does for a family without a conditional law.
 */
export function conditionalKind(model: MixtureOfExperts): ConditionalLaw['kind'] {
  return conditionalProvider(model, 'model')(model, new Float64Array(model.d), 1).kind;
}

/** The x points: given, or drawn from the design with the seed. */
export function designPoints(x: XDesign | Float64Array | undefined, d: number, samples: number | undefined, seed: number | undefined, stream: string): { X: Float64Array; n: number } {
  if (x instanceof Float64Array) {
    if (x.length === 0 || x.length % d !== 0) throw new OptionError(`x: expected a non-empty row-major n×${d} array, got length ${x.length}`);
    return { X: x, n: x.length / d };
  }
  const n = samples ?? 2000;
  if (!Number.isInteger(n) || n < 1) throw new OptionError(`samples: expected a positive integer, got ${n}`);
  return { X: sampleX(x ?? { type: 'uniform', low: 0, high: 1 }, n, d, new Rng(seed ?? 1).split(stream)), n };
}

function meanAndStderr(vals: Float64Array): { mean: number; stderr: number } {
  const n = vals.length;
  let s = 0;
  for (let t = 0; t < n; t++) s += vals[t];
  const mean = s / n;
  if (n < 2) return { mean, stderr: NaN };
  let ss = 0;
  for (let t = 0; t < n; t++) ss += (vals[t] - mean) * (vals[t] - mean);
  return { mean, stderr: Math.sqrt(ss / (n - 1) / n) };
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
/**
 * A component whose log-density term at a node is below this adds e^−100 ≈ 4e-44 there and is
 * skipped (no exp). In the studies about half of the (node, component) terms are that far (the tail
 * panels, the other clusters' components); the integrand moves by < 1e-40, far below the
 * quadrature's tolerance, so the accepted panels and the value are unchanged (to rounding).
 */
const FAR_EXPONENT = -100;
/** Panel breakpoints at each component's mean ± these multiples of its sd (beyond 38 sd: < 1e-313). */
const BREAK_SDS = [2, 6, 38];
/**
 * Breakpoints closer than this many of the narrowest sd are merged. Near-duplicate components (an
 * over-specified fit's 2-atom cell, a fit close to the truth) otherwise give panels a fraction of
 * an sd wide, each costing 15 evaluations; the adaptive bisection refines where it must anyway.
 */
const MERGE_SDS = 0.5;
/**
 * Default tolerances of each y-integral: absolute on h²(x) (or V(x)) and relative per panel.
 * Checked against a tight reference (1e-15 / 1e-14) on 30 fits of the softmax-over, topk-over,
 * activation and lse-linear presets (n = 282 … 1e5, both metrics): the distance's worst relative
 * error is 8.7e-8 (test/measure/distance.test.ts asserts ≤ 1e-6 on model pairs of that kind),
 * ≥ 600× below the Monte-Carlo error of the x average (the relative sd over x seeds of the studies'
 * 256 stratified points is 6e-5 … 2.5e-3, median 4e-4, on the same fits), at 0.55× the
 * evaluations of the former 1e-12 / 1e-10 (with MERGE_SDS 0.5 instead of 0.1).
 */
const DEFAULT_TOL = 1e-9;
const DEFAULT_REL_TOL = 1e-7;
/** Components lighter than this get no breakpoints of their own (they are still integrated). */
const MIN_BREAK_WEIGHT = 1e-14;

/** ½(√p − √q)² or ½|p − q| of two Gaussian mixtures at one x (the components are set per x). */
class MixturePairIntegrand implements BatchIntegrand {
  hellinger = true;
  mA = 0;
  mB = 0;
  // per component: weight, mean, 1/(2v), log normaliser (log w − ½ log 2πv)
  readonly muA: Float64Array;
  readonly cA: Float64Array;
  readonly lA: Float64Array;
  readonly muB: Float64Array;
  readonly cB: Float64Array;
  readonly lB: Float64Array;

  constructor(mA: number, mB: number) {
    this.muA = new Float64Array(mA); this.cA = new Float64Array(mA); this.lA = new Float64Array(mA);
    this.muB = new Float64Array(mB); this.cB = new Float64Array(mB); this.lB = new Float64Array(mB);
  }

  /** p(y) − q(y). */
  diff(y: number): number {
    return mixtureDensity(y, this.mA, this.muA, this.cA, this.lA) - mixtureDensity(y, this.mB, this.muB, this.cB, this.lB);
  }

  /** `diff` at n points into out (the same sums in the same order, so the same bits), in one pass per component. */
  diffs(ys: Float64Array, n: number, out: Float64Array): void {
    if (this.pv.length < n) {
      this.pv = new Float64Array(2 * n);
      this.qv = new Float64Array(2 * n);
    }
    mixtureAt(ys, n, this.mA, this.muA, this.cA, this.lA, this.pv, -Infinity);
    mixtureAt(ys, n, this.mB, this.muB, this.cB, this.lB, this.qv, -Infinity);
    for (let r = 0; r < n; r++) out[r] = this.pv[r] - this.qv[r];
  }

  /** Densities p and q at the nodes (every panel of a bisection level at once: `integrateBatched`). */
  private pv = new Float64Array(15 * 32);
  private qv = new Float64Array(15 * 32);

  /**
   * Component by component over the panel's nodes (long inner loops, the table exp inlined): the
   * integrand runs ≈ 10⁵ times per job, and per-point calls of `Math.exp` (not inlinable) were
   * most of a measure's cost.
   */
  evaluate(ys: Float64Array, out: Float64Array, n: number): void {
    if (this.pv.length < n) {
      this.pv = new Float64Array(2 * n);
      this.qv = new Float64Array(2 * n);
    }
    const { pv, qv } = this;
    mixtureAt(ys, n, this.mA, this.muA, this.cA, this.lA, pv, FAR_EXPONENT);
    mixtureAt(ys, n, this.mB, this.muB, this.cB, this.lB, qv, FAR_EXPONENT);
    if (this.hellinger) {
      for (let r = 0; r < n; r++) {
        const s = Math.sqrt(pv[r]) - Math.sqrt(qv[r]);
        out[r] = 0.5 * s * s;
      }
    } else {
      for (let r = 0; r < n; r++) out[r] = 0.5 * Math.abs(pv[r] - qv[r]);
    }
  }
}

/**
 * TV integrand |p − q| has kinks where p = q: probe p − q at the panel ends and at the two interior
 * points of every panel, locate each sign change by bisection, and return the breakpoints with
 * these crossings added (sorted), so that every panel is smooth. Crossings missed by the probes
 * are left to the adaptive quadrature.
 */
function addCrossings(f: MixturePairIntegrand, pts: Float64Array, m: number, probeY: Float64Array, probeD: Float64Array): number {
  const orig = pts.slice(0, m);
  // every probe's p − q in one batch (the same values `diff` gives one by one)
  probeY[0] = orig[0];
  for (let i = 1; i < m; i++) {
    const a = orig[i - 1];
    const b = orig[i];
    for (let s = 1; s <= 3; s++) probeY[3 * (i - 1) + s] = s === 3 ? b : a + ((b - a) * s) / 3;
  }
  f.diffs(probeY, 3 * (m - 1) + 1, probeD);
  let nm = 0;
  let prevY = orig[0];
  let prevD = probeD[0];
  pts[nm++] = prevY;
  for (let i = 1; i < m; i++) {
    const b = orig[i];
    for (let s = 1; s <= 3; s++) {
      const y = probeY[3 * (i - 1) + s];
      const dy = probeD[3 * (i - 1) + s];
      if ((prevD < 0 && dy > 0) || (prevD > 0 && dy < 0)) {
        // Illinois false position on [lo, hi] (sign change of p − q)
        let lo = prevY;
        let hi = y;
        let dlo = prevD;
        let dhi = dy;
        let side = 0;
        let root = 0.5 * (lo + hi);
        for (let it = 0; it < 100; it++) {
          root = (lo * dhi - hi * dlo) / (dhi - dlo);
          if (!(root > lo && root < hi)) root = 0.5 * (lo + hi);
          if (hi - lo <= 1e-13 * Math.max(1, Math.abs(root))) break;
          const dm = f.diff(root);
          if (dm === 0) break;
          if ((dm < 0) === (dlo < 0)) {
            lo = root;
            dlo = dm;
            if (side === -1) dhi *= 0.5;
            side = -1;
          } else {
            hi = root;
            dhi = dm;
            if (side === 1) dlo *= 0.5;
            side = 1;
          }
        }
        if (root > pts[nm - 1] && nm < pts.length - 1) pts[nm++] = root;
      }
      if (s === 3 && b > pts[nm - 1] && nm < pts.length) pts[nm++] = b;
      prevY = y;
      prevD = dy;
    }
  }
  return nm;
}

/**
 * E_X of the Hellinger (default) or total-variation distance between the conditional densities of
 * two models with the same input dimension and the same kind of response.
 */
export function densityDistance(a: ModelInput, b: ModelInput, options: DensityDistanceOptions = {}): DistanceResult {
  const metric = options.metric ?? 'hellinger';
  if (metric !== 'hellinger' && metric !== 'tv') throw new OptionError(`metric: expected hellinger or tv, got ${JSON.stringify(metric)}`);
  const A = resolveModel(a, 'a').model;
  const B = resolveModel(b, 'b').model;
  if (A.d !== B.d) throw new ModelFormatError(`models have input dimensions ${A.d} and ${B.d}`);
  const { X, n } = designPoints(options.x, A.d, options.samples, options.seed, 'density-distance');
  const la = conditionalProvider(A, 'a')(A, X, n);
  const lb = conditionalProvider(B, 'b')(B, X, n);
  const vals = new Float64Array(n);
  let evaluations = 0;
  if (la.kind === 'discrete' && lb.kind === 'discrete') {
    if (la.classes !== lb.classes) throw new ModelFormatError(`models have ${la.classes} and ${lb.classes} classes`);
    const C = la.classes;
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        const p = la.p[t * C + c];
        const q = lb.p[t * C + c];
        if (metric === 'hellinger') {
          const r = Math.sqrt(p) - Math.sqrt(q);
          s += 0.5 * r * r;
        } else s += 0.5 * Math.abs(p - q);
      }
      vals[t] = metric === 'hellinger' ? Math.sqrt(Math.min(1, s)) : Math.min(1, s);
    }
  } else if (la.kind === 'gaussian' && lb.kind === 'gaussian') {
    const f = new MixturePairIntegrand(la.m, lb.m);
    f.hellinger = metric === 'hellinger';
    const quad = new AdaptiveGK15();
    const nPts = (la.m + lb.m) * (2 * BREAK_SDS.length + 1);
    const breaks = new Float64Array(nPts);
    // TV: room for the crossings of p and q found between consecutive probe points (≤ 3 probes per panel)
    const merged = new Float64Array(4 * nPts);
    const probeY = new Float64Array(3 * nPts + 1);
    const probeD = new Float64Array(3 * nPts + 1);
    const tol = options.tol ?? DEFAULT_TOL;
    const relTol = options.relTol ?? DEFAULT_REL_TOL;
    for (let t = 0; t < n; t++) {
      let nb = 0;
      let minSd = Infinity;
      f.mA = 0;
      f.mB = 0;
      for (let side = 0; side < 2; side++) {
        const law = side === 0 ? la : lb;
        const mu = side === 0 ? f.muA : f.muB;
        const c = side === 0 ? f.cA : f.cB;
        const l = side === 0 ? f.lA : f.lB;
        let used = 0;
        for (let i = 0; i < law.m; i++) {
          const w = law.w[t * law.m + i];
          if (!(w > 0)) continue;
          const m = law.mu[t * law.m + i];
          const v = law.v[t * law.m + i];
          const sd = Math.sqrt(v);
          mu[used] = m;
          c[used] = 0.5 / v;
          l[used] = Math.log(w) - LOG_SQRT_2PI - 0.5 * Math.log(v);
          used++;
          if (w < MIN_BREAK_WEIGHT) continue;
          if (sd < minSd) minSd = sd;
          breaks[nb++] = m;
          for (const k of BREAK_SDS) {
            breaks[nb++] = m - k * sd;
            breaks[nb++] = m + k * sd;
          }
        }
        if (side === 0) f.mA = used;
        else f.mB = used;
      }
      sortPrefix(breaks, nb);
      // merge breakpoints closer than MERGE_SDS of the narrowest sd (near-duplicate components)
      let nm = 0;
      for (let i = 0; i < nb; i++) {
        if (nm === 0 || breaks[i] - merged[nm - 1] > MERGE_SDS * minSd || i === nb - 1) merged[nm++] = breaks[i];
      }
      if (!f.hellinger) nm = addCrossings(f, merged, nm, probeY, probeD);
      const r = quad.integrateBatched(f, merged, nm, { absTol: tol, relTol });
      evaluations += r.evaluations;
      const s = Math.min(1, Math.max(0, r.value));
      vals[t] = metric === 'hellinger' ? Math.sqrt(s) : s;
    }
  } else {
    throw new ModelFormatError(`models have different kinds of response (${la.kind} and ${lb.kind}): no density distance between them`);
  }
  const { mean, stderr } = meanAndStderr(vals);
  return { distance: mean, stderr, samples: n, metric, evaluations };
}

export interface RegressionDistanceOptions {
  x?: XDesign | Float64Array;
  samples?: number;
  seed?: number;
}

/**
 * ‖f_A − f_B‖_{L²(μ)} = √E_X[(f_A(X) − f_B(X))²] of the regression functions f = Σᵢ πᵢ(x) meanᵢ(x)
 * (math-spec §5.1), by Monte Carlo over x; the standard error is the delta-method one,
 * se(mean of squares) / (2·distance).
 */
export function regressionDistance(a: ModelInput, b: ModelInput, options: RegressionDistanceOptions = {}): DistanceResult {
  const A = resolveModel(a, 'a').model;
  const B = resolveModel(b, 'b').model;
  if (A.d !== B.d) throw new ModelFormatError(`models have input dimensions ${A.d} and ${B.d}`);
  for (const [m, w] of [[A, 'a'], [B, 'b']] as const) {
    if (m.expert.type === 'multinomialLogistic') throw new ModelFormatError(`${w}: classification models have no regression function; use metric hellinger or tv`);
  }
  const { X, n } = designPoints(options.x, A.d, options.samples, options.seed, 'regression-distance');
  const fa = A.predictMean(X, n);
  const fb = B.predictMean(X, n);
  const sq = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const e = fa[t] - fb[t];
    sq[t] = e * e;
  }
  const { mean, stderr } = meanAndStderr(sq);
  const dist = Math.sqrt(mean);
  return { distance: dist, stderr: dist > 0 ? stderr / (2 * dist) : 0, samples: n, metric: 'l2' };
}

/**
 * Σ_i exp(l_i − (y − μ_i)² c_i): a Gaussian mixture density at y with precomputed log-weights l and
 * 1/(2ν) in c. The exponent is ≤ l_i = log w_i − ½ log 2πν_i, far below the table exp's limit of 709.
 */
function mixtureDensity(y: number, m: number, mu: Float64Array, c: Float64Array, l: Float64Array): number {
  let p = 0;
  for (let i = 0; i < m; i++) {
    const e = y - mu[i];
    p += expNonPositive(l[i] - e * e * c[i]);
  }
  return p;
}

/**
 * `mixtureDensity` at n points ys into out, component by component. Terms whose exponent is not above
 * `floor` are skipped: FAR_EXPONENT for the integrands, −Infinity (every term) for the crossing
 * probes, which must equal `diff` exactly.
 */
function mixtureAt(ys: Float64Array, n: number, m: number, mu: Float64Array, c: Float64Array, l: Float64Array, out: Float64Array, floor: number): void {
  out.fill(0, 0, n);
  for (let i = 0; i < m; i++) {
    const mi = mu[i];
    const ci = c[i];
    const li = l[i];
    for (let r = 0; r < n; r++) {
      const e = ys[r] - mi;
      const ex = li - e * e * ci;
      if (ex > floor) out[r] += expNonPositive(ex);
    }
  }
}

/** Sort a[0..n) ascending in place (insertion sort: n ≤ 7 per component, no allocation per x point). */
function sortPrefix(a: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

