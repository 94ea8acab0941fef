/** A benchmark case. Each `bench/*.bench.ts` exports `cases: BenchCase[]`. */
export interface BenchCase {
  /** Cases of a group are compared with the group's baseline case (ratio = median / baseline median). */
  group: string;
  name: string;
  /** Untimed preparation (data simulation etc.); its result is passed to `run`. */
  setup?: () => unknown;
  /** The timed work. May return diagnostics (e.g. { logLikelihood, gradientNorm, iterations }). */
  run: (state: unknown) => unknown;
  baseline?: boolean;
  /** Timed repetitions (default from the command line, 5). */
  iterations?: number;
}
