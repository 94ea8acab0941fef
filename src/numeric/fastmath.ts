/**
 * Fast e^x for the hot loops (E-step, gate Newton passes), where every argument is ≤ 0: the
 * difference between a log-weight and the maximum of its row.
 *
 * Why hand-written: V8's `Math.exp` is a call into C (an fdlibm port) that TurboFan cannot inline;
 * at 7–9 ns per call it dominated the E-step and the gate M-step. This table-driven version
 * inlines and has no division (fdlibm's rational step divides once per call, and divisions
 * throttle a loop that takes six exps per row): 2.6 ns vs 7.8 ns for `Math.exp` per call.
 *   x = (64·i + j)·ln2/64 + r, |r| ≤ ln2/128 (ln2/64 split in a high part with trailing zeros and a
 *   low part, so the reduction is exact to ~1e-27), e^x = 2^i · 2^(j/64) · e^r, with e^r − 1 by
 *   its Taylor polynomial of degree 5 (truncation error < 4e-17 on |r| ≤ ln2/128).
 * Relative error ≤ 3.3e-16 on [−708, 709] (the rounding of the table entry and of the result;
 * measured against `Math.exp`, test/numeric/fastmath.test.ts); e^0 = 1 exactly.
 */

const LN2_HI = 6.93147180369123816490e-1; // ln2 rounded to 32 significant bits: k·LN2_HI/64 is exact
const LN2_LO = 1.90821492927058770002e-10; // ln2 − LN2_HI
const N = 64;
const INV_STEP = N / Math.LN2;
const STEP_HI = LN2_HI / N;
const STEP_LO = LN2_LO / N;
/** 1.5·2^52: adding and subtracting it rounds a double of magnitude < 2^51 to the nearest integer. */
const ROUND = 6755399441055744.0;

/** EXP_TABLE[j] = 2^(j/64), j < 64. */
export const EXP_TABLE = new Float64Array(N);
for (let j = 0; j < N; j++) EXP_TABLE[j] = 2 ** (j / N);

/** POW2LOW[i + 1078] = 2^i for i = −1078 … 1023 (0 below 2^−1074). */
export const POW2LOW = new Float64Array(2102);
for (let k = -1078; k <= 1023; k++) POW2LOW[k + 1078] = 2 ** k;

/**
 * e^x for x ≤ 709 (in practice x ≤ 0), branch-free:
 * x is clamped at −746 (e^−746 is below half the smallest subnormal, so every x ≤ −746, −∞
 * included, gives exactly 0), and NaN propagates (above 709 the result is undefined). The clamp
 * replaces a fallback branch, which mispredicts when far-away experts (e^−5000) occur in random rows: measured on a k = 3
 * E-step with a third of the terms far away, 6.7 ms with a `Math.exp` fallback branch, 4.7 ms
 * clamped (3.6 ms with no far terms).
 * Subnormal results are rounded once (absolute error below the smallest subnormal).
 */
export function expNonPositive(x: number): number {
  const xc = Math.max(x, -746);
  const kf = xc * INV_STEP + ROUND - ROUND;
  const r = xc - kf * STEP_HI - kf * STEP_LO;
  const k = kf | 0;
  const p = r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120)))));
  const t = EXP_TABLE[k & 63];
  return (t + t * p) * POW2LOW[(k >> 6) + 1078];
}

/** The free variables of `expSource` code, to bind in a generated kernel's scope. */
export const EXP_SCOPE = { EXP_TABLE, POW2LOW };

/**
 * Source text computing `expNonPositive(arg)` into the new variable `target`, for generated kernels
 * (numeric/codegen.ts): V8 stops inlining calls once a function's inlined bytecode passes its
 * budget, and a kernel with six exps per row would call it out of line. Needs `EXP_SCOPE` in the
 * kernel's scope. Same operations in the same order as `expNonPositive`, hence the same bits.
 */
