/**
 * A fault-proof study store (issue 12, item 4): read-only media, corrupted files, a full disk, paths
 * that are files or missing, and the atomic run lock. Every failure is one line on stderr naming the
 * path and the cause, exit 2 (the user's path) or 74 (the environment), never a stack trace; a full
 * disk stops the run with every stored row kept, and `resume` after freeing space finishes it with the
 * rows of an uninterrupted run.
 *
 * The read-only and full-disk cases mount a small tmpfs, which needs root; elsewhere they are skipped
 * with one visible line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { runCli, type CliResult } from '../cli/run-cli.js';
import { loadStudy } from '../../src/study/config.js';
import { StudyStore } from '../../src/study/store.js';
import { runStudy } from '../../src/study/runner.js';
import { acquireLock, holderAlive } from '../../src/study/lock.js';
import { rowBytes } from '../../src/study/job.js';

const CONFIG = `name: faults
seed: 5
truth: authors
n: [200, 300]
replicates: 6
settings:
  - name: exact
    k: 2
    gate: softmax
    experts: gaussian
    tol: 1e-4
    options: { polish: false }
    losses: [D1, "D1:beta1"]
`;
const PLANNED = 12;

let root = '';
let cfg = '';
/** A finished store of the whole study, made once (inline, in this process). */
let full = '';

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'moelab-faults-'));
  cfg = join(root, 'study.yaml');
  writeFileSync(cfg, CONFIG);
  full = join(root, 'full');
  const s = StudyStore.create(full, loadStudy(CONFIG));
  await runStudy(s, { inline: true, progress: false });
  s.close();
});

afterAll(() => {
  // a test that timed out under load may not have reached its own umount yet: detach every tmpfs
  // still mounted below root first, or removing root fails with EBUSY
  if (isRoot) {
    const mounted = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(root + '/'));
    for (const m of mounted.reverse()) spawnSync('umount', ['-l', m]);
  }
  rmSync(root, { recursive: true, force: true });
});

/** One line on stderr, no stack trace, the expected exit code. */
function expectOneLine(r: CliResult, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:/);
  expect(lines[0]).toMatch(pattern);
}

function rowsOf(dir: string): string[] {
  const s = StudyStore.open(dir, { readonly: true });
  try {
    return s.rows().map(rowBytes);
  } finally {
    s.close();
  }
}

// -------------------------------------------------------------------------------------------------
// tmpfs (root only)

const isRoot = process.getuid?.() === 0;
function mountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  return isRoot && spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status === 0;
}
function remountReadonly(dir: string): void {
  expect(spawnSync('mount', ['-o', 'remount,ro', dir]).status).toBe(0);
}
function umount(dir: string): void {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]); // never leave a mount behind
}
const probe = join(tmpdir(), `moelab-tmpfs-probe-${process.pid}`);
const canMount = mountTmpfs(probe, '64k');
if (canMount) umount(probe);
rmSync(probe, { recursive: true, force: true });
if (!canMount) console.warn('store-faults: read-only and full-disk tests skipped (they mount a tmpfs, which needs root)');

