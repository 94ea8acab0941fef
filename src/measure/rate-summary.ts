/**
 * Rate summaries that fit O_P statements, and one verdict rule for every claim (issue 15, item 4).
 *
 * The theorems say D(Ĝn, G*) = O_P(r_n) (math-spec §1.4): for every ε there is an M with
 * P(D > M·r_n) < ε, i.e. every fixed quantile of the loss is O(r_n). The mean need not be (a few
 * replicates whose atoms wander off dominate it), so beside the papers' summary — the OLS slope of
 * log(mean loss) on log n (math-spec §8.1) — this module fits the same line to the median and to an
 * upper quantile (default 0.8), each with a percentile bootstrap interval over replicates (resampled
 * within each n), the local slope of the quantile per decade of n (the trend toward 0 of a rate
 * slower than any polynomial, math-spec §1.6), and three trend models of the quantile curve:
 *   power law      log q(n) = c + s·log n
 *   log power      log q(n) = c − λ·log log n      (q ≈ e^c (log n)^−λ, math-spec §5.3 "1/log^λ n")
 *   plateau        log q(n) = c                     (does not converge, math-spec §3.4)
 * compared by BIC on the quantile curve.
 *
 * The verdict rule (`judge`, stated once in VERDICT_RULE and applied to every claim) reads the
 * bootstrap interval [lo, hi] of the quantile slope:
 *  - claim "O_P(n^t)", t < 0: the bound holds up to log factors, so the slope it allows on this range
 *    is t_log = t·(1 − 1/ln n̄) (n̄ the geometric mean n; the slope of (log n / n)^{−t}).
 *    contradicted if lo > t_log (the whole interval is slower than the bound);
 *    reproduced if lo ≤ t_log, hi < 0 (the loss does fall) and hi − lo ≤ 0.5;
 *    inconclusive otherwise (too wide, or not distinguishable from no convergence).
 *  - claim "slower than any polynomial", against the polynomial rate p of its counterpart setting
 *    (default −1/2): contradicted if hi < p/2 (at least half the polynomial counterpart's rate over
 *    the whole range); reproduced if lo ≥ p/2, hi − lo ≤ 0.5 and the power law is not preferred
 *    over the log-power law by more than 6 BIC units; inconclusive otherwise.
 *  - claim "does not converge" (plateau): on the upper half of the log n range, contradicted if
 *    hi < −1/8 (still falling at n^−1/8 or faster); reproduced if hi ≥ 0 (the interval reaches a flat
 *    curve) and hi − lo ≤ 0.5;
 *    inconclusive otherwise.
 */
import { Rng } from '../numeric/rng.js';
import { DataError, OptionError } from '../errors.js';
import { ols } from './rate.js';

export type ClaimKind = 'rate' | 'slow' | 'plateau';

export interface ClaimSpec {
  kind: ClaimKind;
  /** The theorem's exponent (rate claims); 0 for slow and plateau claims. */
  theory: number;
  /** Slow claims: the polynomial rate of the counterpart setting (default −0.5). */
  versus?: number;
}

export interface SlopeCI {
  slope: number;
  ci: [number, number];
}

export interface LocalSlope {
  nFrom: number;
  nTo: number;
  slope: number;
  ci: [number, number];
  points: number;
}

export interface TrendModels {
  power: { intercept: number; slope: number; bic: number };
  logPower: { intercept: number; lambda: number; bic: number };
  plateau: { level: number; bic: number };
  best: 'power' | 'logPower' | 'plateau';
}

export interface RateSummary {
  /** The upper quantile used (default 0.8). */
  q: number;
  mean: SlopeCI;
  median: SlopeCI;
  /** Slope of log(q-quantile) on log n over the whole range. */
  quantile: SlopeCI;
  /** Slope of log(q-quantile) on the upper half of the log n range (n ≥ √(nMin·nMax)). */
  upperHalf: SlopeCI;
  /** Slope of log(q-quantile) per decade of n, anchored at the largest n (ascending n). */
  localSlopes: LocalSlope[];
  /** Trend models of the q-quantile curve. */
  models: TrendModels;
  nMin: number;
  nMax: number;
  /** Geometric mean sample size. */
  nGeo: number;
  points: number;
  reps: number;
  level: number;
}