export function expSource(target: string, arg: string): string {
  const x = `${target}_x`;
  const kf = `${target}_k`;
  const r = `${target}_r`;
  const ki = `${target}_i`;
  const t = `${target}_t`;
  return [
    `let ${target};`,
    `{ const ${x} = Math.max(${arg}, -746);`,
    `{ const ${kf} = ${x} * ${INV_STEP} + ${ROUND} - ${ROUND};`,
    `const ${r} = ${x} - ${kf} * ${STEP_HI} - ${kf} * ${STEP_LO}; const ${ki} = ${kf} | 0;`,
    `const ${t} = EXP_TABLE[${ki} & 63];`,
    `${target} = (${t} + ${t} * (${r} * (1 + ${r} * (0.5 + ${r} * (${1 / 6} + ${r} * (${1 / 24} + ${r} * ${1 / 120})))))) * POW2LOW[(${ki} >> 6) + 1078]; } }`,
  ].join(' ');
}

/**
 * Rows per block of the "log of a product" trick: Σ_t log v_t = Σ_blocks log Π v_t. With every
 * v_t in [1/K, K] (K the number of experts) a block of 32 stays within K^±32, far inside the
 * double range for any K < 10^9, and one `Math.log` serves 32 rows.
 */
export const LOG_BLOCK = 32;

/*
 * Fast natural log for the hot loops (the log of a row sum in the gate passes, `Σ W log π`).
 *
 * Why hand-written: inside a register-heavy generated row loop a `Math.log` call (an out-of-line C
 * call that TurboFan cannot inline) spills every live accumulator and cost 15–40 ns per row,
 * against 6–9 ns in a plain loop; the hierarchical gate takes one per level and row.
 * Table-driven (Tang's method, the layout of musl's log):
 *   x = 2^k · z, z ∈ [0.6875, 1.375) (the exponent and 7 mantissa bits from the high word of x),
 *   c = the centre of z's cell (at most 10 significant bits, so z − c is exact), 1/c rounded,
 *   log x = k·ln2 + log c + log1p(r), r = (z − c)/c, |r| ≤ 1/128,
 * log1p(r) by its Taylor polynomial of degree 8 (truncation < 2e-18 relative). The two cells
 * around 1 take c = 1 exactly (r = z − 1, exact, log c = 0), so log x keeps its relative accuracy
 * near x = 1. log c comes from `Math.log` once per cell at load.
 * Relative error ≤ 2.3e-16 against `Math.log` from 1e-320 to 1e308 (test/numeric/fastmath.test.ts),
 * 82 % of the results the same double; against a 200-bit reference (mpmath, 3e4 points) ≤ 1.3 ulp,
 * where `Math.log` is ≤ 0.76 ulp. Edge cases as `Math.log`: log 1 = 0, log 0 = −∞, log ∞ = ∞,
 * NaN and x < 0 give NaN, subnormals are scaled by 2^54 first.
 */

const LOG_BITS = 7;
const LOG_N = 1 << LOG_BITS;
/** High word of 0.6875: the cells start there. */
const LOG_OFF = 0x3fe60000;
/** LOG_TABLE[3i], [3i + 1], [3i + 2] = c, 1/c, log c of cell i. */
export const LOG_TABLE = new Float64Array(3 * LOG_N);
for (let i = 0; i < LOG_N; i++) {
  // cell i holds the z whose high word is LOG_OFF + i·2^13 … LOG_OFF + (i + 1)·2^13: 80 cells of
  // width 1/256 below 1, 48 of width 1/128 above
  const lo = i < 80 ? 0.6875 + i / 256 : 1 + (i - 80) / 128;
  const c = i === 79 || i === 80 ? 1 : lo + (i < 80 ? 1 / 512 : 1 / 256);
  LOG_TABLE[3 * i] = c;
  LOG_TABLE[3 * i + 1] = 1 / c;
  LOG_TABLE[3 * i + 2] = Math.log(c);
}
/** Scratch for reading the high word of a double (one thread, used and read back at once). */
export const LOG_F = new Float64Array(1);
export const LOG_I = new Int32Array(LOG_F.buffer);
/** Index of the high 32-bit word of a double in LOG_I (1 on little-endian machines). */
const LOG_HI = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f ? 1 : 0;
const TWO54 = 18014398509481984;
const MIN_NORMAL = 2.2250738585072014e-308;