describe('read-only media', () => {
  it.skipIf(!canMount)('status, export and report work on a read-only study folder, and run/resume say why they cannot', async () => {
    const mnt = join(root, 'ro');
    expect(mountTmpfs(mnt, '4m')).toBe(true);
    try {
      const dir = join(mnt, 'study');
      mkdirSync(dir);
      copyFileSync(StudyStore.pathIn(full), StudyStore.pathIn(dir));
      remountReadonly(mnt);
      expect(() => writeFileSync(join(mnt, 'x'), 'x')).toThrow(/EROFS/);
      const st = await runCli(['study', 'status', dir, '--json']);
      expect(st.code, st.stderr).toBe(0);
      expect(JSON.parse(st.stdout)).toMatchObject({ planned: PLANNED, ok: PLANNED, pending: 0, integrity: 'ok' });
      const ex = await runCli(['study', 'export', dir, '--csv', join(root, 'ro.csv')]);
      expect(ex.code, ex.stderr).toBe(0);
      expect(readFileSync(join(root, 'ro.csv'), 'utf8').trim().split('\n')).toHaveLength(PLANNED + 1);
      const rep = await runCli(['study', 'report', dir, '--no-figures', '--json', '--bootstrap', '50']);
      expect(rep.code, rep.stderr).toBe(0);
      expectOneLine(await runCli(['study', 'report', dir, '--bootstrap', '50', '--no-png']), 74, /report: cannot write the report: read-only file system \(EROFS\)/);
      expectOneLine(await runCli(['study', 'resume', dir, '--inline', '--no-progress']), 74, /study\.sqlite: cannot open the study store: .*read-only/);
      expectOneLine(await runCli(['study', 'run', cfg, '--out', join(mnt, 'new'), '--inline', '--no-progress']), 74, /new: cannot create the study folder: read-only file system \(EROFS\)/);
      // a store whose run was killed (WAL file left) on read-only media is read with its WAL
      expect(readdirNames(mnt)).not.toContain('study.sqlite-shm');
    } finally {
      umount(mnt);
    }
  });

  it.skipIf(!canMount)('a killed run\'s WAL on read-only media is read too (rows in the WAL are not lost)', async () => {
    const src = join(root, 'wal-src');
    const s = StudyStore.create(src, loadStudy(CONFIG));
    await runStudy(s, { inline: true, progress: false, limit: 4 });
    // keep the WAL: copy the files while the connection is still open (as after a SIGKILL)
    const mnt = join(root, 'ro-wal');
    expect(mountTmpfs(mnt, '4m')).toBe(true);
    try {
      const dir = join(mnt, 'study');
      mkdirSync(dir);
      for (const suffix of ['', '-wal']) copyFileSync(StudyStore.pathIn(src) + suffix, StudyStore.pathIn(dir) + suffix);
      s.close();
      remountReadonly(mnt);
      const st = await runCli(['study', 'status', dir, '--json']);
      expect(st.code, st.stderr).toBe(0);
      expect(JSON.parse(st.stdout)).toMatchObject({ ok: 4, pending: PLANNED - 4 });
    } finally {
      umount(mnt);
    }
  });
});

function readdirNames(dir: string): string[] {
  return spawnSync('ls', ['-a', dir], { encoding: 'utf8' }).stdout.split('\n');
}

describe('full disk', () => {
  it.skipIf(!canMount)('stops the run cleanly, keeps every stored row, leaves no lock; resume after freeing space finishes it', async () => {
    const mnt = join(root, 'full-disk');
    expect(mountTmpfs(mnt, '1m')).toBe(true);
    try {
      const dir = join(mnt, 'study');
      const first = await runCli(['study', 'run', cfg, '--out', dir, '--inline', '--no-progress', '--limit', '2']);
      expect(first.code, first.stderr).toBe(0);
      // fill the disk, leaving a small reserve that is freed to let a few more rows in
      const reserve = join(mnt, 'reserve');
      writeFileSync(reserve, Buffer.alloc(80 * 1024));
      const filler = join(mnt, 'filler');
      const fd = openSync(filler, 'w');
      try {
        const chunk = Buffer.alloc(64 * 1024);
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        closeSync(fd);
      }
      // top up to the last byte
      try {
        const fd2 = openSync(join(mnt, 'filler2'), 'w');
        try { for (;;) writeSync(fd2, Buffer.alloc(512)); } finally { closeSync(fd2); }
      } catch { /* full */ }
      unlinkSync(reserve);
      const r = await runCli(['study', 'resume', dir, '--inline', '--no-progress']);
      expect(r.code, r.stderr).toBe(74);
      const lines = r.stderr.trim().split('\n');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(lines[lines.length - 1]).toMatch(/study\.sqlite: cannot .*: no space left on the device \(disk full\) \(SQLITE_FULL\); the run stopped with \d+ new jobs? stored .*moelab study resume/);
      expect(existsSync(join(dir, 'run.lock'))).toBe(false);
      expect(readdirNames(dir).filter((f) => f.includes('lock'))).toEqual([]);
      const kept = (await runCli(['study', 'status', dir, '--json']));
      expect(kept.code, kept.stderr).toBe(0);
      const partial = JSON.parse(kept.stdout) as { ok: number; integrity: string };
      expect(partial.ok).toBeGreaterThanOrEqual(2);
      expect(partial.ok).toBeLessThan(PLANNED);
      // free the space, resume: the store is the uninterrupted one
      unlinkSync(filler);
      rmSync(join(mnt, 'filler2'), { force: true });
      const res = await runCli(['study', 'resume', dir, '--inline', '--no-progress']);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toMatch(new RegExp(`ran ${PLANNED - partial.ok} jobs`));
      expect(rowsOf(dir)).toEqual(rowsOf(full));
    } finally {
      umount(mnt);
    }
  });
});

