/**
 * The Voronoi loss between a fitted and a true model (math-spec §9.4): representatives (translation
 * normalisation, temperature scale), the regions of a sparse true gate, cells, then the loss.
 */
import type { MixtureOfExperts } from '../../model/model.js';
import { ModelFormatError, OptionError } from '../../errors.js';
import { atomInvariance, atomsOf, blockOf, resolveModel, voronoiGateHook, type Atoms, type ModelInput } from '../atoms.js';
import { assignCells, evaluateLoss, sizesOf, summarise } from './cells.js';
import { resolveExponents } from './exponents.js';
import { bestReferenceFixedPoint, type Representative } from './normalisation.js';
import { infimumOverOrbit } from './infimum.js';
import { findRegions } from './regions.js';
import { rawLoss } from './raw.js';
import type { VoronoiOptions, VoronoiResult } from './types.js';
import { warning, type MoeWarning } from '../../warnings.js';

/** The input regions of a sparse (or unregistered) true gate; null for a dense gate (a single region with every expert active). */
function sparseRegions(truthModel: MixtureOfExperts, ta: Atoms, options: VoronoiOptions, sparse: boolean): { regions: number[][] | null; regionMasses: number[] } {
  if (!sparse) return { regions: null, regionMasses: [] };
  const r = findRegions(truthModel, options);
  // a dense gate has a single region with every expert active: no max to take
  if (r.regions.length === 1 && r.regions[0].length === ta.k) return { regions: null, regionMasses: [] };
  return { regions: r.regions, regionMasses: r.masses };
}

/**
 * Voronoi loss between a fitted and a true model (math-spec §9.4). Both may be `MixtureOfExperts`,
 * model JSON objects or `fit --json` outputs.
 */
export function voronoiLoss(fit: ModelInput, truth: ModelInput, options: VoronoiOptions = {}): VoronoiResult {
  const F = resolveModel(fit, 'fit');
  const T = resolveModel(truth, 'truth');
  if (F.model.d !== T.model.d) throw new ModelFormatError(`fit has input dimension ${F.model.d} but truth has ${T.model.d}`);
  if (options.raw) return rawLoss(F.json, T.json, F.model.k, T.model.k, options);
  const metric = options.metric ?? 'l2';
  if (metric !== 'l2' && metric !== 'l1') throw new OptionError(`metric: expected l2 or l1, got ${JSON.stringify(metric)}`);
  const translation = options.translation ?? 'reference';
  if (translation !== 'reference' && translation !== 'none') throw new OptionError(`translation: expected reference or none, got ${JSON.stringify(translation)}`);
  const warnings: MoeWarning[] = [];

  // Representatives: canonical JSON when normalising (the result does not depend on it), as given otherwise.
  const fitJson = translation === 'none' ? F.json : F.model.toJSON();
  const truthJson = translation === 'none' ? T.json : T.model.toJSON();
  const fa = atomsOf(F.model, fitJson, 'fit');
  const ta = atomsOf(T.model, truthJson, 'truth');
  const fNames = fa.blocks.map((b) => `${b.name}(${b.dim})`).join(', ');
  const tNames = ta.blocks.map((b) => `${b.name}(${b.dim})`).join(', ');
  if (fNames !== tNames) throw new ModelFormatError(`fit and truth have different atom blocks (fit: ${fNames}; truth: ${tNames})`);

  const { name: lossName, exponent } = resolveExponents(options.loss, fa, ta.k, { ...options, gateJson: fitJson.gate });
  const { hook: gateHook, registered } = voronoiGateHook(fa.gateType, fitJson.gate);
  const { hook: truthGateHook, registered: truthRegistered } = voronoiGateHook(ta.gateType, truthJson.gate);
  // the fitted gate's invariance group, as the gate declares it (Gate.invariance), on its atoms
  const invariance = atomInvariance(F.model.gate, gateHook);

  let scale: number | null = null;
  if (translation === 'reference' && options.scale !== false && invariance.normaliseScale) {
    scale = invariance.normaliseScale(fa, ta)?.scale ?? null;
  }

  const { regions, regionMasses } = sparseRegions(T.model, ta, options, truthGateHook.sparse || !truthRegistered);

  const maxIter = options.maxIter ?? 50;
  const kStar = ta.k;
  const transBlocks = translation === 'reference' && invariance.translation
    ? invariance.translation.blocks.map((name) => {
      const b = blockOf(fa, name);
      if (!b) throw new ModelFormatError(`fit: gate ${fa.gateType} declares a translation of block ${name}, which its atoms do not have`);
      return b;
    })
    : [];
  if (translation === 'reference' && !invariance.translation && !registered && !F.model.gate.invariance) {
    warnings.push(warning('VORONOI_NO_GATE_HOOK', `gate type ${JSON.stringify(fa.gateType)} has no registered Voronoi hook: measured without translation normalisation`, { gateType: fa.gateType }));
  }

  let best: Representative | null = null;
  if (translation === 'reference' && invariance.translation) best = bestReferenceFixedPoint(fa, ta, transBlocks, metric, exponent, regions, maxIter);
  if (!best) {
    const assign = assignCells(fa, ta, metric);
    const sizes = sizesOf(assign, kStar);
    best = { atoms: fa, assign, parts: evaluateLoss(fa, ta, assign, exponent, sizes, regions), sizes, s: 0, t: [] };
  }
  const rep = best;

  const result = summarise(rep.atoms, ta, rep.assign, rep.sizes, rep.parts, exponent, lossName, regions, regionMasses, warnings,
    translation === 'reference' && invariance.translation
      ? { logWeightShift: rep.s, translation: Object.fromEntries(transBlocks.map((b, i) => [b.name, Array.from(rep.t[i])])), scale }
      : translation === 'reference' && scale !== null ? { logWeightShift: 0, translation: {}, scale } : null);
  if (options.infimum && translation === 'reference' && invariance.translation) {
    // the declared scale orbit on the atoms (temperature: β₁ and τ; the weights exp(β₀/τ) are invariant)
    const scaleBlocks = scale !== null && invariance.scale ? invariance.scale.blocks.map((nm) => blockOf(rep.atoms, nm)).filter((b): b is NonNullable<typeof b> => b !== undefined) : null;
    const inf = infimumOverOrbit(rep, ta, transBlocks, scaleBlocks && scaleBlocks.length ? scaleBlocks : null, metric, exponent, regions);
    const s = summarise(inf.atoms, ta, inf.assign, inf.sizes, inf.parts, exponent, lossName, regions, regionMasses, [], null);
    result.infimum = {
      loss: s.loss, blocks: s.blocks, cellBlock: s.cellBlock, cells: s.cells, logWeightShift: inf.s,
      translation: Object.fromEntries(transBlocks.map((b, i) => [b.name, Array.from(inf.t[i])])), scale: inf.scale, evaluations: inf.evaluations,
    };
  }
  if (!Number.isFinite(result.loss)) {
    // a fit with an overflowing parameter (e.g. exp(β₀) = ∞, or ‖Δ‖^r past 1e308) has no finite loss: say so
    result.warnings.push(warning('VORONOI_NOT_FINITE', `the Voronoi loss is ${String(result.loss)}: a fitted parameter is too large (or not finite) to be measured; do not read it as a loss`, { loss: String(result.loss) }));
  }
  return result;
}

/** Voronoi cells of the fitted atoms (fitted indices per true atom), on the same representative as `voronoiLoss`. */
export function voronoiCells(fit: ModelInput, truth: ModelInput, options: VoronoiOptions = {}): number[][] {
  return voronoiLoss(fit, truth, options).cells;
}
