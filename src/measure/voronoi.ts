/**
 * Voronoi cells and Voronoi losses between a fitted and a true mixing measure
 * (math-spec §1.3–1.6, §2.3, §3.5, §4.3, §5.3, §8.1–8.2, §9.4).
 *
 *   D(G, G*) = Σⱼ |Σ_{i∈Aⱼ} e^{ℓᵢ} − e^{ℓ*ⱼ}| + Σⱼ Σ_{i∈Aⱼ} e^{ℓᵢ} Σ_blocks ‖θᵢ[block] − θ*ⱼ[block]‖^{e(block, |Aⱼ|)}
 *
 * with Aⱼ the Voronoi cell of true atom j, ℓ the log-weights (β₀) and e the exponents of a preset
 * (D1, D2, D2strong, Dr) or given explicitly.
 *
 * Normalisation (default; README wording in `NORMALISATION_DOC`): the softmax gate is invariant under
 * a common shift of all (β₁ᵢ, β₀ᵢ), so the loss is computed on a canonical representative of the
 * fitted translation class, the one that matches the true reference expert (the last true atom)
 * inside its own cell: β₀ is shifted so that Σ_{i∈A_ref} e^{β₀ᵢ} = e^{β*₀,ref}, and β₁ so that the
 * e^{β₀}-weighted mean of β₁ over A_ref equals β*₁,ref (math-spec §8.2). Because cells depend on β₁,
 * this is a fixed point (cells → shift → cells); it is searched from every fitted atom taken as the
 * reference, and the fixed point with the smallest loss is kept. Temperature gates are first
 * rescaled to the true τ. `raw: true` instead reproduces the authors' `loss_SGaME_exact` exactly.
 *
 * The parts, one concept each: voronoi/exponents.ts (r̄ and the loss presets), voronoi/cells.ts
 * (cells and the loss on fixed cells), voronoi/normalisation.ts (the fixed point), voronoi/regions.ts
 * (the input regions of a top-K truth), voronoi/raw.ts (the authors' loss) and voronoi/loss.ts
 * (`voronoiLoss`, which puts them together).
 */
export type { VoronoiMetric, VoronoiOptions, VoronoiRegion, VoronoiResult } from './voronoi/types.js';
export { rbar, parseExponentExpr, resolveExponents, LOSS_PRESETS, type ExponentFunction, type ExplicitExponents, type LossSpec } from './voronoi/exponents.js';
export { assignCells, cellsFromAssignment } from './voronoi/cells.js';
export { NORMALISATION_DOC } from './voronoi/normalisation.js';
export { voronoiLoss, voronoiCells } from './voronoi/loss.js';
