/** Named true models used by the demo, tests and study presets. */
import type { ModelJSON } from './model.js';

/**
 * The authors' truth of CRPE-SGaME model 1 ("lambda shape with little overlap", math-spec §8.1):
 * d = 1, k* = 2, π₁(x) = 1/(1 + e^{8 − 25x}), means 15 − 20x and −5 + 20x, sd 0.3 and 0.4.
 */
export const AUTHORS_TRUTH: ModelJSON = {
  gate: { type: 'softmax', beta0: [-8, 0], beta1: [[25], [0]] },
  experts: { type: 'gaussianLinear', a: [[-20], [20]], b: [15, -5], variance: [0.09, 0.16] },
};
