/**
 * Modified softmax gate (P2, math-spec §4.3): πᵢ(x) = Softmax(β₁ᵢᵀM(x) + β₀ᵢ)ᵢ with an input map
 * M: R^d → R^d. Built-in maps act elementwise: sin, tanh, sigmoid, identity (identity gives the
 * standard softmax gate). A user map can be registered through the library API
 * (`registerGateMap`), as an elementwise function `(x) => number` or as a batch map
 * `(X, n, d, out) => void` (row-major n×d in and out), and is then usable by name in the JSON
 * (`"map": "myMap"`) and on the command line (`--gate modified:myMap`); a map object can also be
 * passed to the `ModifiedGate` constructor directly.
 *
 * Canonical form: the logits are linear in (β₀, β₁) given F = M(X), so the translation invariance
 * of the softmax gate holds and the last expert is the reference (β₁ₖ = 0, β₀ₖ = 0).
 *
 * Computation: `LinearSoftmaxCore` (exact Newton/IRLS) on the feature matrix F = M(X), cached and
 * keyed on the identity of the X array and n (EM calls the gate with the same X every iteration).
 * The cache assumes X is not mutated in place between calls; call `clearCache()` if it is.
 *
 * JSON: { "type": "modified", "map": "sin", "beta0": [k], "beta1": [[d] × k] }.
 */
import { LINEAR_TRANSLATION, type GateInvariance, type BlockInfo, type Gate, type GateJSON, type GateMStepInfo, type GateMStepOptions, type GateState } from './gate.js';
import type { GateFactory } from './gate.js';
import { LinearSoftmaxCore } from '../family/linear-softmax.js';
import { linearBlocksFromJSON, linearBlocksToJSON } from './softmax.js';
import { linearGateDims, parseCliOptions } from './common.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { readString } from '../json-read.js';

/** An input map M for the modified gate: elementwise, or a batch map on row-major n×d arrays. */
export type GateMap =
  | { name: string; elementwise: (x: number) => number }
  | { name: string; batch: (X: Float64Array, n: number, d: number, out: Float64Array) => void };

const maps = new Map<string, GateMap>();

/** Register a named input map for the modified gate (overwrites a map of the same name). */
export function registerGateMap(map: GateMap): void {
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(map.name)) throw new OptionError(`gate map name must be an identifier, got ${JSON.stringify(map.name)}`);
  maps.set(map.name, map);
}

/** The registered map of this name (built-ins: sin, tanh, sigmoid, identity). */
export function gateMap(name: string, path = 'gate.map'): GateMap {
  const m = maps.get(name);
  if (!m) throw new ModelFormatError(`${path}: unknown input map ${JSON.stringify(name)} (known: ${[...maps.keys()].join(', ')}; register others with registerGateMap)`);
  return m;
}

/** Names of the registered maps. */
export function gateMapNames(): string[] {
  return [...maps.keys()];
}

registerGateMap({ name: 'sin', elementwise: Math.sin });
registerGateMap({ name: 'tanh', elementwise: Math.tanh });
registerGateMap({ name: 'sigmoid', elementwise: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))) });
registerGateMap({ name: 'identity', elementwise: (x) => x });

export class ModifiedGate implements Gate {
  readonly supportsBound = true;
  readonly type = 'modified';
  /** As softmax, on β₁ᵀM(x) + β₀ (math-spec §4.3). */
  readonly invariance: GateInvariance = LINEAR_TRANSLATION;
  readonly k: number;
  readonly d: number;
  readonly nParams: number;
  readonly map: GateMap;
  readonly blocks: readonly BlockInfo[] = [
    { name: 'beta0', perExpert: true, kind: 'gate' },
    { name: 'beta1', perExpert: true, kind: 'gate' },
  ];
  private readonly core: LinearSoftmaxCore;
  private cacheX: Float64Array | undefined;
  private cacheN = -1;
  private F = new Float64Array(0);

  constructor(k: number, d: number, map: GateMap | string) {
    this.k = k;
    this.d = d;
    this.map = typeof map === 'string' ? gateMap(map) : map;
    this.core = new LinearSoftmaxCore(k, d);
    this.nParams = this.core.nParams;
  }

  /** Forget the cached F = M(X). */
  clearCache(): void {
    this.cacheX = undefined;
    this.cacheN = -1;
  }

  /** F = M(X) for the first n rows (cached on the X array identity and n). */
  features(X: Float64Array, n: number): Float64Array {
    if (X === this.cacheX && n === this.cacheN) return this.F;
    const nd = n * this.d;
    if (this.F.length < nd) this.F = new Float64Array(nd);
    const F = this.F;
    const m = this.map;
    // P2 (math-spec §4.3): gate features M(x)
    if ('elementwise' in m) {
      const f = m.elementwise;
      for (let i = 0; i < nd; i++) F[i] = f(X[i]);
    } else {
      m.batch(X, n, this.d, F);
    }
    for (let i = 0; i < nd; i++) {
      if (!Number.isFinite(F[i])) throw new OptionError(`modified gate: map ${m.name} gave ${F[i]} at row ${Math.floor(i / this.d) + 1}, column ${(i % this.d) + 1} (x = ${X[i]})`);
    }
    this.cacheX = X;
    this.cacheN = n;
    return F;
  }

  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    this.core.logWeights(theta, this.features(X, n), n, out);
  }
  logits(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void {
    this.core.logits(theta, this.features(X, n), n, out);
  }
  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array, weights?: Float64Array): void {
    this.core.gradQ(theta, this.features(X, n), n, W, grad, weights);
  }
  rowGradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void {
    this.core.rowGradQ(theta, this.features(X, n), n, W, out);
  }
  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions, start?: GateState): GateMStepInfo {
    return this.core.mStep(theta, this.features(X, n), n, R, options, start);
  }
  canonicalize(_theta: Float64Array): void {
    // θ excludes the reference expert: already canonical.
  }
  toJSON(theta: Float64Array): GateJSON {
    return { type: this.type, map: this.map.name, ...linearBlocksToJSON(theta, this.k, this.d) };
  }
  paramsFromJSON(json: GateJSON): Float64Array {
    return linearBlocksFromJSON(json, this.k, this.d, 'gate');
  }
  spec(): GateJSON {
    return { type: this.type, map: this.map.name };
  }
}

export const modifiedGateFactory: GateFactory = {
  type: 'modified',
  cliNames: ['modified'],
  help: 'modified:MAP — softmax(β₁ᵀM(x) + β₀), M elementwise sin|tanh|sigmoid|identity or a registered map (P2)',
  create: (spec, k, d) => new ModifiedGate(k, d, gateMap(readString(spec.map, 'gate.map'))),
  dims: linearGateDims,
  parseCli: (rest, spec) => {
    const { words } = parseCliOptions(rest, spec, []);
    if (words.length !== 1) throw new OptionError(`--gate ${spec}: expected modified:MAP with MAP one of ${gateMapNames().join(', ')}`);
    const name = maps.has(words[0]) ? words[0] : words[0].toLowerCase();
    if (!maps.has(name)) throw new OptionError(`--gate ${spec}: unknown map ${JSON.stringify(words[0])} (known: ${gateMapNames().join(', ')})`);
    return { type: 'modified', map: name };
  },
};
