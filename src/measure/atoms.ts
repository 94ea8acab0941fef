/**
 * Atoms of a mixing measure, generic over gate and expert families (math-spec §1.2, §9.4).
 *
 * A model is read as G = Σᵢ exp(ℓᵢ) δ_{θᵢ}: one atom per expert, with log-weight ℓᵢ (β₀ᵢ for the
 * softmax family) and a coordinate vector θᵢ holding every other per-expert parameter block,
 * concatenated in the order of `gate.blocks` then `expert.blocks` (β₁, a, b, ν for the softmax
 * Gaussian model). Blocks that are shared by all experts (e.g. a temperature τ) are copied into
 * every atom (math-spec §6.1).
 *
 * The extraction is driven by the `BlockInfo` metadata of the gate and expert families and by their
 * JSON, so any family plugs in. A gate's invariances (translation, scale) are declared by the gate
 * itself (`Gate.invariance`, gates/gate.ts) and read from there (`atomInvariance`). Families whose
 * atoms are not "exp(β₀) + the other blocks" register a hook here (`registerVoronoiGate`,
 * `registerVoronoiExpert`): the temperature gate's weights exp(β₀/τ), the top-K gate's input
 * regions, the hierarchical gate's two-level weights, D₂ exponents.
 */
import type { BlockInfo, Gate, GateInvariance, GateJSON } from '../gates/gate.js';
import type { ExpertFamily, ExpertJSON } from '../experts/expert.js';
import { MixtureOfExperts, type ModelJSON } from '../model/model.js';
import { ModelFormatError } from '../errors.js';
import { describe, isObject, readMatrix, readNumber, readVector } from '../json-read.js';

/** One named parameter block of the atoms: `dim` coordinates at `offset` of each atom vector. */
export interface AtomBlockInfo {
  name: string;
  part: 'gate' | 'expert';
  offset: number;
  dim: number;
}

/** The atoms of a mixing measure: k log-weights and a k×p coordinate matrix (row-major). */
export interface Atoms {
  k: number;
  /** Input dimension of the model. */
  d: number;
  gateType: string;
  expertType: string;
  /** log of each atom's weight (β₀ᵢ for softmax-type gates). */
  logWeight: Float64Array;
  /** k×p coordinates, row-major. */
  coords: Float64Array;
  /** Coordinates per atom. */
  p: number;
  blocks: AtomBlockInfo[];
}

/** A block read from JSON: `dim` numbers per atom (row-major k×dim). */
export interface RawBlock {
  name: string;
  dim: number;
  values: Float64Array;
}

/**
 * Exponent of a block in a multi-atom Voronoi cell of size m (≥ 2), as a number or as a function of
 * m and of r̄ (math-spec §1.5); single-atom cells always get exponent 1 in the D₂-type presets.
 */
export type ExponentRule = number | ((m: number, rbar: (m: number) => number) => number);

export interface VoronoiGateHook {
  /**
   * Options-dependent hooks (e.g. the activation gate's σ and bias placement): return the hook for
   * this gate JSON. Called before anything else; the returned hook's own `resolve` is ignored.
   */
  resolve?(json: GateJSON): VoronoiGateHook;
  /**
   * Log-weights and gate blocks from the gate JSON (validated already). Default: ℓᵢ = `beta0`[i], and
   * every other block of `gate.blocks` as an atom block.
   */
  extract?(json: GateJSON, gate: Gate, path: string): { logWeight: Float64Array; blocks: RawBlock[] };
  /**
   * Overrides the gate's declared translation (`Gate.invariance`; leave unset to use it): `null`
   * when the gate has none; otherwise adding a common constant to every log-weight, and a common
   * vector to every atom's value of each listed block, leaves the model unchanged.
   */
  translation?: { blocks: string[] } | null;
  /**
   * Overrides the scale normalisation derived from the gate's declared scale (the fitted atoms
   * rescaled so that the anchor block equals the truth's), in place.
   */
  normaliseScale?(fit: Atoms, truth: Atoms): { scale: number } | null;
  /**
   * Whether the gate can give an expert exactly zero weight on part of the input space (top-K): then
   * the loss is the maximum over the input regions of the true gate (math-spec §3.5).
   */
  sparse?: boolean;
  /** D₂ exponents of this gate's blocks in multi-atom cells (override the expert family's rule). */
  d2?: Record<string, ExponentRule>;
}

