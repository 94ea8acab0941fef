/**
 * Options of the fits (`fitEM` / `runEM`, `fitLSE`): one zod schema each, with the defaults stated
 * once (`EM_DEFAULTS`, `LSE_DEFAULTS`). `fitEM` and `fitLSE` parse their options with
 * `resolveEMOptions` / `resolveLSEOptions`, so a bad value (tol: -1, accelerate: 'fast',
 * maxIter: -5, an unknown key) stops with one `OptionError` naming the field. The study config
 * validates a setting's `options:` with the tuning part of the same schemas (`EMTuningSchema`,
 * `LSETuningSchema`), and the CLI takes its defaults from here.
 */
import { z } from 'zod';
import { OptionError } from '../errors.js';
import type { InitSpec } from './init.js';

/** Defaults of the EM fit (the meaning of each field is on `EMOptions`). */
export const EM_DEFAULTS = {
  tol: 1e-8,
  maxIter: 2000,
  restarts: 1,
  seed: 1,
  accelerate: 'squarem',
  polish: true,
  gtol: 1e-7,
  finishMaxIter: 10,
  finish: 'auto',
  newtonHandover: 1e-3,
  polishMaxIter: 300,
  polishRound: 10,
  polishTrust: 1,
  gateMaxIter: 50,
  gateTol: 1e-12,
  gateInexact: 0,
  gateInexactAbove: 1e-6,
  gateInexactCheck: 'objective',
  expertMaxIter: 50,
  expertTol: 1e-12,
  standardize: true,
  warmStart: true,
} as const;

/** Defaults of the least-squares fit (the meaning of each field is on `LSEOptions`). */
export const LSE_DEFAULTS = {
  restarts: 1,
  seed: 1,
  solver: 'auto',
  maxIter: 2000,
  gtol: 1e-10,
  ftol: 1e-15,
  memory: 10,
  gateMaxIter: 50,
  expertMaxIter: 50,
  standardize: true,
  lmTrustRegion: false,
} as const;

