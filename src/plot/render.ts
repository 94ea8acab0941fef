/**
 * Rendering of vega-lite figures: SVG with vega's `none` renderer (no canvas), PNG with resvg,
 * and a self-contained HTML page with the SVG inline. vega is loaded on first use (≈ 0.3 s).
 */
import { writeFileSync } from 'node:fs';
import type { TopLevelSpec } from 'vega-lite';
import { OptionError } from '../errors.js';

/** Render a vega-lite spec to SVG. */
export async function renderSVG(spec: TopLevelSpec): Promise<string> {
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const vg = compile(spec).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterise an SVG with resvg (system fonts, DejaVu Sans by default). */
export async function svgToPNG(svg: string, zoom = 2): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: zoom }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' }).render().asPng();
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A self-contained HTML page around an SVG figure, with a title and lines of description. */
export function htmlPage(title: string, svg: string, notes: readonly string[] = []): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.4em}.meta{color:#555;font-size:.9em}.fig svg{max-width:100%;height:auto}</style></head><body>
<h1>${escapeHtml(title)}</h1>
${notes.map((n) => `<p class="meta">${escapeHtml(n)}</p>`).join('\n')}
<div class="fig">${svg.replace(/^<\?xml[^>]*>\s*/, '')}</div>
</body></html>
`;
}

export type FigureFormat = 'svg' | 'png' | 'html';

/** The format named by a file's extension (.svg, .png, .html/.htm). */
export function figureFormat(path: string, option = '--out'): FigureFormat {
  const m = /\.(svg|png|html?)$/i.exec(path);
  if (!m) throw new OptionError(`${option}: the file name must end in .svg, .png or .html, got ${JSON.stringify(path)}`);
  const ext = m[1].toLowerCase();
  return ext === 'htm' || ext === 'html' ? 'html' : (ext as FigureFormat);
}

/** Render a spec and write it in the format of the file's extension. */
export async function writeFigure(path: string, spec: TopLevelSpec, title: string, notes: readonly string[] = []): Promise<void> {
  const format = figureFormat(path);
  const svg = await renderSVG(spec);
  if (format === 'svg') writeFileSync(path, svg);
  else if (format === 'png') writeFileSync(path, await svgToPNG(svg));
  else writeFileSync(path, htmlPage(title, svg, notes));
}

/** Common vega-lite config of moelab figures. */
export const FIGURE_CONFIG = {
  font: 'DejaVu Sans',
  axis: { labelFontSize: 10, titleFontSize: 11, gridColor: '#e6e6e6', gridOpacity: 0.7 },
  legend: { labelFontSize: 10, titleFontSize: 10 },
  title: { anchor: 'start', fontSize: 13, subtitleFontSize: 10 },
} as const;

/** Category colours (tableau10), one per expert. */
export const EXPERT_COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#ff9da6', '#9d755d', '#bab0ac'];
