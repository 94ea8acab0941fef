/**
 * Report: the store → rate curves (one per setting × loss, via `fitRate`) → a table, the JSON
 * contract of issue 6, and figures: log-log loss vs n (median with 25–75 % and 10–90 % quantile bands over replicates, and the mean), the fitted OLS line
 * with its legend c·n^slope, and the theoretical slope as a dashed reference line, one panel per
 * loss/block (vega-lite → SVG with the `none` renderer, resvg → PNG) and one self-contained HTML page.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { StudyStore } from './store.js';
import type { ResolvedStudy } from './config.js';
import { fitRate, summariseRate, judge, claimOf, type LocalSlope, type Verdict, type RateSummary } from './rates.js';
import { renderSVG, svgToPNG } from '../plot/render.js';
import type { LocalTruth } from './local-truth.js';
import { summariseWorstCase, judgeLocal } from './worst-case.js';
import { ols } from '../measure/rate.js';
import { blockSymbol } from '../infer/parameters.js';

/** One curve of the JSON contract. */
export interface Curve {
  setting: string;
  loss: string;
  slope: number;
  ci: [number, number];
  intercept: number;
  medianSlope: number;
  nMin: number;
  nMax: number;
  reps: number;
  /** Slope of log(q-quantile of the loss) on log n with its bootstrap interval (q = 0.8). */
  quantileSlope: { q: number; slope: number; ci: [number, number] };
  /** Slope of the q-quantile per decade of n, anchored at the largest n. */
  localSlopes: LocalSlope[];
  /** The verdict rule (src/measure/rate-summary.ts) applied to the loss's claim; null without a theory. */
  verdict: Verdict | null;
}

export interface CurvePoint {
  n: number;
  mean: number;
  sd: number;
  median: number;
  /** Quantiles of the loss over the replicates at this n. */
  q10: number;
  q25: number;
  q75: number;
  q90: number;
  count: number;
}

export interface CurveDetail extends Curve {
  theory?: number;
  /** Local alternatives (src/study/local-truth.ts): the summary is the worst case over this many truths; `points` are the worst truth's. */
  local?: { truths: number; reading: 'sequence' | 'family'; rate: number; worstTruth: number[] };
  /** The full rate summary (median and upper-half slopes, trend models). */
  summary: RateSummary;
  points: CurvePoint[];
}

export interface ReportJSON {
  curves: Curve[];
}

