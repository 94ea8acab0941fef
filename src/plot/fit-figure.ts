/**
 * Figure of one fitted model over its data (`moelab plot`), in vega-lite:
 * - d = 1: the data coloured by their MAP expert (posterior argmax) with each expert's mean line
 *   aᵢx + bᵢ and its ± 2 sd band (Gaussian experts), the truth's expert means dashed; below, the
 *   gate probabilities πᵢ(x) of the fit (solid) and of the truth (dashed, when given);
 * - d > 1: observed y against the predicted mean E[y | x], coloured by MAP expert, and πᵢ(x_t)
 *   against a chosen input;
 * - multinomial experts: the class probabilities P(y = c | x) (d = 1: curves over x with the
 *   observed labels as a strip; d > 1: against the chosen input);
 * - the log-likelihood trace when the model file carries one (fit --json): ℓ_final − ℓ_t on a log
 *   axis, so the last digits of the convergence are visible.
 * Scatter layers use at most MAX_POINTS rows, evenly strided (deterministic).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { MultinomialLogisticExperts } from '../experts/multinomial-logistic.js';
import { predictClassProbabilities } from '../model/class-probabilities.js';
import { EXPERT_COLORS, FIGURE_CONFIG } from './render.js';

const MAX_POINTS = 2500;
const GRID = 200;

export interface FitFigureOptions {
  truth?: MixtureOfExperts;
  /** Log-likelihood after each accepted EM cycle (fit --json `trace`). */
  trace?: readonly number[];
  /** Index of the input to plot πᵢ against when d > 1. Default 0. */
  input?: number;
  /** Title line (e.g. the file names). */
  title?: string;
}

function rowsToPlot(n: number): number[] {
  const m = Math.min(n, MAX_POINTS);
  return Array.from({ length: m }, (_, r) => Math.floor((r * n) / m));
}

function colorScale(k: number, title = 'expert'): Record<string, unknown> {
  const domain = Array.from({ length: k }, (_, i) => `${title} ${i + 1}`);
  return { domain, range: domain.map((_, i) => EXPERT_COLORS[i % EXPERT_COLORS.length]) };
}

function inputName(data: Dataset, u: number): string {
  return data.xNames?.[u] ?? (data.d === 1 ? 'x' : `x${u + 1}`);
}

