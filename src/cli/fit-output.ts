/**
 * The one printer of `moelab fit` results, for both estimators (EM and least squares): warnings to
 * stderr in every mode (and into the JSON: a wrong result never looks like success), then either one
 * JSON object `{ model, …fields, warnings }` (`--json`) or the summary lines, the model table and
 * any trailing sections.
 */
import type { ModelJSON, MoeWarning } from '../core.js';
import { formatWarning } from '../core.js';
import { modelTable } from './format.js';

export interface FitOutput {
  model: ModelJSON;
  /** The JSON fields between `model` and `warnings`, in the order of the estimator's contract. */
  json: Record<string, unknown>;
  /** Summary lines above the model table. */
  summary: string[];
  /** Sections below the model table (standard errors, bootstrap). */
  tail?: string[];
  warnings: readonly MoeWarning[];
}

/** The shared parts of a summary: how the fit stopped. */
export function convergenceText(r: { iterations: number; converged: boolean; gradientNorm: number }, iterationsNote = ''): string {
  return `iterations ${r.iterations}${iterationsNote}   converged ${r.converged ? 'yes' : 'no'}   gradient norm ${r.gradientNorm.toExponential(2)}`;
}

/** `restarts R (label v₁, v₂, …)   time T ms`: the restarts' objective values when there were several. */
export function restartsLine(restarts: number, label: string, values: readonly string[], seconds: number): string {
  return `restarts ${restarts}${restarts > 1 ? ` (${label} ${values.join(', ')})` : ''}   time ${(seconds * 1000).toFixed(1)} ms`;
}

export function printFit(out: FitOutput, json: boolean): void {
  for (const w of out.warnings) process.stderr.write(formatWarning(w) + '\n');
  if (json) {
    process.stdout.write(JSON.stringify({ model: out.model, ...out.json, warnings: out.warnings }) + '\n');
    return;
  }
  process.stdout.write([...out.summary, '', modelTable(out.model), ...(out.tail ?? [])].join('\n') + '\n');
}
