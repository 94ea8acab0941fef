/**
 * Numerical strong-identifiability check for regression experts (paper P3, math-spec §5.2).
 *
 * h is strongly identifiable if, for every k and pairwise distinct η₁..η_k, the functions of x
 *   { ∂h/∂η⁽ᵘ⁾(x,ηⱼ),  ∂²h/∂η⁽ᵘ⁾∂η⁽ᵛ⁾(x,ηⱼ),  x⁽ʷ⁾·∂h/∂η⁽ᵛ⁾(x,ηⱼ) }   (and, [REC], h(x,ηⱼ), x⁽ʷ⁾·h(x,ηⱼ))
 * are linearly independent. The test (math-spec §5.2 "numerical test"): draw k random distinct ηⱼ
 * (seeded), evaluate every function on a grid of x, scale each column to unit norm, and compute the
 * singular values of the matrix (one-sided Jacobi, src/numeric/svd.ts). Full column rank
 * (σ_min/σ_max above `tol`) ⇒ identifiable for these ηⱼ; an (exactly) rank-deficient matrix exhibits
 * a linear dependence, reported with the functions that take part in it.
 *
 * The definition speaks of a SET of functions: when two formulas give the same function of x for the
 * same atom (e.g. x⁽ʷ⁾·∂h/∂b ≡ ∂h/∂a⁽ʷ⁾ for every ridge function h = g(aᵀx + b), or
 * x⁽ʷ⁾·∂h/∂a⁽ᵛ⁾ ≡ x⁽ᵛ⁾·∂h/∂a⁽ʷ⁾), that function is counted once (`mergeIdentical`, default true;
 * the merges are listed in the report). Functions that are identically zero (e.g. ∂²h/∂b² for linear
 * or ReLU experts) make the set dependent and are listed too.
 */
import type { ExpertJSON } from '../experts/expert.js';
import { expertFactory } from '../experts/registry.js';
import { isRegressionFamily, type RegressionExpertFamily } from '../experts/regression.js';
import { jacobiSVD } from '../numeric/svd.js';
import { Rng } from '../numeric/rng.js';
import { OptionError } from '../errors.js';

export interface IdentifiabilityOptions {
  /** Number of distinct parameter values ηⱼ. Default 3. */
  k?: number;
  /** Input dimension. Default 1. */
  d?: number;
  /** Seed of the random parameter values (and of the x sample when d > 1). Default 1. */
  seed?: number;
  /**
   * Also include h and x⁽ʷ⁾·h (math-spec §5.2 [REC] note on the LSE version). Default false: with
   * them, d = 1 and k ≥ 3, smooth neurons give σ_min/σ_max ≈ 1e-10…1e-12 (near-dependences far
   * from the transition points, where GELU ≈ ReLU satisfies h ≈ z·h′), usually "inconclusive".
   */
  includeH?: boolean;
  /** Count a function given by two formulas (same atom) once. Default true. */
  mergeIdentical?: boolean;
  /** x range: d = 1 an equispaced grid on [low, high]; d > 1 uniform random points in [low, high]^d. Default [−3, 3]. */
  low?: number;
  high?: number;
  /** Number of x points. Default max(400, 8 × number of functions). */
  points?: number;
  /** Numerical-rank threshold on σ/σ_max (columns have unit norm). Default 1e-9. */
  tol?: number;
  /**
   * Below this σ_min/σ_max the dependence is taken as exact (rounding level). Between `exactTol` and
   * `tol` the verdict is "inconclusive" (ill-conditioned, not provably dependent). Default 1e-13.
   */
  exactTol?: number;
  /** Range of |a⁽ʷ⁾| of the random atoms. Default [1.5, 3]. */
  slopes?: [number, number];
}