function range(data: Dataset, u: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let t = 0; t < data.n; t++) {
    const v = data.X[t * data.d + u];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

function mapExperts(model: MixtureOfExperts, data: Dataset): Int32Array {
  const R = model.posterior(data.X, data.y, data.n);
  const z = new Int32Array(data.n);
  const k = model.k;
  for (let t = 0; t < data.n; t++) {
    let b = 0;
    for (let i = 1; i < k; i++) if (R[t * k + i] > R[t * k + b]) b = i;
    z[t] = b;
  }
  return z;
}

/** Gate probabilities on a grid of the (single) input. */
function gateCurves(model: MixtureOfExperts, lo: number, hi: number, source: string): Record<string, unknown>[] {
  const X = Float64Array.from({ length: GRID + 1 }, (_, g) => lo + ((hi - lo) * g) / GRID);
  const P = model.gateProbabilities(X, X.length);
  const out: Record<string, unknown>[] = [];
  for (let g = 0; g < X.length; g++) for (let i = 0; i < model.k; i++) out.push({ x: X[g], p: P[g * model.k + i], expert: `expert ${i + 1}`, source });
  return out;
}

function gaussianBands(model: MixtureOfExperts, lo: number, hi: number): Record<string, unknown>[] | undefined {
  const j = model.toJSON().experts;
  if (j.type !== 'gaussianLinear') return undefined;
  const a = j.a as number[][];
  const b = j.b as number[];
  const v = j.variance as number[];
  const out: Record<string, unknown>[] = [];
  for (let g = 0; g <= GRID; g++) {
    const x = lo + ((hi - lo) * g) / GRID;
    for (let i = 0; i < model.k; i++) {
      const m = a[i][0] * x + b[i];
      const s = Math.sqrt(v[i]);
      out.push({ x, mean: m, lo: m - 2 * s, hi: m + 2 * s, expert: `expert ${i + 1}` });
    }
  }
  return out;
}

function expertMeans(model: MixtureOfExperts, lo: number, hi: number, label: string): Record<string, unknown>[] {
  const X = Float64Array.from({ length: GRID + 1 }, (_, g) => lo + ((hi - lo) * g) / GRID);
  const M = new Float64Array(X.length * model.k);
  model.expert.mean(model.expertTheta, X, X.length, M);
  const out: Record<string, unknown>[] = [];
  for (let g = 0; g < X.length; g++) for (let i = 0; i < model.k; i++) out.push({ x: X[g], mean: M[g * model.k + i], expert: `${label} ${i + 1}` });
  return out;
}

function tracePanel(trace: readonly number[]): Record<string, unknown> | undefined {
  if (trace.length < 2) return undefined;
  const last = trace[trace.length - 1];
  const values = trace.slice(0, -1).map((v, t) => ({ iteration: t + 1, gap: Math.max(last - v, 1e-12) }));
  return {
    title: { text: 'Log-likelihood trace', subtitle: [`final ℓ = ${last.toFixed(4)} after ${trace.length} accepted cycles`, 'ℓ_final − ℓ_t, log axis (floored at 1e−12)'] },
    width: 560,
    height: 150,
    data: { values },
    mark: { type: 'line', point: { size: 12 }, color: '#4c78a8' },
    encoding: {
      x: { field: 'iteration', type: 'quantitative', title: 'accepted EM cycle', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'gap', type: 'quantitative', title: 'ℓ_final − ℓ_t', scale: { type: 'log' }, axis: { format: '.0e' } },
    },
  };
}

function classPanel(model: MixtureOfExperts, data: Dataset, u: number, truth?: MixtureOfExperts): Record<string, unknown> {
  const e = model.expert as MultinomialLogisticExperts;
  const labels = (model.toJSON().experts.labels as unknown[] | undefined)?.map(String) ?? Array.from({ length: e.classes }, (_, c) => String(c));
  const cls = { domain: labels, range: labels.map((_, c) => EXPERT_COLORS[(c + 3) % EXPERT_COLORS.length]) };
  const name = inputName(data, u);
  if (data.d === 1) {
    const [lo, hi] = range(data, 0);
    const X = Float64Array.from({ length: GRID + 1 }, (_, g) => lo + ((hi - lo) * g) / GRID);
    const P = predictClassProbabilities(model, X, X.length);
    const curves: Record<string, unknown>[] = [];
    for (let g = 0; g < X.length; g++) for (let c = 0; c < e.classes; c++) curves.push({ x: X[g], p: P[g * e.classes + c], cls: labels[c] });
    const strip = rowsToPlot(data.n).map((t) => ({ x: data.X[t], cls: labels[data.y[t]], p: 1.04 + 0.05 * (data.y[t] / Math.max(1, e.classes - 1)) }));
    const x = { field: 'x', type: 'quantitative', title: name, scale: { domain: [lo, hi], nice: false } };
    const truthLayer: Record<string, unknown>[] = [];
    if (truth && truth.expert instanceof MultinomialLogisticExperts && truth.expert.classes === e.classes && truth.d === 1) {
      const Q = predictClassProbabilities(truth, X, X.length);
      const tc: Record<string, unknown>[] = [];
      for (let g = 0; g < X.length; g++) for (let c = 0; c < e.classes; c++) tc.push({ x: X[g], p: Q[g * e.classes + c], cls: labels[c] });
      truthLayer.push({ data: { values: tc }, mark: { type: 'line', strokeWidth: 1.3, strokeDash: [5, 4], color: '#333' }, encoding: { x, y: { field: 'p', type: 'quantitative' }, detail: { field: 'cls' } } });
    }
    return {
      title: { text: 'Class probabilities P(y = c | x)', subtitle: `curves: the fit${truthLayer.length ? '; dashed: the truth' : ''}; ticks above: the observed labels` },
      width: 560,
      height: 220,
      layer: [
        { data: { values: curves }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'p', type: 'quantitative', title: 'probability', scale: { domain: [0, 1.1] } }, color: { field: 'cls', type: 'nominal', title: 'class', scale: cls } } },
        { data: { values: strip }, mark: { type: 'tick', thickness: 1, size: 6, opacity: 0.5 }, encoding: { x, y: { field: 'p', type: 'quantitative' }, color: { field: 'cls', type: 'nominal', scale: cls } } },
        ...truthLayer,
      ],
    };
  }
  const rows = rowsToPlot(data.n);
  const Xs = new Float64Array(rows.length * data.d);
  rows.forEach((t, r) => { for (let v = 0; v < data.d; v++) Xs[r * data.d + v] = data.X[t * data.d + v]; });
  const P = predictClassProbabilities(model, Xs, rows.length);
  const values: Record<string, unknown>[] = [];
  rows.forEach((t, r) => { for (let c = 0; c < e.classes; c++) values.push({ x: data.X[t * data.d + u], p: P[r * e.classes + c], cls: labels[c] }); });
  return {
    title: { text: `Class probabilities P(y = c | x) against ${name}`, subtitle: 'one point per row and class (the other inputs as observed)' },
    width: 560,
    height: 220,
    data: { values },
    mark: { type: 'point', filled: true, size: 8, opacity: 0.4 },
    encoding: { x: { field: 'x', type: 'quantitative', title: name }, y: { field: 'p', type: 'quantitative', title: 'probability', scale: { domain: [0, 1] } }, color: { field: 'cls', type: 'nominal', title: 'class', scale: cls } },
  };
}

