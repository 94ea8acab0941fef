/**
 * A mixture of experts = gate + expert family + k + parameters (the mixing measure
 * G = Σ exp(β₀ᵢ) δ_{θᵢ}, math-spec §1.2). The same object is the truth of a simulation and the
 * result of a fit, serialisable to the documented JSON format:
 *
 *   { "gate":    { "type": "softmax", "beta0": [k], "beta1": [[d] × k] },
 *     "experts": { "type": "gaussianLinear", "a": [[d] × k], "b": [k], "variance": [k] } }
 *
 * θ = [gate working parameters | expert working parameters] in one Float64Array.
 */
import type { Gate, GateJSON } from '../gates/gate.js';
import type { ExpertFamily, ExpertJSON } from '../experts/expert.js';
import { checkModelKeys } from './strict-keys.js';
import { gateFactory } from '../gates/registry.js';
import { expertFactory } from '../experts/registry.js';
import { ModelFormatError } from '../errors.js';
import { readObject, readString, type JsonObject } from '../json-read.js';
import type { Rng } from '../numeric/rng.js';

export interface ModelJSON {
  gate: GateJSON;
  experts: ExpertJSON;
}

/** The structure of a model without its parameters. */
export interface ModelSpec {
  gate: GateJSON;
  experts: ExpertJSON;
  k: number;
  d: number;
}

export class MixtureOfExperts {
  readonly gate: Gate;
  readonly expert: ExpertFamily;
  readonly k: number;
  readonly d: number;
  /** Working parameters: gate block then expert block. */
  readonly theta: Float64Array;

  constructor(gate: Gate, expert: ExpertFamily, theta?: Float64Array) {
    if (gate.k !== expert.k || gate.d !== expert.d) {
      throw new ModelFormatError(`model: gate has k=${gate.k}, d=${gate.d} but experts have k=${expert.k}, d=${expert.d}`);
    }
    this.gate = gate;
    this.expert = expert;
    this.k = gate.k;
    this.d = gate.d;
    const p = gate.nParams + expert.nParams;
    if (theta && theta.length !== p) throw new RangeError(`theta has length ${theta.length}, expected ${p}`);
    this.theta = theta ?? new Float64Array(p);
  }

  get nParams(): number {
    return this.theta.length;
  }
  get gateTheta(): Float64Array {
    return this.theta.subarray(0, this.gate.nParams);
  }
  get expertTheta(): Float64Array {
    return this.theta.subarray(this.gate.nParams);
  }

  /** A model of the given structure with all-zero working parameters. */
  static fromSpec(spec: ModelSpec): MixtureOfExperts {
    if (!Number.isInteger(spec.k) || spec.k < 1) throw new ModelFormatError(`k: must be an integer ≥ 1, got ${spec.k}`);
    if (!Number.isInteger(spec.d) || spec.d < 1) throw new ModelFormatError(`d: must be an integer ≥ 1, got ${spec.d}`);
    const gate = gateFactory(spec.gate.type).create(spec.gate, spec.k, spec.d);
    const expert = expertFactory(spec.experts.type).create(spec.experts, spec.k, spec.d);
    return new MixtureOfExperts(gate, expert);
  }

