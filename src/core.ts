/**
 * moelab's browser-safe public API: numerics, gates, experts, models, the EM and LSE fits,
 * losses and distances, identifiability, standard errors, model-selection criteria, and one study
 * job (plan → simulate → fit → measure → row). Nothing here imports a Node built-in or a native
 * package: its static import closure is pure TypeScript (test/layers.test.ts checks it), so the web
 * playground bundles it and a command that only fits starts without loading the study machinery.
 * Published as `moelab/core`; `moelab` (src/index.ts) re-exports all of it plus the Node-side API.
 */
export * from './errors.js';
export * from './warnings.js';
export { Rng, deriveSeed, splitmix64 } from './numeric/rng.js';
export { lbfgs, type LbfgsOptions, type LbfgsResult } from './numeric/lbfgs.js';
export { levenbergMarquardt, type LeastSquaresProblem, type LMOptions, type LMResult } from './numeric/lm.js';
export { jacobiSVD, type SVDResult } from './numeric/svd.js';
export { erf, erfc, normalCdf, normalPdf } from './numeric/special.js';

// families: the shared floor, gates, experts (and their registries)
export type { BlockInfo } from './family/blocks.js';
export type { GateMStepOptions, GateMStepInfo, GateState, ExpertMStepOptions } from './family/mstep.js';
export { LinearSoftmaxCore } from './family/linear-softmax.js';
export { LINEAR_TRANSLATION, TEMPERATURE_INVARIANCE, NO_INVARIANCE, type Gate, type GateJSON, type GateInvariance } from './gates/gate.js';
export { SoftmaxGate } from './gates/softmax.js';
export { TopKGate } from './gates/top-k.js';
export { TemperatureGate } from './gates/temperature.js';
export { ActivationGate, ACTIVATIONS, type ActivationName, type BiasPlacement } from './gates/activation.js';
export { ModifiedGate, registerGateMap, gateMap, gateMapNames, type GateMap } from './gates/modified.js';
export { HierarchicalGate } from './gates/hierarchical.js';
export { sampleExperts } from './gates/common.js';
export { registerGate, gateFactory, gateTypes, parseGateSpec, type GateFactory } from './gates/registry.js';
export type { ExpertFamily, ExpertJSON } from './experts/expert.js';
export { GaussianLinearExperts } from './experts/gaussian-linear.js';
export {
  MultinomialLogisticExperts, multinomialOptionsFromJSON, multinomialLogisticFactory, type MultinomialLogisticOptions,
} from './experts/multinomial-logistic.js';
export {
  RegressionExperts, isRegressionFamily, regressionOptionsFromJSON, regressionFactory,
  activation as regressionActivation, ACTIVATIONS as REGRESSION_ACTIVATIONS,
  type Activation, type RegressionExpertFamily, type RegressionExpertOptions,
} from './experts/regression.js';
export { registerExpert, expertFactory, expertTypes, parseExpertSpec, type ExpertFactory } from './experts/registry.js';

// the model
export { MixtureOfExperts, type ModelJSON, type ModelSpec } from './model/model.js';
export { sampleX, parseXDesign, type Dataset, type XDesign } from './model/data.js';
export { AUTHORS_TRUTH } from './model/presets.js';
export { predict, type Prediction, type PredictionKind } from './model/predict.js';
export { predictClassProbabilities } from './model/class-probabilities.js';

// estimation
export { fitEM, runEM, eStep, logLikelihoodGradient, EMWorkspace, type EMOptions, type FitResult } from './estimate/em.js';
export { standardErrors, covarianceBHHH } from './estimate/inference.js';
export {
  EM_DEFAULTS, LSE_DEFAULTS, EMOptionsSchema, EMTuningSchema, LSEOptionsSchema, LSETuningSchema, resolveEMOptions, resolveLSEOptions,
  type ResolvedEMOptions, type ResolvedLSEOptions,
} from './estimate/options.js';
export { initialise, surjectiveAssignment, type InitSpec, type NearTruthInit } from './estimate/init.js';
export { fitLSE, lseObjective, lseNormalEquations, LSEWorkspace, type LSEOptions, type LSEResult } from './estimate/lse.js';

// measures: identifiability, Voronoi losses, distances, rates
export { checkStrongIdentifiability, type IdentifiabilityOptions, type IdentifiabilityReport } from './measure/identifiability.js';
export {
  voronoiLoss, voronoiCells, assignCells, rbar, resolveExponents, parseExponentExpr, LOSS_PRESETS, NORMALISATION_DOC,
  type VoronoiOptions, type VoronoiResult, type VoronoiRegion, type VoronoiMetric, type LossSpec, type ExplicitExponents, type ExponentFunction,
} from './measure/voronoi.js';
export {
  atomsOf, atomInvariance, resolveModel, registerVoronoiGate, registerVoronoiExpert, voronoiGateHook, voronoiExpertHook,
  type Atoms, type AtomInvariance, type AtomBlockInfo, type RawBlock, type ExponentRule, type VoronoiGateHook, type VoronoiExpertHook, type ModelInput,
} from './measure/atoms.js';
export {
  densityDistance, regressionDistance, registerConditional,
  type DensityMetric, type DensityDistanceOptions, type DistanceResult, type ConditionalLaw, type ConditionalProvider,
} from './measure/distance.js';
export { fitRate, ols, type RateFit, type RateOptions } from './measure/rate.js';
export {
  summariseRate, judge, claimOf, VERDICT_RULE, type RateSummary, type LocalSlope, type Verdict, type VerdictValue, type ClaimSpec, type ClaimKind,
} from './measure/rate-summary.js';
export { AdaptiveGK15, type BatchIntegrand, type QuadratureOptions, type QuadratureResult } from './measure/quadrature.js';

// practitioner tools that need no worker pool
export { modelCriteria, criteriaFrom, classificationEntropy, CRITERIA, type Criteria, type CriterionName } from './select/criteria.js';
export { buildDendrogram, mergeAtoms, type Dendrogram, type DendrogramLevel, type DendrogramMerge, type DendrogramOptions } from './select/dendrogram.js';
export {
  parameterStandardErrors, observedInformation, bhhhInformation, invertInformation, METHOD_NAMES,
  type StandardErrorReport, type ParameterEstimate, type InformationMethod, type InformationStatus, type StandardErrorOptions,
} from './infer/standard-errors.js';
export { flattenModel, parameterJacobian, blockSymbol, type ParameterLabel, type FlatParameters } from './infer/parameters.js';

// one study job (the config loaders, the store and the runners are Node-side: src/index.ts)
export type { ResolvedStudy, ResolvedSetting, LossSpec as StudyLossSpec } from './study/config.js';
export { planJobs, plannedCount, executionOrder, jobId, type Job } from './study/plan.js';
export { runJob, simulateJob, rowBytes, type ResultRow } from './study/job.js';
export { MEASURES, measureAll, registerMeasure, type MeasureContext, type MeasureValue, type MeasureEntry } from './study/measures.js';
export { ESTIMATORS, type EstimatorEntry, type EstimatorInput, type EstimatorOutput, type InitConfig } from './study/estimators.js';
