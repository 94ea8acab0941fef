/**
 * The "measure" step of a study job: a table from loss names (as written in study configs) to the
 * measuring instruments of `src/measure/`. A config asks for `NAME` (the loss value) or
 * `NAME:BLOCK` (one block of a Voronoi loss, e.g. `D2:beta1`); each base measure is computed once
 * per job and its blocks are read from the same result.
 *
 * Wiring a new instrument in is one entry here.
 */
import type { MixtureOfExperts } from '../model/model.js';
import type { Dataset, XDesign } from '../model/data.js';
import type { Rng } from '../numeric/rng.js';
import { OptionError } from '../errors.js';
import { voronoiLoss, type VoronoiOptions } from '../measure/voronoi.js';

export interface MeasureContext {
  fit: MixtureOfExperts;
  truth: MixtureOfExperts;
  /** The data the model was fitted to. */
  data: Dataset;
  /** The x design of the study (for Monte-Carlo distances over x). */
  design: XDesign;
  /** A stream for Monte-Carlo measures (split from the job seed: deterministic). */
  rng: Rng;
  /** Options from the config (`losses[].options`). */
  options: Record<string, unknown>;
}

export interface MeasureValue {
  value: number;
  /** Per-block values (`beta1`, `a`, …) for `NAME:BLOCK` losses. */
  blocks?: Record<string, number>;
}

export interface MeasureEntry {
  help: string;
  /** Set while the instrument has not landed yet: jobs asking for it fail with this reason. */
  pending?: string;
  fn: (ctx: MeasureContext) => MeasureValue;
}

function pending(what: string): (ctx: MeasureContext) => MeasureValue {
  return () => {
    throw new OptionError(`measure not available yet: ${what}`);
  };
}

/** A Voronoi loss preset as a measure: value = the loss, blocks = each block's contribution (they add up to the loss, with `mass`). */
function voronoi(preset: string): (ctx: MeasureContext) => MeasureValue {
  return (ctx) => {
    const r = voronoiLoss(ctx.fit, ctx.truth, { loss: preset, x: ctx.design, seed: ctx.rng.uint32(), ...(ctx.options as VoronoiOptions) });
    return { value: r.loss, blocks: r.blocks };
  };
}

export const MEASURES: Record<string, MeasureEntry> = {
  D1: { help: 'Voronoi loss D1, exponent 1 on every block (exact-specified, math-spec §2.3); D1:BLOCK = that block\'s term', fn: voronoi('D1') },
  D2: { help: 'Voronoi loss D2 (over-specified: r̄ exponents for Gaussian linear experts, math-spec §2.3); D2:BLOCK = that block\'s term', fn: voronoi('D2') },
  D2strong: { help: 'Voronoi loss with exponent 2 in multi-atom cells (strongly identifiable, math-spec §5.3)', fn: voronoi('D2strong') },
  param: {
    help: 'parameter error: param:BLOCK = max over fitted atoms of ‖θᵢ[BLOCK] − θ*_{j(i)}[BLOCK]‖ (normalised, Voronoi-assigned); value = the max over blocks',
    fn: (ctx) => {
      const r = voronoiLoss(ctx.fit, ctx.truth, { loss: 'D1', x: ctx.design, seed: ctx.rng.uint32(), ...(ctx.options as VoronoiOptions) });
      return { value: Math.max(...Object.values(r.blockMax)), blocks: r.blockMax };
    },
  },
  hellinger: { help: 'E_X Hellinger distance between fitted and true conditional densities', pending: 'src/measure/distance.ts', fn: pending('densityDistance (src/measure/distance.ts)') },
  tv: { help: 'E_X total-variation distance between fitted and true conditional densities', pending: 'src/measure/distance.ts', fn: pending('densityDistance (src/measure/distance.ts)') },
};

export function measureNames(): string[] {
  return Object.keys(MEASURES);
}

/**
 * Compute every requested loss of a job. Returns name → value (NaN when a block is missing or the
 * value is not finite is kept as NaN; the store writes NULL).
 */
export function measureAll(losses: readonly { name: string; base: string; block?: string; options: Record<string, unknown> }[], ctx: Omit<MeasureContext, 'options'>): Record<string, number> {
  const cache = new Map<string, MeasureValue>();
  const out: Record<string, number> = {};
  for (const l of losses) {
    const key = `${l.base}\u0000${JSON.stringify(l.options)}`;
    let v = cache.get(key);
    if (!v) {
      const entry = MEASURES[l.base];
      if (!entry) throw new OptionError(`unknown loss ${JSON.stringify(l.base)}`);
      v = entry.fn({ ...ctx, rng: ctx.rng.split('measure', l.base), options: l.options });
      cache.set(key, v);
    }
    if (l.block) {
      const b = v.blocks?.[l.block];
      if (b === undefined) throw new OptionError(`loss ${l.name}: ${l.base} has no block ${JSON.stringify(l.block)} (blocks: ${Object.keys(v.blocks ?? {}).join(', ') || 'none'})`);
      out[l.name] = b;
    } else out[l.name] = v.value;
  }
  return out;
}
