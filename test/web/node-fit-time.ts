/**
 * One playground fit in a fresh Node process, as a user runs it: prints the fit's own wall time
 * (FitResult.seconds) and ℓ as JSON. The browser test compares it with the same fit in the page.
 * Usage: node --import tsx test/web/node-fit-time.ts 'QUERY'
 */
import { fit, simulate } from '../../web/src/core.js';
import { stateFromQuery } from '../../web/src/state.js';

const s = stateFromQuery(process.argv[2] ?? '');
const r = fit(s, simulate(s));
process.stdout.write(`${JSON.stringify({ seconds: r.seconds, value: r.value, iterations: r.iterations })}\n`);