export interface VoronoiExpertHook {
  /** Expert blocks from the experts JSON. Default: every block of `expert.blocks`. */
  extract?(json: ExpertJSON, expert: ExpertFamily, path: string): RawBlock[];
  /**
   * D₂ exponents in multi-atom cells, by block name (gate blocks included: the gating slope's
   * exponent depends on how the gate interacts with the expert). Blocks not listed get 2.
   */
  d2?: Record<string, ExponentRule>;
}

const gateHooks = new Map<string, VoronoiGateHook>();
const expertHooks = new Map<string, VoronoiExpertHook>();

/** Register (or replace) the Voronoi hook of a gate family, by its JSON `type`. */
export function registerVoronoiGate(type: string, hook: VoronoiGateHook): void {
  gateHooks.set(type, hook);
}

/** Register (or replace) the Voronoi hook of an expert family, by its JSON `type`. */
export function registerVoronoiExpert(type: string, hook: VoronoiExpertHook): void {
  expertHooks.set(type, hook);
}

/**
 * The hook of a gate type. Unknown gates get a conservative default: weights exp(β₀), no
 * translation normalisation (the caller adds a warning), no input regions.
 */
export function voronoiGateHook(type: string, json?: GateJSON): { hook: VoronoiGateHook; registered: boolean } {
  const h = gateHooks.get(type);
  if (!h) return { hook: {}, registered: false };
  return { hook: h.resolve && json ? h.resolve(json) : h, registered: true };
}

/** A gate's invariance as it acts on its atoms: the translated and the scaled atom blocks. */
export interface AtomInvariance {
  /** Translated atom blocks (the log-weights shift with them); `null`: no translation. */
  translation: { blocks: string[] } | null;
  /** The rescaled atom blocks and the shared anchor block the normalisation matches; `null`: no scale. */
  scale: { blocks: string[]; anchor: string } | null;
  normaliseScale?(fit: Atoms, truth: Atoms): { scale: number } | null;
}

/**
 * The invariance the Voronoi loss uses for a gate: the gate's own declaration (`Gate.invariance`),
 * restricted to the blocks its atoms carry (the weight block is the log-weight, which a translation
 * shifts and a scale leaves alone), unless the gate's hook overrides it.
 */
export function atomInvariance(gate: Gate, hook: VoronoiGateHook): AtomInvariance {
  const declared: GateInvariance = gate.invariance ?? { translation: null, scale: null };
  const translation = hook.translation !== undefined
    ? hook.translation
    : declared.translation ? { blocks: declared.translation.blocks.filter((b) => b !== declared.translation!.weight) } : null;
  const scale = declared.scale ? { blocks: [...declared.scale.blocks], anchor: declared.scale.anchor } : null;
  const normaliseScale = hook.normaliseScale ?? (scale ? (fit: Atoms, truth: Atoms) => rescaleToAnchor(fit, truth, scale) : undefined);
  return { translation, scale, ...(normaliseScale ? { normaliseScale } : {}) };
}

/**
 * Scale normalisation from a declared scale: c = anchor* / anchor̂; every other scaled block the
 * atoms carry is multiplied by c and the anchor set to the truth's (the temperature gate: β₁ and
 * τ; the log-weights, β₀/τ or an unscaled β₀, do not change). `null` when an atom lacks the anchor.
 */
function rescaleToAnchor(fit: Atoms, truth: Atoms, scale: { blocks: string[]; anchor: string }): { scale: number } | null {
  const ft = blockOf(fit, scale.anchor);
  const tt = blockOf(truth, scale.anchor);
  const moved = scale.blocks.filter((b) => b !== scale.anchor).map((b) => blockOf(fit, b)).filter((b): b is AtomBlockInfo => b !== undefined);
  if (!ft || !tt || !moved.length) return null;
  const c = truth.coords[tt.offset] / fit.coords[ft.offset];
  for (let i = 0; i < fit.k; i++) {
    for (const b of moved) for (let u = 0; u < b.dim; u++) fit.coords[i * fit.p + b.offset + u] *= c;
    fit.coords[i * fit.p + ft.offset] = truth.coords[tt.offset];
  }
  return { scale: c };
}

export function voronoiExpertHook(type: string): VoronoiExpertHook {
  return expertHooks.get(type) ?? {};
}

// ---------------------------------------------------------------------------------------------
// Generic block reading

/** Flatten a number or nested array of numbers, validating every entry. */
export function flattenNumbers(v: unknown, path: string, out: number[] = []): number[] {
  if (typeof v === 'number') {
    out.push(readNumber(v, path));
    return out;
  }
  if (!Array.isArray(v)) throw new ModelFormatError(`${path}: expected a number or an array of numbers, got ${describe(v)}`);
  v.forEach((e, i) => flattenNumbers(e, `${path}[${i}]`, out));
  return out;
}

