/** Human-readable summaries for the CLI. */
import type { ModelJSON } from '../core.js';

function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  if (Array.isArray(v)) return `[${v.map(fmt).join(', ')}]`;
  return String(v);
}

/** A table with one row per expert and one column per per-expert block. */
export function modelTable(model: ModelJSON): string {
  const cols: { name: string; values: unknown[] }[] = [];
  const shared: string[] = [];
  // a hierarchical gate's blocks are indexed by level, not by expert: k = K1·K2
  const { K1, K2 } = model.gate;
  let k = typeof K1 === 'number' && typeof K2 === 'number' ? K1 * K2 : 0;
  for (const [part, obj] of [['gate', model.gate], ['experts', model.experts]] as const) {
    for (const [key, val] of Object.entries(obj)) {
      if (key === 'type') continue;
      if (Array.isArray(val) && (k === 0 || val.length === k) && (part === 'gate' ? key.startsWith('beta') || key.startsWith('omega') : true)) {
        k = k || val.length;
        cols.push({ name: key, values: val });
      } else shared.push(`${part}.${key} = ${fmt(val)}`);
    }
  }
  const header = ['expert', ...cols.map((c) => c.name)];
  const rows = Array.from({ length: k }, (_, i) => [String(i + 1), ...cols.map((c) => fmt(c.values[i]))]);
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]): string => r.map((c, j) => c.padStart(widths[j])).join('  ');
  const out = [`gate: ${model.gate.type}   experts: ${model.experts.type}`, line(header), ...rows.map(line)];
  if (shared.length) out.push(...shared);
  return out.join('\n');
}
