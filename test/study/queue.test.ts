/**
 * The distributed runner end to end: a private redis-server on 127.0.0.1, coordinators and
 * `moelab worker`s as child processes (the CLI as a user runs it), faults injected by signals.
 * Every stored row is compared with a local inline run of the same study, byte for byte except
 * wall times (rowBytes).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { storedRows } from './stored-rows.js';
import { loadStudyFile, presetPath, type ResolvedStudy } from '../../src/study/config.js';
import { StudyStore } from '../../src/study/store.js';
import { runStudy } from '../../src/study/runner.js';
import { rowBytes, runJob, type ResultRow } from '../../src/study/job.js';
import { planJobs } from '../../src/study/plan.js';
import { runQueuedStudy } from '../../src/study/queue/coordinator.js';
import { staleMeasures, storedMeasureVersions } from '../../src/study/versions.js';
import { measureVersions } from '../../src/study/measures.js';
import { ensurePlugins } from '../../src/study/plugins.js';
import { parseQueueUrl } from '../../src/study/queue/connection.js';
import { runCli } from '../cli/run-cli.js';
import { REDIS_SERVER, freePort, startRedis, type RedisInstance } from './redis-server.js';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');
const PLANNED = 144; // softmax-exact --quick: 12 sizes × 12 replicates

if (!REDIS_SERVER) console.warn('queue tests skipped: redis-server not found (Debian package redis-server; .ci/run installs it)');

interface Proc {
  child: ChildProcess;
  log: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  const log: string[] = [];
  let buf = '';
  const onData = (b: Buffer): void => {
    buf += b.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    log.push(...lines);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => {
    if (buf) log.push(buf);
    res({ code, signal });
  }));
  return { child, log, exited };
}

/** A worker with short locks, so a killed worker's job is rerun within about a second. */
function worker(url: string, concurrency = 1): Proc {
  return start(['worker', '--queue', url, '--concurrency', String(concurrency), '--lock-duration', '1000', '--stalled-interval', '500', '--max-stalled', '20', '--verbose']);
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}


async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map(async (p) => {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  }));
}

function expectSameRows(dir: string, ref: ResultRow[]): void {
  const store = StudyStore.open(dir);
  const rows = store.rows();
  store.close();
  expect(rows.length).toBe(ref.length); // 0 lost
  expect(new Set(rows.map((r) => r.jobId)).size).toBe(rows.length); // 0 duplicated
  const diffs = rows.filter((r, i) => rowBytes(r) !== rowBytes(ref[i])).map((r) => r.jobId);
  expect(diffs).toEqual([]);
  const db = new Database(join(dir, 'study.sqlite'), { readonly: true });
  expect(db.prepare('SELECT COUNT(*) FROM (SELECT job_id, name FROM losses GROUP BY job_id, name HAVING COUNT(*) > 1)').pluck().get()).toBe(0);
  db.close();
}

