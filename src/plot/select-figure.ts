/**
 * Figure of a model selection (`moelab select`): the criteria against k with the choice marked,
 * and the dendrogram of mixing measures of the over-specified fit (merge heights on a square-root
 * axis, the cut at the chosen level dashed) with the average log-likelihood of each level.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { SelectionResult } from '../select/sweep.js';
import type { Dendrogram } from '../select/dendrogram.js';
import { FIGURE_CONFIG } from './render.js';

const CRIT_COLORS = { AIC: '#4c78a8', BIC: '#e45756', ICL: '#54a24b' };

function criteriaPanel(sel: SelectionResult): Record<string, unknown> {
  const rows = sel.table.filter((r) => r.model);
  const min = { aic: Math.min(...rows.map((r) => r.aic)), bic: Math.min(...rows.map((r) => r.bic)), icl: Math.min(...rows.map((r) => r.icl)) };
  // each criterion minus its own minimum over k, on a symlog axis: the k = 1 value no longer
  // squashes the differences near the minimum
  const values = rows.flatMap((r) => [
    { k: r.k, criterion: 'AIC', value: r.aic - min.aic, raw: r.aic },
    { k: r.k, criterion: 'BIC', value: r.bic - min.bic, raw: r.bic },
    { k: r.k, criterion: 'ICL', value: r.icl - min.icl, raw: r.icl },
  ]);
  const chosenName = sel.criterion.toUpperCase();
  const chosenRow = rows.find((r) => r.k === sel.chosen)!;
  const x = { field: 'k', type: 'quantitative', title: 'number of experts k', axis: { tickMinStep: 1, format: 'd' }, scale: { domain: [rows[0].k - 0.3, rows[rows.length - 1].k + 0.3], nice: false } };
  const color = { field: 'criterion', type: 'nominal', title: null, scale: { domain: Object.keys(CRIT_COLORS), range: Object.values(CRIT_COLORS) }, legend: { orient: 'bottom', direction: 'horizontal' } };
  const top = Math.max(1, ...values.map((v) => v.value));
  const ticks = [0, 1, 3, 10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7].filter((t) => t <= top * 1.05);
  const y = { field: 'value', type: 'quantitative', title: 'criterion − its minimum over k', scale: { type: 'symlog', constant: 1 }, axis: { values: ticks, format: '~g' } };
  return {
    title: { text: `Information criteria (smaller is better)`, subtitle: [`chosen by ${chosenName}: k = ${sel.chosen} (◆)`, 'AIC, BIC = −2ℓ + penalty; ICL = BIC + 2·entropy'] },
    width: 330,
    height: 240,
    layer: [
      { data: { values: [{ k: sel.chosen }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#888' }, encoding: { x } },
      { data: { values }, mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { x, y, color, tooltip: [{ field: 'criterion' }, { field: 'k' }, { field: 'raw', format: '.2f' }] } },
      { data: { values: [{ k: sel.chosen, value: chosenRow[sel.criterion] - min[sel.criterion] }] }, mark: { type: 'point', shape: 'diamond', size: 160, filled: true, color: '#222' }, encoding: { x, y } },
    ],
  };
}

interface Seg { x: number; x2: number; y: number; y2: number }

/** Dendrogram layout: leaves in depth-first order, each merged node above the mean of its children. */
export function dendrogramLayout(d: Dendrogram): { segments: Seg[]; leaves: { x: number; atom: number; label: string }[]; nodes: Map<number, { x: number; y: number }> } {
  const children = new Map<number, [number, number]>();
  const heightOf = new Map<number, number>();
  for (const m of d.merges) {
    children.set(m.node, [m.left, m.right]);
    heightOf.set(m.node, m.height);
  }
  const root = d.merges.length ? d.merges[d.merges.length - 1].node : 0;
  const order: number[] = [];
  const visit = (id: number): void => {
    const c = children.get(id);
    if (!c) order.push(id);
    else {
      visit(c[0]);
      visit(c[1]);
    }
  };
  visit(root);
  const nodes = new Map<number, { x: number; y: number }>();
  order.forEach((id, i) => nodes.set(id, { x: i + 1, y: 0 }));
  const segments: Seg[] = [];
  for (const m of d.merges) {
    const a = nodes.get(m.left)!;
    const b = nodes.get(m.right)!;
    const p = { x: (a.x + b.x) / 2, y: m.height };
    nodes.set(m.node, p);
    segments.push({ x: a.x, x2: a.x, y: a.y, y2: p.y }, { x: b.x, x2: b.x, y: b.y, y2: p.y }, { x: a.x, x2: b.x, y: p.y, y2: p.y });
  }
  const leaves = order.map((id) => ({ x: nodes.get(id)!.x, atom: id, label: `atom ${id + 1}` }));
  return { segments, leaves, nodes };
}