// NaN and ±Infinity are numbers to the user: say what is wanted rather than zod's "expected number"
const numberOr = (wanted: string) => z.number({ error: (i) => (typeof i.input === 'number' ? wanted : undefined) });
const positive = numberOr('must be a finite number > 0').refine((v) => v > 0 && Number.isFinite(v), 'must be a finite number > 0');
const count = (min: number) => numberOr(`must be an integer ≥ ${min}`).int(`must be an integer ≥ ${min}`).min(min, `must be an integer ≥ ${min}`);
const seed = z.union([z.number().int(), z.bigint()], 'must be an integer (number or bigint)');
const init = z.custom<InitSpec>((v) => typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string', 'must be an initialisation object { type: … }');
const callback = <F>() => z.custom<F>((v) => typeof v === 'function', 'must be a function');

/** EM options a study setting may give in `options:` (the others are setting fields or set by the job). */
export const EMTuningSchema = z.strictObject({
  accelerate: z.enum(['squarem', 'none']).optional(),
  polish: z.boolean().optional(),
  gtol: positive.optional(),
  finishMaxIter: count(0).optional(),
  finish: z.enum(['auto', 'newton', 'lbfgs']).optional(),
  newtonHandover: positive.optional(),
  polishMaxIter: count(0).optional(),
  polishRound: count(1).optional(),
  polishTrust: positive.optional(),
  gateBound: positive.optional(),
  expertBound: positive.optional(),
  gateMaxIter: count(1).optional(),
  gateTol: positive.optional(),
  gateInexact: count(0).optional(),
  gateInexactAbove: positive.optional(),
  gateInexactCheck: z.enum(['objective', 'likelihood']).optional(),
  gateInexactFrom: positive.optional(),
  expertMaxIter: count(1).optional(),
  expertTol: positive.optional(),
  standardize: z.boolean().optional(),
  warmStart: z.boolean().optional(),
  varianceFloor: z.strictObject({ scale: z.enum(['response', 'expert']).optional(), relative: positive.optional() }).optional(),
  timeLimit: positive.optional(),
});

/** Every option of `fitEM` / `runEM`. */
export const EMOptionsSchema = EMTuningSchema.extend({
  tol: positive.optional(),
  maxIter: count(1).optional(),
  restarts: count(1).optional(),
  init: init.optional(),
  seed: seed.optional(),
  deadline: z.number().optional(),
  onProgress: callback<(iterations: number, logLikelihood: number, gradientNorm?: number) => void>().optional(),
});

/** LSE options a study setting may give in `options:`. */
export const LSETuningSchema = z.strictObject({
  solver: z.enum(['auto', 'varpro', 'lm', 'lbfgs']).optional(),
  gateBound: positive.optional(),
  expertBound: positive.optional(),
  timeLimit: positive.optional(),
  gtol: positive.optional(),
  ftol: positive.optional(),
  memory: count(1).optional(),
  gateMaxIter: count(1).optional(),
  expertMaxIter: count(1).optional(),
  standardize: z.boolean().optional(),
  warmStart: z.boolean().optional(),
  lmTrustRegion: z.boolean().optional(),
});

/** Every option of `fitLSE`. */
export const LSEOptionsSchema = LSETuningSchema.extend({
  restarts: count(1).optional(),
  init: init.optional(),
  seed: seed.optional(),
  maxIter: count(1).optional(),
  onRestart: callback<(restart: number, sse: number) => void>().optional(),
  onProgress: callback<(restart: number, iteration: number, sse: number, gradientNorm: number) => void>().optional(),
});

export interface EMOptions {
  /** Stop when |ℓ_new − ℓ_old| ≤ tol·|ℓ_old| between successive accelerated cycles. Default 1e-8. */
  tol?: number;
  /** Maximum EM map evaluations per restart. Default 2000. */
  maxIter?: number;
  /** Number of starts; the best log-likelihood is kept. Default 1. */
  restarts?: number;
  /** Initialisation. Default kmeans++. */
  init?: InitSpec;
  /** Seed of the initialisations (restart r uses stream split('restart', r)). Default 1. */
  seed?: number | bigint;
  /** 'squarem' (default) or 'none' (plain EM). */
  accelerate?: 'squarem' | 'none';
  /**
   * Finish (default true): after the relative-change stop, keep iterating until ‖∇(ℓ/n)‖∞ ≤ gtol
   * (or EM stalls), then, if still above gtol, a trust-limited L-BFGS in the BHHH metric.
   */
  polish?: boolean;
  /** Gradient tolerance of the finish: ‖∇(ℓ/n)‖∞ ≤ gtol. Default 1e-7. */
  gtol?: number;
  /**
   * Budget of the accelerated-EM part of the finish, in EM map evaluations beyond the
   * relative-change stop. Default 10; then the L-BFGS part takes over.
   */
  finishMaxIter?: number;
  /**
   * The end game (with `polish`). 'newton' hands over from SQUAREM to Newton's method on ℓ with the
   * exact observed information (the missing-information identity; observed-information.ts) once the
   * relative change is ≤ `newtonHandover`, when the families give it (softmax gate; Gaussian or multinomial experts)
   * and, under a gate or expert box, every boxed coordinate is clear of its bound by 1 % (finish.ts
   * `clearOfBox`; a Newton trial outside the box hands back to SQUAREM / the L-BFGS finish); if that information is not positive definite (over-specified
   * fits, often) SQUAREM goes on and the L-BFGS finish follows as with 'lbfgs'. Every Newton pass over
   * the data (the information, each ℓ/∇ℓ trial) counts as one iteration. 'lbfgs' is the
   * BHHH-preconditioned L-BFGS finish alone. 'auto' (default): 'newton' from `NEWTON_AUTO_MIN_ROWS`
   * (5e4) rows on for the softmax gate with Gaussian linear experts (the structured information
   * pass), 'lbfgs' below and for every other family (finish.ts `autoNewton`). Measured (loaded, CPU, same minutes; notes s6-einfo): a fresh
   * process pays ≈ 40 ms to compile and warm the information pass, which the EM iterations it saves
   * repay only at larger n (cold `fit --json` d = 2, k = 3: n = 1e4 +26 ms, 3e4 +29 ms, 1e5 −90 ms;
   * over-specified k = 3, n = 1e5: 0.84 s against 2.02 s).
   */
  finish?: 'auto' | 'newton' | 'lbfgs';
  /** Relative change of ℓ at which the Newton finish takes over. Default 1e-3. */
  newtonHandover?: number;
  /** Maximum L-BFGS iterations of the finish. Default 300. */
  polishMaxIter?: number;
  /** L-BFGS iterations per round of the finish before the BHHH metric is recomputed. Default 10. */
  polishRound?: number;
  /**
   * Trust radius of the finish, in log-likelihood units: each L-BFGS step is capped so that the
   * quadratic model in the BHHH metric predicts a change of at most this much. It keeps the finish
   * in the basin EM was converging to; over-specified likelihoods have degenerate directions
   * (a component collapsing onto a few points) that an unconstrained quasi-Newton step can jump
   * into. Default 1.
   */
  polishTrust?: number;
  /**
   * Compact Θ for the gate (math-spec §1.2 A.3): every gate working parameter (for the softmax
   * gate β₀ⱼ and β₁ⱼ relative to the reference expert) is kept in [−gateBound, gateBound]. The gate
   * M-step becomes projected Newton, starts and extrapolations are clipped into the box, and the
   * gradient tests (and the reported gradient norm) ignore components that point out of the box at
   * an active bound (the KKT conditions). Default: no bound. Softmax and modified gates only.
   */
  gateBound?: number;
  /**
   * Compact Θ for the experts (math-spec §1.2 A.3), as `gateBound`: every expert working parameter
   * (multinomial-logistic: aᵢ꜀, bᵢ꜀ relative to the reference class) is kept in
   * [−expertBound, expertBound] by the projected Newton M-step, the clipped starts and
   * extrapolations, and the KKT gradient tests. Default: no bound. Only expert families whose
   * M-step is a Newton maximisation (`supportsBound`: multinomial-logistic); others are refused.
   */
  expertBound?: number;
  /** Inner iterations / tolerance of the gate M-step (Newton). Defaults 50 / 1e-12. */
  gateMaxIter?: number;
  gateTol?: number;
  /**
   * Generalized EM for the softmax-core gates (softmax, modified, temperature, hierarchical): the
   * gate M-step stops after `gateInexact` Newton steps when they gained more than
   * `gateInexactAbove`·max(1, |Q|) (EM still far from converged), else it runs to gateTol. Each
   * step still increases Q, so ℓ never decreases, and the fixed points are EM's. Default 0 (off:
   * every M-step to gateTol). Measured (issue 16 item 2, d = 2, k = 3, n = 1e5): 0.58 of the cost
   * per iteration at the bench point and the same exact fits, but over-specified fits take other
   * paths: from the generic start (gate slopes 0, k-means++ experts) k = 3 on the 2-expert truth at
   * n = 1e4 ends at lower maxima in 5 of 6 seeds (ℓ −4287.5 against −4286.11 with the exact M-step,
   * 2–10× the iterations; s8), and with gateInexactCheck 'likelihood' (gateInexactAbove 1e-12,
   * 1e-4 or 1e-3) at −4288.61 in every seed tried. That is why it is off by default.
   */
  gateInexact?: number;
  /** Relative gain of the first `gateInexact` Newton steps above which the gate M-step stops there. Default 1e-6. */
  gateInexactAbove?: number;
  /**
   * How an inexact gate step (gateInexact: 1) is kept monotone. 'objective' (default): its line
   * search evaluates Q at the trial point (one pass over the data). 'likelihood': a step whose
   * predicted gain ½gᵀΔ is above gateInexactAbove·max(1, |Q|) is taken without a trial pass, and
   * the E-step that follows checks it: if ℓ fell, the EM map is redone with the 'objective' step
   * (two more E-steps). ℓ never decreases either way.
   */
  gateInexactCheck?: 'objective' | 'likelihood';
  /**
   * With gateInexact: exact gate M-steps until a cycle's relative ℓ change is ≤ this, inexact ones
   * after (the early, basin-choosing iterations stay EM's). Default: inexact from the start. Measured
   * (s8, 1e-3 with 'likelihood'): over-specified fits from the generic start reach at least the
   * exact M-step's maximum in 17 of 17 (k = 3 on 2 experts at n = 1e4 and 1e5, k = 4 on 3 at
   * n = 1e4; one +0.11 higher) at 0.7–1.2× the CPU (median ≈ 0.85), but of 6 k-means++ fits at
   * n = 2000–3000 one unconverged flat-direction fit ended 1.7e-4 lower; exact-specified fits keep
   * the exact path (no inexact step follows). Hence not a default.
   */
  gateInexactFrom?: number;
  /** Inner iterations / tolerance of iterative expert M-steps (IRLS). Defaults 50 / 1e-12. */
  expertMaxIter?: number;
  expertTol?: number;
  /**
   * Fit on internally standardised x and y and map the result back (standardize.ts): scale-
   * equivariant fits and a variance floor relative to a robust scale of y. Default true.
   */
  standardize?: boolean;
  /**
   * With a k-means++ or random start and n ≥ 8000 rows, first run EM on a random subsample of
   * n/20 rows (at least 2000, at most 5000) and start the full fit from its maximum
   * (warm-start.ts): most iterations from a data-driven start are spent reaching the basin, at a
   * fraction of the cost there.
   * Default true.
   */
  warmStart?: boolean;
  /**
   * Variance floor of Gaussian linear experts when `experts.varianceFloor` does not fix one
   * (standardize.ts): every variance ≥ relative·s_y² (`scale: 'response'`, default; s_y the robust
   * scale of y), or expert i's ≥ relative·σ̂ᵢ² (`scale: 'expert'`; σ̂ᵢ the robust scale of its
   * residuals under the start's posteriors, relative·s_y² where that is 0). relative defaults to 1e-6.
   */
  varianceFloor?: { scale?: 'response' | 'expert'; relative?: number };
  /** Wall-time limit of the whole fit (all restarts), in seconds: the fit stops, is returned with converged: false and an EM_TIME_LIMIT warning. Default none. */
  timeLimit?: number;
  /** Internal: the performance.now() deadline derived from timeLimit (set once for all restarts). */
  deadline?: number;
  /** Called after every accepted cycle with (iteration count, log-likelihood), and again with
   *  ‖∇(ℓ/n)‖∞ when the cycle computed the gradient (near convergence). */
  onProgress?: (iterations: number, logLikelihood: number, gradientNorm?: number) => void;
}

/** EMOptions with every default filled in (gateBound stays optional: no box by default). */
export type ResolvedEMOptions = Required<Omit<EMOptions, OptionalEM>> & Pick<EMOptions, OptionalEM>;
/** Options without a default: absent means none (no gate box, no time limit, no callback, kmeans++). */
type OptionalEM = 'gateInexactFrom' | 'gateBound' | 'expertBound' | 'onProgress' | 'init' | 'timeLimit' | 'deadline' | 'varianceFloor';

// the schemas accept exactly the fields of the option types (checked at compile time)
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const emSchemaMatchesType: Same<keyof z.input<typeof EMOptionsSchema>, keyof EMOptions> = true;
void emSchemaMatchesType;

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Parse with `schema`, or throw one OptionError naming the field: "tol: must be a finite number > 0, got -1". */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, what: string): z.output<S> {
  const r = schema.safeParse(options ?? {}, { reportInput: true });
  if (r.success) return r.data;
  const parts = r.error.issues.map((i) => {
    if (i.code === 'unrecognized_keys') return `${i.keys.map((k) => [...i.path, k].join('.')).join(', ')}: unknown ${what} option${i.keys.length > 1 ? 's' : ''}`;
    const field = i.path.length ? i.path.map(String).join('.') : what;
    return `${field}: ${i.message}${'input' in i && !/received/.test(i.message) ? `, got ${describe(i.input)}` : ''}`;
  });
  throw new OptionError(parts.join('; '));
}

