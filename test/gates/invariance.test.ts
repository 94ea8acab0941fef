/**
 * Each gate declares its invariance group once (`Gate.invariance`, gates/gate.ts). Checked here for
 * every gate family and configuration: a random element of the declared group leaves the gate
 * probabilities and the model density unchanged at random points, and the canonical form (JSON in,
 * canonical JSON out) is the same for both; a move outside the group changes the density (the
 * declaration is not too broad). The Voronoi loss reads the declaration from the gate: without it
 * there is no normalisation and no infimum.
 */
import { describe, expect, it } from 'vitest';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { Rng } from '../../src/numeric/rng.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { voronoiLoss } from '../../src/measure/voronoi.js';
import { NO_INVARIANCE, type GateInvariance, type GateJSON } from '../../src/gates/gate.js';

type Nested = number | Nested[];
const mapNumbers = (v: Nested, f: (x: number) => number): Nested => (Array.isArray(v) ? v.map((e) => mapNumbers(e, f)) : f(v));

/** The gate JSON moved by the group element (t₀, t, c) of `inv`: translation first, then scale. */
function move(json: GateJSON, inv: GateInvariance, t0: number, t: number[], c: number): GateJSON {
  const out = structuredClone(json) as Record<string, Nested>;
  if (inv.translation) {
    const w = inv.translation.weight;
    out[w] = (out[w] as number[]).map((v) => v + t0);
    for (const b of inv.translation.blocks) out[b] = (out[b] as number[][]).map((row) => row.map((v, u) => v + t[u]));
  }
  if (inv.scale) for (const b of inv.scale.blocks) out[b] = mapNumbers(out[b], (v) => v * c);
  return out as GateJSON;
}

function scaled(json: GateJSON, blocks: string[], c: number): GateJSON {
  const out = structuredClone(json) as Record<string, Nested>;
  for (const b of blocks) out[b] = mapNumbers(out[b], (v) => v * c);
  return out as GateJSON;
}

const K = 3;
const D = 2;
const EXPERTS = { type: 'gaussianLinear', a: [[1, -0.5], [-1, 0.3], [0.2, 0.8]], b: [0.5, -0.5, 1], variance: [0.2, 0.3, 0.25] };
const HEXPERTS = { type: 'gaussianLinear', a: [[1, -0.5], [-1, 0.3], [0.2, 0.8], [0.4, -0.9]], b: [0.5, -0.5, 1, 0], variance: [0.2, 0.3, 0.25, 0.15] };

/** Random gate parameters: beta0 [k], beta1 [k][d] (the reference row zeroed where the family requires it). */
function linearBlocks(rng: Rng, zeroReference: { beta0: boolean; beta1: boolean }): { beta0: number[]; beta1: number[][] } {
  const beta0 = Array.from({ length: K }, () => rng.normal());
  const beta1 = Array.from({ length: K }, () => Array.from({ length: D }, () => 1.5 * rng.normal()));
  if (zeroReference.beta0) beta0[K - 1] = 0;
  if (zeroReference.beta1) beta1[K - 1] = beta1[K - 1].map(() => 0);
  return { beta0, beta1 };
}

interface Case {
  name: string;
  gate: (rng: Rng) => GateJSON;
  experts: Record<string, unknown>;
  /** A move outside the declared group. */
  outside: (g: GateJSON) => GateJSON;
  expected: GateInvariance;
}