/**
 * Read one block of a gate or expert JSON: a per-expert block is an array of length k whose entries
 * (numbers or nested arrays) all flatten to the same length; a shared block is replicated to every
 * atom.
 */
export function readAtomBlock(json: Record<string, unknown>, info: BlockInfo, k: number, path: string): RawBlock {
  const v = json[info.name];
  const p = `${path}.${info.name}`;
  if (v === undefined) throw new ModelFormatError(`${p}: missing (block listed by the family)`);
  if (info.perExpert) {
    if (!Array.isArray(v) || v.length !== k) throw new ModelFormatError(`${p}: expected an array with one entry per expert (${k}), got ${describe(v)}`);
    const rows = v.map((e, i) => flattenNumbers(e, `${p}[${i}]`));
    const dim = rows[0]?.length ?? 0;
    rows.forEach((r, i) => {
      if (r.length !== dim) throw new ModelFormatError(`${p}[${i}]: expected ${dim} numbers like entry 0, got ${r.length}`);
    });
    const values = new Float64Array(k * dim);
    rows.forEach((r, i) => values.set(r, i * dim));
    return { name: info.name, dim, values };
  }
  const flat = flattenNumbers(v, p);
  const values = new Float64Array(k * flat.length);
  for (let i = 0; i < k; i++) values.set(flat, i * flat.length);
  return { name: info.name, dim: flat.length, values };
}

/** Default gate extraction: ℓ = `weightBlock` (beta0), the other blocks as atom blocks. */
export function defaultGateExtract(json: GateJSON, gate: Gate, path: string, weightBlock = 'beta0'): { logWeight: Float64Array; blocks: RawBlock[] } {
  const k = gate.k;
  const w = gate.blocks.find((b) => b.name === weightBlock);
  if (!w || !w.perExpert) {
    throw new ModelFormatError(`${path}: gate type ${JSON.stringify(gate.type)} has no per-expert ${weightBlock} block; register a Voronoi hook for it (registerVoronoiGate) to say what the atom weights are`);
  }
  const wb = readAtomBlock(json, w, k, path);
  if (wb.dim !== 1) throw new ModelFormatError(`${path}.${weightBlock}: expected one number per expert`);
  const blocks = gate.blocks.filter((b) => b.name !== weightBlock).map((b) => readAtomBlock(json, b, k, path));
  return { logWeight: wb.values, blocks };
}

export function defaultExpertExtract(json: ExpertJSON, expert: ExpertFamily, path: string): RawBlock[] {
  return expert.blocks.map((b) => readAtomBlock(json, b, expert.k, path));
}

// ---------------------------------------------------------------------------------------------
// Models in, atoms out

/** A model given as a `MixtureOfExperts`, a model JSON object, or a `fit --json` output object. */
export type ModelInput = MixtureOfExperts | ModelJSON | { model: ModelJSON } | Record<string, unknown>;

/**
 * Validate a model input. Returns the model (canonical form) and the JSON *as given* (unwrapped from a
 * `fit --json` output); for a `MixtureOfExperts` the JSON is its canonical `toJSON()`.
 */
export function resolveModel(input: ModelInput, path = 'model'): { model: MixtureOfExperts; json: ModelJSON } {
  if (input instanceof MixtureOfExperts) return { model: input, json: input.toJSON() };
  const model = MixtureOfExperts.fromJSON(input, path);
  let obj: unknown = input;
  if (isObject(obj) && obj.gate === undefined && obj.model !== undefined) obj = obj.model;
  return { model, json: obj as ModelJSON };
}