/** log x for any double x, with the edge cases of `Math.log` (see above). */
export function logFast(x: number): number {
  const sub = x < MIN_NORMAL;
  LOG_F[0] = sub ? x * TWO54 : x;
  const tmp = (LOG_I[LOG_HI] & 0x7fffffff) - LOG_OFF;
  const e = tmp >> 20;
  const i = 3 * ((tmp >> 13) & (LOG_N - 1));
  const z = LOG_F[0] * POW2LOW[1078 - e];
  const c = LOG_TABLE[i];
  const r = (z - c) * LOG_TABLE[i + 1];
  const kd = sub ? e - 54 : e;
  const w = kd * LN2_HI + LOG_TABLE[i + 2];
  const hi = w + r;
  const lo = w - hi + r + kd * LN2_LO;
  const r2 = r * r;
  const y = lo + r2 * (-0.5 + r * (1 / 3 + r * (-0.25 + r * (0.2 + r * (-1 / 6 + r * (1 / 7 + r * -0.125)))))) + hi;
  return x > 0 ? (x < Infinity ? y : x) : x === 0 ? -Infinity : NaN;
}

/** The free variables of `logSource` code, to bind in a generated kernel's scope. */
export const LOG_SCOPE = { LOG_TABLE, LOG_F, LOG_I, POW2LOW };

/**
 * Source text computing `logFast(arg)` into the new variable `target` (same operations, same
 * bits), for generated kernels; needs `LOG_SCOPE` in the kernel's scope. `positive: true` is for
 * arguments known to be normal positive doubles or NaN (a row sum, whose largest term is e^0 = 1):
 * it drops the subnormal scaling and the edge-case selects (NaN still propagates).
 */
export function logSource(target: string, arg: string, options: { positive?: boolean } = {}): string {
  const x = `${target}_x`;
  const s = `${target}_s`;
  const tmp = `${target}_m`;
  const e = `${target}_e`;
  const i = `${target}_i`;
  const r = `${target}_r`;
  const w = `${target}_w`;
  const h = `${target}_h`;
  const kd = `${target}_k`;
  const r2 = `${target}_q`;
  const y = `${target}_y`;
  const positive = options.positive === true;
  const lines = [
    `let ${target};`,
    `{ const ${x} = ${arg};`,
    positive ? `LOG_F[0] = ${x};` : `const ${s} = ${x} < ${MIN_NORMAL}; LOG_F[0] = ${s} ? ${x} * ${TWO54} : ${x};`,
    `const ${tmp} = (LOG_I[${LOG_HI}] & 0x7fffffff) - ${LOG_OFF}; const ${e} = ${tmp} >> 20; const ${i} = 3 * ((${tmp} >> 13) & ${LOG_N - 1});`,
    positive ? `const ${r} = (${x} * POW2LOW[1078 - ${e}] - LOG_TABLE[${i}]) * LOG_TABLE[${i} + 1];` : `const ${r} = (LOG_F[0] * POW2LOW[1078 - ${e}] - LOG_TABLE[${i}]) * LOG_TABLE[${i} + 1];`,
    positive ? `const ${kd} = ${e};` : `const ${kd} = ${s} ? ${e} - 54 : ${e};`,
    `const ${w} = ${kd} * ${LN2_HI} + LOG_TABLE[${i} + 2]; const ${h} = ${w} + ${r};`,
    `const ${r2} = ${r} * ${r};`,
    `const ${y} = ${w} - ${h} + ${r} + ${kd} * ${LN2_LO} + ${r2} * (-0.5 + ${r} * (${1 / 3} + ${r} * (-0.25 + ${r} * (0.2 + ${r} * (${-1 / 6} + ${r} * (${1 / 7} + ${r} * -0.125)))))) + ${h};`,
    positive ? `${target} = ${y}; }` : `${target} = ${x} > 0 ? (${x} < Infinity ? ${y} : ${x}) : ${x} === 0 ? -Infinity : NaN; }`,
  ];
  return lines.join(' ');
}

