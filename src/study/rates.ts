/**
 * Rate fits for the report: the study's view of `fitRate` (src/measure/rate.ts). This adapter is the
 * single place where the report calls the measuring layer, so swapping implementations is one line.
 *
 * Summary as in the authors' code (math-spec §8.1 "Slope"): OLS of log(mean loss over replicates)
 * on log n; also the median-based slope (robust to outlying replicates, math-spec §8.5), and a
 * percentile bootstrap interval for the slope obtained by resampling replicates within each n.
 */
import { Rng } from '../numeric/rng.js';

export interface RateFit {
  slope: number;
  intercept: number;
  medianSlope: number;
  ci: [number, number];
}

function ols(x: number[], y: number[]): { slope: number; intercept: number } {
  const m = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < m; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= m;
  my /= m;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < m; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  const slope = sxx > 0 ? sxy / sxx : NaN;
  return { slope, intercept: my - slope * mx };
}

function median(v: number[]): number {
  const s = v.slice().sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : 0.5 * (s[h - 1] + s[h]);
}

function mean(v: number[]): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Fit the rate of a loss: ns[i] is a sample size, lossesByN[i] the replicate values at ns[i]
 * (positive finite values; others must be filtered by the caller). Deterministic (seeded bootstrap).
 */
export function fitRate(ns: number[], lossesByN: number[][], options: { bootstrap?: number; level?: number; seed?: number } = {}): RateFit {
  const x = ns.map(Math.log);
  const y = lossesByN.map((v) => Math.log(mean(v)));
  const { slope, intercept } = ols(x, y);
  const medianSlope = ols(x, lossesByN.map((v) => Math.log(median(v)))).slope;
  const B = options.bootstrap ?? 1000;
  const level = options.level ?? 0.95;
  const rng = new Rng(options.seed ?? 1);
  const slopes: number[] = [];
  const yb = new Array<number>(ns.length);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < ns.length; i++) {
      const v = lossesByN[i];
      let s = 0;
      for (let r = 0; r < v.length; r++) s += v[rng.int(v.length)];
      yb[i] = Math.log(s / v.length);
    }
    const sb = ols(x, yb).slope;
    if (Number.isFinite(sb)) slopes.push(sb);
  }
  slopes.sort((a, b) => a - b);
  const a = (1 - level) / 2;
  const ci: [number, number] = slopes.length ? [quantile(slopes, a), quantile(slopes, 1 - a)] : [NaN, NaN];
  return { slope, intercept, medianSlope, ci };
}