/** Quantile of sorted values (linear interpolation between order statistics, R type 7). */
function quantile(s: readonly number[], q: number): number {
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

function stats(v: number[]): Omit<CurvePoint, 'n' | 'count'> {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  let ss = 0;
  for (const x of v) ss += (x - m) * (x - m);
  const s = v.slice().sort((a, b) => a - b);
  return {
    mean: m, sd: v.length > 1 ? Math.sqrt(ss / (v.length - 1)) : 0, median: quantile(s, 0.5),
    q10: quantile(s, 0.1), q25: quantile(s, 0.25), q75: quantile(s, 0.75), q90: quantile(s, 0.9),
  };
}

const LOSS_BASES: Record<string, string> = {
  param: 'parameter error', cell: 'per-cell error', hellinger: 'Hellinger distance', tv: 'total variation', l2: 'L² distance',
};

/** Readable name of a study loss: `param:beta1` → "parameter error of β₁", `D2:variance` → "D2 term of ν". */
export function lossLabel(name: string): string {
  const [base, block] = name.split(':');
  const b = LOSS_BASES[base] ?? base;
  if (block === undefined) return b;
  return `${b}${LOSS_BASES[base] ? ' of' : ' term of'} ${blockSymbol(block)}`;
}

export interface CurveNotes {
  curves: CurveDetail[];
  /** Curves that could not be fitted (fewer than two sample sizes with data). */
  skipped: { setting: string; loss: string; reason: string }[];
}

/** Rate curves of every (setting, loss) of the study that has data at ≥ 2 sample sizes. */
export function computeCurves(store: Pick<StudyStore, 'study' | 'lossValues'>, options: { bootstrap?: number } = {}): CurveNotes {
  const study = store.study;
  const groups = new Map<string, Map<number, number[]>>();
  // local-alternative settings: values by n and truth index (rep mod T)
  const repGroups = new Map<string, Map<number, Map<number, number[]>>>();
  const localT = new Map(study.settings.filter((s) => s.truth).map((s) => [s.name, (s.truth as LocalTruth).scales.length]));
  for (const v of store.lossValues()) {
    if (v.value === null || !Number.isFinite(v.value) || v.value < 0) continue;
    const key = `${v.setting}\u0000${v.name}`;
    const T = localT.get(v.setting);
    if (T !== undefined) {
      let g = repGroups.get(key);
      if (!g) repGroups.set(key, (g = new Map()));
      let byT = g.get(v.n);
      if (!byT) g.set(v.n, (byT = new Map()));
      const t = v.rep % T;
      let arr = byT.get(t);
      if (!arr) byT.set(t, (arr = []));
      arr.push(v.value);
      continue;
    }
    let g = groups.get(key);
    if (!g) groups.set(key, (g = new Map()));
    let arr = g.get(v.n);
    if (!arr) g.set(v.n, (arr = []));
    arr.push(v.value);
  }
  const curves: CurveDetail[] = [];
  const skipped: CurveNotes['skipped'] = [];
  for (const s of study.settings) {
    for (const l of s.losses) {
      const g = groups.get(`${s.name}\u0000${l.name}`);
      if (s.truth) {
        const lc = localCurve(s.name, l, s.truth, repGroups.get(`${s.name}\u0000${l.name}`), options);
        if ('reason' in lc) skipped.push({ setting: s.name, loss: l.name, reason: lc.reason });
        else curves.push(lc);
        continue;
      }
      const ns = g ? [...g.keys()].sort((a, b) => a - b) : [];
      const points: CurvePoint[] = [];
      for (const n of ns) {
        const vals = g!.get(n)!;
        const st = stats(vals);
        if (!(st.mean > 0)) continue;
        points.push({ n, ...st, count: vals.length });
      }
      if (points.length < 2) {
        skipped.push({ setting: s.name, loss: l.name, reason: points.length ? 'data at one sample size only' : 'no finished jobs with this loss' });
        continue;
      }
      const lossesByN = points.map((p) => g!.get(p.n)!);
      const rate = fitRate(points.map((p) => p.n), lossesByN, { bootstrap: options.bootstrap });
      const summary = summariseRate(points.map((p) => p.n), lossesByN, { bootstrap: options.bootstrap });
      const claim = claimOf(l.theory, l.claim, l.versus);
      curves.push({
        setting: s.name,
        loss: l.name,
        slope: rate.slope,
        ci: rate.ci,
        intercept: rate.intercept,
        medianSlope: rate.medianSlope,
        nMin: points[0].n,
        nMax: points[points.length - 1].n,
        reps: Math.min(...points.map((p) => p.count)),
        quantileSlope: { q: summary.q, ...summary.quantile },
        localSlopes: summary.localSlopes,
        verdict: claim ? judge(summary, claim) : null,
        ...(l.theory !== undefined ? { theory: l.theory } : {}),
        summary,
        points,
      });
    }
  }
  return { curves, skipped };
}

/** The curve of a local-alternatives setting: the worst case over its truths (src/study/worst-case.ts), or why there is none. */
function localCurve(setting: string, l: ResolvedStudy['settings'][number]['losses'][number], spec: LocalTruth, g: Map<number, Map<number, number[]>> | undefined, options: { bootstrap?: number }): CurveDetail | { reason: string } {
  const T = spec.scales.length;
  // sizes where every truth has data and the worst case is not 0 everywhere
  const ns = g ? [...g.keys()].filter((n) => (g.get(n) as Map<number, number[]>).size === T).sort((a, b) => a - b) : [];
  const usable = ns.filter((n) => [...(g as Map<number, Map<number, number[]>>).get(n)!.values()].some((v) => v.some((x) => x > 0)));
  if (usable.length < 2) return { reason: usable.length ? 'data at one sample size only' : 'no finished jobs with this loss for every truth' };
  const byN = usable.map((n) => Array.from({ length: T }, (_, t) => (g as Map<number, Map<number, number[]>>).get(n)!.get(t) as number[]));
  const summary = summariseWorstCase(usable, byN, { bootstrap: options.bootstrap });
  const points: CurvePoint[] = usable.map((n, i) => {
    const vals = byN[i][summary.worstTruth[i]];
    return { n, ...stats(vals), count: vals.length };
  });
  // the mean line of the figure and the JSON's `slope`: OLS of log(worst-case mean) on log n
  const wm = byN.map((ts) => Math.max(...ts.map((v) => v.reduce((a, b) => a + b, 0) / v.length)));
  const fit = ols(usable.map((n) => Math.log(n)), wm.map((v) => Math.log(v)));
  const claim = claimOf(l.theory, l.claim, l.versus);
  return {
    setting, loss: l.name, slope: summary.mean.slope, ci: summary.mean.ci, intercept: fit.intercept, medianSlope: summary.median.slope,
    nMin: usable[0], nMax: usable[usable.length - 1], reps: summary.reps,
    quantileSlope: { q: summary.q, ...summary.quantile }, localSlopes: summary.localSlopes,
    verdict: claim ? judgeLocal(summary, claim, spec.rate) : null,
    ...(l.theory !== undefined ? { theory: l.theory } : {}),
    summary, points,
    local: { truths: T, reading: spec.reading, rate: spec.rate, worstTruth: summary.worstTruth },
  };
}

/** The JSON contract: exactly these keys, in this order. */
export function reportJSON(curves: readonly Curve[]): ReportJSON {
  return {
    curves: curves.map((c) => ({
      setting: c.setting, loss: c.loss, slope: c.slope, ci: [c.ci[0], c.ci[1]], intercept: c.intercept,
      medianSlope: c.medianSlope, nMin: c.nMin, nMax: c.nMax, reps: c.reps,
      quantileSlope: c.quantileSlope, localSlopes: c.localSlopes, verdict: c.verdict,
    })),
  };
}

function fmtNum(v: number, digits = 3): string {
  return Number.isFinite(v) ? v.toFixed(digits) : 'NaN';
}

function fmtCoef(c: number): string {
  if (!Number.isFinite(c)) return 'NaN';
  return c >= 1000 || c < 0.01 ? c.toExponential(2) : c.toPrecision(3);
}

const MINUS = '\u2212';
function signed(v: number, digits: number): string {
  return v < 0 ? `${MINUS}${Math.abs(v).toFixed(digits)}` : v.toFixed(digits);
}

/** Human table of the curves. */
export function curvesTable(curves: readonly CurveDetail[]): string {
  const header = ['setting', 'loss', 'slope', '95% CI', 'theory', 'median slope', 'q0.8 slope', 'q0.8 CI', 'verdict', 'c (n^slope)', 'n range', 'reps'];
  const rows = curves.map((c) => [
    c.setting, c.loss, fmtNum(c.slope), `[${fmtNum(c.ci[0])}, ${fmtNum(c.ci[1])}]`, c.theory === undefined ? '—' : fmtNum(c.theory),
    fmtNum(c.medianSlope), fmtNum(c.quantileSlope.slope), `[${fmtNum(c.quantileSlope.ci[0])}, ${fmtNum(c.quantileSlope.ci[1])}]`, c.verdict?.verdict ?? '—',
    fmtCoef(Math.exp(c.intercept)), `${c.nMin}–${c.nMax}`, String(c.reps),
  ]);
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]): string => r.map((x, j) => (j < 2 ? x.padEnd(widths[j]) : x.padStart(widths[j]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Figures

const COLORS = { data: '#4c78a8', fit: '#e45756', theory: '#54a24b' };

/** Vega-lite layered spec of one panel (one loss of one setting). */
export function panelSpec(c: CurveDetail, study: ResolvedStudy): Record<string, unknown> {
  // the spread over replicates as quantile bands (10–90 % light, 25–75 % darker) around the median:
  // losses are skewed and positive, so on a log axis ± 2 sd bars ran off the bottom; quantiles do not
  let yMin = Infinity;
  let yMax = 0;
  for (const p of c.points) {
    for (const v of [p.q10, p.median, p.mean]) if (v > 0) yMin = Math.min(yMin, v);
    yMax = Math.max(yMax, p.q90, p.mean);
  }
  yMin /= 1.5;
  let zeros = 0;
  const floor = (v: number): number => {
    if (v > yMin) return v;
    zeros++;
    return yMin;
  };
  const pts = c.points.map((p) => ({ n: p.n, mean: p.mean, median: p.median, q10: floor(p.q10), q25: floor(p.q25), q75: p.q75, q90: p.q90, count: p.count }));
  const cst = Math.exp(c.intercept);
  const dense = c.points.length > 40;
  const label = lossLabel(c.loss);
  const fitLabel = `OLS of log ${c.local ? 'worst-case ' : ''}mean: ${fmtCoef(cst)}·n^${signed(c.slope, 3)}  [${signed(c.ci[0], 2)}, ${signed(c.ci[1], 2)}]`;
  const reps = `${c.reps}${c.points.some((p) => p.count !== c.reps) ? '+' : ''}`;
  const medianLabel = c.local ? `worst truth's median, bands 25–75 % and 10–90 % (${reps} reps per truth)` : `median, bands 25–75 % and 10–90 % (${reps} reps)`;
  const meanLabel = c.local ? "worst truth's mean over its replicates" : 'mean over replicates';
  const labels = [medianLabel, meanLabel, fitLabel];
  const ranges = [COLORS.data, '#1b3a5c', COLORS.fit];
  const grid = 40;
  const lineAt = (f: (n: number) => number): { n: number; v: number }[] => {
    const a = Math.log(c.nMin);
    const b = Math.log(c.nMax);
    return Array.from({ length: grid + 1 }, (_, i) => {
      const n = Math.exp(a + ((b - a) * i) / grid);
      return { n, v: f(n) };
    });
  };
  const x = { field: 'n', type: 'quantitative', title: 'sample size n', scale: { type: 'log', domain: [c.nMin / 1.15, c.nMax * 1.15], nice: false }, axis: { format: '~s', grid: true } };
  const yScale = { type: 'log', domain: [yMin, yMax * 1.3], nice: false, clamp: true };
  const color = (lab: string): Record<string, unknown> => ({
    datum: lab,
    type: 'nominal',
    scale: { domain: labels, range: ranges },
    legend: { orient: 'bottom', direction: 'vertical', title: null, labelLimit: 400, symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 2.5 },
  });
  const layers: Record<string, unknown>[] = [
    { data: { values: pts }, mark: { type: 'area', opacity: 0.16 }, encoding: { x, y: { field: 'q10', type: 'quantitative', scale: yScale, title: label }, y2: { field: 'q90' }, color: color(medianLabel) } },
    { data: { values: pts }, mark: { type: 'area', opacity: 0.3 }, encoding: { x, y: { field: 'q25', type: 'quantitative', scale: yScale }, y2: { field: 'q75' }, color: color(medianLabel) } },
    { data: { values: pts }, mark: { type: 'line', strokeWidth: 1.5, point: { filled: true, size: dense ? 10 : 18 } }, encoding: { x, y: { field: 'median', type: 'quantitative', scale: yScale }, color: color(medianLabel), tooltip: [{ field: 'n', type: 'quantitative' }, { field: 'median', type: 'quantitative', format: '.3g' }, { field: 'mean', type: 'quantitative', format: '.3g' }, { field: 'count', type: 'quantitative' }] } },
    { data: { values: pts }, mark: { type: 'point', shape: 'circle', filled: false, size: dense ? 10 : 22, strokeWidth: 1 }, encoding: { x, y: { field: 'mean', type: 'quantitative', scale: yScale }, color: color(meanLabel) } },
    { data: { values: lineAt((n) => cst * Math.pow(n, c.slope)) }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'v', type: 'quantitative', scale: yScale }, color: color(fitLabel) } },
  ];
  if (c.theory !== undefined) {
    const theoryLabel = `theory n^${signed(c.theory, 3).replace(/\.?0+$/, '')} (slope reference)`;
    labels.push(theoryLabel);
    ranges.push(COLORS.theory);
    // anchored on the fitted line at the geometric centre of the n range
    const ng = Math.sqrt(c.nMin * c.nMax);
    const y0 = cst * Math.pow(ng, c.slope);
    const th = c.theory;
    layers.push({ data: { values: lineAt((n) => y0 * Math.pow(n / ng, th)) }, mark: { type: 'line', strokeDash: [6, 4], strokeWidth: 2 }, encoding: { x, y: { field: 'v', type: 'quantitative', scale: yScale }, color: color(theoryLabel) } });
  }
  const sub = [`${c.setting} · ${study.name} (profile ${study.profile})`];
  if (c.local) sub.push(`local alternatives (${c.local.reading}${c.local.rate ? `, ε ∝ n^−${fmtNum(c.local.rate, 4).replace(/0+$/, '')}` : ''}): worst case over ${c.local.truths} truths per n`);
  if (zeros) sub.push(`${zeros} lower quantile${zeros > 1 ? 's' : ''} at 0 drawn at the axis floor`);
  return {
    title: { text: label, subtitle: sub, anchor: 'start', fontSize: 13, subtitleFontSize: 10 },
    width: 320,
    height: 230,
    layer: layers,
    resolve: { scale: { color: 'shared' } },
  };
}

/** One figure (vega-lite spec) with one panel per loss of a setting. */
export function figureSpec(curves: readonly CurveDetail[], study: ResolvedStudy, columns = 3): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 10,
    config: { font: 'DejaVu Sans', axis: { labelFontSize: 10, titleFontSize: 11, gridColor: '#e6e6e6', gridOpacity: 0.7 }, legend: { labelFontSize: 10 }, title: { anchor: 'start' } },
    columns: Math.min(columns, curves.length),
    concat: curves.map((c) => panelSpec(c, study)),
    resolve: { scale: { color: 'independent', x: 'independent', y: 'independent' }, legend: { color: 'independent' } },
  } as unknown as TopLevelSpec;
}

