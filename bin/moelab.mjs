#!/usr/bin/env node
// Entry point. Runs the compiled dist/ — all an installed package has (built by `prepack`; in a
// checkout by `npm run build`, which `prepare` runs after `npm ci`). In a source checkout where dist/
// is missing or older than some file in src/, it runs src/ through tsx instead (a development
// dependency), so an edit takes effect without a rebuild and a stale dist/ is never run.
// MOELAB_SOURCE=1 forces the tsx path, MOELAB_SOURCE=0 the compiled one. The compiled path of the
// commands in FAST_COMMANDS is the bundle dist/cli-fast/main.js (faster start-up, scripts/build.mjs);
// MOELAB_BUNDLE=0 runs dist/cli/main.js instead (to measure the difference).
import { existsSync } from 'node:fs';
import { compiledEntry, distIsStale, fastCommand, fastEntry, fastIsCurrent } from './stale.mjs';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
const argv = process.argv.slice(2);
// the bundled start-up path for the commands that allow it (bin/stale.mjs), when it was built
const fast = fastEntry(root);
const compiled = process.env.MOELAB_BUNDLE !== '0' && fastCommand(argv) && fastIsCurrent(root) ? fast : compiledEntry(root);

function useSource() {
  const forced = process.env.MOELAB_SOURCE;
  if (forced === '1') return true;
  if (forced === '0' || !existsSync(source)) return false;
  return distIsStale(root);
}

// `moelab predict … | head`: a closed pipe ends the output, not with a stack trace
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

let mod;
if (useSource()) {
  const { tsImport } = await import('tsx/esm/api');
  mod = await tsImport(pathToFileURL(source).href, import.meta.url);
} else {
  mod = await import(pathToFileURL(compiled).href);
}
process.exitCode = await mod.main(argv);
