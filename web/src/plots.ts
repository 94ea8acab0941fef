/**
 * The playground's figures, drawn with Observable Plot (SVG; no canvas, no network). Each returns
 * an element to put in the page; callers replace the previous one.
 */
import * as Plot from '@observablehq/plot';
import type { ExpertCurves, StudyPoint } from './core.js';
import type { RateFit } from '../../src/measure/rate.js';

const WIDTH = 520;
const HEIGHT = 300;

/** Colour of expert i (fitted and true atoms share colours only by index). */
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22', '#393b79', '#637939'];

interface CurveRow { x: number; m: number; lo: number; hi: number; expert: string }

function rows(c: ExpertCurves, label: string): CurveRow[] {
  const out: CurveRow[] = [];
  c.mean.forEach((mi, i) => mi.forEach((m, g) => out.push({ x: c.x[g], m, lo: m - 2 * c.sd[i], hi: m + 2 * c.sd[i], expert: `${label} ${i + 1}` })));
  return out;
}

function labelled(el: Element, text: string): Element {
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', text);
  return el;
}

function domain(truth: ExpertCurves | null, fit: ExpertCurves | null): { names: string[]; colors: string[] } {
  const names: string[] = [];
  const colors: string[] = [];
  truth?.mean.forEach((_, i) => { names.push(`true ${i + 1}`); colors.push(PALETTE[i % PALETTE.length]); });
  fit?.mean.forEach((_, i) => { names.push(`fitted ${i + 1}`); colors.push(PALETTE[(i + 6) % PALETTE.length]); });
  return { names, colors };
}

/**
 * The data with every expert's mean and ± 2 sd band (fitted: solid, true: dashed). For multinomial
 * experts the curve is P(y = first class | x, expert) and the points are the labels (jittered).
 */
export function dataPlot(x: number[], y: number[], truth: ExpertCurves | null, fit: ExpertCurves | null, classes: boolean): Element {
  const pts = x.map((xv, t) => ({ x: xv, y: classes ? (y[t] === 0 ? 1 : 0) + ((t * 0.6180339887) % 1 - 0.5) * 0.06 : y[t] }));
  const tr = truth ? rows(truth, 'true') : [];
  const fr = fit ? rows(fit, 'fitted') : [];
  const { names, colors } = domain(truth, fit);
  const marks: Plot.Markish[] = [Plot.dot(pts, { x: 'x', y: 'y', r: 1.2, fill: '#888', fillOpacity: 0.35 })];
  if (!classes) {
    marks.push(Plot.areaY(fr, { x: 'x', y1: 'lo', y2: 'hi', z: 'expert', fill: 'expert', fillOpacity: 0.12 }));
    marks.push(Plot.line(tr, { x: 'x', y: 'lo', z: 'expert', stroke: 'expert', strokeDasharray: '2,3', strokeWidth: 1 }));
    marks.push(Plot.line(tr, { x: 'x', y: 'hi', z: 'expert', stroke: 'expert', strokeDasharray: '2,3', strokeWidth: 1 }));
  }
  marks.push(Plot.line(tr, { x: 'x', y: 'm', z: 'expert', stroke: 'expert', strokeDasharray: '6,4', strokeWidth: 2 }));
  marks.push(Plot.line(fr, { x: 'x', y: 'm', z: 'expert', stroke: 'expert', strokeWidth: 2 }));
  const el = Plot.plot({
    width: WIDTH, height: HEIGHT, marginLeft: 50,
    x: { label: 'x' }, y: { label: classes ? 'P(y = first class | x, expert); dots: y (1 = first class)' : 'y' },
    color: { domain: names, range: colors, legend: true },
    marks,
  });
  return labelled(el, `Data (${x.length} points shown) with ${truth ? truth.mean.length : 0} true expert means (dashed) and ${fit ? fit.mean.length : 0} fitted expert means (solid)${classes ? '' : ' with ± 2 sd bands'}`);
}