export { renderSVG, svgToPNG } from '../plot/render.js';

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface ReportFiles {
  dir: string;
  svg: string[];
  png: string[];
  html: string;
  json: string;
}

/** Write report.json, one SVG + PNG per setting, and index.html (self-contained) into outDir. */
export async function writeReport(store: StudyStore, outDir: string, notes: CurveNotes, options: { png?: boolean } = {}): Promise<ReportFiles> {
  mkdirSync(outDir, { recursive: true });
  const study = store.study;
  const files: ReportFiles = { dir: outDir, svg: [], png: [], html: join(outDir, 'index.html'), json: join(outDir, 'report.json') };
  writeFileSync(files.json, JSON.stringify(reportJSON(notes.curves), null, 2) + '\n');
  const sections: string[] = [];
  for (const s of study.settings) {
    const cs = notes.curves.filter((c) => c.setting === s.name);
    if (!cs.length) continue;
    const svg = await renderSVG(figureSpec(cs, study));
    const svgPath = join(outDir, `${s.name}.svg`);
    writeFileSync(svgPath, svg);
    files.svg.push(svgPath);
    if (options.png ?? true) {
      const pngPath = join(outDir, `${s.name}.png`);
      writeFileSync(pngPath, await svgToPNG(svg));
      files.png.push(pngPath);
    }
    sections.push(`<section><h2>${escapeHtml(s.name)}</h2><p class="meta">k = ${s.k}, gate ${escapeHtml(s.gate.type)}, experts ${escapeHtml(s.experts.type)}, estimator ${escapeHtml(s.estimator)}, init ${escapeHtml(s.init.type)}, restarts ${s.restarts}</p><div class="fig">${svg.replace(/^<\?xml[^>]*>\s*/, '')}</div></section>`);
  }
  const counts = store.counts();
  const planned = study.settings.length * study.ns.length * study.replicates;
  const rows = notes.curves.map((c) => `<tr><td>${escapeHtml(c.setting)}</td><td>${escapeHtml(lossLabel(c.loss))}${lossLabel(c.loss) !== c.loss ? ` <span class="meta">(${escapeHtml(c.loss)})</span>` : ''}</td><td>${fmtNum(c.slope)}</td><td>[${fmtNum(c.ci[0])}, ${fmtNum(c.ci[1])}]</td><td>${c.theory === undefined ? '—' : fmtNum(c.theory)}</td><td>${fmtNum(c.medianSlope)}</td><td>${fmtNum(c.quantileSlope.slope)} [${fmtNum(c.quantileSlope.ci[0])}, ${fmtNum(c.quantileSlope.ci[1])}]</td><td>${c.verdict?.verdict ?? '—'}</td><td>${fmtCoef(Math.exp(c.intercept))}</td><td>${c.nMin}–${c.nMax}</td><td>${c.reps}</td></tr>`).join('\n');
  const skipped = notes.skipped.length ? `<p class="meta">Not fitted: ${notes.skipped.map((s) => `${escapeHtml(s.setting)} · ${escapeHtml(s.loss)} (${escapeHtml(s.reason)})`).join('; ')}</p>` : '';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>moelab study ${escapeHtml(study.name)}</title>
<style>
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}.meta{color:#555;font-size:.9em}.fig svg{max-width:100%;height:auto}
</style></head><body>
<h1>Study ${escapeHtml(study.name)} <span class="meta">(profile ${escapeHtml(study.profile)})</span></h1>
${study.description ? `<p>${escapeHtml(study.description)}${study.profile !== 'full' ? ' <span class="meta">(the full study)</span>' : ''}</p>` : ''}${study.profile !== 'full' ? `<p><b>This run: profile ${escapeHtml(study.profile)}</b>${study.profileDescription ? ` — ${escapeHtml(study.profileDescription)}` : ''}.</p>` : ''}${study.claim ? `<p><b>Claim checked:</b> ${escapeHtml(study.claim)}</p>` : ''}
<p class="meta">${counts.ok} jobs ok, ${counts.failed} failed, of ${planned} planned; n from ${study.ns[0]} to ${study.ns[study.ns.length - 1]} (${study.ns.length} sizes), ${study.replicates} replicates, seed ${study.seed}, x ~ ${escapeHtml(JSON.stringify(study.x))}; ${counts.seconds.toFixed(0)} s of compute.</p>
<h2>Rates</h2>
<p class="meta">Slope: OLS of log(mean loss over replicates) on log n (the authors' summary); CI: 95% percentile bootstrap over replicates; median slope: the same on log(median). Theory: math-spec §7.</p>
<table><thead><tr><th>setting</th><th>loss</th><th>slope</th><th>95% CI</th><th>theory</th><th>median slope</th><th>q0.8 slope [95% CI]</th><th>verdict</th><th>c</th><th>n range</th><th>reps</th></tr></thead><tbody>
${rows}
</tbody></table>${skipped}
${sections.join('\n')}
</body></html>
`;
  writeFileSync(files.html, html);
  return files;
}
