/** The figures of a reproduction: one per preset setting, and the side-by-side comparisons (issue 15 item 5). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { ResolvedStudy } from './config.js';
import { figureSpec, renderSVG, svgToPNG, panelSpec, type CurveDetail } from './report.js';

/** Side-by-side comparisons (issue 15 item 5): [title, [preset, setting, loss][]]. */
export const COMPARISONS: { name: string; title: string; panels: [string, string, string][] }[] = [
  { name: 'compare-lse-linear-gelu', title: 'P3: linear experts (slower than any polynomial) against GELU experts (polynomial), over-specified', panels: [['lse-linear', 'over', 'D2strong'], ['lse-gelu', 'over', 'D2strong'], ['lse-linear', 'over', 'param:a'], ['lse-gelu', 'over', 'param:a']] },
  { name: 'compare-multinomial-vanishing', title: 'P2: vanishing slope under the softmax gate (slower than any polynomial) against the modified gate (polynomial), over-specified', panels: [['multinomial-softmax-vanishing', 'over', 'D2'], ['multinomial-modified-vanishing', 'over', 'D2strong'], ['multinomial-softmax-vanishing', 'over', 'param:b'], ['multinomial-modified-vanishing', 'over', 'param:b']] },
  { name: 'compare-temperature-activation', title: 'P4: temperature gate (σ = identity) against the activation gate (σ = tanh), same parameters', panels: [['temperature', 'exact', 'D1'], ['activation', 'exact', 'D1'], ['temperature', 'over', 'D2'], ['activation', 'over', 'D2']] },
  { name: 'compare-local-multinomial', title: 'P2 minimax: worst case over local alternatives b₂ = ε_n → 0 (softmax gate against the modified gate), beside the fixed vanishing truth', panels: [['multinomial-local', 'over-local', 'cell:b'], ['multinomial-modified-local', 'over-local', 'cell:b'], ['multinomial-softmax-vanishing', 'over', 'cell:b'], ['multinomial-modified-vanishing', 'over', 'cell:b']] },
  { name: 'compare-local-lse', title: 'P3 minimax: worst case over split-intercept local alternatives (linear against GELU experts), beside the fixed-truth over-specified fits', panels: [['lse-linear-local', 'split-local', 'cell:b'], ['lse-gelu-local', 'split-local', 'cell:b'], ['lse-linear', 'over', 'cell:a'], ['lse-gelu', 'over', 'cell:a']] },
  { name: 'compare-topk-kbar', title: 'P1: K̄ = 2 below the bound (no convergence) against K̄ = 3 at the bound', panels: [['topk-over-small', 'over-kbar2', 'hellinger'], ['topk-over-small', 'over-kbar3', 'hellinger']] },
  { name: 'compare-softmax-over-bound', title: 'P0 over-specified: compact Θ (gateBound 50) against an unbounded Θ', panels: [['softmax-over', 'over3', 'D2'], ['softmax-over', 'over3-free', 'D2'], ['softmax-over', 'over3', 'param:beta1'], ['softmax-over', 'over3-free', 'param:beta1']] },
];

export interface ReproductionFigures {
  /** Every file written (SVG, and PNG unless png is false). */
  figures: string[];
  /** `${preset}\u0000${setting}` → the figure the report links (PNG, or SVG without png). */
  figOf: Map<string, string>;
  compFigs: { title: string; path: string }[];
}

/** Write the figures of the curves into out/figures. */
export async function writeFigures(out: string, curves: Map<string, { store: ResolvedStudy; curves: CurveDetail[] }>, png = true): Promise<ReproductionFigures> {
  mkdirSync(join(out, 'figures'), { recursive: true });
  const figures: string[] = [];
  const writeFig = async (name: string, spec: TopLevelSpec): Promise<string> => {
    const svg = await renderSVG(spec);
    const svgPath = join(out, 'figures', `${name}.svg`);
    writeFileSync(svgPath, svg);
    figures.push(svgPath);
    if (png) {
      const pngPath = join(out, 'figures', `${name}.png`);
      writeFileSync(pngPath, await svgToPNG(svg));
      figures.push(pngPath);
      return pngPath;
    }
    return svgPath;
  };
  const figOf = new Map<string, string>();
  for (const [p, { store, curves: cs }] of curves) {
    for (const s of store.settings) {
      const sc = cs.filter((c) => c.setting === s.name);
      if (!sc.length) continue;
      figOf.set(`${p}\u0000${s.name}`, await writeFig(`${p}-${s.name}`, figureSpec(sc, store)));
    }
  }
  const compFigs: { title: string; path: string }[] = [];
  for (const cmp of COMPARISONS) {
    const panels: Record<string, unknown>[] = [];
    for (const [p, s, l] of cmp.panels) {
      const e = curves.get(p);
      const c = e?.curves.find((x) => x.setting === s && x.loss === l);
      if (e && c) {
        const spec = panelSpec(c, e.store) as { title: { text: string } };
        spec.title.text = `${p} · ${s} · ${l}`;
        panels.push(spec);
      }
    }
    if (panels.length < 2) continue;
    const spec = { ...figureSpec([], { name: cmp.name } as ResolvedStudy, 2), columns: 2, concat: panels, title: { text: cmp.title, fontSize: 14 } } as unknown as TopLevelSpec;
    compFigs.push({ title: cmp.title, path: await writeFig(cmp.name, spec) });
  }
  return { figures, figOf, compFigs };
}