describe.skipIf(!REDIS_SERVER)('distributed study runner (BullMQ + Redis on 127.0.0.1)', () => {
  let redis: RedisInstance;
  let tmp: string;
  let ref: ResultRow[];
  const running: Proc[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    tmp = mkdtempSync(join(tmpdir(), 'moelab-queue-'));
    // the reference: a local inline run of softmax-exact --quick
    const store = StudyStore.create(join(tmp, 'inline'), loadStudyFile(presetPath('softmax-exact'), { profile: 'quick' }));
    const s = await runStudy(store, { inline: true, progress: false });
    expect(s.ran).toBe(PLANNED);
    ref = store.rows();
    store.close();
  });

  // a failed test leaves no worker or coordinator behind to load the next ones
  afterEach(async () => {
    await stopAll(running);
    running.length = 0;
  });

  afterAll(async () => {
    await stopAll(running);
    await redis?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('one coordinator, three workers, a worker SIGKILLed mid-job five times: rows equal the inline run, 0 lost, 0 duplicated', async () => {
    const url = redis.url(1);
    const out = join(tmp, 'killed-workers');
    const workers = [worker(url), worker(url), worker(url)];
    running.push(...workers);
    const coord = start(['study', 'run', '--preset', 'softmax-exact', '--quick', '--out', out, '--queue', url, '--no-progress']);
    running.push(coord);
    const active = (p: Proc): string[] => {
      const open = new Set<string>();
      for (const l of p.log) {
        const m = / (active|completed|failed) (\S+)/.exec(l);
        if (m?.[1] === 'active') open.add(m[2]);
        else if (m) open.delete(m[2]);
      }
      return [...open];
    };
    const big = (id: string): boolean => Number(id.split('/')[2]) >= 2000; // fits of ≥ 30 ms: the kill lands mid-job
    const killed: { pid: number; job: string }[] = [];
    for (let k = 0; k < 5; k++) {
      let victim = -1;
      let job = '';
      await until(() => {
        for (let i = 0; i < workers.length; i++) {
          const a = active(workers[i]).filter(big);
          if (a.length) {
            victim = i;
            job = a[0];
            return true;
          }
        }
        return coord.child.exitCode !== null;
      }, `a worker holding a job (kill ${k + 1})`);
      expect(coord.child.exitCode, `the run ended after ${k} kills: ${coord.log.join('\n')}`).toBeNull();
      const w = workers[victim];
      w.child.kill('SIGKILL');
      expect((await w.exited).signal).toBe('SIGKILL');
      expect(active(w)).toContain(job); // it died holding the job
      killed.push({ pid: w.child.pid ?? -1, job });
      workers[victim] = worker(url); // restarted
      running.push(workers[victim]);
    }
    const ex = await coord.exited;
    expect(ex.code, coord.log.join('\n')).toBe(0);
    expect(coord.log.join('\n')).toMatch(new RegExp(`collected ${PLANNED} jobs \\(${PLANNED} ok, 0 failed\\)`));
    // each killed job was detected as stalled and completed by another worker process
    const all = running.filter((p) => p !== coord);
    for (const { pid, job } of killed) {
      const by = all.filter((p) => p.log.some((l) => l.endsWith(`completed ${job}`) || l.includes(` completed ${job} `)));
      expect(by.length, `job ${job}`).toBeGreaterThanOrEqual(1);
      expect(by.every((p) => p.child.pid !== pid)).toBe(true);
    }
    expectSameRows(out, ref);
    // status: everything done, nothing queued or running, the three (restarted) workers live
    await until(() => workers.every((w) => w.log.some((l) => l.includes(' serving '))), 'the restarted workers');
    const st = await runCli(['study', 'status', out, '--json', '--queue', url]);
    expect(st.code, st.stderr).toBe(0);
    const status = JSON.parse(st.stdout) as { ok: number; failed: number; pending: number; queue: { queued: number; running: number; uncollected: number; workers: number } };
    expect(status).toMatchObject({ ok: PLANNED, failed: 0, pending: 0, queue: { queued: 0, running: 0, uncollected: 0, workers: 3 } });
    await stopAll(workers);
  });

  it('a killed coordinator: the workers go on, resume collects what finished and enqueues nothing stored or queued', async () => {
    const url = redis.url(2);
    const out = join(tmp, 'killed-coordinator');
    const w = worker(url, 2);
    running.push(w);
    const coord = start(['study', 'run', '--preset', 'softmax-exact', '--quick', '--out', out, '--queue', url, '--no-progress']);
    running.push(coord);
    await until(() => storedRows(join(out, 'study.sqlite')) >= 20, '20 stored rows');
    coord.child.kill('SIGKILL');
    await coord.exited;
    const afterKill = storedRows(join(out, 'study.sqlite'));
    expect(afterKill).toBeLessThan(PLANNED);
    // the worker finishes jobs that nobody collects yet
    await until(() => w.log.filter((l) => l.includes(' completed ')).length >= afterKill + 10, 'jobs finished while no coordinator runs');
    const st = await runCli(['study', 'status', out, '--json', '--queue', url]);
    expect(st.code, st.stderr).toBe(0);
    const status = JSON.parse(st.stdout) as { ok: number; pending: number; queue: { queued: number; running: number; uncollected: number } };
    expect(status.ok).toBe(afterKill);
    expect(status.queue.uncollected).toBeGreaterThanOrEqual(1);
    // everything not stored is still in Redis (queued, running or finished; a row stored just before
    // the kill may be there too): nothing to enqueue
    expect(status.queue.queued + status.queue.running + status.queue.uncollected).toBeGreaterThanOrEqual(PLANNED - afterKill);
    const res = start(['study', 'resume', out, '--queue', url, '--no-progress']);
    running.push(res);
    const rex = await res.exited;
    expect(rex.code, res.log.join('\n')).toBe(0);
    expect(res.log.join('\n')).toContain('enqueued 0 jobs');
    expectSameRows(out, ref);
    // the queue holds nothing of the study any more
    const again = await runCli(['study', 'status', out, '--json', '--queue', url]);
    expect((JSON.parse(again.stdout) as { queue: object }).queue).toMatchObject({ queued: 0, running: 0, uncollected: 0 });
    await stopAll([w]);
  });

  it('Redis restarted mid-run (AOF): the coordinator and the workers reconnect and the run completes', async () => {
    const url = redis.url(3);
    const out = join(tmp, 'redis-restart');
    const w = worker(url, 2);
    running.push(w);
    const coord = start(['study', 'run', '--preset', 'softmax-exact', '--quick', '--out', out, '--queue', url, '--no-progress']);
    running.push(coord);
    await until(() => storedRows(join(out, 'study.sqlite')) >= 20, '20 stored rows');
    await redis.restart(500);
    const ex = await coord.exited;
    expect(ex.code, coord.log.join('\n')).toBe(0);
    expect(w.log.join('\n')).toMatch(/redis: .*\(retrying\)/);
    expectSameRows(out, ref);
    await stopAll([w]);
  });

  it('a job that throws: stored as failed with its stage after its attempts, shown by status, rerun by resume --retry-failed', async () => {
    const url = redis.url(4);
    const out = join(tmp, 'failing');
    // one good setting, one whose loss names a block that does not exist: fails at the measure stage
    const base = loadStudyFile(presetPath('softmax-exact'), { profile: 'quick' });
    const good = base.settings[0];
    const study: ResolvedStudy = {
      ...base, ns: [200, 400], replicates: 2,
      settings: [good, { ...good, name: 'broken', losses: [...good.losses, { name: 'D1:nope', base: 'D1', block: 'nope', options: {} }] }],
    };
    const markers = join(tmp, 'plugin-markers');
    mkdirSync(markers);
    const w = start(['worker', '--queue', url, '--concurrency', '2', '--verbose', '--plugin', join(__dirname, 'fixtures', 'marker-plugin.mjs')], { ...process.env, MOELAB_TEST_PLUGIN_MARKER: markers });
    running.push(w);
    const store = StudyStore.create(out, study);
    try {
      const s = await runQueuedStudy(store, { target: parseQueueUrl(url), attempts: 2, backoffMs: 20, pollMs: 50, progress: false });
      expect(s).toMatchObject({ planned: 8, ran: 8, ok: 4, failed: 4, enqueued: 8 });
      // the coordinator records the measure versions as runStudy does: the report reads the rows as current
      expect(storedMeasureVersions(store)).toEqual(measureVersions());
      expect([...staleMeasures(store)]).toEqual([]);
      const rows = store.rows();
      const inline = planJobs(study).map((j) => runJob(study, j));
      const byId = new Map(inline.map((r) => [r.jobId, r]));
      for (const r of rows) expect(rowBytes(r)).toBe(rowBytes(byId.get(r.jobId) as ResultRow));
      const failed = rows.filter((r) => r.status === 'failed');
      expect(failed.map((r) => r.setting)).toEqual(['broken', 'broken', 'broken', 'broken']);
      for (const r of failed) expect(r.error).toMatch(/^measure: OptionError: loss D1:nope: D1 has no block "nope"/);
      // each failed job ran twice (its two attempts)
      const attempts = (): number => w.log.filter((l) => / failed \S+\/broken\//.test(l)).length;
      // the worker's last log line may reach us after the coordinator has collected the job
      await until(() => attempts() >= 8, 'the log of every attempt', 10_000).catch(() => undefined);
      expect(attempts()).toBe(8);
      // the --plugin module was loaded in the job threads (not the main thread: threadId > 0)
      const loaded = readdirSync(markers);
      expect(loaded.length).toBeGreaterThanOrEqual(1);
      expect(loaded.every((f) => f.startsWith(`plugin-loaded-${w.child.pid}-`) && Number(f.split('-').pop()) > 0)).toBe(true);
    } finally {
      store.close();
    }
    const st = await runCli(['study', 'status', out, '--queue', url]);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/stored 8\/8: 4 ok, 4 failed, 0 pending/);
    expect(st.stdout).toMatch(/queue: 0 queued, 0 running, 0 finished not yet collected; 4 done, 4 failed; 1 workers/);
    expect(st.stdout).toMatch(/4× measure: OptionError: loss D1:nope/);
    const before = w.log.length;
    const res = await runCli(['study', 'resume', out, '--queue', url, '--retry-failed', '--attempts', '1', '--no-progress']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('enqueued 4 jobs');
    expect(res.stderr).toMatch(/collected 4 jobs \(0 ok, 4 failed\)/);
    expect(w.log.slice(before).filter((l) => / active \S+\/broken\//.test(l)).length).toBe(4);
    await stopAll([w]);
  });

  it('a fit longer than the job lock does not stall (threads keep renewing it); SIGTERM finishes the held job, then exits', async () => {
    const url = redis.url(6);
    const out = join(tmp, 'long-jobs');
    const cfg = join(tmp, 'long.yaml');
    writeFileSync(cfg, 'name: long\nseed: 5\ntruth: authors\nn: [20000]\nreplicates: 2\nsettings:\n  - { name: over, k: 3, gate: softmax, experts: gaussian, init: kmeans++, losses: [D1] }\n');
    const lockArgs = ['--concurrency', '1', '--lock-duration', '500', '--stalled-interval', '250', '--max-stalled', '0', '--verbose'];
    const a = start(['worker', '--queue', url, ...lockArgs]);
    const b = start(['worker', '--queue', url, ...lockArgs]);
    running.push(a, b);
    await until(() => [a, b].every((p) => p.log.some((l) => l.includes(' serving '))), 'two workers');
    const coord = start(['study', 'run', cfg, '--out', out, '--queue', url, '--no-progress']);
    running.push(coord);
    await until(() => a.log.some((l) => l.includes(' active ')), 'a job on worker A');
    const held = (/ active (\S+)/.exec(a.log.find((l) => l.includes(' active ')) ?? '') ?? [])[1];
    a.child.kill('SIGTERM');
    const aex = await a.exited;
    expect(aex.code, a.log.join('\n')).toBe(0);
    expect(a.log.some((l) => l.includes(`completed ${held} `))).toBe(true); // finished what it held
    expect(a.log.filter((l) => l.includes(' active ')).length).toBe(1); // and took nothing new
    const ex = await coord.exited;
    expect(ex.code, coord.log.join('\n')).toBe(0);
    const seconds = StudyStore.open(out);
    const rows = seconds.rows();
    seconds.close();
    expect(rows.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(Math.min(...rows.map((r) => r.seconds))).toBeGreaterThan(0.5); // each fit outlived its 500 ms lock…
    const starts = [...a.log, ...b.log].filter((l) => l.includes(' active ')).length;
    expect(starts).toBe(2); // …and none was taken for stalled and run twice (max-stalled 0 would have failed it)
    await stopAll([b]);
  });

  it('BullMQ stalled-job semantics: a job whose worker dies more often than --max-stalled is failed without running, stored as `worker: …`, and rerun by resume --retry-failed', async () => {
    const url = redis.url(8);
    const out = join(tmp, 'stalled');
    const cfg = join(tmp, 'stalled.yaml');
    writeFileSync(cfg, 'name: stalled\nseed: 6\ntruth: authors\nn: [20000]\nreplicates: 2\nsettings:\n  - { name: over, k: 3, gate: softmax, experts: gaussian, init: kmeans++, losses: [D1] }\n');
    // --max-stalled 0: the first lost lock is one too many (the stalled check of BullMQ marks the job
    // for failure, moves it back to wait, and the next worker to take it fails it unrecoverably)
    const lockArgs = ['--concurrency', '1', '--lock-duration', '500', '--stalled-interval', '250', '--max-stalled', '0', '--verbose'];
    const a = start(['worker', '--queue', url, ...lockArgs]);
    running.push(a);
    await until(() => a.log.some((l) => l.includes(' serving ')), 'worker A');
    const coord = start(['study', 'run', cfg, '--out', out, '--queue', url, '--attempts', '3', '--no-progress']);
    running.push(coord);
    await until(() => a.log.some((l) => l.includes(' active ')), 'a job on worker A');
    const held = (/ active (\S+)/.exec(a.log.find((l) => l.includes(' active ')) ?? '') ?? [])[1];
    a.child.kill('SIGKILL');
    await a.exited;
    expect(a.log.some((l) => l.includes(`completed ${held}`))).toBe(false); // it died holding the job
    const b = start(['worker', '--queue', url, ...lockArgs]);
    running.push(b);
    const ex = await coord.exited;
    expect(ex.code, coord.log.join('\n')).toBe(0);
    expect(coord.log.join('\n')).toMatch(/collected 2 jobs \(1 ok, 1 failed\)/);
    const store = StudyStore.open(out);
    const study = store.study;
    const rows = store.rows();
    store.close();
    const heldId = held.slice(held.indexOf('/') + 1);
    const failed = rows.filter((r) => r.status === 'failed');
    expect(failed.map((r) => [r.jobId, r.error])).toEqual([[heldId, 'worker: job stalled more than allowable limit']]);
    // B took the stalled job and failed it at once, unrecoverably (no retry of its 3 attempts), without running it
    expect(b.log.filter((l) => l.includes(`failed ${held} `)).map((l) => l.replace(/^\S+ /, ''))).toEqual([`failed ${held} (attempt 1): job stalled more than allowable limit`]);
    expect(b.log.some((l) => l.includes(`completed ${held}`))).toBe(false);
    const st = await runCli(['study', 'status', out, '--queue', url]);
    expect(st.stdout).toMatch(/stored 2\/2: 1 ok, 1 failed, 0 pending/);
    expect(st.stdout).toContain('worker: job stalled more than allowable limit');
    const res = await runCli(['study', 'resume', out, '--queue', url, '--retry-failed', '--no-progress']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('enqueued 1 jobs');
    const inline = new Map(planJobs(study).map((j) => [j.id, runJob(study, j)]));
    const again = StudyStore.open(out);
    const after = again.rows();
    again.close();
    expect(after.map((r) => r.status)).toEqual(['ok', 'ok']);
    for (const r of after) expect(rowBytes(r)).toBe(rowBytes(inline.get(r.jobId) as ResultRow));
    await stopAll([b]);
  });

  it('plugins: every worker loads the study\'s plugin modules; a worker whose copy differs or is missing refuses in one line and uses up no attempt', async () => {
    const url = redis.url(7);
    const fixture = readFileSync(join(__dirname, 'fixtures', 'family-plugin.mjs'), 'utf8');
    const dirOf = (name: string, text: string): string => {
      const d = join(tmp, name);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'family-plugin.mjs'), text);
      return d;
    };
    const a = dirOf('plug-a', fixture); // the coordinator's copy (the config's directory)
    const b = dirOf('plug-b', `${fixture}// another version\n`); // a worker's wrong copy
    const c = dirOf('plug-c', fixture); // a worker's right copy, elsewhere
    writeFileSync(join(a, 'plug.yaml'), 'name: plug\nseed: 11\ntruth: authors\nn: [300, 600]\nreplicates: 3\nplugins: [./family-plugin.mjs]\nsettings:\n  - { name: plugged, k: 2, gate: plugsoftmax, experts: gaussian, losses: [D1, twiceD1] }\n');
    const out = join(tmp, 'plugins');
    // one attempt per job: a refusal that used one up would store the job as failed
    const coord = start(['study', 'run', join(a, 'plug.yaml'), '--out', out, '--queue', url, '--attempts', '1', '--no-progress']);
    running.push(coord);
    await until(() => coord.log.some((l) => l.startsWith('enqueued 6 jobs')), 'the enqueued jobs');
    const wrong = start(['worker', '--queue', url, '--concurrency', '1', '--plugin', join(b, 'family-plugin.mjs')]);
    running.push(wrong);
    const wex = await wrong.exited;
    expect(wex.code, wrong.log.join('\n')).toBe(2);
    expect(wrong.log.at(-1)).toMatch(/^moelab: study plug needs plugin \.\/family-plugin\.mjs \(sha256 [0-9a-f]{12}…\), but the copy of worker \S+ at .*plug-b\/family-plugin\.mjs \(--plugin\) differs \(sha256 [0-9a-f]{12}…\); use the study's version of the file \(its jobs stay queued for other workers; this worker stopped\)$/);
    // the coordinator's copy gone: a worker without --plugin has none (the recorded path is empty)
    renameSync(join(a, 'family-plugin.mjs'), join(a, 'moved.mjs'));
    const none = start(['worker', '--queue', url, '--concurrency', '1']);
    running.push(none);
    const nex = await none.exited;
    expect(nex.code, none.log.join('\n')).toBe(2);
    expect(none.log.at(-1)).toMatch(/^moelab: study plug needs plugin \.\/family-plugin\.mjs \(sha256 [0-9a-f]{12}…\), which worker \S+ does not have: not at .*plug-a\/family-plugin\.mjs and no --plugin named family-plugin\.mjs/);
    expect(storedRows(join(out, 'study.sqlite'))).toBe(0);
    const good = start(['worker', '--queue', url, '--concurrency', '2', '--plugin', join(c, 'family-plugin.mjs')]);
    running.push(good);
    const ex = await coord.exited;
    expect(ex.code, coord.log.join('\n')).toBe(0);
    expect(coord.log.join('\n')).toMatch(/collected 6 jobs \(6 ok, 0 failed\)/);
    const store = StudyStore.open(out);
    const study = store.study;
    const rows = store.rows();
    store.close();
    expect(study.plugins?.map((p) => p.module)).toEqual(['./family-plugin.mjs']);
    await ensurePlugins(study, { own: [join(c, 'family-plugin.mjs')] });
    const inline = new Map(planJobs(study).map((j) => [j.id, runJob(study, j)]));
    for (const r of rows) {
      expect(rowBytes(r)).toBe(rowBytes(inline.get(r.jobId) as ResultRow));
      expect(r.losses.twiceD1).toBeCloseTo(2 * (r.losses.D1 as number), 10);
    }
    await stopAll([good]);
  });

  it('refuses a changed config for a study directory, a bad URL and an unreachable Redis, each in one line', async () => {
    const url = redis.url(5);
    const out = join(tmp, 'refuse');
    const cfg = join(tmp, 'tiny.yaml');
    const yaml = (seed: number): string => `name: tiny\nseed: ${seed}\ntruth: authors\nn: [200, 400]\nreplicates: 1\nsettings:\n  - { name: exact, k: 2, gate: softmax, experts: gaussian, losses: [D1] }\n`;
    writeFileSync(cfg, yaml(1));
    const w = worker(url, 1);
    running.push(w);
    const ok = await runCli(['study', 'run', cfg, '--out', out, '--queue', url, '--no-progress']);
    expect(ok.code, ok.stderr).toBe(0);
    writeFileSync(cfg, yaml(2));
    const changed = await runCli(['study', 'run', cfg, '--out', out, '--queue', url, '--no-progress']);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/^moelab: .* already holds a different study \(hash [0-9a-f]{16}, this config [0-9a-f]{16}\)/);
    const bad = await runCli(['study', 'resume', out, '--queue', 'http://127.0.0.1:1', '--no-progress']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('moelab: --queue: scheme "http" is not redis or rediss; expected redis://HOST:PORT[/DB]');
    const port = await freePort();
    const down = await runCli(['study', 'resume', out, '--queue', `redis://:secret@127.0.0.1:${port}`, '--no-progress']);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(new RegExp(`moelab: --queue redis://:\\*\\*\\*@127.0.0.1:${port}: cannot reach Redis`));
    expect(down.stderr).not.toContain('secret');
    const both = await runCli(['study', 'resume', out, '--queue', url, '--threads', '2']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--threads does not apply with --queue');
    await stopAll([w]);
  });
});

describe('queue URL', () => {
  it('parses host, port, database and password (URL or MOELAB_REDIS_PASSWORD), masks the password', () => {
    expect(parseQueueUrl('redis://10.1.2.3:6380/4', {})).toMatchObject({ host: '10.1.2.3', port: 6380, db: 4, tls: false, display: 'redis://10.1.2.3:6380/4' });
    expect(parseQueueUrl('redis://localhost', {})).toMatchObject({ host: 'localhost', port: 6379, db: 0 });
    const withPw = parseQueueUrl('rediss://user:p%40ss@h:7000/1', {});
    expect(withPw).toMatchObject({ username: 'user', password: 'p@ss', tls: true, display: 'rediss://user:***@h:7000/1' });
    expect(parseQueueUrl('redis://h:1/0', { MOELAB_REDIS_PASSWORD: 'envpw' }).password).toBe('envpw');
    expect(parseQueueUrl('redis://h:1/0', {}).password).toBeUndefined();
    expect(() => parseQueueUrl('redis://h:1/x', {})).toThrow('--queue: database "x" is not a number 0–15 (redis://HOST:PORT/DB)');
    expect(() => parseQueueUrl('h:1', {})).toThrow(/scheme "h" is not redis or rediss/);
    expect(() => parseQueueUrl('not a url', {})).toThrow('--queue "not a url": not a URL; expected redis://HOST:PORT[/DB]');
  });

  it('qualifies BullMQ job ids by the study hash and keeps them free of ":"', async () => {
    const { bullJobId } = await import('../../src/study/queue/protocol.js');
    expect(bullJobId('0123456789abcdef', 'exact/100/3')).toBe('0123456789abcdef/exact/100/3');
    expect(bullJobId('0123456789abcdef', 'a:b/100/0')).toBe('0123456789abcdef/a%3Ab/100/0');
  });
});