// -------------------------------------------------------------------------------------------------

describe('corrupted store', () => {
  it('a broken header is "not a database"; status, export, report and resume say so in one line', async () => {
    const dir = join(root, 'notadb');
    mkdirSync(dir);
    copyFileSync(StudyStore.pathIn(full), StudyStore.pathIn(dir));
    const fd = openSync(StudyStore.pathIn(dir), 'r+');
    writeSync(fd, Buffer.from('this is not sqlite'), 0, 18, 0);
    closeSync(fd);
    for (const args of [['study', 'status', dir], ['study', 'export', dir, '--csv', join(root, 'x.csv')], ['study', 'report', dir, '--no-figures'], ['study', 'resume', dir, '--inline', '--no-progress']]) {
      expectOneLine(await runCli(args), 74, /study\.sqlite: cannot .*: (not a database file|the database file is corrupted)/);
    }
  });

  it('status runs quick_check: a store with damaged pages is reported, never shown as complete', async () => {
    const dir = join(root, 'pages');
    mkdirSync(dir);
    copyFileSync(StudyStore.pathIn(full), StudyStore.pathIn(dir));
    const size = statSync(StudyStore.pathIn(dir)).size;
    expect(size).toBeGreaterThan(4 * 4096);
    // zero the b-tree page header of the jobs table's pages beyond the first two pages
    const fd = openSync(StudyStore.pathIn(dir), 'r+');
    for (let off = 2 * 4096; off < size; off += 4096) writeSync(fd, Buffer.from([0x0d, 0xff, 0xff, 0xff, 0xff, 0, 0, 0]), 0, 8, off);
    closeSync(fd);
    const st = await runCli(['study', 'status', dir, '--json']);
    expectOneLine(st, 74, /study\.sqlite: .*corrupted/);
    expect(st.stdout).toBe('');
  });

  it('resume (and run into the same folder) refuse a damaged but writable store in one line, exit 74, writing nothing', async () => {
    const size = statSync(StudyStore.pathIn(full)).size;
    const damages: [string, (file: string) => void, RegExp][] = [
      ['a corrupted page', (file) => {
        const fd = openSync(file, 'r+');
        // the last page: a b-tree page of the jobs or losses table gets an invalid page type
        writeSync(fd, Buffer.from([0x0d, 0xff, 0xff, 0xff, 0xff, 0, 0, 0]), 0, 8, size - 4096);
        closeSync(fd);
      }, /study\.sqlite: .*(damaged|corrupted|malformed)/],
      ['a truncated file', (file) => writeFileSync(file, readFileSync(file).subarray(0, Math.floor(size / 2 / 4096) * 4096)), /study\.sqlite: .*(damaged|corrupted|malformed)/],
      ['a wrong schema (the losses table renamed, a jobs column dropped)', (file) => {
        const db = new Database(file);
        db.exec('ALTER TABLE losses RENAME TO losses_old; ALTER TABLE jobs DROP COLUMN warnings;');
        db.close();
      }, /study\.sqlite: the study store is damaged \(table jobs lacks column warnings; and 1 more\)/],
    ];
    for (const [label, damage, pattern] of damages) {
      const dir = mkdtempSync(join(root, 'damaged-'));
      copyFileSync(StudyStore.pathIn(full), StudyStore.pathIn(dir));
      damage(StudyStore.pathIn(dir));
      const before = readFileSync(StudyStore.pathIn(dir));
      for (const args of [['study', 'resume', dir, '--inline', '--no-progress'], ['study', 'run', cfg, '--out', dir, '--inline', '--no-progress']]) {
        const r = await runCli(args);
        expectOneLine(r, 74, pattern);
        expect(r.stderr, label).toContain(StudyStore.pathIn(dir));
        // nothing written: the file is byte-identical and no WAL was created
        expect(readFileSync(StudyStore.pathIn(dir)).equals(before), `${label}: ${args[1]} changed the store`).toBe(true);
        expect(existsSync(`${StudyStore.pathIn(dir)}-wal`) && statSync(`${StudyStore.pathIn(dir)}-wal`).size > 0, label).toBe(false);
      }
    }
  });

  it('fuzz: random byte damage never gives a stack trace, and a clean status means quick_check passes (seeded)', async () => {
    const size = statSync(StudyStore.pathIn(full)).size;
    const bytes = readFileSync(StudyStore.pathIn(full));
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 40 }),
      async (edits) => {
        const dir = mkdtempSync(join(root, 'fz-'));
        const b = Buffer.from(bytes);
        for (const [at, v] of edits) b[at] = v;
        writeFileSync(StudyStore.pathIn(dir), b);
        for (const args of [['study', 'status', dir, '--json'], ['study', 'export', dir, '--csv', join(dir, 'x.csv')], ['study', 'report', dir, '--no-figures', '--json', '--bootstrap', '20']]) {
          const r = await runCli(args);
          expect([0, 2, 74], `${args.join(' ')}: ${r.stderr}`).toContain(r.code);
          expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
          if (r.code !== 0) expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
          if (args[1] === 'status' && r.code === 0) {
            const db = new Database(StudyStore.pathIn(dir), { readonly: true });
            try {
              expect(db.pragma('quick_check', { simple: true })).toBe('ok');
            } finally {
              db.close();
            }
          }
        }
        rmSync(dir, { recursive: true, force: true });
      },
    ), { seed: 1212, numRuns: 25 });
  }, 60_000);
});

