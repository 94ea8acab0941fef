/**
 * The playground's figures, drawn with Observable Plot (SVG; no canvas, no network). Each returns
 * an element to put in the page; callers replace the previous one.
 */
import * as Plot from '@observablehq/plot';
import type { AtomPoint, ExpertCurves, StudyPoint } from './core.js';
import type { RateFit } from '../../src/core.js';

const WIDTH = 520;
const HEIGHT = 300;

/** Colour of expert i (fitted and true atoms share colours only by index). */
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22', '#393b79', '#637939'];

interface CurveRow { x: number; m: number; lo: number; hi: number; expert: string }

function rows(c: ExpertCurves, name: (i: number) => string): CurveRow[] {
  const out: CurveRow[] = [];
  c.mean.forEach((mi, i) => mi.forEach((m, g) => out.push({ x: c.x[g], m, lo: m - 2 * c.sd[i], hi: m + 2 * c.sd[i], expert: name(i) })));
  return out;
}

function labelled(el: Element, text: string): Element {
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', text);
  return el;
}

/** Fitted atom i → the true atom whose Voronoi cell holds it (null until measured). */
export type CellOf = number[] | null;

export function cellOf(cells: number[][], k: number): number[] {
  const out = new Array<number>(k).fill(-1);
  cells.forEach((c, j) => c.forEach((i) => { out[i] = j; }));
  return out;
}

/** Legend: true atom j in PALETTE[j]; a fitted atom in its cell's colour (before measuring: its own). */
function fittedName(i: number, cell: CellOf): string {
  return cell && cell[i] >= 0 ? `fitted ${i + 1} → cell ${cell[i] + 1}` : `fitted ${i + 1}`;
}

function domain(nTrue: number, nFit: number, cell: CellOf, mixture = false): { names: string[]; colors: string[] } {
  const names: string[] = [];
  const colors: string[] = [];
  for (let i = 0; i < nTrue; i++) { names.push(`true ${i + 1}`); colors.push(PALETTE[i % PALETTE.length]); }
  for (let i = 0; i < nFit; i++) {
    names.push(fittedName(i, cell));
    colors.push(PALETTE[(cell && cell[i] >= 0 ? cell[i] : i + 6) % PALETTE.length]);
  }
  if (mixture) {
    names.push('mixture E[y | x]');
    colors.push('#000');
  }
  return { names, colors };
}

/**
 * The data with every expert's mean and ± 2 sd band (fitted: solid, true: dashed). For multinomial
 * experts the curve is P(y = first class | x, expert) and the points are the labels (jittered).
 */
export function dataPlot(x: number[], y: number[], truth: ExpertCurves | null, fit: ExpertCurves | null, classes: boolean, cell: CellOf): Element {
  const pts = x.map((xv, t) => ({ x: xv, y: classes ? (y[t] === 0 ? 1 : 0) + ((t * 0.6180339887) % 1 - 0.5) * 0.06 : y[t] }));
  const tr = truth ? rows(truth, (i) => `true ${i + 1}`) : [];
  const fr = fit ? rows(fit, (i) => fittedName(i, cell)) : [];
  const mix = [
    ...(truth ? truth.x.map((xv, g) => ({ x: xv, m: truth.mixture[g], kind: 'true' })) : []),
    ...(fit ? fit.x.map((xv, g) => ({ x: xv, m: fit.mixture[g], kind: 'fitted' })) : []),
  ];
  const { names, colors } = domain(truth?.mean.length ?? 0, fit?.mean.length ?? 0, cell, true);
  const marks: Plot.Markish[] = [Plot.dot(pts, { x: 'x', y: 'y', r: 1.2, fill: '#888', fillOpacity: 0.35 })];
  if (!classes) {
    marks.push(Plot.areaY(fr, { x: 'x', y1: 'lo', y2: 'hi', z: 'expert', fill: 'expert', fillOpacity: 0.12 }));
    marks.push(Plot.line(tr, { x: 'x', y: 'lo', z: 'expert', stroke: 'expert', strokeDasharray: '2,3', strokeWidth: 1 }));
    marks.push(Plot.line(tr, { x: 'x', y: 'hi', z: 'expert', stroke: 'expert', strokeDasharray: '2,3', strokeWidth: 1 }));
  }
  marks.push(Plot.line(tr, { x: 'x', y: 'm', z: 'expert', stroke: 'expert', strokeDasharray: '6,4', strokeWidth: 2 }));
  marks.push(Plot.line(fr, { x: 'x', y: 'm', z: 'expert', stroke: 'expert', strokeWidth: 2 }));
  marks.push(Plot.line(mix.filter((r) => r.kind === 'true'), { x: 'x', y: 'm', stroke: '#000', strokeDasharray: '6,4', strokeWidth: 1.2 }));
  marks.push(Plot.line(mix.filter((r) => r.kind === 'fitted'), { x: 'x', y: 'm', stroke: '#000', strokeWidth: 1.2 }));
  const el = Plot.plot({
    width: WIDTH, height: HEIGHT, marginLeft: 50,
    x: { label: 'x' }, y: { label: classes ? 'P(y = first class | x, expert); dots: y (1 = first class)' : 'y' },
    color: { domain: names, range: colors, legend: true },
    marks,
  });
  return labelled(el, `Data (${x.length} points shown) with ${truth ? truth.mean.length : 0} true expert means (dashed) and ${fit ? fit.mean.length : 0} fitted expert means (solid)${classes ? '' : ' with ± 2 sd bands'}`);
}

