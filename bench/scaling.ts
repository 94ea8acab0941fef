/**
 * `npx tsx bench/scaling.ts [--rounds 3] [--local-only]`: does a study run twice as fast on two
 * workers as on one? The study is bench/scaling-study.yaml: 32 jobs of fixed work (50 plain EM
 * iterations at n = 2e4 … 5e4, 0.3–0.6 s each on an idle core), so that neither the runners'
 * per-job overhead (a few ms) nor the last round's tail decides the ratio. Every case runs the CLI
 * as a user does (`bin/moelab.mjs`: the compiled dist/ when it is current, else src/ through tsx) and
 * reads the wall time the CLI reports (pool start and enqueue included, node start-up not):
 *   local, 1 thread        study run --threads 1
 *   local, 2 threads       study run --threads 2
 *   queue, 1 worker        study run --queue URL, one `moelab worker --concurrency 1`
 *   queue, 2 workers       study run --queue URL, two `moelab worker --concurrency 1` processes
 * The cases are interleaved round by round (load drift hits them alike); the workers and a private
 * redis-server (127.0.0.1) are started once, and their job threads are warmed by a 2-job study.
 * Printed: per case the median wall time, jobs/s, and the ratio to the 1-way case of the same kind
 * measured in the same run (target ≥ 1.8× from 1 to 2 on an idle 2-core machine), the median of the
 * per-round ratios, and the utilisation Σ(job seconds) / (wall × parallel): near 1 when the runner
 * keeps every worker busy. On a loaded machine the jobs themselves slow down when two of them
 * compete with other work, so the wall ratio falls; utilisation shows whether the runner is to blame.
 * Not a `*.bench.ts` file: `npm run bench` does not need Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { REDIS_SERVER, startRedis, type RedisInstance } from '../test/study/redis-server.js';
// @ts-expect-error plain .mjs helper of bin/ (no types)
import { distIsStale } from '../bin/stale.mjs';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 ? (argv[i + 1] ?? dflt) : dflt;
};
const rounds = Number(arg('--rounds', '3'));
const localOnly = argv.includes('--local-only') || !REDIS_SERVER;
const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');
const CONFIG = join(ROOT, 'bench', 'scaling-study.yaml');
const JOBS = 32;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Run the CLI; resolve with its stderr (reject on a non-zero exit). */
function cli(args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    p.on('exit', (code) => (code === 0 ? res(err) : rej(new Error(`moelab ${args.join(' ')} exited with ${code}: ${err}`))));
  });
}

/** Σ of the stored jobs' own wall times (seconds) and their count. */
function jobSeconds(dir: string): { n: number; seconds: number } {
  const db = new Database(join(dir, 'study.sqlite'), { readonly: true });
  try {
    const r = db.prepare("SELECT COUNT(*) AS n, SUM(seconds) AS s FROM jobs WHERE status = 'ok'").get() as { n: number; s: number };
    return { n: r.n, seconds: r.s };
  } finally {
    db.close();
  }
}