  /**
   * Read and validate a model JSON object. A `fit --json` result ({ model: … }) is accepted too.
   * Errors name the field path.
   */
  static fromJSON(input: unknown, path = ''): MixtureOfExperts {
    const at = (p: string, field: string): string => (p ? `${p}.${field}` : field);
    let obj = readObject(input, path || 'model');
    if (obj.gate === undefined && obj.model !== undefined) {
      path = at(path, 'model');
      obj = readObject(obj.model, path);
    }
    const gj = readObject(obj.gate, at(path, 'gate')) as GateJSON;
    const ej = readObject(obj.experts, at(path, 'experts')) as ExpertJSON;
    const gType = readString(gj.type, at(path, 'gate.type'));
    const eType = readString(ej.type, at(path, 'experts.type'));
    const gf = gateFactory(gType, at(path, 'gate.type'));
    const ef = expertFactory(eType, at(path, 'experts.type'));
    const gd = gf.dims(gj, at(path, 'gate'));
    const ed = ef.dims(ej, at(path, 'experts'));
    const where = path || 'model';
    if (gd.k !== ed.k) throw new ModelFormatError(`${where}: the gate has ${gd.k} experts but experts has ${ed.k}`);
    if (gd.d !== ed.d) throw new ModelFormatError(`${where}: the gate has input dimension ${gd.d} but experts has ${ed.d}`);
    if (gd.k < 1) throw new ModelFormatError(`${where}: needs at least one expert`);
    if (gd.d < 1) throw new ModelFormatError(`${where}: input dimension must be ≥ 1`);
    const gate = gf.create(gj, gd.k, gd.d);
    const expert = ef.create(ej, ed.k, ed.d);
    const m = new MixtureOfExperts(gate, expert);
    m.gateTheta.set(gate.paramsFromJSON(gj));
    m.expertTheta.set(expert.paramsFromJSON(ej));
    m.canonicalize();
    checkModelKeys(obj, gj, ej, m.toJSON() as unknown as { gate: JsonObject; experts: JsonObject }, path);
    return m;
  }

  toJSON(): ModelJSON {
    return { gate: this.gate.toJSON(this.gateTheta), experts: this.expert.toJSON(this.expertTheta) };
  }

  spec(): ModelSpec {
    return { gate: this.gate.spec(), experts: this.expert.spec(), k: this.k, d: this.d };
  }

  clone(): MixtureOfExperts {
    return new MixtureOfExperts(this.gate, this.expert, this.theta.slice());
  }

  /** A model with the same structure and the given working parameters (copied). */
  withTheta(theta: Float64Array): MixtureOfExperts {
    return new MixtureOfExperts(this.gate, this.expert, theta.slice());
  }