describe('paths given by the user', () => {
  it('--out that is a file, a missing study folder, a CSV into a missing folder: one line, exit 2', async () => {
    const file = join(root, 'afile');
    writeFileSync(file, 'x');
    expectOneLine(await runCli(['study', 'run', cfg, '--out', file, '--inline', '--no-progress']), 2, /afile: cannot create the study folder: it is a file, not a directory/);
    expectOneLine(await runCli(['study', 'run', cfg, '--out', join(file, 'sub'), '--inline', '--no-progress']), 2, /sub: cannot create the study folder: .*(not a directory|ENOTDIR)/);
    expectOneLine(await runCli(['study', 'status', join(root, 'nope')]), 2, /nope: no such directory/);
    expectOneLine(await runCli(['study', 'status', file]), 2, /afile: not a directory/);
    expectOneLine(await runCli(['study', 'export', full, '--csv', join(root, 'missing', 'x.csv')]), 2, /x\.csv\.tmp-\d+: cannot write the CSV: no such file or directory \(ENOENT\)|x\.csv: cannot write the CSV: no such file or directory/);
    const emptyDir = join(root, 'empty');
    mkdirSync(emptyDir);
    expectOneLine(await runCli(['study', 'status', emptyDir]), 2, /empty: no study store here/);
    writeFileSync(StudyStore.pathIn(emptyDir), '');
    expectOneLine(await runCli(['study', 'status', emptyDir]), 2, /not a moelab study store/);
  });
});

// -------------------------------------------------------------------------------------------------
// run lock

const ROOT = resolve(__dirname, '..', '..');

