/**
 * Helpers the faces share that are not part of the public API: guarded file-system calls (one-line
 * errors naming the path), the input-size limits of the CLI, decimal parsing of user input, reading
 * stdin. Only src/cli may import this module (eslint.layers.js); it is not in package.json
 * `exports`, and it may change without notice. Everything here is light (Node built-ins only), so
 * importing it costs a command nothing at start-up.
 */
export { guardIo, guardIoAsync, makeDir } from './io-errors.js';
export { LIMITS, checkFitSize, checkStudyBound, fitBytes, type FitSize } from './limits.js';
export { parseDecimal, isDecimal } from './decimal.js';
export { readStdinSync } from './stdin.js';