interface Case { name: string; kind: 'local' | 'queue'; parallel: number; args: (out: string) => string[] }

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'moelab-bench-scaling-'));
  const procs: ChildProcess[] = [];
  let redis: RedisInstance | undefined;
  const load0 = loadavg();
  const mode = distIsStale(ROOT) ? 'src/ through tsx (dist/ missing or stale: `npm run build` first to measure the compiled CLI)' : 'the compiled dist/';
  process.stderr.write(`bench/scaling.ts: ${JOBS} jobs of bench/scaling-study.yaml, ${rounds} rounds, the CLI runs ${mode}\n`);
  try {
    const cases: Case[] = [
      { name: 'local, 1 thread', kind: 'local', parallel: 1, args: (out) => ['--threads', '1', '--out', out] },
      { name: 'local, 2 threads', kind: 'local', parallel: 2, args: (out) => ['--threads', '2', '--out', out] },
    ];
    if (!localOnly && REDIS_SERVER) {
      const r = (redis = await startRedis());
      const startWorker = (queueName: string): Promise<void> => new Promise((res, rej) => {
        const p = spawn(process.execPath, [BIN, 'worker', '--queue', r.url(0), '--queue-name', queueName, '--concurrency', '1'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
        procs.push(p);
        p.stderr.on('data', (b: Buffer) => { if (b.toString().includes('serving')) res(); });
        p.on('exit', (code) => rej(new Error(`worker exited with ${code}`)));
      });
      await Promise.all([startWorker('scale-1'), startWorker('scale-2'), startWorker('scale-2')]);
      // start the workers' job threads (BullMQ keeps them between jobs)
      for (const q of ['scale-1', 'scale-2']) await cli(['study', 'run', CONFIG, '--profile', 'warm', '--out', join(tmp, `warm-${q}`), '--queue', r.url(0), '--queue-name', q, '--no-progress']);
      cases.push(
        { name: 'queue, 1 worker', kind: 'queue', parallel: 1, args: (out) => ['--queue', r.url(0), '--queue-name', 'scale-1', '--out', out] },
        { name: 'queue, 2 workers', kind: 'queue', parallel: 2, args: (out) => ['--queue', r.url(0), '--queue-name', 'scale-2', '--out', out] },
      );
    } else process.stderr.write(`queue cases skipped: ${REDIS_SERVER ? '--local-only' : 'redis-server not found (apt-get install redis-server)'}\n`);
    const wall = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    const util = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    const t0 = performance.now();
    for (let round = 0; round < rounds; round++) {
      const order = cases.map((_, i) => cases[(i + round) % cases.length]);
      for (const c of order) {
        const out = join(tmp, `r${round}-${c.name.replace(/\W+/g, '-')}`);
        const err = await cli(['study', 'run', CONFIG, '--no-progress', ...c.args(out)]);
        const m = c.kind === 'local' ? /ran (\d+) jobs \((\d+) ok.* in ([\d.]+) s/.exec(err) : /collected (\d+) jobs \((\d+) ok.* in ([\d.]+) s/.exec(err);
        if (!m || Number(m[2]) !== JOBS) throw new Error(`${c.name}: expected ${JOBS} ok jobs, got: ${err.trim().split('\n').at(-1) ?? ''}`);
        const s = Number(m[3]);
        const js = jobSeconds(out);
        const u = js.seconds / (s * c.parallel);
        wall.get(c.name)?.push(s);
        util.get(c.name)?.push(u);
        process.stderr.write(`round ${round + 1} | ${c.name}: ${s.toFixed(2)} s, ${(JOBS / s).toFixed(2)} jobs/s, jobs' own time ${js.seconds.toFixed(2)} s, utilisation ${u.toFixed(3)}\n`);
      }
    }
    const med = (k: string): number => median(wall.get(k) ?? []);
    const perRound = (a: string, b: string): number => median((wall.get(a) ?? []).map((x, i) => x / (wall.get(b) ?? [])[i]));
    const one = (c: Case): string => (c.kind === 'local' ? 'local, 1 thread' : 'queue, 1 worker');
    const load1 = loadavg();
    const lines = [
      `bench/scaling.ts: ${JOBS} fixed-work jobs, ${rounds} rounds, medians; load average ${load0[0].toFixed(1)} at the start, ${load1[0].toFixed(1)} at the end (2 cores: above ~0.5 the machine is not idle and the ratios are indicative only); ${((performance.now() - t0) / 1000).toFixed(0)} s`,
      '| case | median wall s | jobs/s | ratio to 1-way, medians | ratio, median per round | utilisation (median) | min–max s |',
      '|---|---|---|---|---|---|---|',
      ...cases.map((c) => {
        const v = wall.get(c.name) ?? [];
        return `| ${c.name} | ${med(c.name).toFixed(2)} | ${(JOBS / med(c.name)).toFixed(2)} | ${(med(one(c)) / med(c.name)).toFixed(2)}× | ${perRound(one(c), c.name).toFixed(2)}× | ${median(util.get(c.name) ?? []).toFixed(3)} | ${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)} |`;
      }),
    ];
    for (const k of ['local', 'queue'] as const) {
      const a = `${k}, 1 ${k === 'local' ? 'thread' : 'worker'}`;
      const b = `${k}, 2 ${k === 'local' ? 'threads' : 'workers'}`;
      if (!wall.has(b)) continue;
      const r = med(a) / med(b);
      // what the ratio would be if a job ran as fast beside another one as alone (true on an idle
      // 2-core machine up to memory contention): 2 × utilisation(2-way) / utilisation(1-way)
      const normalised = (2 * median(util.get(b) ?? [])) / median(util.get(a) ?? []);
      lines.push(`${k} 1 → 2: ${r.toFixed(2)}× (target ≥ 1.8× on an idle machine: ${r >= 1.8 ? 'met' : 'NOT met'}${load0[0] > 0.5 || load1[0] > 0.5 ? ', loaded machine' : ''}); load-normalised 2 × utilisation ratio ${normalised.toFixed(2)}× (the runner's share of the loss; not a substitute for the idle run)`);
    }
    if (wall.has('queue, 1 worker')) lines.push(`queue 1 worker vs local 1 thread: ${((med('queue, 1 worker') - med('local, 1 thread')) / JOBS * 1000).toFixed(1)} ms per job (indicative; bench/queue.ts measures the overhead on small jobs)`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