  /**
   * The same model with experts relabelled: new expert j is old expert perm[j]. Per-expert blocks
   * of the JSON form are permuted and the result re-canonicalised (for gates with a reference
   * expert the gate parameters are re-expressed relative to the new last expert). Gates whose
   * blocks are not simple per-expert arrays (hierarchical) do not support it.
   */
  permuteExperts(perm: readonly number[]): MixtureOfExperts {
    const k = this.k;
    if (perm.length !== k || new Set(perm).size !== k || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= k)) {
      throw new ModelFormatError(`permutation must list each expert 0..${k - 1} once, got [${perm.join(', ')}]`);
    }
    const json = this.toJSON();
    const permute = (obj: Record<string, unknown>, blocks: readonly { name: string; perExpert: boolean }[]): Record<string, unknown> => {
      const out = { ...obj };
      for (const b of blocks) {
        const v = obj[b.name];
        if (!b.perExpert) continue;
        if (!Array.isArray(v) || v.length !== k) throw new ModelFormatError(`cannot permute block ${b.name}: not an array over the ${k} experts`);
        out[b.name] = perm.map((p) => v[p]);
      }
      return out;
    };
    return MixtureOfExperts.fromJSON({
      gate: permute(json.gate, this.gate.blocks),
      experts: permute(json.experts, this.expert.blocks),
    });
  }

  canonicalize(): void {
    this.gate.canonicalize(this.gateTheta);
    this.expert.canonicalize(this.expertTheta);
  }

  /** Gate probabilities π_i(x_t) (n×k). */
  gateProbabilities(X: Float64Array, n: number, out = new Float64Array(n * this.k)): Float64Array {
    this.gate.logWeights(this.gateTheta, X, n, out);
    for (let i = 0; i < n * this.k; i++) out[i] = Math.exp(out[i]);
    return out;
  }

  /**
   * Joint log-terms log π_i(x_t) + log f(y_t|x_t,θ_i) into `out` (n×k); `scratch` (n×k) is used for
   * the expert part. Returns nothing; see `logLikelihood`.
   */
  logJoint(X: Float64Array, y: Float64Array, n: number, out: Float64Array, scratch: Float64Array): void {
    this.gate.logWeights(this.gateTheta, X, n, out);
    this.expert.logDensity(this.expertTheta, X, y, n, scratch);
    const nk = n * this.k;
    for (let i = 0; i < nk; i++) out[i] = out[i] === -Infinity ? -Infinity : out[i] + scratch[i];
  }

  /** Σ_t log Σ_i π_i(x_t) f(y_t | x_t, θ_i). */
  logLikelihood(X: Float64Array, y: Float64Array, n: number): number {
    const a = new Float64Array(n * this.k);
    const b = new Float64Array(n * this.k);
    this.logJoint(X, y, n, a, b);
    let ll = 0;
    const k = this.k;
    for (let t = 0; t < n; t++) {
      let m = -Infinity;
      for (let i = 0; i < k; i++) if (a[t * k + i] > m) m = a[t * k + i];
      if (m === -Infinity) return -Infinity;
      let s = 0;
      for (let i = 0; i < k; i++) s += Math.exp(a[t * k + i] - m);
      ll += m + Math.log(s);
    }
    return ll;
  }

  /** Posterior responsibilities P(expert i | x_t, y_t) (n×k). */
  posterior(X: Float64Array, y: Float64Array, n: number, out = new Float64Array(n * this.k)): Float64Array {
    const b = new Float64Array(n * this.k);
    this.logJoint(X, y, n, out, b);
    const k = this.k;
    for (let t = 0; t < n; t++) {
      const o = t * k;
      let m = -Infinity;
      for (let i = 0; i < k; i++) if (out[o + i] > m) m = out[o + i];
      let s = 0;
      for (let i = 0; i < k; i++) {
        out[o + i] = Math.exp(out[o + i] - m);
        s += out[o + i];
      }
      for (let i = 0; i < k; i++) out[o + i] /= s;
    }
    return out;
  }

  /** E[y | x_t] = Σ_i π_i(x_t) E[y | x_t, i]. */
  predictMean(X: Float64Array, n: number, out = new Float64Array(n)): Float64Array {
    const k = this.k;
    const P = this.gateProbabilities(X, n);
    const M = new Float64Array(n * k);
    this.expert.mean(this.expertTheta, X, n, M);
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let i = 0; i < k; i++) if (P[t * k + i] > 0) s += P[t * k + i] * M[t * k + i];
      out[t] = s;
    }
    return out;
  }

  /**
   * Draw y_t for each row of X: Z_t ~ Categorical(π(x_t)), then y_t from expert Z_t (math-spec §9.5).
   * Returns y and the latent expert labels z. Regression (LSE) families: y_t = f_G(x_t) + N(0, ν), z = −1.
   */
  sample(X: Float64Array, n: number, rng: Rng): { y: Float64Array; z: Int32Array } {
    if (this.expert.regressionNoiseVariance) {
      // LSE model (math-spec §5.1, §9.5): y = f_G(x) + N(0, ν); there is no latent expert (z = −1)
      const sd = Math.sqrt(this.expert.regressionNoiseVariance());
      const y = this.predictMean(X, n);
      for (let t = 0; t < n; t++) y[t] += sd * rng.normal();
      return { y, z: new Int32Array(n).fill(-1) };
    }
    const k = this.k;
    const P = this.gateProbabilities(X, n);
    const y = new Float64Array(n);
    const z = new Int32Array(n);
    const th = this.expertTheta;
    for (let t = 0; t < n; t++) {
      const i = rng.categorical(P, t * k, k);
      z[t] = i;
      y[t] = this.expert.sample(th, i, X, t, rng);
    }
    return { y, z };
  }
}
