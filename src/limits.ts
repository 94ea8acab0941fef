/**
 * Bounds on the size of the work a command takes on, checked before anything is allocated (issue
 * 12): a typo such as `--k 100000`, `replicates: 1e7` or a 10⁹-point grid must end in one line, not
 * in a V8 heap abort or a fit that runs for hours. Each bound can be lifted by a user who means it
 * (`--allow-large` on `fit` and `study run`); the check that a fit has at least as many rows as
 * parameters cannot (it is not about size: the MLE does not exist).
 */
import { OptionError } from './errors.js';

export const LIMITS = {
  /** Experts in one fit. */
  k: 100,
  /** Input columns of one fit. */
  columns: 1000,
  /** Estimated working memory of one fit, bytes. */
  fitBytes: 2 * 1024 ** 3,
  /** Distinct sample sizes of a study grid. */
  sampleSizes: 1000,
  /** Sample size of one study job. */
  n: 10_000_000,
  /** Replicates per (setting, n). */
  replicates: 100_000,
  /** Jobs of one study. */
  jobs: 1_000_000,
} as const;

const OVERRIDE = '(--allow-large to run it anyway)';

function gib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

/**
 * Working memory of a fit, estimated from its largest buffers: the gate's Newton Hessian
 * ((k−1)(d+1))², the experts' per-expert normal equations k(d+2)², the n×k responsibilities and
 * weights (a few copies), and the data. Bytes.
 */
export function fitBytes(n: number, k: number, d: number): number {
  const pg = (k - 1) * (d + 1);
  return 8 * (pg * pg + k * (d + 2) * (d + 2) + 6 * n * k + n * (d + 1));
}

export interface FitSize {
  n: number;
  k: number;
  d: number;
  allowLarge?: boolean;
  /** Prefix of messages (`fit`, `settings[0]`). */
  where?: string;
}

/**
 * Check a fit's size before any model or workspace is allocated. Every family has at least d + 1
 * parameters per expert (slopes and intercept), so n < k(d+1) has fewer rows than parameters; that
 * is reported here for models too large to build cheaply, and with the exact count by the fit's own
 * check (`validateDataset`) otherwise.
 */
export function checkFitSize({ n, k, d, allowLarge = false, where = 'fit' }: FitSize): void {
  if (n < k * (d + 1) && fitBytes(n, k, d) > 64 * 1024 ** 2) throw new OptionError(`${where}: ${n} rows are fewer than the at least k·(d+1) = ${k * (d + 1)} free parameters of a k=${k} model with d=${d} inputs`);
  if (allowLarge) return;
  if (k > LIMITS.k) throw new OptionError(`${where}: k=${k} experts is more than the limit of ${LIMITS.k} ${OVERRIDE}`);
  if (d > LIMITS.columns) throw new OptionError(`${where}: ${d} input columns is more than the limit of ${LIMITS.columns} ${OVERRIDE}`);
  const bytes = fitBytes(n, k, d);
  if (bytes > LIMITS.fitBytes) throw new OptionError(`${where}: a k=${k}, d=${d} fit to ${n} rows needs about ${gib(bytes)} of working memory, more than the limit of ${gib(LIMITS.fitBytes)} ${OVERRIDE}`);
}

/** A study-level bound (`what` is the config field). */
export function checkStudyBound(value: number, limit: number, what: string, allowLarge = false): string | undefined {
  if (allowLarge || value <= limit) return undefined;
  return `${what} = ${value} is more than the limit of ${limit} ${OVERRIDE}`;
}
