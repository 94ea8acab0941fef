/**
 * The paragraph under each claim that is not reproduced (issue 15, "Must show"): the estimator's
 * record in the store (run-facts.ts), the summaries that disagree, the local slopes, then the first
 * cause the data support and the run that would decide it.
 */
import type { SettingFacts } from './run-facts.js';
import type { ClaimRow } from './reproduce-collect.js';
import { FROM_MODEL } from './report-view.js';
import { num, ci, pct } from './report-text.js';

/**
 * Why a claim is not reproduced, from the data, and what run would decide it. The causes are tested in
 * a fixed order and the first that the data support is named (each test is stated in the text it writes).
 */
export function diagnose(c: ClaimRow, facts?: SettingFacts, cellSibling?: ClaimRow): string {
  const parts: string[] = [];
  const theory = c.theory;
  const ls = c.localSlopes.map((w) => w.slope).filter(Number.isFinite);
  const last = ls.length ? ls[ls.length - 1] : null;
  const lastWin = c.localSlopes.length ? c.localSlopes[c.localSlopes.length - 1] : null;
  // what the store says about the fits
  let far = false;
  let blowup = false;
  let stuck = false;
  if (facts && facts.ok > 0) {
    const f = facts;
    if (f.nonConverged > 0) {
      const limit = f.nonConverged - f.ridge;
      stuck = limit / f.ok >= 0.2;
      parts.push(`${f.nonConverged} of ${f.ok} fits (${pct(f.nonConverged / f.ok)}) are reported not converged, ${f.nonConvergedLarge} of the ${f.largeJobs} at n ≥ ${f.nLargeFrom}${f.ridge ? `; ${f.ridge === f.nonConverged ? 'all' : f.ridge} of them ended on a flat ridge (the gradient still positive along a flat direction after the finish: typical of over-specified fits, and of separation when coefficients run away)` : ''}${limit > 0 ? `; ${limit} stopped at the iteration or time limit` : ''}.`);
    }
    if (f.varianceFloor > 0) parts.push(`${f.varianceFloor} of ${f.ok} fits have an expert variance at the floor (degenerate fits: an expert on too few distinct points).`);
    if (f.gateBound !== null && f.atBound > 0) parts.push(`${f.atBound} of ${f.ok} fits (${pct(f.atBound / f.ok)}) have a gate coefficient on the bound ${f.gateBound}.`);
    if (f.expertBound !== null && f.atExpertBound > 0) parts.push(`${f.atExpertBound} of ${f.ok} fits (${pct(f.atExpertBound / f.ok)}) have an expert coefficient on the bound ${f.expertBound}.`);
    if (f.expertBound !== null && f.beyondExpertBound > 0) parts.push(`${f.beyondExpertBound} of ${f.ok} fits (${pct(f.beyondExpertBound / f.ok)}) have an expert coefficient beyond the bound ${f.expertBound} in the stored model's units (the fit honoured the box in other units, e.g. standardised ones).`);
    if (f.expertFar > 0) {
      blowup = f.smallJobs > 0 && f.expertFarSmall / f.smallJobs >= 0.2;
      parts.push(`${f.expertFar} of ${f.ok} fits have an expert coefficient above 10 × max(1, the truth's largest ${num(f.trueExpertMax, 1)}) (largest ${f.expertMax.toExponential(1)}), ${f.expertFarSmall} of the ${f.smallJobs} at n ≤ ${f.nSmallTo}: ${boundsText(f)}.`);
    }
  }
  if (c.aboveOne) {
    const a = c.aboveOne;
    far = a.large >= 0.2;
    parts.push(`The loss exceeds 1 in ${pct(a.small)} of the fits at n ≤ ${a.nSmallTo} and ${pct(a.large)} at n ≥ ${a.nLargeFrom}.`);
  }
  if (c.meanSlope !== null && c.medianSlope !== null && Math.abs(c.meanSlope - c.medianSlope) > 0.2) {
    parts.push(`The mean slope (${num(c.meanSlope)}) and the median slope (${num(c.medianSlope)}) differ by more than 0.2: a few replicates far from the rest dominate the mean.`);
  }
  if (ls.length >= 2) {
    const spread = Math.max(...ls) - Math.min(...ls);
    parts.push(`Local slopes per decade ${ls.map((v) => num(v)).join(' → ')}${spread > 0.5 ? ' (unstable across decades)' : last! > ls[0] + 0.1 ? ' (flattening toward large n)' : last! < ls[0] - 0.1 ? ' (steepening toward large n)' : ''}${lastWin && theory !== null && c.kind === 'rate' ? `; the last decade (n ${lastWin.nFrom}–${lastWin.nTo}) alone gives ${num(last)} against the theory ${num(theory, 3)}` : ''}.`);
  }
  // the cause, and the run that would decide
  const width = c.ci ? c.ci[1] - c.ci[0] : null;
  const reps = c.reps;
  if (c.local) {
    parts.push(localCause(c, facts));
  } else if (c.kind === 'slow' && c.verdict === 'contradicted') {
    if (blowup || stuck) parts.push(`The estimator's record above (${[blowup ? 'runaway expert coefficients at small n' : '', stuck ? 'fits stopped at the iteration or time limit' : ''].filter(Boolean).join(', ')}) already makes the measured slope unreliable: ${[blowup ? (facts?.expertBound != null ? expertBoxRun(facts) : 'a compact Θ for the experts') : '', stuck ? 'a larger iteration limit' : ''].filter(Boolean).join(' and ')} come${blowup && stuck ? '' : 's'} first.`);
    parts.push(`Cause: the estimator converges polynomially at this one fixed truth. The slow-rate result (math-spec §1.6) is a minimax lower bound — the infimum over estimators of the supremum over mixing measures in the class — so it says that some truths near this one are slow at each n, not that the MLE at a fixed truth is; a fixed-truth run measures the pointwise rate${c.preset === 'temperature' ? ', here of β/τ at τ̂ = τ* (the identified quantity; math-spec §6.1 [REC]), which the scale invariance leaves as a softmax-type parameter' : ''}. Run that would decide: truths that approach the degenerate configuration as n grows (local alternatives, e.g. the vanishing parameter at n^−1/4, one truth per n) beside the same design for the polynomial counterpart.`);
  } else if (c.loss.startsWith('param:') && cellSibling && cellSibling.verdict === 'reproduced') {
    parts.push(`Cause: the statistic — ${c.loss} is the largest error over the fitted atoms, unweighted, which the theorem does not bound (an atom of small weight may wander); the theorem bounds the weighted cell sums, and ${cellSibling.loss} on the same fits is reproduced (${cellSibling.summary}: ${num(cellSibling.slope)} ${ci(cellSibling.ci)}). Nothing to rerun: read ${cellSibling.loss}.`);
  } else if (c.kind === 'rate' && facts && onBound(facts) !== null && c.slope !== null && theory !== null && c.slope > theory) {
    const b = onBound(facts)!;
    parts.push(`Cause: the bound on Θ — ${pct(b.share)} of the fits have ${b.block === 'gate' ? 'a gate' : 'an expert'} coefficient on the bound ${b.bound}, where the error cannot shrink, and the 0.8-quantile reads the upper fifth of the fits. Run that would decide: the same design with a larger bound (or none) beside this one, to separate fits that want a larger coefficient from the truth's neighbourhood.`);
  } else if (blowup && c.slope !== null && theory !== null && c.slope >= theory - 0.2) {
    parts.push(`Cause: the estimator — runaway expert coefficients (quasi-separation, ${facts!.expertFarSmall} of the ${facts!.smallJobs} fits at n ≤ ${facts!.nSmallTo}) make the fits of that range unreliable; the slope is not steeper than the theory, so they do not explain it alone. Run that would decide: ${expertBoxRun(facts)} and n from 1e3 to 1e6.`);
  } else if (blowup && last !== null && theory !== null && Math.abs(last - theory) <= 0.3) {
    parts.push(`Cause: too small n — the small-n fits with runaway expert coefficients (quasi-separation) steepen the curve, while the last decade already agrees with the theory. Run that would decide: n from 1e3 to 1e6 (the same 3 decades shifted up one), or ${facts?.expertBound != null ? expertBoxRun(facts) : 'a bound on the expert coefficients'}.`);
  } else if (blowup) {
    parts.push(`Cause: the estimator — runaway expert coefficients at small n (quasi-separation) make the small-n losses huge and the slope too steep; the last decade does not yet agree with the theory. Run that would decide: ${expertBoxRun(facts)} and n up to 1e6.`);
  } else if (stuck) {
    parts.push(`Cause: the estimator — ${pct((facts!.nonConverged - facts!.ridge) / facts!.ok)} of the fits stopped at the iteration or time limit, so the losses are those of unfinished fits. Run that would decide: the same design with a larger iteration limit (or time limit) and a tighter check that the likelihood is no longer rising.`);
  } else if (far && c.kind === 'rate' && c.farFits && Number.isFinite(c.farFits.medianError) && c.farFits.exponent > 1) {
    const f = c.farFits;
    const rate = 1 / (2 * f.exponent);
    const C = f.medianError * f.medianN ** rate;
    const nBelow = C ** (2 * f.exponent);
    parts.push(`In the ${f.count} far fits at n ≥ ${f.nFrom} the ${f.block} term makes ${pct(f.share)} of the loss; their median largest ${f.block} error is ${num(f.medianError)} (exponent ${num(f.exponent, 0)} in its cell, rate n^−1/${num(2 * f.exponent, 0)}). Cause: a large constant — at n ≈ ${f.medianN} that error is C·n^−1/${num(2 * f.exponent, 0)} with C ≈ ${num(C, 1)}, so its term ≈ w·C^${num(f.exponent, 0)}·n^−1/2 (w the cell's weight) stays above w at n below ≈ ${nBelow.toExponential(0)}; the loss is the ${num(f.exponent, 0)}th power of a slowly shrinking error, and its upper quantile is correspondingly noisy. Run that would decide: far more replicates (the interval of a 4th-power loss narrows slowly), or the per-parameter statistic cell:${f.block} on the same fits, whose rate this is.`);
  } else if (far && c.kind === 'rate') {
    parts.push(`Cause: the estimator (local maxima / a wandering atom) or a large constant — ${pct(c.aboveOne!.large)} of the fits at the largest n are still far (loss > 1), and the 0.8-quantile reads them; whether their share falls with n is what the claim turns on. Run that would decide: more tries per fit (restarts) to separate local maxima from the MLE, and n up to 1e6 with ≥ 40 replicates.`);
  } else if (width !== null && width > 0.5) {
    const factor = Math.ceil((width / 0.4) ** 2);
    parts.push(`Cause: too few replicates for the spread of this loss (interval ${num(width)} wide with ${reps} per n). Run that would decide: about ${factor}× the replicates (${factor * reps} per n; the width falls like 1/√replicates), or one more decade of n at the same cost.`);
  } else if (c.verdict === 'inconclusive') {
    parts.push('Cause: the interval is narrow but straddles the threshold. Run that would decide: one more decade of n (or 4× the replicates).');
  } else if (c.verdict === 'contradicted' && c.kind === 'rate') {
    parts.push(`Cause: not visible in the estimator's record (no runaway coefficients, few far fits); the quantile falls more slowly than the theorem allows on this range, which a large constant (pre-asymptotic) or the claim itself can do. Run that would decide: one more decade of n; the last decade's local slope is the best current estimate.`);
  }
  if (c.bestModel) parts.push(`Best trend model of the 0.8-quantile: ${c.bestModel}.`);
  return parts.join(' ');
}

