#!/usr/bin/env node
// Compile src/ to dist/ (tsc -p tsconfig.build.json) from a clean output directory.
//   --if-stale   skip when dist/ is newer than every file in src/ (used by `prepare`, which npm
//                also runs right after `prepack` on `npm pack`)
//   --optional   skip with one line when TypeScript is not installed (`npm ci --omit=dev`)
import { renameSync, rmSync } from 'node:fs';
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
rmSync(join(root, 'dist'), { recursive: true, force: true });
renameSync(tmp, join(root, 'dist'));
