/**
 * Strict decimal numbers for text input (CSV cells, CLI options). JavaScript's `Number(s)` also reads
 * `0x10`, `0b11`, `0o7`, `Infinity` and `''` (as 0); a data file or an option must say what it means,
 * so only plain decimal literals are accepted: an optional sign, digits with an optional fraction
 * (or a leading-dot fraction), and an optional exponent.
 */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The value of a decimal literal (surrounding spaces allowed), or undefined if `s` is not one or overflows. */
export function parseDecimal(s: string): number | undefined {
  const t = s.trim();
  if (!DECIMAL.test(t)) return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}

/** Whether `s` is a decimal literal (finite). */
export function isDecimal(s: string): boolean {
  return parseDecimal(s) !== undefined;
}