/** Gate probabilities π_i(x): true (dashed) and fitted (solid). */
export function gatePlot(truth: ExpertCurves | null, fit: ExpertCurves | null): Element {
  const gr = (c: ExpertCurves | null, label: string) =>
    c ? c.gate.flatMap((gi, i) => gi.map((p, g) => ({ x: c.x[g], p, expert: `${label} ${i + 1}` }))) : [];
  const { names, colors } = domain(truth, fit);
  const el = Plot.plot({
    width: WIDTH, height: 240, marginLeft: 50,
    x: { label: 'x' }, y: { label: 'gate probability πᵢ(x)', domain: [0, 1] },
    color: { domain: names, range: colors, legend: true },
    marks: [
      Plot.line(gr(truth, 'true'), { x: 'x', y: 'p', z: 'expert', stroke: 'expert', strokeDasharray: '6,4', strokeWidth: 2 }),
      Plot.line(gr(fit, 'fitted'), { x: 'x', y: 'p', z: 'expert', stroke: 'expert', strokeWidth: 2 }),
      Plot.ruleY([0, 1], { stroke: '#ccc' }),
    ],
  });
  return labelled(el, 'Gate probabilities over x, true (dashed) and fitted (solid)');
}

/** The objective after every cycle (ℓ for EM, SSE for LSE). */
export function tracePlot(trace: { iteration: number; value: number }[], label: string): Element {
  const el = Plot.plot({
    width: WIDTH, height: 200, marginLeft: 80,
    x: { label: 'iteration' }, y: { label },
    marks: [Plot.line(trace, { x: 'iteration', y: 'value', stroke: '#1f77b4' }), Plot.dot(trace.slice(-1), { x: 'iteration', y: 'value', fill: '#1f77b4' })],
  });
  return labelled(el, `${label} trace over ${trace.length} recorded iterations`);
}

/** Log-log loss against n: replicate points, their means, the fitted line and the theory line. */
export function ratePlot(points: StudyPoint[], rate: RateFit | null, theory: number, loss: string): Element {
  const ok = points.filter((p) => p.loss !== null && p.loss > 0) as { n: number; loss: number }[];
  const ns = [...new Set(ok.map((p) => p.n))].sort((a, b) => a - b);
  const means = ns.map((n) => {
    const v = ok.filter((p) => p.n === n).map((p) => p.loss);
    return { n, loss: v.reduce((a, b) => a + b, 0) / v.length };
  });
  const marks: Plot.Markish[] = [
    Plot.dot(ok, { x: 'n', y: 'loss', r: 2, fill: '#999' }),
    Plot.dot(means, { x: 'n', y: 'loss', r: 4, fill: '#1f77b4' }),
  ];
  if (rate && ns.length >= 2) {
    const lo = ns[0];
    const hi = ns[ns.length - 1];
    const line = [lo, hi].map((n) => ({ n, loss: Math.exp(rate.intercept + rate.slope * Math.log(n)), what: `fit: slope ${rate.slope.toFixed(3)}` }));
    // theory: same value as the fit at the geometric middle of the n range
    const mid = Math.sqrt(lo * hi);
    const at = Math.exp(rate.intercept + rate.slope * Math.log(mid));
    const th = [lo, hi].map((n) => ({ n, loss: at * Math.pow(n / mid, theory), what: `theory: slope ${theory}` }));
    marks.push(Plot.line(line, { x: 'n', y: 'loss', stroke: 'what' }));
    marks.push(Plot.line(th, { x: 'n', y: 'loss', stroke: 'what', strokeDasharray: '6,4' }));
  }
  const el = Plot.plot({
    width: WIDTH, height: HEIGHT, marginLeft: 60,
    x: { type: 'log', label: 'n' }, y: { type: 'log', label: `${loss} loss` },
    color: { legend: true, range: ['#1f77b4', '#d62728'] },
    marks,
  });
  return labelled(el, `Mini rate study: ${loss} against n on log-log axes${rate ? `, fitted slope ${rate.slope.toFixed(3)}, theory ${theory}` : ''}`);
}