export interface SummaryOptions {
  q?: number;
  bootstrap?: number;
  level?: number;
  seed?: number;
}

const TWO_POW_M32 = 1 / 4294967296;

/** q-quantile (linear interpolation between order statistics) of sorted values. */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  const m = s.length;
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(m - 1, lo + 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/** Percentile interval; NaN when more than the tail fraction of the resamples has no finite slope (a summary of 0 has no logarithm). */
export function percentileCI(v: Float64Array, level: number): [number, number] {
  const f = v.filter(Number.isFinite).sort();
  const a = (1 - level) / 2;
  if (!f.length || v.length - f.length > a * v.length) return [NaN, NaN];
  return [quantileSorted(f, a), quantileSorted(f, 1 - a)];
}

/** Index sets of the per-decade windows, anchored at the largest n (full decades only; one window if the range is shorter). */
export function decadeWindows(logN: Float64Array): { from: number; to: number; idx: number[] }[] {
  const m = logN.length;
  const lmin = logN[0];
  const lmax = logN[m - 1];
  const dec = Math.log(10);
  const eps = 1e-9;
  const out: { from: number; to: number; idx: number[] }[] = [];
  if (lmax - lmin < dec - eps) return [{ from: lmin, to: lmax, idx: Array.from({ length: m }, (_, i) => i) }];
  for (let hiL = lmax; hiL - dec >= lmin - eps; hiL -= dec) {
    const loL = hiL - dec;
    const idx: number[] = [];
    for (let i = 0; i < m; i++) if (logN[i] >= loL - eps && logN[i] <= hiL + eps) idx.push(i);
    if (idx.length >= 2) out.push({ from: loL, to: hiL, idx });
  }
  return out.reverse();
}

/** OLS slope of y on x over the points idx (NaN with fewer than 2 or a non-finite y). */
export function slopeOn(x: Float64Array, y: Float64Array, idx: readonly number[]): number {
  if (idx.length < 2) return NaN;
  const xs = idx.map((i) => x[i]);
  const ys = idx.map((i) => y[i]);
  if (ys.some((v) => !Number.isFinite(v))) return NaN;
  return ols(xs, ys).slope;
}

function rss(y: Float64Array, f: (i: number) => number): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (y[i] - f(i)) ** 2;
  return s;
}

function bic(r: number, m: number, p: number): number {
  return m * Math.log(Math.max(r, 1e-300) / m) + p * Math.log(m);
}

/** Power law, log-power law and plateau fitted to the points (log n, log summary) by least squares, compared by BIC. */
export function trendModels(logN: ArrayLike<number>, y: ArrayLike<number>): TrendModels {
  const m = logN.length;
  const u = Float64Array.from(logN);
  const yy = Float64Array.from(y);
  const p = ols(u, yy);
  const ll = Float64Array.from(u, (v) => Math.log(v));
  const l = ols(ll, yy);
  const level = yy.reduce((a, b) => a + b, 0) / m;
  const power = { intercept: p.intercept, slope: p.slope, bic: bic(rss(yy, (i) => p.intercept + p.slope * u[i]), m, 2) };
  const logPower = { intercept: l.intercept, lambda: -l.slope, bic: bic(rss(yy, (i) => l.intercept + l.slope * ll[i]), m, 2) };
  const plateau = { level, bic: bic(rss(yy, () => level), m, 1) };
  const best = power.bic <= logPower.bic && power.bic <= plateau.bic ? 'power' : logPower.bic <= plateau.bic ? 'logPower' : 'plateau';
  return { power, logPower, plateau, best };
}

