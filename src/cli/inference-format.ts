/** Text tables for model criteria, standard errors and bootstrap intervals (fit --se / --bootstrap). */
import type { BootstrapReport } from '../index.js';
import type { Criteria, StandardErrorReport, ParameterLabel } from '../core.js';

function num(v: number | null, digits = 4): string {
  if (v === null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(digits - 1) : v.toPrecision(digits + 1);
}

export function table(header: string[], rows: string[][], leftCols = 1): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]): string => r.map((c, j) => (j < leftCols ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function criteriaLine(c: Criteria): string {
  return `n ${c.n}   parameters ${c.parameters}   AIC ${c.aic.toFixed(3)}   BIC ${c.bic.toFixed(3)}   ICL ${c.icl.toFixed(3)}`;
}

function labelCells(l: ParameterLabel): string[] {
  return [`${l.part === 'gate' ? 'gate' : 'expert'} ${l.symbol}`, l.expert === null ? '' : String(l.expert), l.component];
}

export function standardErrorTable(r: StandardErrorReport): string {
  const rows = r.parameters.map((p) => [...labelCells(p), num(p.estimate), num(p.se), p.z === null ? '—' : p.z.toFixed(2)]);
  const head = `standard errors: ${r.methodName}; status ${r.status}${r.conditionNumber !== null ? `, condition number ${r.conditionNumber.toExponential(1)}` : ''} (the reference expert's gate parameters are fixed at 0 and not listed)`;
  return [head, table(['block', 'expert', 'component', 'estimate', 'SE', 'z'], rows, 3)].join('\n');
}

export function bootstrapTable(r: BootstrapReport): string {
  const pct = `${(r.level * 100).toFixed(0)}%`;
  const rows = r.parameters.map((p) => [...labelCells(p), num(p.estimate), num(p.se), num(p.lower), num(p.upper)]);
  const head = `${r.type} bootstrap: ${r.succeeded} of ${r.replicates} replicates refitted (${r.converged} converged), seed ${r.seed}; ${pct} percentile intervals`;
  return [head, table(['block', 'expert', 'component', 'estimate', 'bootstrap SE', `${pct} lower`, `${pct} upper`], rows, 3)].join('\n');
}
