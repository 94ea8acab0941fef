#!/usr/bin/env node
// Compile src/ to dist/ (tsc -p tsconfig.build.json) from a clean output directory, then bundle the
// command line's start-up path into dist/cli-fast/ (see bundleCli).
//   --if-stale   skip when dist/ is newer than every file in src/ (used by `prepare`, which npm
//                also runs right after `prepack` on `npm pack`)
//   --optional   skip with one line when TypeScript is not installed (`npm ci --omit=dev`)
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distIsStale } from '../bin/stale.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));

if (args.has('--if-stale') && !distIsStale(root)) process.exit(0);
let tsc;
try {
  tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
} catch {
  if (args.has('--optional')) {
    process.stderr.write('moelab build: typescript is not installed; dist/ not built (bin/moelab.mjs needs dist/ or tsx)\n');
    process.exit(0);
  }
  process.stderr.write('moelab build: typescript is not installed (npm install)\n');
  process.exit(1);
}
// compile into a fresh directory and swap it in: a process starting meanwhile sees the old dist/
// (or none, and bin/moelab.mjs falls back to tsx), never a half-written one
const tmp = join(root, `dist.tmp-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', tmp], { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}
await bundleCli(tmp);
rmSync(join(root, 'dist'), { recursive: true, force: true });
renameSync(tmp, join(root, 'dist'));

/**
 * dist/cli-fast/: the compiled CLI bundled by esbuild (code splitting, one chunk per lazy command)
 * with its small pure-JS packages inlined. Start-up is module loading: `fit` loads ≈ 180 files
 * unbundled (≈ 130 of them zod's), and a cold `fit --json` at n = 1e3 spends 0.30 s of CPU against
 * 0.20 s bundled. bin/moelab.mjs runs it for the commands in FAST_COMMANDS (bin/stale.mjs), which
 * load no plugins and start no study workers (their modules are found by path next to the
 * compiled files); the fit worker of `fit --bootstrap --threads` is bundled alongside, where the
 * bundled pool looks for it. Packages with native parts, workers or heavy optional use stay
 * external. Without esbuild (a development dependency) the bundle is skipped: the bin then runs
 * dist/cli/main.js.
 */
async function bundleCli(out) {
  let esbuild;
  try {
    esbuild = createRequire(join(root, 'package.json'))('esbuild');
  } catch {
    process.stderr.write('moelab build: esbuild is not installed; dist/cli-fast/ not built (the bin runs dist/cli/main.js)\n');
    return;
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const inline = new Set(['zod', 'commander', 'csv-parse', 'csv-stringify', 'pure-rand']);
  const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})].filter((d) => !inline.has(d));
  await esbuild.build({
    entryPoints: [join(out, 'cli', 'main.js'), join(out, 'estimate', 'fit-worker.js')],
    outdir: join(out, 'cli-fast'),
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: [...external, ...external.map((d) => `${d}/*`)],
    // inlined CommonJS packages call require() for node: built-ins
    banner: { js: "import { createRequire as __moelabCreateRequire } from 'node:module'; const require = __moelabCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}