/**
 * Summaries of the losses over sample sizes. `lossesByN[i]` holds the replicate losses at `ns[i]`
 * (finite, ≥ 0; ns need not be sorted; at least two distinct sizes). A summary that is 0 at some n has
 * no logarithm: its slopes are NaN and the verdict inconclusive.
 */
export function summariseRate(ns: readonly number[], lossesByN: readonly (readonly number[])[], options: SummaryOptions = {}): RateSummary {
  const q = options.q ?? 0.8;
  const B = options.bootstrap ?? 1000;
  const level = options.level ?? 0.95;
  if (!(q > 0 && q < 1)) throw new OptionError(`q: expected a quantile in (0, 1), got ${q}`);
  if (!Number.isInteger(B) || B < 1) throw new OptionError(`bootstrap: expected a positive integer, got ${B}`);
  if (!(level > 0 && level < 1)) throw new OptionError(`level: expected a number in (0, 1), got ${level}`);
  if (ns.length !== lossesByN.length) throw new DataError(`summariseRate: ${ns.length} sample sizes but ${lossesByN.length} lists of losses`);
  const order = ns.map((_, i) => i).sort((a, b) => ns[a] - ns[b]);
  const m = ns.length;
  const logN = new Float64Array(m);
  const data: Float64Array[] = [];
  order.forEach((oi, i) => {
    const n = ns[oi];
    if (!(n > 0) || !Number.isFinite(n)) throw new DataError(`summariseRate: sample size must be a positive number, got ${n}`);
    const ls = lossesByN[oi];
    if (!ls.length) throw new DataError(`summariseRate: no losses at n=${n}`);
    for (const l of ls) if (!(l >= 0) || !Number.isFinite(l)) throw new DataError(`summariseRate: loss at n=${n} must be a finite number ≥ 0, got ${l}`);
    logN[i] = Math.log(n);
    data.push(Float64Array.from(ls));
  });
  if (logN[m - 1] === logN[0]) throw new DataError('summariseRate: needs at least two distinct sample sizes');
  const mid = 0.5 * (logN[0] + logN[m - 1]);
  const upperIdx: number[] = [];
  for (let i = 0; i < m; i++) if (logN[i] >= mid - 1e-9) upperIdx.push(i);
  if (upperIdx.length < 2) upperIdx.unshift(m - 2);
  const all = Array.from({ length: m }, (_, i) => i);
  const windows = decadeWindows(logN);

  // summaries at each n: mean, median, q-quantile (logs); reused buffer for sorting
  const maxR = Math.max(...data.map((v) => v.length));
  const buf = new Float64Array(maxR);
  const yMean = new Float64Array(m);
  const yMed = new Float64Array(m);
  const yQ = new Float64Array(m);
  const summarise = (pick: (i: number, r: number) => number): void => {
    for (let i = 0; i < m; i++) {
      const R = data[i].length;
      const s = buf.subarray(0, R);
      let sum = 0;
      for (let r = 0; r < R; r++) {
        const v = pick(i, r);
        s[r] = v;
        sum += v;
      }
      s.sort();
      yMean[i] = Math.log(sum / R);
      yMed[i] = Math.log(quantileSorted(s, 0.5));
      yQ[i] = Math.log(quantileSorted(s, q));
    }
  };
  summarise((i, r) => data[i][r]);
  const point = {
    mean: slopeOn(logN, yMean, all), median: slopeOn(logN, yMed, all), quantile: slopeOn(logN, yQ, all),
    upper: slopeOn(logN, yQ, upperIdx), local: windows.map((w) => slopeOn(logN, yQ, w.idx)),
  };
  const models = trendModels(logN, yQ);

  const rng = new Rng(options.seed ?? 1).split('rate-summary');
  const bs = { mean: new Float64Array(B), median: new Float64Array(B), quantile: new Float64Array(B), upper: new Float64Array(B), local: windows.map(() => new Float64Array(B)) };
  for (let b = 0; b < B; b++) {
    summarise((i) => data[i][Math.floor(rng.uint32() * data[i].length * TWO_POW_M32)]);
    bs.mean[b] = slopeOn(logN, yMean, all);
    bs.median[b] = slopeOn(logN, yMed, all);
    bs.quantile[b] = slopeOn(logN, yQ, all);
    bs.upper[b] = slopeOn(logN, yQ, upperIdx);
    windows.forEach((w, j) => { bs.local[j][b] = slopeOn(logN, yQ, w.idx); });
  }
  const nOf = (l: number): number => Math.round(Math.exp(l));
  return {
    q,
    mean: { slope: point.mean, ci: percentileCI(bs.mean, level) },
    median: { slope: point.median, ci: percentileCI(bs.median, level) },
    quantile: { slope: point.quantile, ci: percentileCI(bs.quantile, level) },
    upperHalf: { slope: point.upper, ci: percentileCI(bs.upper, level) },
    localSlopes: windows.map((w, j) => ({ nFrom: nOf(logN[w.idx[0]]), nTo: nOf(logN[w.idx[w.idx.length - 1]]), slope: point.local[j], ci: percentileCI(bs.local[j], level), points: w.idx.length })),
    models,
    nMin: nOf(logN[0]),
    nMax: nOf(logN[m - 1]),
    nGeo: Math.exp(0.5 * (logN[0] + logN[m - 1])),
    points: m,
    reps: Math.min(...data.map((v) => v.length)),
    level,
  };
}

