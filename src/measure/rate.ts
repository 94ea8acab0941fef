/**
 * Empirical convergence rates (math-spec §1.4, §8.1 "Slope"): for each sample size n the losses of
 * the replicates are summarised by their mean (as the papers do) or their median, and
 *   log(summary) = intercept + slope · log n
 * is fitted by ordinary least squares. A bootstrap over replicates (resampled with replacement within
 * each n, seeded through `Rng`) gives percentile intervals for both slopes.
 */
import { Rng } from '../numeric/rng.js';
import { DataError, OptionError } from '../errors.js';

export interface RateOptions {
  /** Bootstrap resamples (default 1000; 0 skips the intervals). */
  bootstrap?: number;
  /** Confidence level of the percentile intervals (default 0.95). */
  level?: number;
  seed?: number;
}

export interface RateFit {
  /** OLS slope of log(mean loss) on log n. */
  slope: number;
  /** OLS intercept of log(mean loss) on log n (natural logs; the loss ≈ e^intercept · n^slope). */
  intercept: number;
  /** Bootstrap percentile interval of `slope`. */
  ci: [number, number];
  /** The same fit on log(median loss). */
  medianSlope: number;
  medianIntercept: number;
  medianCi: [number, number];
  /** R² of the mean-based fit. */
  r2: number;
  nMin: number;
  nMax: number;
  /** Number of sample sizes. */
  points: number;
  /** Replicates per sample size (the smallest, when they differ). */
  reps: number;
  /** Bootstrap resamples whose slope was finite (a resample of zero losses has no logarithm). */
  bootstrap: number;
  level: number;
}

/** OLS fit y = a + b·x. */
export function ols(x: ArrayLike<number>, y: ArrayLike<number>): { slope: number; intercept: number; r2: number } {
  const m = x.length;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < m; i++) {
    sx += x[i];
    sy += y[i];
  }
  const mx = sx / m;
  const my = sy / m;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < m; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx, r2: syy > 0 ? (sxy * sxy) / (sxx * syy) : 1 };
}

/** k-th smallest of a[0..m) by quickselect, reordering a in place. */
function select(a: Float64Array, m: number, k: number): number {
  let lo = 0;
  let hi = m - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i]; a[i] = a[j]; a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/** Median of v (v is reordered in place). */
function medianInPlace(v: Float64Array): number {
  const m = v.length;
  if (m % 2 === 1) return select(v, m, (m - 1) / 2);
  const hi = select(v, m, m / 2);
  let lo = -Infinity;
  for (let i = 0; i < m / 2; i++) if (v[i] > lo) lo = v[i]; // after selecting m/2, v[0..m/2) ≤ v[m/2]
  return 0.5 * (lo + hi);
}

function median(v: Float64Array): number {
  return medianInPlace(v.slice());
}

function mean(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
}

const TWO_POW_M32 = 1 / 4294967296;

/** Percentile (linear interpolation between order statistics) of sorted values. */
function quantile(sorted: Float64Array, q: number): number {
  const m = sorted.length;
  if (m === 0) return NaN;
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(m - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Fit the empirical rate of losses over sample sizes. `lossesByN[i]` holds the replicate losses at
 * `ns[i]` (non-negative finite numbers, at least one per n; at least two distinct n).
 */
export function fitRate(ns: readonly number[], lossesByN: readonly (readonly number[])[], options: RateOptions = {}): RateFit {
  if (ns.length !== lossesByN.length) throw new DataError(`fitRate: ${ns.length} sample sizes but ${lossesByN.length} lists of losses`);
  const B = options.bootstrap ?? 1000;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(B) || B < 0) throw new OptionError(`bootstrap: expected a non-negative integer, got ${B}`);
  if (!(level > 0 && level < 1)) throw new OptionError(`level: expected a number in (0, 1), got ${level}`);
  const m = ns.length;
  const logN = new Float64Array(m);
  const data: Float64Array[] = [];
  for (let i = 0; i < m; i++) {
    const n = ns[i];
    if (!(n > 0) || !Number.isFinite(n)) throw new DataError(`fitRate: sample size #${i + 1} must be a positive number, got ${n}`);
    const ls = lossesByN[i];
    if (ls.length === 0) throw new DataError(`fitRate: no losses at n=${n}`);
    ls.forEach((l, r) => {
      if (!(l >= 0) || !Number.isFinite(l)) throw new DataError(`fitRate: loss #${r + 1} at n=${n} must be a finite number ≥ 0, got ${l}`);
    });
    logN[i] = Math.log(n);
    data.push(Float64Array.from(ls));
  }
  if (new Set(ns).size < 2) throw new DataError('fitRate: needs at least two distinct sample sizes');
  const yMean = new Float64Array(m);
  const yMed = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const a = mean(data[i]);
    const b = median(data[i]);
    if (!(a > 0)) throw new DataError(`fitRate: the mean loss at n=${ns[i]} is 0; its logarithm is undefined`);
    if (!(b > 0)) throw new DataError(`fitRate: the median loss at n=${ns[i]} is 0; its logarithm is undefined`);
    yMean[i] = Math.log(a);
    yMed[i] = Math.log(b);
  }
  const fm = ols(logN, yMean); // math-spec §8.1: OLS of log(mean D) on log n
  const fd = ols(logN, yMed);

  // Bootstrap over replicates within each n.
  const rng = new Rng(options.seed ?? 1).split('fit-rate');
  const slopes = new Float64Array(B);
  const mslopes = new Float64Array(B);
  let nb = 0;
  let nmb = 0;
  const maxR = Math.max(...data.map((v) => v.length));
  const buf = new Float64Array(maxR);
  const bm = new Float64Array(m);
  const bd = new Float64Array(m);
  for (let b = 0; b < B; b++) {
    let okMean = true;
    let okMed = true;
    for (let i = 0; i < m; i++) {
      const v = data[i];
      const R = v.length;
      const s = buf.subarray(0, R);
      let sum = 0;
      for (let r = 0; r < R; r++) {
        const x = v[Math.floor(rng.uint32() * R * TWO_POW_M32)]; // one 32-bit draw per index
        s[r] = x;
        sum += x;
      }
      const a = sum / R;
      const md = medianInPlace(s);
      if (!(a > 0)) okMean = false;
      if (!(md > 0)) okMed = false;
      bm[i] = Math.log(a);
      bd[i] = Math.log(md);
    }
    if (okMean) slopes[nb++] = ols(logN, bm).slope;
    if (okMed) mslopes[nmb++] = ols(logN, bd).slope;
  }
  const alpha = (1 - level) / 2;
  const sm = slopes.subarray(0, nb).sort();
  const sd = mslopes.subarray(0, nmb).sort();
  return {
    slope: fm.slope,
    intercept: fm.intercept,
    ci: [quantile(sm, alpha), quantile(sm, 1 - alpha)],
    medianSlope: fd.slope,
    medianIntercept: fd.intercept,
    medianCi: [quantile(sd, alpha), quantile(sd, 1 - alpha)],
    r2: fm.r2,
    nMin: Math.min(...ns),
    nMax: Math.max(...ns),
    points: m,
    reps: Math.min(...data.map((v) => v.length)),
    bootstrap: nb,
    level,
  };
}