/** Validate `fitEM` / `runEM` options and fill in the defaults. */
export function resolveEMOptions(options: EMOptions = {}): ResolvedEMOptions {
  const o = parseOptions(EMOptionsSchema, options, 'EM');
  const out: ResolvedEMOptions = { ...EM_DEFAULTS };
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
}

export interface LSEOptions {
  /** Number of starts; the lowest SSE is kept. Default 1. */
  restarts?: number;
  /** Initialisation. Default kmeans++. */
  init?: InitSpec;
  /** Seed of the initialisations (restart r uses stream split('restart', r)). Default 1. */
  seed?: number | bigint;
  /**
   * Solver: 'varpro' (variable projection, lse-varpro.ts: the experts are eliminated by linear least
   * squares and Levenberg–Marquardt runs on the gate parameters only; needs experts linear in their
   * parameters, regression:linear, and no expertBound), 'lm' (Levenberg–Marquardt on the full residual
   * Jacobian with a Newton phase), 'lbfgs' (the earlier solver; also for families without per-row
   * derivatives), or 'auto' (default): varpro where it applies, otherwise lm (lbfgs without per-row
   * derivatives). The result's `solver` says which ran.
   */
  solver?: 'auto' | 'varpro' | 'lm' | 'lbfgs';
  /**
   * Compact Θ for the gate (math-spec §1.2 A.3), as `EMOptions.gateBound`: every gate working
   * parameter (softmax: β₀ⱼ, β₁ⱼ relative to the reference expert; temperature: γ = β/τ, or β for a
   * fixed τ; every built-in gate) is kept in [−gateBound, gateBound]. Both solvers become projected
   * (held active set, clipped steps; lm.ts, lbfgs.ts), the start is clipped into the box, and the
   * gradient test and the reported gradient norm are the KKT ones (components at an active bound
   * pointing out of the box do not count). Default: no bound.
   */
  gateBound?: number;
  /**
   * Compact Θ for the experts (math-spec §1.2 A.3): every expert working parameter (a, b, and c with
   * an output weight) is kept in [−expertBound, expertBound], by the same projected solvers and KKT
   * tests as `gateBound`. Default: no bound.
   */
  expertBound?: number;
  /**
   * Wall-time limit of the whole fit (all restarts), in seconds: the solver stops at the first
   * step after it, and the best point so far is returned with converged: false and an
   * LSE_TIME_LIMIT warning. Default none.
   */
  timeLimit?: number;
  /** Maximum solver iterations per start. Default 2000. */
  maxIter?: number;
  /** Gradient tolerance: stop when ‖∇ MSE‖∞ ≤ gtol·max(1, MSE). Default 1e-10. */
  gtol?: number;
  /** Relative-decrease backstop of L-BFGS (see lbfgs.ts). Default 1e-15. L-BFGS only. */
  ftol?: number;
  /** L-BFGS memory. Default 10. L-BFGS only. */
  memory?: number;
  /** Inner iterations of the M-steps used by the data-driven initialisations. Default 50. */
  gateMaxIter?: number;
  expertMaxIter?: number;
  /**
   * Fit on internally standardised x (and y where the experts allow it) and map the result back
   * (standardize-lse.ts): scale-equivariant fits, gtol and the gradient norm in standardised
   * coordinates. Default true.
   */
  standardize?: boolean;
  /**
   * Subsample warm start of the 'lm' and 'varpro' solvers (lse.ts `lseWarmStartSizes`): with
   * n ≥ 15000 rows the fit runs first on random subsamples of n/3^j rows (≥ 5000, ascending, each
   * from the previous one's end, ≤ maxIter/4 steps each), then on all rows; a stage that does not
   * converge abandons it (all rows from the start). Default: on for 'varpro', off for 'lm' (on the
   * lse-gelu study jobs it changed the path without a gain in the median, see lse.ts).
   */
  warmStart?: boolean;
  /**
   * The full Levenberg–Marquardt fit ('lm', and varpro's polish) starts its exact-Hessian Newton
   * phase after 3 steps and sets the step length there by a trust radius (numeric/lm-trust.ts), as
   * its rescue run of an unconverged fit does. Faster on over-specified fits (lse-gelu study jobs:
   * 38 % less CPU, GELU k = 3 bench fit at n = 5e4 276 → 221 iterations) but another path: over-specified
   * fits may end in another local minimum (66 jobs: SSE higher in 7, lower in 9). Default false.
   */
  lmTrustRegion?: boolean;
  /** Called after each start with (restart index, its SSE). */
  onRestart?: (restart: number, sse: number) => void;
  /** Called after every L-BFGS step with (restart index, iterations of this start, SSE, ‖∇(SSE/n)‖₂). */
  onProgress?: (restart: number, iteration: number, sse: number, gradientNorm: number) => void;
}

export type ResolvedLSEOptions = Required<Omit<LSEOptions, OptionalLSE>> & Pick<LSEOptions, OptionalLSE>;
/** LSE options without a default: absent means none (no gate box, no callback, kmeans++). */
type OptionalLSE = 'onRestart' | 'onProgress' | 'init' | 'gateBound' | 'expertBound' | 'timeLimit' | 'warmStart';

const lseSchemaMatchesType: Same<keyof z.input<typeof LSEOptionsSchema>, keyof LSEOptions> = true;
void lseSchemaMatchesType;

/** Validate `fitLSE` options and fill in the defaults. */
export function resolveLSEOptions(options: LSEOptions = {}): ResolvedLSEOptions {
  const o = parseOptions(LSEOptionsSchema, options, 'LSE');
  const out: ResolvedLSEOptions = { ...LSE_DEFAULTS };
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
}