describe('atomic run lock', () => {
  it('a dead pid, a zombie and a reused pid do not hold the lock; a live one does; release removes only our lock', async () => {
    const dir = mkdtempSync(join(root, 'lock-'));
    const lock = join(dir, 'run.lock');
    // a pid that does not exist
    writeFileSync(lock, '999999999\n');
    let release = acquireLock(dir);
    expect(readFileSync(lock, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    expect(() => acquireLock(dir)).toThrow(/another run is in progress \(pid \d+\)/);
    release();
    expect(existsSync(lock)).toBe(false);
    // a zombie: `sleep 0` exits, its parent (exec'd sleep 5) never reaps it
    const z = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const zpid = Number(await new Promise<string>((res) => z.stdout.once('data', (b: Buffer) => res(b.toString()))));
    for (let i = 0; i < 100 && !/\) Z /.test(readFileSync(`/proc/${zpid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 10));
    expect(readFileSync(`/proc/${zpid}/stat`, 'utf8')).toMatch(/\) Z /);
    writeFileSync(lock, `${zpid}\n`);
    expect(holderAlive({ pid: zpid })).toBe(false);
    release = acquireLock(dir);
    release();
    z.kill('SIGKILL');
    // a live process holds it; the same pid with another start time (reused pid) does not
    const live = spawn('sleep', ['5']);
    const start = readFileSync(`/proc/${live.pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
    writeFileSync(lock, `${live.pid} ${start}\n`);
    expect(() => acquireLock(dir)).toThrow(new RegExp(`another run is in progress \\(pid ${live.pid}\\)`));
    writeFileSync(lock, `${live.pid} 1\n`);
    release = acquireLock(dir);
    // someone else's lock is not removed by our release
    writeFileSync(lock, `${live.pid} ${start}\n`);
    release();
    expect(readFileSync(lock, 'utf8')).toBe(`${live.pid} ${start}\n`);
    live.kill('SIGKILL');
    // no temporary files are left behind
    expect(readdirNames(dir).filter((f) => f.startsWith('.run.lock'))).toEqual([]);
  });

  it('runs starting together: exactly one takes the lock, in every trial (separate processes)', async () => {
    const trials = 12;
    const dirs = Array.from({ length: trials }, () => mkdtempSync(join(root, 'race-')));
    const script = join(root, 'race.mts');
    writeFileSync(script, `import { acquireLock } from ${JSON.stringify(join(ROOT, 'src', 'study', 'lock.ts'))};
import { createInterface } from 'node:readline';
const dirs: string[] = JSON.parse(process.argv[2]);
process.stdout.write('ready\\n');
// the common start time comes on stdin once every process is ready
const line: string = await new Promise((res) => createInterface({ input: process.stdin }).once('line', res));
const [t0, end] = line.split(' ').map(Number);
const got: boolean[] = [];
for (let i = 0; i < dirs.length; i++) {
  while (Date.now() < t0 + i * 120) { /* spin to the trial's start */ }
  try { acquireLock(dirs[i]); got.push(true); } catch { got.push(false); }
}
process.stdout.write(JSON.stringify(got) + '\\n');
// hold every lock taken until all processes are done (a lock of an exited process is stale)
while (Date.now() < end) { /* hold */ }
process.exit(0);
`);
    const kids = [0, 1, 2].map(() => spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(dirs)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] }));
    const lines = kids.map((k) => {
      let buf = '';
      const waiters: ((l: string) => void)[] = [];
      const queue: string[] = [];
      k.stdout.on('data', (b: Buffer) => {
        buf += b.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const w = waiters.shift();
          if (w) w(l);
          else queue.push(l);
        }
      });
      return (): Promise<string> => new Promise((res) => { const q = queue.shift(); if (q !== undefined) res(q); else waiters.push(res); });
    });
    expect(await Promise.all(lines.map((next) => next()))).toEqual(['ready', 'ready', 'ready']);
    const t0 = Date.now() + 300;
    const end = t0 + trials * 120 + 1500;
    for (const k of kids) k.stdin.write(`${t0} ${end}\n`);
    const outs = await Promise.all(lines.map(async (next) => JSON.parse(await next()) as boolean[]));
    await Promise.all(kids.map((k) => new Promise((res) => k.on('exit', res))));
    for (let i = 0; i < trials; i++) expect(outs.filter((o) => o[i]).length, `trial ${i}`).toBe(1);
  }, 30_000);
});