/** Which blocks of Θ the setting bounds, and by what (its `gateBound` and `expertBound`). */
function boundsText(f: SettingFacts): string {
  if (f.gateBound !== null && f.expertBound !== null) return `the gate is bounded by ${f.gateBound} and the experts by ${f.expertBound} (\`gateBound\`, \`expertBound\`)`;
  if (f.gateBound !== null) return `only the gate is bounded (by ${f.gateBound}), the experts are not (Θ is compact in the theorems)`;
  if (f.expertBound !== null) return `only the experts are bounded (by ${f.expertBound}), the gate is not (Θ is compact in the theorems)`;
  return 'neither the gate nor the experts are bounded (Θ is compact in the theorems)';
}

/** The bounded block with the larger share of fits on its bound, when that share is ≥ 10 %. */
function onBound(f: SettingFacts): { block: 'gate' | 'expert'; bound: number; share: number } | null {
  const ok = Math.max(f.ok, 1);
  const gate = f.gateBound !== null ? { block: 'gate' as const, bound: f.gateBound, share: f.atBound / ok } : null;
  const expert = f.expertBound !== null ? { block: 'expert' as const, bound: f.expertBound, share: f.atExpertBound / ok } : null;
  const best = gate && expert ? (expert.share > gate.share ? expert : gate) : gate ?? expert;
  return best && best.share >= 0.1 ? best : null;
}