function dendrogramPanel(d: Dendrogram, n: number): Record<string, unknown> {
  const { segments, leaves } = dendrogramLayout(d);
  // the cut: between the last merge kept (height of level k̂+1) and the first one refused (level k̂)
  const hAt = (k: number): number => d.levels.find((l) => l.k === k)?.height ?? 0;
  const below = d.chosen < d.K ? hAt(d.chosen + 1) : 0;
  const above = d.chosen > 1 ? hAt(d.chosen) : Math.max(...segments.map((s) => s.y2)) * 1.1;
  const cut = Math.sqrt(Math.max(below, 0) * Math.max(above, 0)) || (below + above) / 2;
  const maxH = Math.max(...segments.map((s) => s.y2), cut, 1e-12);
  const y = { field: 'y', type: 'quantitative', title: 'merge height (Ward-type, standardised)', scale: { type: 'sqrt', domain: [0, maxH * 1.08], nice: false } };
  const x = { field: 'x', type: 'quantitative', title: null, axis: null, scale: { domain: [0.4, leaves.length + 0.6], nice: false } };
  return {
    title: { text: `Dendrogram of mixing measures (K = ${d.K})`, subtitle: [`chosen k = ${d.chosen} by the DSC (ω = log n = ${d.omega.toFixed(2)}, n = ${n})`, `BIC along the path: k = ${d.chosenPathBic}${d.refit ? '; EM refit at each level' : '; no refit'}`] },
    width: 330,
    height: 240,
    layer: [
      { data: { values: segments }, mark: { type: 'rule', strokeWidth: 2, color: '#4c78a8' }, encoding: { x, x2: { field: 'x2' }, y, y2: { field: 'y2' } } },
      { data: { values: [{ y: cut }] }, mark: { type: 'rule', strokeDash: [6, 4], color: '#e45756', strokeWidth: 1.5 }, encoding: { y } },
      { data: { values: [{ y: cut, x: leaves.length + 0.55, label: `cut: k = ${d.chosen}` }] }, mark: { type: 'text', align: 'right', dy: -6, color: '#e45756', fontSize: 10 }, encoding: { x, y, text: { field: 'label' } } },
      { data: { values: leaves.map((l) => ({ ...l, y: 0 })) }, mark: { type: 'text', dy: 10, fontSize: 10, baseline: 'top' }, encoding: { x, y, text: { field: 'label' } } },
    ],
  };
}

function levelsPanel(d: Dendrogram): Record<string, unknown> {
  const values = d.levels.map((l) => ({ k: l.k, ll: l.averageLogLikelihood }));
  const x = { field: 'k', type: 'quantitative', title: 'level (number of atoms)', axis: { tickMinStep: 1, format: 'd' }, scale: { domain: [0.7, d.K + 0.3], nice: false } };
  return {
    title: { text: 'Log-likelihood of each level', subtitle: ['ℓ/n of the merged (and refitted) model', `dashed: the chosen k = ${d.chosen}`] },
    width: 260,
    height: 240,
    layer: [
      { data: { values: [{ k: d.chosen }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#888' }, encoding: { x } },
      { data: { values }, mark: { type: 'line', point: true, strokeWidth: 2, color: '#4c78a8' }, encoding: { x, y: { field: 'll', type: 'quantitative', title: 'ℓ / n', scale: { zero: false } } } },
    ],
  };
}

/** The selection figure: criteria panel, and the dendrogram panels when a dendrogram was built. */
export function selectionFigureSpec(sel: SelectionResult | undefined, d: Dendrogram | undefined, n: number): TopLevelSpec {
  const panels: Record<string, unknown>[] = [];
  if (sel) panels.push(criteriaPanel(sel));
  if (d && d.merges.length) panels.push(dendrogramPanel(d, n), levelsPanel(d));
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', padding: 10, config: FIGURE_CONFIG, hconcat: panels, spacing: 30 } as unknown as TopLevelSpec;
}
