/**
 * `npm run bench [-- --filter TEXT] [--iterations N] [--json FILE]`: runs every `bench/*.bench.ts`,
 * prints per case the median wall time (tinybench p50 over N timed runs after one warm-up), the
 * ratio to its group's baseline measured in the same run, and the diagnostics the case returned.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import type { BenchCase } from './types.js';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const filter = arg('--filter');
const defaultIterations = Number(arg('--iterations') ?? 5);
const jsonOut = arg('--json');

interface Row { group: string; name: string; medianMs: number; ratio: number | null; samples: number; info: string }

async function main(): Promise<void> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort();
  const cases: BenchCase[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { cases?: BenchCase[] };
    for (const c of mod.cases ?? []) if (!filter || `${c.group} ${c.name}`.includes(filter)) cases.push(c);
  }
  const rows: Row[] = [];
  const groups = [...new Set(cases.map((c) => c.group))];
  for (const group of groups) {
    const members = cases.filter((c) => c.group === group);
    let baseline: number | undefined;
    for (const c of members) {
      const state = c.setup?.();
      let last: unknown;
      const bench = new Bench({ iterations: c.iterations ?? defaultIterations, time: 0, warmupIterations: 1, warmupTime: 0 });
      bench.add(c.name, () => { last = c.run(state); });
      await bench.run();
      const task = bench.tasks[0];
      const result = task.result;
      if (!('latency' in result)) throw new Error(`bench ${group} / ${c.name} failed: ${'error' in result ? String(result.error) : result.state}`);
      const median = result.latency.p50;
      if (c.baseline) baseline = median;
      const info = last && typeof last === 'object' ? Object.entries(last).map(([k, v]) => `${k}=${typeof v === 'number' ? formatDiagnostic(k, v) : String(v)}`).join(' ') : '';
      rows.push({ group, name: c.name, medianMs: median, ratio: null, samples: result.latency.samplesCount ?? 0, info });
      process.stderr.write(`${group} | ${c.name}: ${median.toFixed(1)} ms ${info}\n`);
    }
    if (baseline !== undefined) for (const r of rows) if (r.group === group) r.ratio = r.medianMs / baseline;
  }
  const line = (r: Row): string => `| ${r.group} | ${r.name} | ${r.medianMs.toFixed(1)} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${r.info} |`;
  process.stdout.write(['| group | case | median ms | ratio to baseline | diagnostics (last run) |', '|---|---|---|---|---|', ...rows.map(line)].join('\n') + '\n');
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2));
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});

/** 6 significant digits, except objective values (logLik, sse, mse): those are compared across cases to 1e-6. */
function formatDiagnostic(key: string, v: number): string {
  if (/^(logLik|sse|mse)$/.test(key) && Number.isFinite(v) && Math.abs(v) >= 1) return v.toFixed(6);
  return String(+v.toPrecision(6));
}