/** Build the atoms of a model from a JSON representative (canonical or as given). */
export function atomsOf(model: MixtureOfExperts, json: ModelJSON, path = 'model'): Atoms {
  const gh = voronoiGateHook(model.gate.type, json.gate).hook;
  const eh = voronoiExpertHook(model.expert.type);
  const g = gh.extract ? gh.extract(json.gate, model.gate, `${path}.gate`) : defaultGateExtract(json.gate, model.gate, `${path}.gate`);
  const eb = eh.extract ? eh.extract(json.experts, model.expert, `${path}.experts`) : defaultExpertExtract(json.experts, model.expert, `${path}.experts`);
  const k = model.k;
  if (g.logWeight.length !== k) throw new ModelFormatError(`${path}.gate: the Voronoi hook returned ${g.logWeight.length} weights for ${k} experts`);
  const raw: { b: RawBlock; part: 'gate' | 'expert' }[] = [
    ...g.blocks.map((b) => ({ b, part: 'gate' as const })),
    ...eb.map((b) => ({ b, part: 'expert' as const })),
  ];
  const blocks: AtomBlockInfo[] = [];
  let p = 0;
  for (const { b, part } of raw) {
    if (blocks.some((x) => x.name === b.name)) throw new ModelFormatError(`${path}: two parameter blocks are named ${JSON.stringify(b.name)}`);
    blocks.push({ name: b.name, part, offset: p, dim: b.dim });
    p += b.dim;
  }
  const coords = new Float64Array(k * p);
  for (let r = 0; r < raw.length; r++) {
    const { b } = raw[r];
    const o = blocks[r].offset;
    for (let i = 0; i < k; i++) for (let u = 0; u < b.dim; u++) coords[i * p + o + u] = b.values[i * b.dim + u];
  }
  for (let i = 0; i < k; i++) {
    if (!Number.isFinite(g.logWeight[i])) throw new ModelFormatError(`${path}.gate: atom ${i} has a non-finite log-weight`);
  }
  return { k, d: model.d, gateType: model.gate.type, expertType: model.expert.type, logWeight: Float64Array.from(g.logWeight), coords, p, blocks };
}

export function cloneAtoms(a: Atoms): Atoms {
  return { ...a, logWeight: a.logWeight.slice(), coords: a.coords.slice(), blocks: a.blocks.map((b) => ({ ...b })) };
}

export function blockOf(a: Atoms, name: string): AtomBlockInfo | undefined {
  return a.blocks.find((b) => b.name === name);
}

// ---------------------------------------------------------------------------------------------
// Hooks of the families of the papers

const RBAR: ExponentRule = (m, rbar) => rbar(m);
const HALF_RBAR: ExponentRule = (m, rbar) => rbar(m) / 2;

/** Softmax gate: weights exp(β₀); its translation of (β₀, β₁) is the gate's declaration (math-spec §1.2). */
registerVoronoiGate('softmax', {});

/**
 * Top-K gate (math-spec §3): same atoms as softmax (its translation is declared by the gate), and the
 * loss is the max over the input regions of the true gate (§3.5).
 */
registerVoronoiGate('topK', { sparse: true });

/** Modified gate softmax(β₁ᵀM(x) + β₀) (math-spec §4.3): atoms as softmax. */
registerVoronoiGate('modified', {});

/**
 * Gaussian linear experts, P0's D₂ (math-spec §2.3, oracle 3): in a cell of m ≥ 2 atoms the gating
 * slope β₁ and the intercept b get r̄(m), the slope a and the variance ν get r̄(m)/2.
 */
registerVoronoiExpert('gaussianLinear', { d2: { beta1: RBAR, b: RBAR, a: HALF_RBAR, variance: HALF_RBAR } });

/** Shared τ of a temperature-type gate JSON as an atom block (present whether τ is fixed or estimated). */
function tauBlock(json: GateJSON, k: number, path: string): RawBlock {
  const tau = readNumber(json.tau, `${path}.tau`, { positive: true });
  return { name: 'tau', dim: 1, values: new Float64Array(k).fill(tau) };
}

/**
 * Dense-to-sparse (temperature) gate softmax((β₁ᵀx + β₀)/τ) (math-spec §6.1): atom weights
 * exp(β₀ᵢ/τ), atoms (β₁ᵢ, τ) (τ shared, copied into every atom). The gate declares its scale
 * (anchor τ): the fitted (β₁, β₀, τ) is rescaled by c = τ* / τ̂ so that its τ equals the true one
 * (β₀/τ, hence the weights, is unchanged); after it the β₁ differences are τ*·(β̂₁/τ̂ − β*₁/τ*), the
 * identifiable combination in the truth's scale, and the τ block contributes 0. Then the translation
 * of (β₀, β₁) as softmax.
 */
const TEMPERATURE_HOOK: VoronoiGateHook = {
  extract(json, gate, path) {
    const k = gate.k;
    const tb = tauBlock(json, k, path);
    const tau = tb.values[0];
    const b0 = readAtomBlock(json, { name: 'beta0', perExpert: true, kind: 'gate' }, k, path);
    const b1 = readAtomBlock(json, { name: 'beta1', perExpert: true, kind: 'gate' }, k, path);
    const logWeight = new Float64Array(k);
    for (let i = 0; i < k; i++) logWeight[i] = b0.values[i] / tau; // P4 (math-spec §6.1): weight exp(β₀/τ)
    return { logWeight, blocks: [b1, tb] };
  },
};
registerVoronoiGate('denseToSparse', TEMPERATURE_HOOK);

