/**
 * Report: the store → rate curves (one per setting × loss, via `fitRate`) → a table, the JSON
 * contract of issue 6, and figures: log-log mean loss vs n with 2-sd error bars, the fitted OLS line
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
  count: number;
}

export interface CurveDetail extends Curve {
  theory?: number;
  /** The full rate summary (median and upper-half slopes, trend models). */
  summary: RateSummary;
  points: CurvePoint[];
}

export interface ReportJSON {
  curves: Curve[];
}

function stats(v: number[]): { mean: number; sd: number; median: number } {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  let ss = 0;
  for (const x of v) ss += (x - m) * (x - m);
  const s = v.slice().sort((a, b) => a - b);
  const h = s.length >> 1;
  return { mean: m, sd: v.length > 1 ? Math.sqrt(ss / (v.length - 1)) : 0, median: s.length % 2 ? s[h] : 0.5 * (s[h - 1] + s[h]) };
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
  for (const v of store.lossValues()) {
    if (v.value === null || !Number.isFinite(v.value) || v.value < 0) continue;
    const key = `${v.setting}\u0000${v.name}`;
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
  // y range: from a third of the smallest mean (or positive lower bar end) to the largest upper end;
  // a bar whose lower end mean − 2 sd is ≤ 0 (common: losses are skewed) runs to the bottom edge.
  let yMin = Infinity;
  let yMax = 0;
  for (const p of c.points) {
    const lo = p.mean - 2 * p.sd;
    yMin = Math.min(yMin, p.mean, lo > 0 ? lo : Infinity);
    yMax = Math.max(yMax, p.mean + 2 * p.sd);
  }
  yMin /= 3;
  let clipped = 0;
  const pts = c.points.map((p) => {
    let lo = p.mean - 2 * p.sd;
    if (!(lo > yMin)) {
      lo = yMin;
      clipped++;
    }
    return { n: p.n, mean: p.mean, lo, hi: p.mean + 2 * p.sd, count: p.count };
  });
  const cst = Math.exp(c.intercept);
  // many sample sizes: lighter, thinner bars so the means and the lines stay visible
  const dense = c.points.length > 40;
  const fitLabel = `fit ${fmtCoef(cst)}·n^${signed(c.slope, 3)}  [${signed(c.ci[0], 2)}, ${signed(c.ci[1], 2)}]`;
  const dataLabel = `mean ± 2 sd (${c.reps}${c.points.some((p) => p.count !== c.reps) ? '+' : ''} reps)`;
  const labels = [dataLabel, fitLabel];
  const ranges = [COLORS.data, COLORS.fit];
  const grid = 40;
  const lineAt = (f: (n: number) => number): { n: number; v: number }[] => {
    const a = Math.log(c.nMin);
    const b = Math.log(c.nMax);
    return Array.from({ length: grid + 1 }, (_, i) => {
      const n = Math.exp(a + ((b - a) * i) / grid);
      return { n, v: f(n) };
    });
  };
  const x = { field: 'n', type: 'quantitative', title: 'n', scale: { type: 'log', domain: [c.nMin / 1.15, c.nMax * 1.15], nice: false }, axis: { format: '~s', grid: true } };
  const yScale = { type: 'log', domain: [yMin, yMax * 1.2], nice: false, clamp: true };
  const color = (label: string): Record<string, unknown> => ({
    datum: label,
    type: 'nominal',
    scale: { domain: labels, range: ranges },
    legend: { orient: 'bottom', direction: 'vertical', title: null, labelLimit: 400, symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 2.5 },
  });
  const layers: Record<string, unknown>[] = [
    { data: { values: pts }, mark: { type: 'rule', opacity: dense ? 0.3 : 0.75, strokeWidth: dense ? 0.7 : 1.3 }, encoding: { x, y: { field: 'lo', type: 'quantitative', scale: yScale, title: `${c.loss} (mean over replicates)` }, y2: { field: 'hi' }, color: color(dataLabel) } },
    { data: { values: pts }, mark: { type: 'point', filled: true, size: dense ? 12 : 18, opacity: 1, stroke: '#1b3a5c', strokeWidth: 0.6 }, encoding: { x, y: { field: 'mean', type: 'quantitative', scale: yScale }, color: color(dataLabel), tooltip: [{ field: 'n', type: 'quantitative' }, { field: 'mean', type: 'quantitative', format: '.3g' }, { field: 'count', type: 'quantitative' }] } },
    { data: { values: lineAt((n) => cst * Math.pow(n, c.slope)) }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'v', type: 'quantitative', scale: yScale }, color: color(fitLabel) } },
  ];
  if (c.theory !== undefined) {
    const theoryLabel = `theory n^${signed(c.theory, 3).replace(/\.?0+$/, '')} (reference)`;
    labels.push(theoryLabel);
    ranges.push(COLORS.theory);
    // anchored on the fitted line at the geometric centre of the n range
    const ng = Math.sqrt(c.nMin * c.nMax);
    const y0 = cst * Math.pow(ng, c.slope);
    const th = c.theory;
    layers.push({ data: { values: lineAt((n) => y0 * Math.pow(n / ng, th)) }, mark: { type: 'line', strokeDash: [6, 4], strokeWidth: 2 }, encoding: { x, y: { field: 'v', type: 'quantitative', scale: yScale }, color: color(theoryLabel) } });
  }
  return {
    title: { text: `${c.setting} · ${c.loss}`, subtitle: `${study.name}${clipped ? `; ${clipped} bar${clipped > 1 ? 's' : ''} with mean − 2 sd below the axis` : ''}`, anchor: 'start', fontSize: 13, subtitleFontSize: 10 },
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
  const rows = notes.curves.map((c) => `<tr><td>${escapeHtml(c.setting)}</td><td>${escapeHtml(c.loss)}</td><td>${fmtNum(c.slope)}</td><td>[${fmtNum(c.ci[0])}, ${fmtNum(c.ci[1])}]</td><td>${c.theory === undefined ? '—' : fmtNum(c.theory)}</td><td>${fmtNum(c.medianSlope)}</td><td>${fmtNum(c.quantileSlope.slope)} [${fmtNum(c.quantileSlope.ci[0])}, ${fmtNum(c.quantileSlope.ci[1])}]</td><td>${c.verdict?.verdict ?? '—'}</td><td>${fmtCoef(Math.exp(c.intercept))}</td><td>${c.nMin}–${c.nMax}</td><td>${c.reps}</td></tr>`).join('\n');
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
${study.description ? `<p>${escapeHtml(study.description)}</p>` : ''}${study.claim ? `<p><b>Claim checked:</b> ${escapeHtml(study.claim)}</p>` : ''}
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