export interface IdentifiabilityReport {
  expert: ExpertJSON;
  k: number;
  d: number;
  points: number;
  /** The ηⱼ used, by parameter name. */
  parameters: Record<string, number>[];
  /** Formulas evaluated (before merging identical functions). */
  candidates: number;
  /** Distinct functions tested = columns of the matrix. */
  functions: number;
  /** Merged formulas, "A ≡ B". */
  merged: string[];
  /** Functions that vanish identically on the grid. */
  zeroFunctions: string[];
  /** Numerical rank (σ > tol·σ_max). */
  rank: number;
  /** Singular values of the column-normalised matrix, descending. */
  singularValues: number[];
  /** σ_min / σ_max. */
  ratio: number;
  tol: number;
  exactTol: number;
  /**
   * 'identifiable': full numerical rank (σ_min/σ_max > tol); 'not identifiable': a function vanishes
   * or σ_min/σ_max ≤ exactTol (an exact dependence up to rounding); 'inconclusive' in between.
   */
  status: 'identifiable' | 'not identifiable' | 'inconclusive';
  /** status === 'identifiable'. */
  identifiable: boolean;
  /** When not identifiable: the near-null combination (right singular vector of σ_min), largest terms first. */
  dependency: { function: string; coefficient: number }[];
  verdict: string;
}

interface ColumnSpec {
  atom: number;
  name: string;
  /** kind: 0 h, 1 x_w·h, 2 ∂h/∂u, 3 ∂²h/∂u∂v, 4 x_w·∂h/∂v */
  kind: number;
  u: number;
  v: number;
  w: number;
}

/**
 * Random distinct atoms, well separated: slopes |a⁽ʷ⁾| in `slopes` (random signs), each atom's
 * transition point (aᵀx + b = 0 at x = x̄ⱼ·1) in its own slice of the middle 80 % of [low, high],
 * output weights c ∈ ±[0.5, 1.5]. Well-separated atoms keep the test a rank test: with small slopes
 * smooth neurons are nearly polynomial on the grid and any large set of them is numerically
 * dependent in double precision even when it is independent in exact arithmetic.
 */
function drawParameters(e: RegressionExpertFamily, k: number, low: number, high: number, slopes: [number, number], rng: Rng): Float64Array {
  const names = e.parameterNames();
  const p = e.perExpert;
  const theta = new Float64Array(k * p);
  const sign = (): number => (rng.uniform() < 0.5 ? -1 : 1);
  const order = Array.from({ length: k }, (_, j) => j);
  for (let j = k - 1; j > 0; j--) {
    const r = rng.int(j + 1);
    [order[j], order[r]] = [order[r], order[j]];
  }
  for (let j = 0; j < k; j++) {
    const mid = low + (high - low) * (0.1 + (0.8 * (order[j] + 0.2 + 0.6 * rng.uniform())) / k);
    let sumA = 0;
    for (let u = 0; u < p; u++) {
      const name = names[u];
      if (name === 'c') theta[j * p + u] = sign() * (0.5 + rng.uniform());
      else if (name !== 'b') {
        const a = sign() * (slopes[0] + (slopes[1] - slopes[0]) * rng.uniform());
        theta[j * p + u] = a;
        sumA += a;
      }
    }
    theta[j * p + names.indexOf('b')] = -sumA * mid; // aᵀ(mid·1) + b = 0
  }
  return theta;
}