/** The figure of a fitted model over its data. */
export function fitFigureSpec(model: MixtureOfExperts, data: Dataset, options: FitFigureOptions = {}): TopLevelSpec {
  const k = model.k;
  const u = options.input ?? 0;
  const panels: Record<string, unknown>[] = [];
  const multinomial = model.expert instanceof MultinomialLogisticExperts;
  const z = mapExperts(model, data);
  const expertColor = colorScale(k);
  const rows = rowsToPlot(data.n);
  const sub = rows.length < data.n ? ` (${rows.length} of ${data.n} rows shown)` : '';
  if (data.d === 1) {
    const [lo, hi] = range(data, 0);
    const x = { field: 'x', type: 'quantitative', title: inputName(data, 0), scale: { domain: [lo, hi], nice: false } };
    if (!multinomial) {
      const pts = rows.map((t) => ({ x: data.X[t], y: data.y[t], expert: `expert ${z[t] + 1}` }));
      const layers: Record<string, unknown>[] = [];
      const bands = gaussianBands(model, lo, hi);
      const y = { field: 'y', type: 'quantitative', title: data.yName ?? 'y', scale: { zero: false } };
      if (bands) layers.push({ data: { values: bands }, mark: { type: 'area', opacity: 0.13 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: data.yName ?? 'y' }, y2: { field: 'hi' }, color: { field: 'expert', type: 'nominal', title: 'expert', scale: expertColor } } });
      layers.push({ data: { values: pts }, mark: { type: 'point', filled: true, size: 9, opacity: 0.45 }, encoding: { x, y, color: { field: 'expert', type: 'nominal', title: 'expert', scale: expertColor } } });
      layers.push({ data: { values: expertMeans(model, lo, hi, 'expert') }, mark: { type: 'line', strokeWidth: 2.2 }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color: { field: 'expert', type: 'nominal', scale: expertColor }, detail: { field: 'expert' } } });
      if (options.truth && options.truth.d === 1) {
        layers.push({ data: { values: expertMeans(options.truth, lo, hi, 'truth') }, mark: { type: 'line', strokeWidth: 1.4, strokeDash: [5, 4], color: '#333' }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, detail: { field: 'expert' } } });
      }
      panels.push({
        title: { text: 'Data by MAP expert, expert means ± 2 sd', subtitle: [`k = ${k}, ${model.gate.type}/${model.expert.type}${sub}`, bands ? `lines: aᵢx + bᵢ; bands: ± 2√νᵢ${options.truth ? '; dashed: the truth’s expert means' : ''}` : 'lines: each expert’s mean'] },
        width: 560,
        height: 300,
        layer: layers,
      });
    } else {
      panels.push(classPanel(model, data, 0, options.truth));
    }
    const gate = gateCurves(model, lo, hi, 'fit');
    const gateLayers: Record<string, unknown>[] = [
      { data: { values: gate }, mark: { type: 'line', strokeWidth: 2.2 }, encoding: { x, y: { field: 'p', type: 'quantitative', title: 'πᵢ(x)', scale: { domain: [0, 1] } }, color: { field: 'expert', type: 'nominal', title: 'expert', scale: expertColor } } },
    ];
    if (options.truth && options.truth.d === 1) {
      gateLayers.push({ data: { values: gateCurves(options.truth, lo, hi, 'truth') }, mark: { type: 'line', strokeWidth: 1.4, strokeDash: [5, 4], color: '#333' }, encoding: { x, y: { field: 'p', type: 'quantitative' }, detail: { field: 'expert' } } });
    }
    panels.push({
      title: { text: 'Gate probabilities πᵢ(x)', subtitle: options.truth ? `solid: the fit (k = ${k}); dashed: the truth (k = ${options.truth.k})` : `the fit (k = ${k})` },
      width: 560,
      height: 170,
      layer: gateLayers,
    });
  } else {
    const name = inputName(data, u);
    if (!multinomial) {
      const pred = model.predictMean(data.X, data.n);
      let lo = Infinity;
      let hi = -Infinity;
      const pts = rows.map((t) => {
        lo = Math.min(lo, pred[t], data.y[t]);
        hi = Math.max(hi, pred[t], data.y[t]);
        return { pred: pred[t], y: data.y[t], expert: `expert ${z[t] + 1}` };
      });
      panels.push({
        title: { text: 'Observed against predicted', subtitle: [`E[y | x] = Σᵢ πᵢ(x)·(aᵢᵀx + bᵢ); colour: MAP expert${sub}`, 'a multimodal p(y | x) spreads the points off the diagonal'] },
        width: 380,
        height: 320,
        layer: [
          { data: { values: [{ a: lo, b: lo }, { a: hi, b: hi }] }, mark: { type: 'line', color: '#888', strokeDash: [4, 3] }, encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } } },
          { data: { values: pts }, mark: { type: 'point', filled: true, size: 9, opacity: 0.45 }, encoding: { x: { field: 'pred', type: 'quantitative', title: 'predicted mean E[y | x]', scale: { zero: false } }, y: { field: 'y', type: 'quantitative', title: `observed ${data.yName ?? 'y'}`, scale: { zero: false } }, color: { field: 'expert', type: 'nominal', title: 'expert', scale: expertColor } } },
        ],
      });
    } else {
      panels.push(classPanel(model, data, u));
    }
    const Xs = new Float64Array(rows.length * data.d);
    rows.forEach((t, r) => { for (let v = 0; v < data.d; v++) Xs[r * data.d + v] = data.X[t * data.d + v]; });
    const P = model.gateProbabilities(Xs, rows.length);
    const gp: Record<string, unknown>[] = [];
    rows.forEach((t, r) => { for (let i = 0; i < k; i++) gp.push({ x: data.X[t * data.d + u], p: P[r * k + i], expert: `expert ${i + 1}` }); });
    panels.push({
      title: { text: `Gate probabilities πᵢ(x) against ${name}`, subtitle: `one point per row and expert (the other inputs as observed)${sub}` },
      width: 380,
      height: 320,
      data: { values: gp },
      mark: { type: 'point', filled: true, size: 8, opacity: 0.35 },
      encoding: { x: { field: 'x', type: 'quantitative', title: name }, y: { field: 'p', type: 'quantitative', title: 'πᵢ(x)', scale: { domain: [0, 1] } }, color: { field: 'expert', type: 'nominal', title: 'expert', scale: expertColor } },
    });
  }
  const tp = options.trace ? tracePanel(options.trace) : undefined;
  const top = data.d === 1 ? { vconcat: [...panels, ...(tp ? [tp] : [])] } : { vconcat: [{ hconcat: panels }, ...(tp ? [tp] : [])] };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 10,
    config: FIGURE_CONFIG,
    ...(options.title ? { title: { text: options.title, fontSize: 12, anchor: 'start' } } : {}),
    ...top,
    resolve: { scale: { color: 'independent' } },
  } as unknown as TopLevelSpec;
}
