/** Small helpers shared by the gate families (CLI option parsing, JSON dims, sampling). */
import type { Gate, GateJSON } from './gate.js';
import type { Rng } from '../numeric/rng.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { lengthOf, readNumber, widthOf } from '../json-read.js';

/** (k, d) of a gate whose blocks are beta0 (k) and beta1 (k×d). */
export function linearGateDims(json: GateJSON, path: string): { k: number; d: number } {
  return { k: lengthOf(json.beta0, `${path}.beta0`), d: widthOf(json.beta1, `${path}.beta1`) };
}

/**
 * Split the options part of a CLI gate spec (`tanh,bias=inside,fixed=0.5`) into positional words
 * and key=value pairs; unknown keys throw an OptionError naming the spec.
 */
export function parseCliOptions(rest: string | undefined, spec: string, keys: readonly string[]): { words: string[]; opts: Map<string, string> } {
  const words: string[] = [];
  const opts = new Map<string, string>();
  if (rest === undefined || rest.trim() === '') return { words, opts };
  for (const raw of rest.split(',')) {
    const part = raw.trim();
    if (part === '') throw new OptionError(`--gate ${spec}: empty option`);
    const eq = part.indexOf('=');
    if (eq < 0) {
      words.push(part);
      continue;
    }
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (!keys.includes(key)) throw new OptionError(`--gate ${spec}: unknown option ${JSON.stringify(key)} (known: ${keys.join(', ')})`);
    if (opts.has(key)) throw new OptionError(`--gate ${spec}: option ${key} given twice`);
    opts.set(key, value);
  }
  return { words, opts };
}

/** A positive number from a CLI option value. */
export function cliPositive(value: string, what: string, spec: string): number {
  const v = Number(value);
  if (value === '' || !Number.isFinite(v) || !(v > 0)) throw new OptionError(`--gate ${spec}: ${what} must be a positive number, got ${JSON.stringify(value)}`);
  return v;
}

/**
 * Read the temperature options of a JSON gate spec: `fixedTau: true` with `tau` (the temperature is
 * an option, not estimated), or neither (τ estimated). Returns the fixed τ or undefined.
 */
export function readFixedTau(json: GateJSON, path: string): number | undefined {
  const f = json.fixedTau;
  if (f === undefined || f === false) return undefined;
  if (f !== true) throw new ModelFormatError(`${path}.fixedTau: expected true or false, got ${JSON.stringify(f)}`);
  return readNumber(json.tau, `${path}.tau`, { positive: true });
}

/** Check that a JSON `tau` agrees with a fixed temperature option. */
export function checkFixedTau(json: GateJSON, path: string, fixedTau: number): void {
  if (json.tau === undefined) return;
  const t = readNumber(json.tau, `${path}.tau`, { positive: true });
  if (Math.abs(t - fixedTau) > 1e-12 * fixedTau) {
    throw new ModelFormatError(`${path}.tau: ${t} differs from the fixed temperature ${fixedTau} of this gate`);
  }
}

/**
 * Draw one expert index per row of X from the gate's weights π(x_t) (math-spec §9.5; top-K
 * gates never draw an inactive expert). `out` receives the indices; `scratch` (n×k) the weights.
 */
export function sampleExperts(
  gate: Gate, theta: Float64Array, X: Float64Array, n: number, rng: Rng,
  out: Int32Array = new Int32Array(n), scratch: Float64Array = new Float64Array(n * gate.k),
): Int32Array {
  const k = gate.k;
  gate.logWeights(theta, X, n, scratch);
  for (let i = 0; i < n * k; i++) scratch[i] = Math.exp(scratch[i]);
  for (let t = 0; t < n; t++) out[t] = rng.categorical(scratch, t * k, k);
  return out;
}

/** Frobenius norm of the slope entries of (k−1) rows [b0, b1(1..d)] of θ. */
export function slopeNorm(theta: Float64Array, rows: number, d: number): number {
  const q = d + 1;
  let s = 0;
  for (let j = 0; j < rows; j++) for (let u = 0; u < d; u++) s += theta[j * q + 1 + u] * theta[j * q + 1 + u];
  return Math.sqrt(s);
}

/** τ of a gate JSON: the fixed value (checked against the JSON) or a positive `tau` field. */
export function readTau(json: GateJSON, path: string, fixedTau: number | undefined): number {
  if (fixedTau !== undefined) {
    checkFixedTau(json, path, fixedTau);
    return fixedTau;
  }
  return readNumber(json.tau, `${path}.tau`, { positive: true });
}
