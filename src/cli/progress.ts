/**
 * Progress of a long fit on standard error — only when it is a terminal (a pipe, a file or CI sees
 * nothing). One line, rewritten in place at most every 100 ms once the fit has run for 0.5 s (short
 * fits never show it), cleared when the fit ends:
 *
 *   restart 2/5   iteration 340   ℓ = -43135.2412   ‖∇‖ 3.1e-6
 *
 * ‖∇‖: EM, ‖∇(ℓ/n)‖∞ once the fit computes it (near convergence); LSE, the Euclidean norm of ∇SSE.
 */

export interface ProgressStream {
  isTTY?: boolean;
  write(chunk: string): boolean;
}

export interface FitProgress {
  /** For `EMOptions.onProgress`: a drop in the iteration count marks the next restart. */
  em(iterations: number, logLikelihood: number, gradientNorm?: number): void;
  /** For `LSEOptions.onProgress` (restart is 0-based). */
  lse(restart: number, iteration: number, sse: number, gradientNorm: number): void;
  /** Clear the line. */
  done(): void;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Milliseconds clock (tests inject one). */
  now?: () => number;
  /** Delay before the first line and minimum interval between lines (ms). */
  delay?: number;
  interval?: number;
}

const NOOP: FitProgress = { em: () => undefined, lse: () => undefined, done: () => undefined };

export function fitProgress(restarts: number, options: ProgressOptions = {}): FitProgress {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY) return NOOP;
  const now = options.now ?? (() => performance.now());
  // MOELAB_PROGRESS_DELAY (ms): when the line may first appear (tests set 0)
  const envDelay = Number(process.env.MOELAB_PROGRESS_DELAY);
  const delay = options.delay ?? (process.env.MOELAB_PROGRESS_DELAY !== undefined && Number.isFinite(envDelay) ? envDelay : 500);
  // MOELAB_PROGRESS_INTERVAL (ms): the least time between two lines (tests set 0: every update is drawn)
  const envInterval = Number(process.env.MOELAB_PROGRESS_INTERVAL);
  const interval = options.interval ?? (process.env.MOELAB_PROGRESS_INTERVAL !== undefined && Number.isFinite(envInterval) ? envInterval : 100);
  const start = now();
  let last = -Infinity;
  let shown = false;
  let restart = 0;
  let lastIteration = 0;
  let grad: number | undefined;
  const show = (iteration: number, objective: string, force = false): void => {
    const t = now();
    if (!force && (t - start < delay || t - last < interval)) return;
    last = t;
    shown = true;
    const g = grad === undefined ? '' : `   ‖∇‖ ${grad.toExponential(1)}`;
    stream.write(`\r\x1b[Krestart ${restart + 1}/${restarts}   iteration ${iteration}   ${objective}${g}`);
  };
  return {
    em(iterations, logLikelihood, gradientNorm) {
      if (iterations < lastIteration) {
        restart = Math.min(restart + 1, restarts - 1);
        grad = undefined;
      }
      lastIteration = iterations;
      if (gradientNorm !== undefined) grad = gradientNorm;
      show(iterations, `ℓ = ${logLikelihood.toFixed(4)}`);
    },
    lse(r, iteration, sse, gradientNorm) {
      if (r !== restart) grad = undefined;
      restart = r;
      grad = gradientNorm;
      show(iteration, `SSE = ${sse.toPrecision(8)}`);
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}
