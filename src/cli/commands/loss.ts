/** `moelab loss`: Voronoi loss between a fitted and a true model (math-spec §1.3–1.6, §8.1–8.2). */
import type { Command } from 'commander';
import { voronoiLoss, LOSS_PRESETS, type VoronoiMetric, type ModelInput, parseXDesign, OptionError, formatWarning } from '../../core.js';
import { readModelFile, readText, parseNumberOption } from '../io.js';

export interface LossCliOptions {
  fit: string;
  truth: string;
  loss?: string;
  metric?: string;
  raw?: boolean;
  rbar?: string;
  x: string;
  samples: string;
  seed: string;
  json?: boolean;
}

/** Validated model plus, for raw mode, the JSON exactly as written in the file. */
function readModel(path: string, what: string, asGiven: boolean): ModelInput {
  const model = readModelFile(path, what); // validates, one-line errors naming the file and field
  if (!asGiven) return model;
  return JSON.parse(readText(path, what)) as ModelInput;
}

/** `--rbar 4=8,5=10` → {4: 8, 5: 10}. */
export function parseRbar(spec: string): Record<number, number> {
  const out: Record<number, number> = {};
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*=\s*([\d.eE+-]+)\s*$/.exec(part);
    if (!m) throw new OptionError(`--rbar: expected M=VALUE[,M=VALUE…] (e.g. 4=8), got ${JSON.stringify(part)}`);
    const size = Number(m[1]);
    const v = Number(m[2]);
    if (size < 4) throw new OptionError(`--rbar: r̄(${size}) is fixed by the math spec (r̄(1)=1, r̄(2)=4, r̄(3)=6); give values for cell sizes ≥ 4`);
    if (!(v > 0) || !Number.isFinite(v)) throw new OptionError(`--rbar: r̄(${size}) must be a positive number, got ${m[2]}`);
    out[size] = v;
  }
  return out;
}

const fmt = (v: number): string => (v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(6) : v.toExponential(4));

export function register(program: Command): void {
  program
    .command('loss')
    .description('Voronoi loss between a fitted and a true model (translation-normalised; --raw for the authors\' code)')
    .requiredOption('--fit <file>', 'fitted model JSON (a `fit --json` output is accepted)')
    .requiredOption('--truth <file>', 'true model JSON')
    .option('--loss <name>', `loss preset: ${LOSS_PRESETS.map((p) => p.name).join(' | ')} (default: D1 when k = k*, else D2)`)
    .option('--metric <metric>', 'cell assignment distance: l2 | l1 (default l2; --raw uses l1)')
    .option('--raw', "reproduce the authors' discrepancies.loss_SGaME_exact exactly (no normalisation, L1 cells, their quirks)")
    .option('--rbar <values>', 'r̄ for cells of 4+ fitted atoms, e.g. 4=8,5=10 (the math spec only gives r̄(m) ≥ 7)')
    .option('--x <design>', 'input design used to find the regions of a top-K truth', 'uniform:0,1')
    .option('--samples <n>', 'x draws for the top-K regions', '4096')
    .option('--seed <seed>', 'random seed of the x draws', '1')
    .option('--json', 'print {"loss", "cells", "blocks", "warnings"} as one JSON object')
    .action((opts: LossCliOptions) => {
      const metric = opts.metric?.toLowerCase();
      if (metric !== undefined && metric !== 'l1' && metric !== 'l2') throw new OptionError(`--metric: expected l2 or l1, got ${JSON.stringify(opts.metric)}`);
      const raw = opts.raw === true;
      const fit = readModel(opts.fit, 'fit file', raw);
      const truth = readModel(opts.truth, 'truth file', raw);
      const r = voronoiLoss(fit, truth, {
        raw,
        loss: opts.loss,
        metric: metric as VoronoiMetric | undefined,
        rbar: opts.rbar === undefined ? undefined : parseRbar(opts.rbar),
        x: parseXDesign(opts.x),
        samples: parseNumberOption(opts.samples, '--samples', { integer: true, min: 1 }),
        seed: parseNumberOption(opts.seed, '--seed', { integer: true }),
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify({ loss: r.loss, cells: r.cells, blocks: r.blocks, warnings: r.warnings }) + '\n');
        return;
      }
      const names = Object.keys(r.blockMax);
      const lines = [
        `${r.lossName} = ${fmt(r.loss)}   (${raw ? "raw: the authors' loss_SGaME_exact" : `${metric ?? 'l2'} cells, translation-normalised`})`,
        '',
        'cells (fitted experts, 1-based, per true expert):',
        ...r.cells.map((c, j) => `  true ${j + 1}: ${c.length ? c.map((i) => i + 1).join(', ') : '(empty)'}   exponents ${names.map((b) => `${b} ${r.exponents[b][j]}`).join(', ')}`),
        '',
        'block          contribution    max error',
        ...names.map((b) => `  ${b.padEnd(12)} ${fmt(r.blocks[b]).padStart(12)}   ${fmt(r.blockMax[b]).padStart(10)}`),
        `  ${'mass'.padEnd(12)} ${fmt(r.blocks.mass).padStart(12)}`,
      ];
      if (r.regions) lines.push('', 'input regions of the true top-K gate:', ...r.regions.map((g) => `  active ${g.active.map((j) => j + 1).join(',')}   x-mass ${fmt(g.mass)}   loss ${fmt(g.loss)}`));
      if (r.normalisation) {
        const t = Object.entries(r.normalisation.translation).map(([b, v]) => `${b} ${v.map(fmt).join(',')}`).join('; ');
        lines.push('', `normalisation: log-weight shift ${fmt(r.normalisation.logWeightShift)}${t ? `; ${t}` : ''}${r.normalisation.scale !== null ? `; scale ${fmt(r.normalisation.scale)}` : ''}`);
      }
      lines.push(...r.warnings.map((w) => formatWarning(w)));
      process.stdout.write(lines.join('\n') + '\n');
    });
}
