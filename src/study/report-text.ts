/** Number, interval and theory formatting shared by the reproduction's markdown and cause paragraphs. */
import type { ClaimRow } from './reproduce-collect.js';

const MINUS = '\u2212';
export function num(v: number | null | undefined, d = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v < 0 ? `${MINUS}${Math.abs(v).toFixed(d)}` : v.toFixed(d);
}
export function ci(c: [number, number] | null): string {
  return c ? `[${num(c[0])}, ${num(c[1])}]` : '—';
}
export function theoryText(c: ClaimRow): string {
  if (c.kind === 'slow') return 'slower than any polynomial';
  if (c.kind === 'plateau' || (c.kind === null && c.theory === 0)) return 'no convergence';
  return c.theory === null ? '—' : `n^${num(c.theory, 3).replace(/0+$/, '')}`;
}

export function minutes(sec: number): string {
  return sec >= 120 ? `${(sec / 60).toFixed(1)} min` : `${sec.toFixed(0)} s`;
}
export function pct(x: number): string {
  return `${Math.round(100 * x)} %`;
}