/** Gate probabilities π_i(x): true (dashed) and fitted (solid). */
export function gatePlot(truth: ExpertCurves | null, fit: ExpertCurves | null, cell: CellOf): Element {
  const gr = (c: ExpertCurves | null, name: (i: number) => string) =>
    c ? c.gate.flatMap((gi, i) => gi.map((p, g) => ({ x: c.x[g], p, expert: name(i) }))) : [];
  const { names, colors } = domain(truth?.mean.length ?? 0, fit?.mean.length ?? 0, cell);
  const el = Plot.plot({
    width: WIDTH, height: 240, marginLeft: 50,
    x: { label: 'x' }, y: { label: 'gate probability πᵢ(x)', domain: [0, 1] },
    color: { domain: names, range: colors, legend: true },
    marks: [
      Plot.line(gr(truth, (i) => `true ${i + 1}`), { x: 'x', y: 'p', z: 'expert', stroke: 'expert', strokeDasharray: '6,4', strokeWidth: 2 }),
      Plot.line(gr(fit, (i) => fittedName(i, cell)), { x: 'x', y: 'p', z: 'expert', stroke: 'expert', strokeWidth: 2 }),
      Plot.ruleY([0, 1], { stroke: '#ccc' }),
    ],
  });
  return labelled(el, 'Gate probabilities over x, true (dashed) and fitted (solid)');
}

/**
 * The Voronoi cells in the experts' (slope, intercept) plane: true atoms as rings, fitted atoms as
 * dots in their cell's colour, each joined to the true atom of its cell.
 */
export function cellsPlot(truth: AtomPoint[], fit: AtomPoint[], cells: number[][], slopeLabel: string): Element {
  const cell = cellOf(cells, fit.length);
  const { names, colors } = domain(truth.length, fit.length, cell);
  const links = fit.map((f, i) => ({ x1: f.slope, y1: f.intercept, x2: truth[cell[i]]?.slope ?? f.slope, y2: truth[cell[i]]?.intercept ?? f.intercept, expert: fittedName(i, cell) }));
  const el = Plot.plot({
    width: WIDTH, height: 260, marginLeft: 50, inset: 20,
    x: { label: slopeLabel }, y: { label: 'intercept' },
    color: { domain: names, range: colors, legend: true },
    marks: [
      Plot.link(links, { x1: 'x1', y1: 'y1', x2: 'x2', y2: 'y2', stroke: 'expert', strokeOpacity: 0.6 }),
      Plot.dot(truth.map((t, j) => ({ ...t, expert: `true ${j + 1}` })), { x: 'slope', y: 'intercept', stroke: 'expert', r: 9, strokeWidth: 2.5 }),
      Plot.dot(fit.map((f, i) => ({ ...f, expert: fittedName(i, cell) })), { x: 'slope', y: 'intercept', fill: 'expert', r: 4 }),
      Plot.text(truth.map((t, j) => ({ ...t, label: `true ${j + 1}` })), { x: 'slope', y: 'intercept', text: 'label', dy: -16, fontSize: 11 }),
    ],
  });
  return labelled(el, `Voronoi cells: ${cells.map((c, j) => `true atom ${j + 1} holds ${c.length ? c.map((i) => `fitted ${i + 1}`).join(' and ') : 'no fitted atom'}`).join('; ')}`);
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
    x: { type: 'log', label: 'n', ticks: [...new Set(points.map((p) => p.n))], tickFormat: (d: number) => String(d) },
    y: { type: 'log', label: `${loss} loss`, tickFormat: '.2~g' },
    color: { legend: true, range: ['#1f77b4', '#d62728'] },
    marks,
  });
  return labelled(el, `Mini rate study: ${loss} against n on log-log axes${rate ? `, fitted slope ${rate.slope.toFixed(3)}, theory ${theory}` : ''}`);
}