/**
 * Activation gate (math-spec §6.2), by σ and bias placement:
 *  - bias outside, σ non-linear: softmax(σ(β₁ᵀx)/τ + β₀): weights exp(β₀), atoms (β₁, τ); only a
 *    common shift of β₀ is an invariance (σ breaks the β₁ translation and the scale);
 *  - bias inside, σ non-linear: softmax(σ(β₁ᵀx + β₀)/τ): no invariance at all (the reference is part of
 *    the model); weights exp(β₀) are kept so that β₀ is measured through the mass terms;
 *  - σ = identity: a linear temperature gate (oracle 18): bias inside is exactly the dense-to-sparse
 *    hook; bias outside has weights exp(β₀), the (β₀, β₁) translation and the (β₁, τ) scale.
 * D₂ in multi-atom cells: β₁ and τ get 2 (second-order independence, math-spec §6.2 [REC]); the
 * expert blocks keep their family's rule.
 */
const ACTIVATION_D2: Record<string, ExponentRule> = { beta1: 2, tau: 2 };
function activationExtract(json: GateJSON, gate: Gate, path: string): { logWeight: Float64Array; blocks: RawBlock[] } {
  const k = gate.k;
  const b0 = readAtomBlock(json, { name: 'beta0', perExpert: true, kind: 'gate' }, k, path);
  const b1 = readAtomBlock(json, { name: 'beta1', perExpert: true, kind: 'gate' }, k, path);
  return { logWeight: b0.values, blocks: [b1, tauBlock(json, k, path)] };
}
registerVoronoiGate('activation', {
  // the invariances by σ and placement are the gate's declaration (ActivationGate.invariance)
  resolve(json) {
    const inside = json.bias === 'inside';
    return (json.sigma ?? 'tanh') === 'identity' && inside ? { ...TEMPERATURE_HOOK, d2: ACTIVATION_D2 } : { extract: activationExtract, d2: ACTIVATION_D2 };
  },
});

/**
 * Hierarchical gate (math-spec §5.4): one atom per inner expert (i₁, i₂), expert index i₁·K2 + i₂,
 * log-weight ω₀_{i₁} + β₀_{i₁i₂} (outer times inner weight), atom blocks `omega1` (the group's outer
 * slope) and `beta1` (the inner slope). Normalisation: the outer translation of (ω₀, ω₁) as for
 * softmax (reference cell matched); the inner level stays in its canonical form (the last expert of
 * every group is that group's reference), because the per-group shifts of the inner softmaxes cannot
 * be matched to true cells that mix groups.
 */
registerVoronoiGate('hierarchical', {
  extract(json, gate, path) {
    const K1 = readNumber(json.K1, `${path}.K1`, { integer: true, min: 1 });
    const K2 = readNumber(json.K2, `${path}.K2`, { integer: true, min: 1 });
    const d = gate.d;
    if (K1 * K2 !== gate.k) throw new ModelFormatError(`${path}: K1·K2 = ${K1 * K2} but the gate has ${gate.k} experts`);
    const omega0 = readVector(json.omega0, `${path}.omega0`, K1);
    const omega1 = readMatrix(json.omega1, `${path}.omega1`, K1, d);
    const beta0 = readMatrix(json.beta0, `${path}.beta0`, K1, K2);
    if (!Array.isArray(json.beta1) || json.beta1.length !== K1) throw new ModelFormatError(`${path}.beta1: expected ${K1} groups, got ${describe(json.beta1)}`);
    const beta1 = (json.beta1 as unknown[]).map((g, i1) => readMatrix(g, `${path}.beta1[${i1}]`, K2, d));
    const k = K1 * K2;
    const logWeight = new Float64Array(k);
    const o1 = new Float64Array(k * d);
    const b1 = new Float64Array(k * d);
    for (let i1 = 0; i1 < K1; i1++) {
      for (let i2 = 0; i2 < K2; i2++) {
        const i = i1 * K2 + i2;
        logWeight[i] = omega0[i1] + beta0[i1][i2]; // outer weight e^{ω₀} × inner weight e^{β₀} [REC]
        for (let u = 0; u < d; u++) {
          o1[i * d + u] = omega1[i1][u];
          b1[i * d + u] = beta1[i1][i2][u];
        }
      }
    }
    return { logWeight, blocks: [{ name: 'omega1', dim: d, values: o1 }, { name: 'beta1', dim: d, values: b1 }] };
  },
});
