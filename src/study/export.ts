/**
 * Export the store as CSV: one line per job, one column per recorded loss (wide form), plus the
 * fitted model JSON when asked. Parquet is not provided (it would need apache-arrow + parquet-wasm,
 * which are not installed); the CSV is lossless (numbers in shortest round-trip form). The fit's
 * objective is named: `objective_name` (logLikelihood | negSSE) and `objective_value`.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
import type { StudyStore } from './store.js';

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'number' ? (Number.isFinite(v) ? (Object.is(v, -0) ? '-0' : String(v)) : '') : typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
}

/** CSV text of every stored job; returns the text and the number of rows. */
export function exportCSV(store: StudyStore, options: { model?: boolean } = {}): { text: string; rows: number } {
  const rows = store.rows();
  const lossNames: string[] = [];
  for (const s of store.study.settings) for (const l of s.losses) if (!lossNames.includes(l.name)) lossNames.push(l.name);
  for (const r of rows) for (const k of Object.keys(r.losses)) if (!lossNames.includes(k)) lossNames.push(k);
  const header = ['job_id', 'setting', 'n', 'rep', 'seed', 'status', 'error', 'objective_name', 'objective_value', 'iterations', 'converged', 'seconds', 'warnings', ...lossNames, ...(options.model ? ['model'] : [])];
  const lines: string[][] = [header];
  for (const r of rows) {
    lines.push([
      r.jobId, r.setting, r.n, r.rep, r.seed, r.status, r.error, r.objectiveName, r.objectiveValue, r.iterations, r.converged, r.seconds, r.warnings,
      ...lossNames.map((k) => r.losses[k]),
      ...(options.model ? [r.model] : []),
    ].map(cell));
  }
  // csv-stringify quotes cells with commas, quotes or line breaks (RFC 4180), and padded ones
  return { text: stringify(lines, { quoted_match: /^\s|\s$/, record_delimiter: 'unix' }), rows: rows.length };
}

export function writeCSV(store: StudyStore, path: string, options: { model?: boolean } = {}): number {
  const { text, rows } = exportCSV(store, options);
  if (path === '-') {
    process.stdout.write(text);
    return rows;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
  return rows;
}