/** Check strong identifiability of the regression expert family `spec` (e.g. parseExpertSpec('regression:gelu')). */
export function checkStrongIdentifiability(spec: ExpertJSON, options: IdentifiabilityOptions = {}): IdentifiabilityReport {
  const k = options.k ?? 3;
  const d = options.d ?? 1;
  if (!Number.isInteger(k) || k < 1) throw new OptionError(`k: must be an integer ≥ 1, got ${k}`);
  if (!Number.isInteger(d) || d < 1) throw new OptionError(`d: must be an integer ≥ 1, got ${d}`);
  const low = options.low ?? -3;
  const high = options.high ?? 3;
  if (!(high > low)) throw new OptionError(`x range: need low < high, got ${low}, ${high}`);
  const tol = options.tol ?? 1e-9;
  const includeH = options.includeH ?? false;
  const exactTol = options.exactTol ?? 1e-13;
  const mergeIdentical = options.mergeIdentical ?? true;
  const family = expertFactory(spec.type, 'expert').create(spec, k, d);
  if (!isRegressionFamily(family)) {
    throw new OptionError(`the identifiability check is for regression experts (e.g. --expert regression:gelu); ${family.type} is a density family`);
  }
  const p = family.perExpert;
  const pn = family.parameterNames();
  const xn = (w: number): string => (d === 1 ? 'x' : `x${w + 1}`);
  const rng = new Rng(options.seed ?? 1);
  const slopes = options.slopes ?? [1.5, 3];
  if (!(slopes[0] > 0 && slopes[1] >= slopes[0])) throw new OptionError(`slopes: need 0 < low ≤ high, got ${slopes.join(', ')}`);
  const theta = drawParameters(family, k, low, high, slopes, rng.split('eta'));

  // the formulas, atom by atom
  const specs: ColumnSpec[] = [];
  for (let j = 0; j < k; j++) {
    const tag = `[η${j + 1}]`;
    if (includeH) {
      specs.push({ atom: j, name: `h ${tag}`, kind: 0, u: 0, v: 0, w: 0 });
      for (let w = 0; w < d; w++) specs.push({ atom: j, name: `${xn(w)}·h ${tag}`, kind: 1, u: 0, v: 0, w });
    }
    for (let u = 0; u < p; u++) specs.push({ atom: j, name: `∂h/∂${pn[u]} ${tag}`, kind: 2, u, v: 0, w: 0 });
    for (let u = 0; u < p; u++) {
      for (let v = u; v < p; v++) specs.push({ atom: j, name: u === v ? `∂²h/∂${pn[u]}² ${tag}` : `∂²h/∂${pn[u]}∂${pn[v]} ${tag}`, kind: 3, u, v, w: 0 });
    }
    for (let w = 0; w < d; w++) for (let v = 0; v < p; v++) specs.push({ atom: j, name: `${xn(w)}·∂h/∂${pn[v]} ${tag}`, kind: 4, u: 0, v, w });
  }
  const nc = specs.length;
  const m = options.points ?? Math.max(400, 8 * nc);
  if (!Number.isInteger(m) || m < nc) throw new OptionError(`points: need an integer ≥ the ${nc} functions tested, got ${m}`);

  // x points
  const X = new Float64Array(m * d);
  if (d === 1) for (let t = 0; t < m; t++) X[t] = low + ((high - low) * t) / (m - 1);
  else {
    const rx = rng.split('x');
    for (let i = 0; i < m * d; i++) X[i] = low + (high - low) * rx.uniform();
  }

  // evaluate every formula at every x (column-major)
  const A = new Float64Array(m * nc);
  const g = new Float64Array(p);
  const H = new Float64Array(p * p);
  for (let j = 0; j < k; j++) {
    for (let t = 0; t < m; t++) {
      const h = family.derivativesAt(theta, j, X, t, g, H);
      for (let c = 0; c < nc; c++) {
        const s = specs[c];
        if (s.atom !== j) continue;
        let val: number;
        switch (s.kind) {
          case 0: val = h; break;
          case 1: val = X[t * d + s.w] * h; break;
          case 2: val = g[s.u]; break;
          case 3: val = H[s.u * p + s.v]; break;
          default: val = X[t * d + s.w] * g[s.v];
        }
        A[c * m + t] = val;
      }
    }
  }

  // zero functions, identical formulas within an atom
  const colMax = new Float64Array(nc);
  let scale = 0;
  for (let c = 0; c < nc; c++) {
    let mx = 0;
    for (let t = 0; t < m; t++) mx = Math.max(mx, Math.abs(A[c * m + t]));
    colMax[c] = mx;
    scale = Math.max(scale, mx);
  }
  const zeroFunctions: string[] = [];
  const merged: string[] = [];
  const keep: number[] = [];
  for (let c = 0; c < nc; c++) {
    if (!(colMax[c] > 1e-13 * scale)) {
      zeroFunctions.push(specs[c].name);
      keep.push(c);
      continue;
    }
    let dup = -1;
    if (mergeIdentical) {
      for (const c2 of keep) {
        if (specs[c2].atom !== specs[c].atom || !(colMax[c2] > 1e-13 * scale)) continue;
        let diff = 0;
        for (let t = 0; t < m && diff <= 1e-12 * colMax[c]; t++) diff = Math.max(diff, Math.abs(A[c * m + t] - A[c2 * m + t]));
        if (diff <= 1e-12 * colMax[c]) { dup = c2; break; }
      }
    }
    if (dup >= 0) merged.push(`${specs[c].name} ≡ ${specs[dup].name}`);
    else keep.push(c);
  }
  const q = keep.length;
  const M = new Float64Array(m * q);
  keep.forEach((c, jc) => {
    let s = 0;
    for (let t = 0; t < m; t++) s += A[c * m + t] ** 2;
    const inv = s > 0 && colMax[c] > 1e-13 * scale ? 1 / Math.sqrt(s) : 0;
    for (let t = 0; t < m; t++) M[jc * m + t] = A[c * m + t] * inv;
  });
  const svd = jacobiSVD(M, m, q);
  const sv = svd.values;
  const smax = sv[0] > 0 ? sv[0] : 1;
  let rank = 0;
  for (let j = 0; j < q; j++) if (sv[j] > tol * smax) rank++;
  const ratio = sv[q - 1] / smax;
  const status: IdentifiabilityReport['status'] = zeroFunctions.length > 0 || !(ratio > exactTol)
    ? 'not identifiable'
    : rank === q ? 'identifiable' : 'inconclusive';
  const identifiable = status === 'identifiable';
  const dependency: { function: string; coefficient: number }[] = [];
  if (!identifiable) {
    let vmax = 0;
    for (let r = 0; r < q; r++) vmax = Math.max(vmax, Math.abs(svd.V[r * q + q - 1]));
    const terms = keep.map((c, r) => ({ function: specs[c].name, coefficient: svd.V[r * q + q - 1] / vmax }));
    terms.sort((a, b) => Math.abs(b.coefficient) - Math.abs(a.coefficient));
    for (const tm of terms) if (Math.abs(tm.coefficient) >= 0.02 && dependency.length < 8) dependency.push({ function: tm.function, coefficient: tm.coefficient });
  }
  const parameters = Array.from({ length: k }, (_, j) => Object.fromEntries(pn.map((name, u) => [name, theta[j * p + u]])));
  const what = `${q} distinct functions (${nc} formulas, ${merged.length} identical merged) of k=${k} atoms on ${m} points`;
  let verdict: string;
  if (identifiable) {
    verdict = `strongly identifiable: full column rank ${rank} = ${q}; σ_min/σ_max = ${ratio.toExponential(2)} > ${tol}`;
  } else if (status === 'inconclusive') {
    verdict = `inconclusive: σ_min/σ_max = ${ratio.toExponential(2)} is between ${exactTol} (exact dependence) and ${tol} (full rank); numerical rank ${rank} < ${q}. Try other --seed/--slopes, a smaller k, or without h-terms`;
  } else {
    const why: string[] = [];
    if (zeroFunctions.length) why.push(`${zeroFunctions.length} function(s) vanish identically (${zeroFunctions.slice(0, 3).join(', ')}${zeroFunctions.length > 3 ? ', …' : ''})`);
    why.push(`numerical rank ${rank} < ${q}; σ_min/σ_max = ${ratio.toExponential(2)}`);
    verdict = `NOT strongly identifiable: ${why.join('; ')}`;
  }
  return {
    expert: family.spec(),
    k,
    d,
    points: m,
    parameters,
    candidates: nc,
    functions: q,
    merged,
    zeroFunctions,
    rank,
    singularValues: Array.from(sv),
    ratio,
    tol,
    exactTol,
    status,
    identifiable,
    dependency,
    verdict: `${verdict} (${what})`,
  };
}
