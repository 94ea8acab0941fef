// Whether dist/ is older than the sources: shared by bin/moelab.mjs (run src/ through tsx instead)
// and scripts/build.mjs (`--if-stale`: skip the build when dist/ is current).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Newest modification time (ms) of the files under dir (≈ 1 ms for src/). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** The compiled entry dist/cli/main.js of the package at root. */
export function compiledEntry(root) {
  return join(root, 'dist', 'cli', 'main.js');
}

/** The bundled start-up entry dist/cli-fast/main.js (scripts/build.mjs: bundleCli). */
export function fastEntry(root) {
  return join(root, 'dist', 'cli-fast', 'main.js');
}

/**
 * Commands the bundle runs (with `--version` and no command): they load no plugins and start no
 * study workers. Every other command runs dist/cli/main.js.
 */
export const FAST_COMMANDS = new Set(['fit', 'simulate', 'predict', 'loss', 'distance', 'identifiability', 'plot']);

/** Whether the bundle exists and was built with (or after) the compiled dist/cli/main.js (a bare `tsc` leaves it stale). */
export function fastIsCurrent(root) {
  const fast = fastEntry(root);
  const compiled = compiledEntry(root);
  return existsSync(fast) && existsSync(compiled) && statSync(fast).mtimeMs >= statSync(compiled).mtimeMs;
}

/** Whether `argv` may run from the bundle: its command (the first non-option word) is fast, or it is `--version` alone. */
export function fastCommand(argv) {
  const first = argv.find((a) => !a.startsWith('-'));
  if (first !== undefined) return FAST_COMMANDS.has(first);
  return argv.length > 0 && argv.every((a) => a === '-V' || a === '--version');
}

/** True when dist/ is missing or some file in src/ is newer than its compiled entry. */
export function distIsStale(root) {
  const compiled = compiledEntry(root);
  return !existsSync(compiled) || newest(join(root, 'src')) > statSync(compiled).mtimeMs;
}
