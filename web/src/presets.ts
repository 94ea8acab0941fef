/**
 * Default truths of the playground: one gate block per gate family (with the x range it is meant
 * for) and one expert block per expert family, for any number of true experts k*. The gate blocks
 * are those of the study presets (studies/*.yaml) where one exists; the softmax + Gaussian default
 * is the authors' truth (AUTHORS_TRUTH, math-spec §8.1).
 */
import { type ModelJSON, AUTHORS_TRUTH } from '../../src/core.js';

export const GATE_FAMILIES = ['softmax', 'topK', 'denseToSparse', 'activation', 'modified', 'hierarchical'] as const;
export type GateFamily = (typeof GATE_FAMILIES)[number];
export const EXPERT_FAMILIES = ['gaussianLinear', 'multinomialLogistic', 'regression'] as const;
export type ExpertFamily = (typeof EXPERT_FAMILIES)[number];

export const GATE_LABELS: Record<GateFamily, string> = {
  softmax: 'softmax (P0)',
  topK: 'top-K sparse (P1)',
  denseToSparse: 'dense-to-sparse temperature (P4)',
  activation: 'activation σ(β₁ᵀx)/τ (P4)',
  modified: 'modified softmax β₁ᵀM(x) (P2)',
  hierarchical: 'hierarchical 2 levels (P3)',
};
export const EXPERT_LABELS: Record<ExpertFamily, string> = {
  gaussianLinear: 'Gaussian linear (EM)',
  multinomialLogistic: 'multinomial logistic (EM)',
  regression: 'regression σ(aᵀx+b), least squares (LSE)',
};

export interface XRange { low: number; high: number }

interface GatePreset { gate: Record<string, unknown> & { type: string }; k: number; x: XRange }

const GATE_PRESETS: Record<GateFamily, GatePreset> = {
  softmax: { gate: { ...AUTHORS_TRUTH.gate }, k: 2, x: { low: 0, high: 1 } },
  topK: { gate: { type: 'topK', K: 2, beta0: [0.5, -0.5, 0], beta1: [[3], [-3], [0]] }, k: 3, x: { low: -1, high: 1 } },
  denseToSparse: { gate: { type: 'denseToSparse', tau: 0.5, beta0: [-4, 0], beta1: [[12.5], [0]] }, k: 2, x: { low: 0, high: 1 } },
  activation: { gate: { type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.2, beta0: [-1, 0], beta1: [[2], [0]] }, k: 2, x: { low: -1, high: 1 } },
  modified: { gate: { type: 'modified', map: 'sin', beta0: [0.5, 0], beta1: [[2], [0]] }, k: 2, x: { low: -2, high: 2 } },
  hierarchical: {
    gate: {
      type: 'hierarchical', K1: 2, K2: 2, omega0: [0, 0], omega1: [[4], [0]],
      beta0: [[0, 0], [0.5, 0]], beta1: [[[6], [0]], [[-6], [0]]],
    },
    k: 4,
    x: { low: -1, high: 1 },
  },
};

/** Evenly spread values from `from` to `to` (k of them). */
function spread(k: number, from: number, to: number): number[] {
  const v = (i: number) => (k === 1 ? (from + to) / 2 : from + ((to - from) * i) / (k - 1));
  return Array.from({ length: k }, (_, i) => Math.round(v(i) * 1e4) / 1e4);
}

function expertPreset(family: ExpertFamily, k: number, gate: GateFamily): ModelJSON['experts'] {
  switch (family) {
    case 'gaussianLinear':
      if (k === 2 && (gate === 'softmax' || gate === 'denseToSparse')) return structuredClone(AUTHORS_TRUTH.experts);
      return {
        type: 'gaussianLinear',
        a: spread(k, -4, 4).map((v) => [v]),
        b: spread(k, 2, -2),
        variance: spread(k, 0.09, 0.16),
      };
    case 'multinomialLogistic':
      return {
        type: 'multinomialLogistic',
        classes: 2,
        a: spread(k, 1, -1).map((v) => [v, 0]),
        b: spread(k, 2, -2).map((v) => [[v], [0]]),
      };
    case 'regression':
      return {
        type: 'regression',
        activation: 'gelu',
        a: (k === 2 ? [2, -3] : spread(k, 2, -3)).map((v) => [v]),
        b: k === 2 ? [1, 0.5] : spread(k, 1, 0.5),
        noiseVariance: 0.04,
      };
  }
}

/** The default truth for a gate × expert combination, and its x range. */
export function defaultTruth(gate: GateFamily, experts: ExpertFamily): { truth: ModelJSON; x: XRange } {
  const g = GATE_PRESETS[gate];
  return { truth: { gate: structuredClone(g.gate), experts: expertPreset(experts, g.k, gate) }, x: { ...g.x } };
}

export function isGateFamily(s: string): s is GateFamily {
  return (GATE_FAMILIES as readonly string[]).includes(s);
}
export function isExpertFamily(s: string): s is ExpertFamily {
  return (EXPERT_FAMILIES as readonly string[]).includes(s);
}
