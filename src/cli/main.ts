#!/usr/bin/env node
/**
 * moelab command line. Each command lives in `commands/<name>.ts` and exports
 * `register(program: Command)`. User errors (`MoelabError`, commander usage errors) print one line
 * to stderr and exit with code 2; anything else is a bug and keeps its stack trace.
 *
 * Start-up: command modules are imported lazily — only the one named on the command line (all of
 * them for the top-level help), none for `--version` — so a command never pays for the heavy
 * dependencies of another (vega, better-sqlite3, piscina, zod, yaml are study-only).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';

interface CommandModule { register(program: Command): void }

/** Command name → module; add a command here (one line) and in `commands/`. */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  demo: () => import('./commands/demo.js'),
  simulate: () => import('./commands/simulate.js'),
  fit: () => import('./commands/fit.js'),
  predict: () => import('./commands/predict.js'),
  study: () => import('./commands/study.js'),
  loss: () => import('./commands/loss.js'),
  distance: () => import('./commands/distance.js'),
  identifiability: () => import('./commands/identifiability.js'),
  worker: () => import('./commands/worker.js'),
  select: () => import('./commands/select.js'),
  plot: () => import('./commands/plot.js'),
};

/** The package version, from package.json (two levels up from src/cli and dist/cli alike). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The commands to load for `argv`: the one it names, none for `--version`, else all (help, unknown command). */
function commandsFor(argv: string[]): string[] {
  const first = argv.find((a) => !a.startsWith('-'));
  if (first !== undefined && Object.hasOwn(COMMANDS, first)) return [first];
  if (first === undefined && argv.some((a) => a === '-V' || a === '--version')) return [];
  return Object.keys(COMMANDS);
}

/** The program with the commands that `argv` needs (default: every command). */
export async function buildProgram(argv?: string[]): Promise<Command> {
  const program = new Command();
  program
    .name('moelab')
    .description('Statistical mixture-of-experts: gates, experts, exact MLE/LSE, Voronoi losses and rate studies')
    .version(packageVersion())
    .showHelpAfterError(false)
    .exitOverride();
  const names = argv === undefined ? Object.keys(COMMANDS) : commandsFor(argv);
  const modules = await Promise.all(names.map((name) => COMMANDS[name]()));
  for (const m of modules) m.register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    // a command may set a non-zero exit code without failing (e.g. `study run` stopped by Ctrl-C: 130)
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help / version exit with code 0; usage errors were already printed by commander
      return e.exitCode === 0 ? 0 : 2;
    }
    // the library's error classes, loaded only now (`--version` loads none of the library); the
    // command that threw has loaded src/core.ts already, so this import costs nothing
    const { MoelabError } = await import('../core.js');
    if (e instanceof MoelabError) {
      process.stderr.write(`moelab: ${e.message}\n`);
      return e.exitCode; // 2 user error, 74 environment fault (errors.ts)
    }
    throw e;
  }
}

const isEntry = process.argv[1] !== undefined && /main\.(ts|js)$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => { process.stderr.write(`moelab: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`); process.exitCode = 70; },
  );
}
