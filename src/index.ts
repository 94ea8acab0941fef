/** moelab public API. The CLI and the web playground use only what is exported here. */
export * from './errors.js';
export { Rng, deriveSeed, splitmix64 } from './numeric/rng.js';
export { lbfgs, type LbfgsOptions, type LbfgsResult } from './numeric/lbfgs.js';
export type { Gate, GateJSON, BlockInfo, GateMStepOptions, GateMStepInfo } from './gates/gate.js';
export { SoftmaxGate, LinearSoftmaxCore } from './gates/softmax.js';
export { registerGate, gateFactory, gateTypes, parseGateSpec, type GateFactory } from './gates/registry.js';
export type { ExpertFamily, ExpertJSON, ExpertMStepOptions } from './experts/expert.js';
export { GaussianLinearExperts } from './experts/gaussian-linear.js';
export { registerExpert, expertFactory, expertTypes, parseExpertSpec, type ExpertFactory } from './experts/registry.js';
export { MixtureOfExperts, type ModelJSON, type ModelSpec } from './model/model.js';
export { sampleX, parseXDesign, type Dataset, type XDesign } from './model/data.js';
export { AUTHORS_TRUTH } from './model/presets.js';
export { fitEM, runEM, eStep, logLikelihoodGradient, EMWorkspace, type EMOptions, type FitResult } from './estimate/em.js';
export { initialise, surjectiveAssignment, type InitSpec, type NearTruthInit } from './estimate/init.js';
