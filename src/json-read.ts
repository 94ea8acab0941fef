/**
 * Validated readers for the model JSON format. Every failure throws `ModelFormatError` with the
 * full field path (e.g. `gate.beta1[2][0]`), so a malformed model file is reported in one line.
 */
import { ModelFormatError } from './errors.js';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 30 ? v.slice(0, 30) + '…' : v)}`;
  if (typeof v === 'number') return String(v);
  return `a ${typeof v}`;
}

export function readObject(v: unknown, path: string): JsonObject {
  if (!isObject(v)) throw new ModelFormatError(`${path}: expected an object, got ${describe(v)}`);
  return v;
}

export function readNumber(v: unknown, path: string, opts: { positive?: boolean; integer?: boolean; min?: number } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelFormatError(`${path}: expected a finite number, got ${describe(v)}`);
  if (opts.positive && !(v > 0)) throw new ModelFormatError(`${path}: must be > 0, got ${v}`);
  if (opts.integer && !Number.isInteger(v)) throw new ModelFormatError(`${path}: must be an integer, got ${v}`);
  if (opts.min !== undefined && v < opts.min) throw new ModelFormatError(`${path}: must be ≥ ${opts.min}, got ${v}`);
  return v;
}

export function readString(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new ModelFormatError(`${path}: expected a string, got ${describe(v)}`);
  return v;
}

/** A numeric vector; `len` (if given) is enforced. */
export function readVector(v: unknown, path: string, len?: number, opts: { positive?: boolean } = {}): number[] {
  if (!Array.isArray(v)) throw new ModelFormatError(`${path}: expected an array of numbers, got ${describe(v)}`);
  if (len !== undefined && v.length !== len) throw new ModelFormatError(`${path}: expected ${len} entries, got ${v.length}`);
  return v.map((e, i) => readNumber(e, `${path}[${i}]`, opts));
}

/** A numeric matrix as an array of rows; `rows`/`cols` (if given) are enforced. */
export function readMatrix(v: unknown, path: string, rows?: number, cols?: number): number[][] {
  if (!Array.isArray(v)) throw new ModelFormatError(`${path}: expected an array of arrays, got ${describe(v)}`);
  if (rows !== undefined && v.length !== rows) throw new ModelFormatError(`${path}: expected ${rows} rows, got ${v.length}`);
  const out = v.map((r, i) => readVector(r, `${path}[${i}]`, cols));
  if (cols === undefined && out.length > 0) {
    const c = out[0].length;
    out.forEach((r, i) => {
      if (r.length !== c) throw new ModelFormatError(`${path}[${i}]: expected ${c} entries like row 0, got ${r.length}`);
    });
  }
  return out;
}

/** Number of rows of a per-expert block, for inferring k (throws if not an array). */
export function lengthOf(v: unknown, path: string): number {
  if (!Array.isArray(v)) throw new ModelFormatError(`${path}: expected an array, got ${describe(v)}`);
  return v.length;
}

/** Width of a per-expert matrix block (its row length), for inferring d. */
export function widthOf(v: unknown, path: string): number {
  if (!Array.isArray(v) || v.length === 0) throw new ModelFormatError(`${path}: expected a non-empty array of rows, got ${describe(v)}`);
  const r = v[0];
  if (!Array.isArray(r)) throw new ModelFormatError(`${path}[0]: expected an array of numbers, got ${describe(r)}`);
  return r.length;
}