export type VerdictValue = 'reproduced' | 'contradicted' | 'inconclusive';

export interface Verdict {
  verdict: VerdictValue;
  kind: ClaimKind;
  theory: number;
  /** Which summary the rule read: `q0.8` (whole range) or `q0.8 upper half`. */
  summary: string;
  slope: number;
  ci: [number, number];
  /** The slope the rule compares the interval with (t_log, p/2 or −1/8). */
  threshold: number;
  reason: string;
}

/** The rule, in words (printed in reports). */
export const VERDICT_RULE = [
  'The rule reads the 95% bootstrap interval [lo, hi] of the slope of log(0.8-quantile of the loss over replicates) on log n; an O_P statement bounds every fixed quantile. Fewer than 5 replicates at some n: inconclusive.',
  'O_P(n^t), t < 0 (up to log factors: t_log = t·(1 − 1/ln n̄), n̄ the geometric mean n): contradicted if lo > t_log; reproduced if lo ≤ t_log, hi < 0 and hi − lo ≤ 0.5; else inconclusive.',
  'Slower than any polynomial, against the polynomial rate p of the counterpart setting: contradicted if hi < p/2; reproduced if lo ≥ p/2, hi − lo ≤ 0.5 and the power law is not preferred to c·(log n)^−λ by more than 6 BIC units; else inconclusive.',
  'Does not converge: on the upper half of the log n range, contradicted if hi < −1/8; reproduced if hi ≥ 0 and hi − lo ≤ 0.5; else inconclusive.',
].join('\n');

const MAX_WIDTH = 0.5;
/** Fewer replicates per n than this give no usable bootstrap interval: inconclusive. */
const MIN_REPS = 5;
const PLATEAU_SLOPE = -1 / 8;
const BIC_MARGIN = 6;

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : 'NaN';
}