const free = { beta0: false, beta1: false };
const CASES: Case[] = [
  { name: 'softmax', gate: (r) => ({ type: 'softmax', ...linearBlocks(r, free) }), experts: EXPERTS, outside: (g) => scaled(g, ['beta0', 'beta1'], 1.7), expected: { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: null } },
  { name: 'topK (K = 2)', gate: (r) => ({ type: 'topK', K: 2, ...linearBlocks(r, free) }), experts: EXPERTS, outside: (g) => scaled(g, ['beta0', 'beta1'], 1.7), expected: { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: null } },
  { name: 'modified (sin)', gate: (r) => ({ type: 'modified', map: 'sin', ...linearBlocks(r, free) }), experts: EXPERTS, outside: (g) => scaled(g, ['beta0', 'beta1'], 1.7), expected: { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: null } },
  { name: 'denseToSparse (τ estimated)', gate: (r) => ({ type: 'denseToSparse', tau: 0.7, ...linearBlocks(r, free) }), experts: EXPERTS, outside: (g) => scaled(g, ['beta1', 'tau'], 1.7), expected: { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: { blocks: ['beta0', 'beta1', 'tau'], anchor: 'tau' } } },
  { name: 'activation tanh, bias outside', gate: (r) => ({ type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.6, ...linearBlocks(r, { beta0: false, beta1: true }) }), experts: EXPERTS, outside: (g) => scaled(g, ['beta1', 'tau'], 1.7), expected: { translation: { weight: 'beta0', blocks: [] }, scale: null } },
  { name: 'activation sigmoid, bias inside', gate: (r) => ({ type: 'activation', sigma: 'sigmoid', bias: 'inside', tau: 0.6, ...linearBlocks(r, { beta0: true, beta1: true }) }), experts: EXPERTS, outside: (g) => scaled(g, ['beta0', 'beta1', 'tau'], 1.7), expected: NO_INVARIANCE },
  { name: 'activation identity, bias outside', gate: (r) => ({ type: 'activation', sigma: 'identity', bias: 'outside', tau: 0.6, ...linearBlocks(r, free) }), experts: EXPERTS, outside: (g) => scaled(g, ['beta0', 'beta1', 'tau'], 1.7), expected: { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: { blocks: ['beta1', 'tau'], anchor: 'tau' } } },
  { name: 'activation identity, bias inside', gate: (r) => ({ type: 'activation', sigma: 'identity', bias: 'inside', tau: 0.6, ...linearBlocks(r, free) }), experts: EXPERTS, outside: (g) => scaled(g, ['beta1', 'tau'], 1.7), expected: { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: { blocks: ['beta0', 'beta1', 'tau'], anchor: 'tau' } } },
  {
    name: 'hierarchical 2×2',
    gate: (r) => ({
      type: 'hierarchical', K1: 2, K2: 2,
      omega0: [r.normal(), r.normal()], omega1: [[r.normal(), r.normal()], [r.normal(), r.normal()]],
      beta0: [[r.normal(), 0], [r.normal(), 0]], beta1: [[[r.normal(), r.normal()], [0, 0]], [[r.normal(), r.normal()], [0, 0]]],
    }),
    experts: HEXPERTS,
    outside: (g) => scaled(g, ['omega0', 'omega1'], 1.7),
    expected: { translation: { weight: 'omega0', blocks: ['omega1'] }, scale: null },
  },
];

function gateDiff(a: MixtureOfExperts, b: MixtureOfExperts, X: Float64Array, y: Float64Array, n: number): { prob: number; density: number } {
  const pa = a.gateProbabilities(X, n);
  const pb = b.gateProbabilities(X, n);
  let prob = 0;
  for (let i = 0; i < pa.length; i++) prob = Math.max(prob, Math.abs(pa[i] - pb[i]));
  let density = 0;
  for (let t = 0; t < n; t++) {
    const la = a.logLikelihood(X.subarray(t * a.d, (t + 1) * a.d), y.subarray(t, t + 1), 1);
    const lb = b.logLikelihood(X.subarray(t * b.d, (t + 1) * b.d), y.subarray(t, t + 1), 1);
    density = Math.max(density, Math.abs(la - lb) / Math.max(1, Math.abs(la)));
  }
  return { prob, density };
}

const flat = (j: unknown): number[] => (Array.isArray(j) ? j.flatMap(flat) : typeof j === 'number' ? [j] : []);
function canonicalGap(a: MixtureOfExperts, b: MixtureOfExperts): number {
  const ga = a.toJSON().gate as Record<string, unknown>;
  const gb = b.toJSON().gate as Record<string, unknown>;
  expect(Object.keys(gb)).toEqual(Object.keys(ga));
  let gap = 0;
  for (const key of Object.keys(ga)) {
    const va = flat(ga[key]);
    const vb = flat(gb[key]);
    expect(vb.length).toBe(va.length);
    for (let i = 0; i < va.length; i++) gap = Math.max(gap, Math.abs(va[i] - vb[i]) / Math.max(1, Math.abs(va[i])));
  }
  return gap;
}

