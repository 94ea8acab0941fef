/**
 * `npx tsx bench/queue.ts [--rounds 5] [--preset softmax-exact] [--profile quick]`: throughput of the
 * distributed runner (BullMQ + a private redis-server on 127.0.0.1) against the local pool, on the
 * same study, in the same run. Cases, interleaved round by round so that load drift on a shared
 * machine hits them alike; each reports its median wall time over the rounds:
 *   local pool, 1 thread (warm)   piscina with one pre-started thread, all jobs, rows stored: the baseline
 *   local pool, 1 thread          `runStudy` as `study run --threads 1` runs it (pool start included)
 *   local pool, 2 threads         `runStudy --threads 2`
 *   queue, 1 worker process       one `moelab worker --concurrency 1`, coordinator in this process
 *   queue, 2 worker processes     two `moelab worker --concurrency 1`
 * Workers are started once, before the rounds (a round after the first finds their job threads
 * warm); the coordinator's wall time runs from its start to the last row stored.
 * Queue overhead per job = (queue 1 worker − warm local 1 thread) / jobs; scaling = queue 1 / queue 2.
 * Not a `*.bench.ts` file: `npm run bench` does not need Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { loadStudyFile, presetPath } from '../src/study/config.js';
import { StudyStore } from '../src/study/store.js';
import { runStudy, workerFilename } from '../src/study/runner.js';
import { executionOrder, planJobs } from '../src/study/plan.js';
import type { ResultRow } from '../src/study/job.js';
import type { WorkerTask } from '../src/study/worker.js';
import { runQueuedStudy } from '../src/study/queue/coordinator.js';
import { parseQueueUrl } from '../src/study/queue/connection.js';
import { REDIS_SERVER, startRedis } from '../test/study/redis-server.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 ? (argv[i + 1] ?? dflt) : dflt;
};
const rounds = Number(arg('--rounds', '5'));
const preset = arg('--preset', 'softmax-exact');
const profile = arg('--profile', 'quick');
const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');

/** CPU seconds (user + system, all threads) of a process, from /proc (Linux). */
function procCpu(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  if (!REDIS_SERVER) {
    process.stderr.write('bench/queue.ts: redis-server not found (apt-get install redis-server)\n');
    process.exitCode = 1;
    return;
  }
  const study = loadStudyFile(presetPath(preset), { profile });
  const jobs = executionOrder(planJobs(study));
  const N = jobs.length;
  const redis = await startRedis();
  const tmp = mkdtempSync(join(tmpdir(), 'moelab-bench-queue-'));
  const procs: ChildProcess[] = [];
  let dirs = 0;
  const freshStore = (): StudyStore => StudyStore.create(join(tmp, `s${dirs++}`), study);
  const startWorker = (queueName: string): Promise<void> => new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, 'worker', '--queue', redis.url(0), '--queue-name', queueName, '--concurrency', '1'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    p.stderr.on('data', (b: Buffer) => { if (b.toString().includes('serving')) res(); });
    p.on('exit', (code) => rej(new Error(`worker exited with ${code}`)));
  });
  const warm = new Piscina<WorkerTask, ResultRow>({ filename: workerFilename(), minThreads: 1, maxThreads: 1 });
  try {
    await Promise.all([startWorker('bench-1'), startWorker('bench-2'), startWorker('bench-2')]);
    await warm.run({ study, job: jobs[0] });
    // each case returns the summed compute seconds of its rows (the jobs' own wall times)
    const computeOf = (s: StudyStore): number => { const c = s.counts().seconds; s.close(); return c; };
    const cases: { name: string; parallel: number; run: () => Promise<number> }[] = [
      {
        name: 'local pool, 1 thread (warm)',
        parallel: 1,
        run: async () => {
          const store = freshStore();
          for (const job of jobs) store.write(await warm.run({ study, job }));
          return computeOf(store);
        },
      },
      { name: 'local pool, 1 thread', parallel: 1, run: async () => { const s = freshStore(); await runStudy(s, { threads: 1, progress: false }); return computeOf(s); } },
      { name: 'local pool, 2 threads', parallel: 2, run: async () => { const s = freshStore(); await runStudy(s, { threads: 2, progress: false }); return computeOf(s); } },
      { name: 'queue, 1 worker process', parallel: 1, run: async () => { const s = freshStore(); await runQueuedStudy(s, { target: parseQueueUrl(redis.url(0)), queueName: 'bench-1', progress: false }); return computeOf(s); } },
      { name: 'queue, 2 worker processes', parallel: 2, run: async () => { const s = freshStore(); await runQueuedStudy(s, { target: parseQueueUrl(redis.url(0)), queueName: 'bench-2', progress: false }); return computeOf(s); } },
    ];
    const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    // wall time per job not spent in the jobs themselves: wall/N − compute/(N·parallel), in ms; the
    // jobs' compute time varies with the load, this difference much less
    const idle = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    // CPU seconds of everything involved (this process: pool or coordinator; the worker processes,
    // busy or idle; redis-server): unlike wall time, hardly changed by other load on the machine
    const cpuNow = (): number => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6 + procs.reduce((s, p) => s + procCpu(p.pid), 0) + procCpu(redis.pid());
    };
    const cpu = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    // round 0 warms the workers' job threads (not counted)
    for (let r = 0; r <= rounds; r++) {
      const order = cases.map((_, i) => cases[(i + r) % cases.length]);
      for (const c of order) {
        const t0 = performance.now();
        const c0 = cpuNow();
        const compute = await c.run();
        const s = (performance.now() - t0) / 1000;
        const used = cpuNow() - c0;
        if (r > 0) cpu.get(c.name)?.push(used);
        const gap = (s / N - compute / (N * c.parallel)) * 1000;
        if (r > 0) {
          times.get(c.name)?.push(s);
          idle.get(c.name)?.push(gap);
        }
        process.stderr.write(`round ${r}${r === 0 ? ' (warm-up)' : ''} | ${c.name}: ${s.toFixed(2)} s (${(N / s).toFixed(1)} jobs/s; jobs' own time ${compute.toFixed(2)} s; ${gap.toFixed(2)} ms/job outside the jobs; ${used.toFixed(2)} CPU s)\n`);
      }
    }
    const med = new Map([...times].map(([k, v]) => [k, median(v)]));
    const base = med.get('local pool, 1 thread (warm)') ?? NaN;
    const lines = [
      `${preset} --profile ${profile}: ${N} jobs, ${rounds} rounds, medians (machine shared with other work: see the spread)`,
      '| case | median s | jobs/s | ratio to warm local 1 thread | min–max s | ms/job outside the jobs (median) | CPU s (median) |',
      '|---|---|---|---|---|---|---|',
      ...[...times].map(([k, v]) => `| ${k} | ${median(v).toFixed(2)} | ${(N / median(v)).toFixed(1)} | ${(median(v) / base).toFixed(2)} | ${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)} | ${median(idle.get(k) ?? []).toFixed(2)} | ${median(cpu.get(k) ?? []).toFixed(2)} |`),
    ];
    const q1 = med.get('queue, 1 worker process') ?? NaN;
    const q2 = med.get('queue, 2 worker processes') ?? NaN;
    const l2 = med.get('local pool, 2 threads') ?? NaN;
    const l1 = med.get('local pool, 1 thread') ?? NaN;
    // per-round pairs (same round, same load) give a second view of the overhead and the scaling
    const perRound = (a: string, b: string, f: (x: number, y: number) => number): number => median((times.get(a) ?? []).map((x, i) => f(x, (times.get(b) ?? [])[i])));
    const gapQ = median(idle.get('queue, 1 worker process') ?? []);
    const gapL = median(idle.get('local pool, 1 thread (warm)') ?? []);
    const cpuQ = median(cpu.get('queue, 1 worker process') ?? []);
    const cpuL = median(cpu.get('local pool, 1 thread (warm)') ?? []);
    lines.push(
      `queue overhead per job in CPU time (worker, Redis and coordinator, beyond the warm local pool): ${((cpuQ - cpuL) / N * 1000).toFixed(2)} ms (medians)`,
      `queue overhead per job beyond the warm local pool, from the time outside the jobs: ${(gapQ - gapL).toFixed(2)} ms`,
      `queue overhead per job (wall): ${((q1 - base) / N * 1000).toFixed(2)} ms (medians), ${perRound('queue, 1 worker process', 'local pool, 1 thread (warm)', (x, y) => (x - y) / N * 1000).toFixed(2)} ms (median of per-round differences)`,
      `scaling 1 → 2 worker processes: ${(q1 / q2).toFixed(2)}× (medians), ${perRound('queue, 1 worker process', 'queue, 2 worker processes', (x, y) => x / y).toFixed(2)}× (median of per-round ratios); local pool 1 → 2 threads: ${(l1 / l2).toFixed(2)}×`,
    );
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await warm.destroy();
    for (const p of procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await redis.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