/** Apply the verdict rule (VERDICT_RULE) to a summary. */
export function judge(s: RateSummary, claim: ClaimSpec): Verdict {
  const qs = `q${s.q}`;
  if (s.reps < MIN_REPS) {
    const sum = claim.kind === 'plateau' ? s.upperHalf : s.quantile;
    return { verdict: 'inconclusive', kind: claim.kind, theory: claim.theory, summary: claim.kind === 'plateau' ? `${qs} upper half` : qs, slope: sum.slope, ci: sum.ci, threshold: NaN, reason: `too few replicates (${s.reps} < ${MIN_REPS}) for a bootstrap interval` };
  }
  if (claim.kind === 'plateau') {
    const [lo, hi] = s.upperHalf.ci;
    const th = PLATEAU_SLOPE;
    const base = { kind: claim.kind, theory: claim.theory, summary: `${qs} upper half`, slope: s.upperHalf.slope, ci: s.upperHalf.ci, threshold: th };
    if (!(Number.isFinite(lo) && Number.isFinite(hi))) return { ...base, verdict: 'inconclusive', reason: 'no finite bootstrap interval' };
    if (hi < th) return { ...base, verdict: 'contradicted', reason: `the loss still falls on the upper half of the range: hi ${fmt(hi)} < ${fmt(th)}` };
    if (hi >= 0 && hi - lo <= MAX_WIDTH) return { ...base, verdict: 'reproduced', reason: `levels off: [${fmt(lo)}, ${fmt(hi)}] reaches 0` };
    return { ...base, verdict: 'inconclusive', reason: hi - lo > MAX_WIDTH ? `interval too wide (${fmt(hi - lo)} > ${MAX_WIDTH})` : `still falling slowly: hi ${fmt(hi)} in [${fmt(th)}, 0)` };
  }
  const [lo, hi] = s.quantile.ci;
  if (claim.kind === 'slow') {
    const p = claim.versus ?? -0.5;
    const th = p / 2;
    const base = { kind: claim.kind, theory: claim.theory, summary: qs, slope: s.quantile.slope, ci: s.quantile.ci, threshold: th };
    if (!(Number.isFinite(lo) && Number.isFinite(hi))) return { ...base, verdict: 'inconclusive', reason: 'no finite bootstrap interval' };
    if (hi < th) return { ...base, verdict: 'contradicted', reason: `a polynomial rate: hi ${fmt(hi)} < p/2 = ${fmt(th)}` };
    const powerPreferred = s.models.power.bic + BIC_MARGIN < s.models.logPower.bic;
    if (lo >= th && hi - lo <= MAX_WIDTH && !powerPreferred) return { ...base, verdict: 'reproduced', reason: `slower than half the counterpart's n^${fmt(p)}: lo ${fmt(lo)} ≥ ${fmt(th)}; best trend model ${s.models.best}` };
    return {
      ...base,
      verdict: 'inconclusive',
      reason: powerPreferred && lo >= th ? `power law preferred to (log n)^−λ by ${fmt(s.models.logPower.bic - s.models.power.bic)} BIC` : hi - lo > MAX_WIDTH ? `interval too wide (${fmt(hi - lo)} > ${MAX_WIDTH})` : `interval [${fmt(lo)}, ${fmt(hi)}] straddles p/2 = ${fmt(th)}`,
    };
  }
  const t = claim.theory;
  const th = t * (1 - 1 / Math.log(s.nGeo));
  const base = { kind: claim.kind, theory: t, summary: qs, slope: s.quantile.slope, ci: s.quantile.ci, threshold: th };
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return { ...base, verdict: 'inconclusive', reason: 'no finite bootstrap interval' };
  if (lo > th) return { ...base, verdict: 'contradicted', reason: `slower than the bound: lo ${fmt(lo)} > t_log ${fmt(th)}` };
  if (hi < 0 && hi - lo <= MAX_WIDTH) return { ...base, verdict: 'reproduced', reason: lo <= th && hi >= th ? `interval covers t_log ${fmt(th)}` : `interval below t_log ${fmt(th)} (faster than the bound)` };
  return { ...base, verdict: 'inconclusive', reason: hi - lo > MAX_WIDTH ? `interval too wide (${fmt(hi - lo)} > ${MAX_WIDTH})` : `cannot exclude no convergence: hi ${fmt(hi)} ≥ 0` };
}

/** The claim a loss of a study states, from its theory slope and optional kind. */
export function claimOf(theory: number | undefined, kind?: ClaimKind, versus?: number): ClaimSpec | undefined {
  if (theory === undefined) return undefined;
  const k: ClaimKind = kind ?? (theory < 0 ? 'rate' : 'plateau');
  return { kind: k, theory, ...(versus !== undefined ? { versus } : {}) };
}