describe('each gate declares its invariance group once', () => {
  for (const c of CASES) {
    it(`${c.name}: the declared group keeps the density and the canonical form; a move outside it does not`, () => {
      const rng = new Rng(20260102n).split(c.name);
      const json = c.gate(rng);
      const model = MixtureOfExperts.fromJSON({ gate: json, experts: c.experts } as ModelJSON, 'model');
      expect(model.gate.invariance).toEqual(c.expected);
      const inv = model.gate.invariance!;
      const n = 64;
      const X = new Float64Array(n * D).map(() => 4 * rng.uniform() - 2);
      const { y } = model.sample(X, n, rng.split('y'));
      for (let trial = 0; trial < 3; trial++) {
        const moved = move(json, inv, 2 * rng.normal(), [2 * rng.normal(), 2 * rng.normal()], Math.exp(rng.normal()));
        const m2 = MixtureOfExperts.fromJSON({ gate: moved, experts: c.experts } as ModelJSON, 'moved');
        const d = gateDiff(model, m2, X, y, n);
        expect(d.prob).toBeLessThan(1e-12);
        expect(d.density).toBeLessThan(1e-12);
        expect(canonicalGap(model, m2)).toBeLessThan(1e-9);
      }
      const off = MixtureOfExperts.fromJSON({ gate: c.outside(json), experts: c.experts } as ModelJSON, 'outside');
      expect(gateDiff(model, off, X, y, n).prob).toBeGreaterThan(1e-3);
    });
  }
});

describe('the Voronoi loss uses the declaration', () => {
  // the authors' truth moved by t₀ = 0.5, t = 1 (a point of its orbit)
  const moved: ModelJSON = { ...AUTHORS_TRUTH, gate: { type: 'softmax', beta0: [-7.5, 0.5], beta1: [[26], [1]] } };

  it('normalises and takes the infimum over the declared translation; without a declaration it measures as given', () => {
    const declared = voronoiLoss(moved, AUTHORS_TRUTH, { loss: 'D1', infimum: true });
    expect(declared.normalisation).not.toBeNull();
    expect(declared.infimum).toBeDefined();
    expect(declared.loss).toBeLessThan(1e-9); // the move is inside the orbit: the representative is the truth
    const fit = MixtureOfExperts.fromJSON(moved, 'fit');
    Object.defineProperty(fit.gate, 'invariance', { value: NO_INVARIANCE });
    const none = voronoiLoss(fit, AUTHORS_TRUTH, { loss: 'D1', infimum: true, translation: 'reference' });
    expect(none.normalisation).toBeNull();
    expect(none.infimum).toBeUndefined();
  });

  it('rescales a temperature fit by its declared scale (anchor τ)', () => {
    const truth: ModelJSON = { gate: { type: 'denseToSparse', tau: 0.5, beta0: [0.4, 0], beta1: [[2], [0]] }, experts: { type: 'gaussianLinear', a: [[1], [-1]], b: [0, 0.5], variance: [0.1, 0.2] } };
    const fit = structuredClone(truth);
    Object.assign(fit.gate, { tau: 1.5, beta0: [1.2, 0], beta1: [[6], [0]] }); // c = 3: the same gate
    const r = voronoiLoss(fit, truth, { loss: 'D1', scale: true, infimum: true });
    expect(r.loss).toBeLessThan(1e-9);
    expect(r.normalisation?.scale).toBeCloseTo(1, 12); // both canonical forms have ‖β₁‖ = 1: c = τ*/τ̂ = 1
    expect(r.infimum?.loss).toBeLessThan(1e-9);
    const m = MixtureOfExperts.fromJSON(fit, 'fit');
    Object.defineProperty(m.gate, 'invariance', { value: { ...m.gate.invariance!, scale: null } });
    const unscaled = voronoiLoss(m, truth, { loss: 'D1' });
    expect(unscaled.normalisation).not.toBeNull(); // still translated
    expect(unscaled.normalisation!.scale).toBeNull(); // but not rescaled: the scale comes from the declaration
  });
});
