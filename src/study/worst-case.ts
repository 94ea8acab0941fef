/**
 * The summary of a local-alternatives setting (src/study/local-truth.ts; math-spec §1.6): the WORST
 * CASE over the family of truths at each n — the sup over G of the minimax statement — of the mean,
 * median and 0.8-quantile of the loss over the replicates of each truth, then the same slopes,
 * bootstrap intervals (replicates resampled within each (n, truth)), local slopes per decade and
 * trend models as a fixed-truth curve (src/measure/rate-summary.ts), so that one verdict rule reads
 * both. With one truth per n the worst case is that sequence's own summary.
 *
 * The verdict (LOCAL_VERDICT_RULE) is the fixed-truth rule with one change for "slower than any
 * polynomial" claims. The alternatives shrink at a chosen power ε_n ∝ n^−rate, so the two outcomes
 * the design separates are: an estimator that cannot tell G_{n,t} from the centre has a worst-case
 * parameter error ≍ ε_n, slope −rate (the lower bound at work); one that converges uniformly at the
 * polynomial counterpart's rate p has slope ≤ p. The threshold is their midpoint (p − rate)/2 (p/2
 * for a fixed family, rate 0, as in the fixed-truth rule), and the trend-model test (power law
 * against c·(log n)^−λ) is dropped: the worst case is a power of n by construction.
 */
import { Rng } from '../numeric/rng.js';
import { DataError } from '../errors.js';
import { decadeWindows as decadeWindowRanges, judge, percentileCI, quantileSorted, slopeOn, trendModels, type ClaimSpec, type RateSummary, type SlopeCI, type Verdict } from '../measure/rate-summary.js';

export const LOCAL_VERDICT_RULE = 'Local alternatives (a truth per n and replicate, ε_n ∝ n^−rate): the same rule on the worst case over the family of truths at each n (the 0.8-quantile over the replicates of each truth, maximised over the truths; bootstrap within each (n, truth)), except for "slower than any polynomial": with m = (p − rate)/2, the midpoint between −rate (an estimator that cannot separate the alternatives from the centre) and the counterpart\'s polynomial rate p, reproduced if lo ≥ m and hi − lo ≤ 0.5 (no trend-model test: the worst case is a power of n by construction), contradicted if hi < m, else inconclusive.';

const TWO_POW_M32 = 1 / 4294967296;

/** Per-decade windows anchored at the largest n, as index sets (rate-summary.ts's windows). */
const decadeWindows = (logN: Float64Array): number[][] => decadeWindowRanges(logN).map((w) => w.idx);

export interface WorstCaseSummary extends RateSummary {
  /** At each n (ascending), the truth index whose 0.8-quantile is the largest (the worst case). */
  worstTruth: number[];
  /** Number of truths in the family. */
  truths: number;
}

/**
 * Worst-case summaries. `byN[i][t]` holds the replicate losses of truth t at `ns[i]` (finite, ≥ 0; at
 * least two distinct n; every n has every truth). `reps` of the result is the smallest number of
 * replicates of one truth at one n.
 */
