/**
 * Rate fits for the report: the study's view of `fitRate` (src/measure/rate.ts: OLS of log mean loss
 * on log n as in the authors' code, math-spec §8.1 "Slope"; the median-based slope, math-spec §8.5;
 * seeded bootstrap percentile intervals over replicates). This adapter is the single place where the
 * report calls the measuring layer.
 */
export { fitRate, type RateFit, type RateOptions } from '../measure/rate.js';
export { summariseRate, judge, claimOf, VERDICT_RULE, type RateSummary, type LocalSlope, type Verdict, type ClaimSpec, type ClaimKind } from '../measure/rate-summary.js';
