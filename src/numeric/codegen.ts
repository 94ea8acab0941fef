/**
 * Compiled, fully unrolled loop kernels for small fixed shapes (k experts, d features).
 *
 * Why: the hot loops of EM (E-step, gate Newton system, expert sufficient statistics) run over
 * n rows with tiny inner dimensions (k ≈ 2–5, d ≈ 1–3). V8 keeps the per-row values and the
 * accumulators in registers only when those inner loops are unrolled; with nested loops over
 * k and d the same arithmetic costs 3–6× more (measured at n = 1e5: the k = 3, m = 2 gate Newton
 * sums take 0.9 ms unrolled vs 4.1 ms nested; the k = 3 E-step 1.6 ms vs 6.7 ms). Writing every
 * shape by hand does not scale, so the modules emit the unrolled source for a shape once, compile
 * it with `new Function` and cache it by shape. The generated source is built only from integers
 * and fixed identifiers (never from user data), and every kernel has a plain-loop fallback for
 * shapes too large to unroll.
 */

const cache = new Map<string, unknown>();

/** What a kernel is made of: its name, parameter names, body lines and free variables. */
export interface KernelSource {
  name: string;
  params: readonly string[];
  body: readonly string[];
  /** Bound inside the kernel's scope under these names (e.g. the exp tables of `EXP_SCOPE`). */
  scope?: Record<string, unknown>;
}

/**
 * The kernel cached under `key`, compiled from `build()` on first use: the function
 * `function name(params) { body }`, created in a scope binding each key of `scope` to its value.
 */
export function compileKernel<F>(key: string, build: () => KernelSource): F {
  const hit = cache.get(key);
  if (hit !== undefined) return hit as F;
  const { name, params, body, scope = {} } = build();
  const free = Object.keys(scope);
  const src = `return function ${name}(${params.join(', ')}) {\n${body.join('\n')}\n};`;
  const factory = new Function(...free, src) as (...values: unknown[]) => F;
  const kernel = factory(...free.map((k) => scope[k]));
  cache.set(key, kernel);
  return kernel;
}

/** How many kernels this thread has compiled (each once per shape, kept for the life of the thread). */
export function compiledKernelCount(): number {
  return cache.size;
}

/** `const a0 = …, a1 = …;` helpers: names x0..x(k−1). */
export function names(prefix: string, k: number): string[] {
  return Array.from({ length: k }, (_, i) => `${prefix}${i}`);
}

/** Source of `let m = v0; if (v1 > m) m = v1; …` (maximum of the named values into `m`). */
export function maxOf(target: string, values: readonly string[], start?: string): string {
  const init = start ?? values[0];
  const rest = start === undefined ? values.slice(1) : values;
  return [`let ${target} = ${init};`, ...rest.map((v) => `if (${v} > ${target}) ${target} = ${v};`)].join(' ');
}