export function summariseWorstCase(ns: readonly number[], byN: readonly (readonly (readonly number[])[])[], options: { q?: number; bootstrap?: number; level?: number; seed?: number } = {}): WorstCaseSummary {
  const q = options.q ?? 0.8;
  const B = options.bootstrap ?? 1000;
  const level = options.level ?? 0.95;
  if (ns.length !== byN.length) throw new DataError(`summariseWorstCase: ${ns.length} sample sizes but ${byN.length} lists`);
  const order = ns.map((_, i) => i).sort((a, b) => ns[a] - ns[b]);
  const m = ns.length;
  const T = byN[0]?.length ?? 0;
  if (T < 1) throw new DataError('summariseWorstCase: no truths');
  const logN = new Float64Array(m);
  const data: Float64Array[][] = [];
  order.forEach((oi, i) => {
    const n = ns[oi];
    if (!(n > 0) || !Number.isFinite(n)) throw new DataError(`summariseWorstCase: sample size must be a positive number, got ${n}`);
    if (byN[oi].length !== T) throw new DataError(`summariseWorstCase: n=${n} has ${byN[oi].length} truths, expected ${T}`);
    data.push(byN[oi].map((ls, t) => {
      if (!ls.length) throw new DataError(`summariseWorstCase: no losses at n=${n}, truth ${t}`);
      for (const l of ls) if (!(l >= 0) || !Number.isFinite(l)) throw new DataError(`summariseWorstCase: loss at n=${n}, truth ${t} must be a finite number ≥ 0, got ${l}`);
      return Float64Array.from(ls);
    }));
    logN[i] = Math.log(n);
  });
  if (logN[m - 1] === logN[0]) throw new DataError('summariseWorstCase: needs at least two distinct sample sizes');
  const mid = 0.5 * (logN[0] + logN[m - 1]);
  const upperIdx: number[] = [];
  for (let i = 0; i < m; i++) if (logN[i] >= mid - 1e-9) upperIdx.push(i);
  if (upperIdx.length < 2) upperIdx.unshift(m - 2);
  const all = Array.from({ length: m }, (_, i) => i);
  const windows = decadeWindows(logN);
  const maxR = Math.max(...data.flatMap((d) => d.map((v) => v.length)));
  const buf = new Float64Array(maxR);
  const yMean = new Float64Array(m);
  const yMed = new Float64Array(m);
  const yQ = new Float64Array(m);
  const worst = new Array<number>(m).fill(0);
  const summarise = (pick: (i: number, t: number, r: number) => number): void => {
    for (let i = 0; i < m; i++) {
      let mx = -Infinity;
      let md = -Infinity;
      let qq = -Infinity;
      for (let t = 0; t < T; t++) {
        const R = data[i][t].length;
        const s = buf.subarray(0, R);
        let sum = 0;
        for (let r = 0; r < R; r++) {
          const v = pick(i, t, r);
          s[r] = v;
          sum += v;
        }
        s.sort();
        mx = Math.max(mx, sum / R);
        md = Math.max(md, quantileSorted(s, 0.5));
        const qv = quantileSorted(s, q);
        if (qv > qq) {
          qq = qv;
          worst[i] = t;
        }
      }
      yMean[i] = Math.log(mx);
      yMed[i] = Math.log(md);
      yQ[i] = Math.log(qq);
    }
  };
  summarise((i, t, r) => data[i][t][r]);
  const worstTruth = worst.slice();
  const point = { mean: slopeOn(logN, yMean, all), median: slopeOn(logN, yMed, all), quantile: slopeOn(logN, yQ, all), upper: slopeOn(logN, yQ, upperIdx), local: windows.map((w) => slopeOn(logN, yQ, w)) };
  const models = trendModels(logN, yQ);
  const rng = new Rng(options.seed ?? 1).split('worst-case');
  const bs = { mean: new Float64Array(B), median: new Float64Array(B), quantile: new Float64Array(B), upper: new Float64Array(B), local: windows.map(() => new Float64Array(B)) };
  for (let b = 0; b < B; b++) {
    summarise((i, t) => data[i][t][Math.floor(rng.uint32() * data[i][t].length * TWO_POW_M32)]);
    bs.mean[b] = slopeOn(logN, yMean, all);
    bs.median[b] = slopeOn(logN, yMed, all);
    bs.quantile[b] = slopeOn(logN, yQ, all);
    bs.upper[b] = slopeOn(logN, yQ, upperIdx);
    windows.forEach((w, j) => { bs.local[j][b] = slopeOn(logN, yQ, w); });
  }
  const nOf = (l: number): number => Math.round(Math.exp(l));
  const ci = (s: number, v: Float64Array): SlopeCI => ({ slope: s, ci: percentileCI(v, level) });
  return {
    q,
    mean: ci(point.mean, bs.mean),
    median: ci(point.median, bs.median),
    quantile: ci(point.quantile, bs.quantile),
    upperHalf: ci(point.upper, bs.upper),
    localSlopes: windows.map((w, j) => ({ nFrom: nOf(logN[w[0]]), nTo: nOf(logN[w[w.length - 1]]), slope: point.local[j], ci: percentileCI(bs.local[j], level), points: w.length })),
    models,
    nMin: nOf(logN[0]),
    nMax: nOf(logN[m - 1]),
    nGeo: Math.exp(0.5 * (logN[0] + logN[m - 1])),
    points: m,
    reps: Math.min(...data.flatMap((d) => d.map((v) => v.length))),
    level,
    worstTruth,
    truths: T,
  };
}

const MAX_WIDTH = 0.5;

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : 'NaN';
}

/** LOCAL_VERDICT_RULE: `judge` on the worst-case summary; slow claims against the midpoint (p − rate)/2. */
export function judgeLocal(s: WorstCaseSummary, claim: ClaimSpec, rate = 0): Verdict {
  const v = judge(s, claim);
  if (claim.kind !== 'slow' || s.reps < 5) return { ...v, summary: `worst-case ${v.summary}` };
  const [lo, hi] = s.quantile.ci;
  const p = claim.versus ?? -0.5;
  const th = (p - rate) / 2;
  const base = { kind: claim.kind, theory: claim.theory, summary: `worst-case q${s.q}`, slope: s.quantile.slope, ci: s.quantile.ci, threshold: th };
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return { ...base, verdict: 'inconclusive', reason: 'no finite bootstrap interval' };
  const mid = rate ? `(p − rate)/2 = (${fmt(p)} − ${fmt(rate)})/2 = ${fmt(th)}` : `p/2 = ${fmt(th)}`;
  if (hi < th) return { ...base, verdict: 'contradicted', reason: `the worst case over the local alternatives falls at a polynomial rate: hi ${fmt(hi)} < ${mid}` };
  if (lo >= th && hi - lo <= MAX_WIDTH) return { ...base, verdict: 'reproduced', reason: `the worst case over the local alternatives falls no faster than the alternatives shrink: lo ${fmt(lo)} ≥ ${mid}` };
  return { ...base, verdict: 'inconclusive', reason: hi - lo > MAX_WIDTH ? `interval too wide (${fmt(hi - lo)} > ${MAX_WIDTH})` : `interval [${fmt(lo)}, ${fmt(hi)}] straddles ${mid}` };
}
