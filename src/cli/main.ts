#!/usr/bin/env node
/**
 * moelab command line. Each command lives in `commands/<name>.ts` and exports
 * `register(program: Command)`. User errors (`MoelabError`, commander usage errors) print one line
 * to stderr and exit with code 2; anything else is a bug and keeps its stack trace.
 */
import { Command, CommanderError } from 'commander';
import { MoelabError } from '../errors.js';
import { register as registerSimulate } from './commands/simulate.js';
import { register as registerFit } from './commands/fit.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerStudy } from './commands/study.js';
import { register as registerLoss } from './commands/loss.js';
import { register as registerDistance } from './commands/distance.js';
import { register as registerIdentifiability } from './commands/identifiability.js';
import { register as registerWorker } from './commands/worker.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('moelab')
    .description('Statistical mixture-of-experts: gates, experts, exact MLE/LSE, Voronoi losses and rate studies')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride();
  registerDemo(program);
  registerSimulate(program);
  registerFit(program);
  registerStudy(program);
  registerLoss(program);
  registerDistance(program);
  registerIdentifiability(program);
  registerWorker(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    // a command may set a non-zero exit code without failing (e.g. `study run` stopped by Ctrl-C: 130)
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help / version exit with code 0; usage errors were already printed by commander
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof MoelabError) {
      process.stderr.write(`moelab: ${e.message}\n`);
      return 2;
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
