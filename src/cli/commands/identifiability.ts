/** `moelab identifiability`: numerical strong-identifiability check of a regression expert family (math-spec §5.2). */
import type { Command } from 'commander';
import { parseExpertSpec, checkStrongIdentifiability, type IdentifiabilityOptions, OptionError } from '../../core.js';
import { parseNumberOption } from '../io.js';

interface IdentifiabilityCliOptions {
  expert: string;
  k: string;
  d: string;
  seed: string;
  points?: string;
  range: string;
  slopes: string;
  tol: string;
  hTerms?: boolean;
  merge: boolean;
  json?: boolean;
}

function pair(value: string, option: string): [number, number] {
  const parts = value.split(',');
  if (parts.length !== 2) throw new OptionError(`${option}: expected LOW,HIGH, got ${JSON.stringify(value)}`);
  const a = parseNumberOption(parts[0], option);
  const b = parseNumberOption(parts[1], option);
  if (!(b > a)) throw new OptionError(`${option}: need LOW < HIGH, got ${value}`);
  return [a, b];
}

export function register(program: Command): void {
  program
    .command('identifiability')
    .description('check strong identifiability of a regression expert (rank of its derivative functions on a grid, math-spec §5.2)')
    .requiredOption('--expert <spec>', 'regression expert, e.g. regression:gelu, regression:linear, regression:tanh,c')
    .option('--k <k>', 'number of distinct random parameter values', '3')
    .option('--d <d>', 'input dimension', '1')
    .option('--seed <seed>', 'seed of the random parameter values', '1')
    .option('--points <n>', 'number of x points (default max(400, 8 × functions))')
    .option('--range <low,high>', 'x range of the grid', '-3,3')
    .option('--slopes <low,high>', 'range of |a| of the random atoms', '1.5,3')
    .option('--tol <tol>', 'numerical-rank threshold on σ/σ_max', '1e-9')
    .option('--h-terms', 'also include h and x·h (the [REC] LSE variant of the definition)')
    .option('--no-merge', 'do not merge formulas that give the same function (e.g. x·∂h/∂b ≡ ∂h/∂a)')
    .option('--json', 'print the full report as one JSON object')
    .action((opts: IdentifiabilityCliOptions) => {
      const spec = parseExpertSpec(opts.expert);
      const [low, high] = pair(opts.range, '--range');
      const slopes = pair(opts.slopes, '--slopes');
      if (!(slopes[0] > 0)) throw new OptionError(`--slopes: need 0 < LOW, got ${opts.slopes}`);
      const options: IdentifiabilityOptions = {
        k: parseNumberOption(opts.k, '--k', { integer: true, min: 1 }),
        d: parseNumberOption(opts.d, '--d', { integer: true, min: 1 }),
        seed: parseNumberOption(opts.seed, '--seed', { integer: true }),
        low,
        high,
        slopes,
        tol: parseNumberOption(opts.tol, '--tol', { positive: true }),
        includeH: opts.hTerms ?? false,
        mergeIdentical: opts.merge,
      };
      if (opts.points !== undefined) options.points = parseNumberOption(opts.points, '--points', { integer: true, min: 1 });
      const r = checkStrongIdentifiability(spec, options);
      if (opts.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      const fmt = (v: number): string => v.toPrecision(4);
      const lines = [
        `expert ${opts.expert}  (${JSON.stringify(r.expert)})`,
        `k=${r.k} random atoms, d=${r.d}, ${r.points} x points on [${low}, ${high}]${options.includeH ? ', with h and x·h' : ''}`,
        ...r.parameters.map((p, j) => `  η${j + 1}: ${Object.entries(p).map(([n, v]) => `${n}=${fmt(v)}`).join('  ')}`),
        `functions: ${r.functions} distinct of ${r.candidates} formulas${r.merged.length ? ` (${r.merged.length} identical merged, e.g. ${r.merged[0]})` : ''}`,
        `numerical rank ${r.rank} / ${r.functions}   σ_min/σ_max = ${r.ratio.toExponential(3)}   (tol ${r.tol})`,
      ];
      if (r.zeroFunctions.length) lines.push(`identically zero: ${r.zeroFunctions.join(', ')}`);
      if (r.dependency.length && r.zeroFunctions.length === 0) {
        lines.push(`near-null combination: ${r.dependency.map((t) => `${t.coefficient >= 0 ? '+' : '−'}${Math.abs(t.coefficient).toFixed(3)}·${t.function}`).join(' ')}`);
      }
      lines.push(`verdict: ${r.verdict}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
