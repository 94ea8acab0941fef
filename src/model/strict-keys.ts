/**
 * Unknown fields in a model JSON are errors, not silently ignored (issue 12): a misspelt
 * `varianceFloor` or `fixedTau` would otherwise fit a different model than the file says. A field is
 * known if the family writes it (`toJSON` of the model read) or is one of the families' spec options.
 */
import { ModelFormatError } from '../errors.js';
import type { JsonObject } from '../json-read.js';

/** Options that a family reads from its JSON spec but may leave out of its canonical output. */
const SPEC_OPTIONS: ReadonlySet<string> = new Set([
  'type', 'K', 'K1', 'K2', 'tau', 'fixedTau', 'sigma', 'bias', 'map', 'activation', 'outputWeight',
  'noiseVariance', 'varianceFloor', 'classes', 'labels', 'c',
]);

/** Top-level fields of a model besides gate and experts (free text). */
const MODEL_FIELDS: ReadonlySet<string> = new Set(['gate', 'experts', 'name', 'description']);

function check(obj: JsonObject, known: ReadonlySet<string>, canonical: JsonObject | undefined, path: string): void {
  for (const key of Object.keys(obj)) {
    if (known.has(key) || (canonical !== undefined && Object.hasOwn(canonical, key))) continue;
    const list = [...new Set([...(canonical ? Object.keys(canonical) : []), ...(canonical ? [] : known)])].join(', ');
    throw new ModelFormatError(`${path}${path ? '.' : ''}${key}: unknown field (known here: ${list})`);
  }
}

/** Throw on a field of `obj` (a model JSON) that neither the family writes nor reads. */
export function checkModelKeys(obj: JsonObject, gate: JsonObject, experts: JsonObject, canonical: { gate: JsonObject; experts: JsonObject }, path: string): void {
  const at = (f: string): string => (path ? `${path}.${f}` : f);
  check(obj, MODEL_FIELDS, undefined, path);
  check(gate, SPEC_OPTIONS, canonical.gate, at('gate'));
  check(experts, SPEC_OPTIONS, canonical.experts, at('experts'));
}
