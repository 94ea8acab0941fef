#!/usr/bin/env node
// Entry point. In a source checkout it runs src/ through tsx (no build step needed);
// in an installed package (no src/) it runs the compiled dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
let mod;
if (existsSync(source)) {
  const { tsImport } = await import('tsx/esm/api');
  mod = await tsImport(pathToFileURL(source).href, import.meta.url);
} else {
  mod = await import(pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href);
}
process.exitCode = await mod.main(process.argv.slice(2));
