/// <reference lib="webworker" />
/**
 * The fitting worker: simulate → fit → measure, and the mini rate study, off the page's thread.
 * Stop / cancel is `worker.terminate()` on the page side (a fit is one synchronous call), after
 * which the page starts a fresh worker; so nothing here needs to poll for cancellation.
 */
import { MixtureOfExperts } from '../../src/core.js';
import { benchFit, curves, fit, measure, parseTruth, runStudy, simulate } from './core.js';
import type { FromWorker, ToWorker } from './messages.js';

declare const self: DedicatedWorkerGlobalScope;

function post(m: FromWorker): void {
  self.postMessage(m);
}

/** At most this many points go back to the page for the scatter plot. */
const MAX_POINTS = 3000;

function handle(msg: ToWorker): void {
  const s = msg.state;
  const truth = parseTruth(s.truth);
  if (msg.type === 'fit') {
    const data = simulate(s, truth);
    const step = Math.max(1, Math.ceil(data.n / MAX_POINTS));
    const px: number[] = [];
    const py: number[] = [];
    for (let t = 0; t < data.n; t += step) {
      px.push(data.X[t]);
      py.push(data.y[t]);
    }
    post({ type: 'data', x: px, y: py, truthCurves: curves(truth, s) });
    // the trace goes to the page in batches (a message per EM cycle at n = 1e5 would cost more than the cycle)
    let last = 0;
    let pending: { iteration: number; value: number }[] = [];
    let grad: number | null = null;
    const t0 = performance.now();
    const flush = () => {
      post({ type: 'progress', points: pending, gradientNorm: grad, elapsed: (performance.now() - t0) / 1000 });
      pending = [];
    };
    let prev = { iteration: -1, value: NaN };
    const r = fit(s, data, (iteration, value, gradientNorm) => {
      // EM reports a cycle twice when it also computed the gradient: one trace point per cycle
      if (iteration !== prev.iteration || value !== prev.value) {
        prev = { iteration, value };
        pending.push(prev);
      }
      if (gradientNorm !== undefined) grad = gradientNorm;
      const now = performance.now();
      if (now - last > 30) {
        last = now;
        flush();
      }
    }, truth);
    flush();
    const fitted = MixtureOfExperts.fromJSON(r.model, 'fit');
    post({ type: 'fitted', fit: r, fitCurves: curves(fitted, s) });
    post({ type: 'measured', measures: measure(fitted, truth, s) });
  } else if (msg.type === 'bench') {
    post({ type: 'benchDone', seconds: benchFit(s, msg.repeats) });
  } else {
    const res = runStudy(s, (row, done, total) => {
      post({ type: 'studyRow', n: row.n, rep: row.rep, loss: Object.values(row.losses)[0] ?? null, done, total, error: row.error });
    });
    post({ type: 'studyDone', result: res });
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  try {
    handle(e.data);
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
};