/** The run that bounds the experts, given what the setting already bounds. */
function expertBoxRun(f: SettingFacts | undefined): string {
  if (!f || f.expertBound === null) return 'a compact Θ for the experts (`expertBound`, a bound on their coefficients as gateBound is for the gate: EM\'s multinomial experts and least squares take it)';
  if (f.beyondExpertBound > 0) return `the expert bound ${f.expertBound} applied in the model's units`;
  return `a tighter expert bound than ${f.expertBound}`;
}

/** The cause paragraph of a local-alternatives claim: what the worst case says against the two predictions. */
export function localCause(c: ClaimRow, facts: SettingFacts | undefined): string {
  const l = c.local!;
  const blowup = facts !== undefined && facts.smallJobs > 0 && facts.expertFarSmall / facts.smallJobs >= 0.2;
  // a density or regression distance is not a parameter error: no comparison with ε
  if (!FROM_MODEL.has(c.loss.split(':')[0])) return c.verdict === 'reproduced' ? '' : 'A distance between the fitted and the true model, not a parameter error: the alternatives do not enter it.';
  const ratio = l.lastEpsilon > 0 ? l.lastMedian / l.lastEpsilon : NaN;
  const level = `At n = ${c.nMax} the worst truth's median loss is ${num(l.lastMedian, 3)} against its ε = ${num(l.lastEpsilon, 3)} (ratio ${num(ratio)}).`;
  const wide = c.ci !== null && c.ci[1] - c.ci[0] > 0.5;
  if (blowup) return `${level} Cause: the estimator — runaway expert coefficients make the worst case (the upper fifth of the fits of one truth) a record of quasi-separation, not of the alternatives; with both gates alike this says nothing about the PDE. Run that would decide: ${expertBoxRun(facts)}, then the same local alternatives.`;
  if (wide) return `${level} Cause: too few replicates per truth for the spread of this loss (${c.reps} per truth and n). Run that would decide: about ${Math.ceil(((c.ci![1] - c.ci![0]) / 0.4) ** 2)}× the replicates.`;
  if (c.kind === 'slow' && c.verdict === 'contradicted') return `${level} Cause: the estimator separates the alternatives from the centre at a polynomial rate in this direction, so this construction does not show the lower bound (another direction, or smaller ε, may). Run that would decide: a family that shrinks faster (a larger \`rate\`) or a direction along which the density moves at higher order.`;
  return `${level} ${Number.isFinite(ratio) && ratio > 0.5 ? 'The error is of the size of ε itself: the fits do not separate the alternatives from the centre.' : 'The error is well below ε: the fits separate the alternatives.'}`;
}
