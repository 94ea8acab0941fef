/**
 * Kill-and-resume: the CLI is started as a child process, killed with SIGKILL once some rows are
 * stored, resumed, and the store is compared with an uninterrupted run of the same study.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { storedRows } from './stored-rows.js';
import { loadStudyFile } from '../../src/study/config.js';
import { StudyStore } from '../../src/study/store.js';
import { runStudy } from '../../src/study/runner.js';
import { rowBytes } from '../../src/study/job.js';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');

const CONFIG = `name: resume-test
seed: 99
truth: authors
n: [2000, 3000, 5000, 8000, 12000, 20000]
replicates: 10
settings:
  - name: exact
    k: 2
    gate: softmax
    experts: gaussian
    losses:
      - D1
      - D1:beta1
      - { name: hellinger, options: { samples: 32 } }
`;
const PLANNED = 60;


describe('study kill and resume', () => {
  it('SIGKILL mid-run, resume: same rows as an uninterrupted run, no duplicates', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-resume-'));
    try {
      const cfg = join(dir, 'study.yaml');
      writeFileSync(cfg, CONFIG);
      const A = join(dir, 'A');
      const B = join(dir, 'B');
      const dbA = join(A, 'study.sqlite');

      // 1. start, wait for some stored rows, kill -9
      const child = spawn(process.execPath, [BIN, 'study', 'run', cfg, '--out', A, '--threads', '2', '--no-progress'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
      const t0 = Date.now();
      let seen = 0;
      while (Date.now() - t0 < 60_000) {
        seen = storedRows(dbA);
        if (seen >= 5) break;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(seen, `child stderr: ${stderr}`).toBeGreaterThanOrEqual(5);
      child.kill('SIGKILL');
      const ex = await exited;
      expect(ex.signal).toBe('SIGKILL');
      const afterKill = storedRows(dbA);
      expect(afterKill).toBeGreaterThanOrEqual(seen);
      expect(afterKill).toBeLessThan(PLANNED); // killed mid-run
      expect(existsSync(join(A, 'run.lock'))).toBe(true); // stale lock of the killed run

      // 2. status sees the partial store; resume finishes it (and takes over the stale lock)
      const st = spawnSync(process.execPath, [BIN, 'study', 'status', A, '--json'], { cwd: ROOT, encoding: 'utf8' });
      expect(st.status, st.stderr).toBe(0);
      const status = JSON.parse(st.stdout) as { planned: number; ok: number; failed: number; pending: number };
      expect(status.planned).toBe(PLANNED);
      expect(status.ok + status.failed).toBe(afterKill);
      expect(status.pending).toBe(PLANNED - afterKill);
      const res = spawnSync(process.execPath, [BIN, 'study', 'resume', A, '--threads', '2', '--no-progress'], { cwd: ROOT, encoding: 'utf8' });
      expect(res.status, res.stderr).toBe(0);
      expect(res.stderr).toMatch(new RegExp(`ran ${PLANNED - afterKill} jobs`));
      expect(existsSync(join(A, 'run.lock'))).toBe(false);

      // 3. an uninterrupted run of the same study, in this process
      const storeB = StudyStore.create(B, loadStudyFile(cfg));
      const sB = await runStudy(storeB, { threads: 2, progress: false });
      expect(sB.ran).toBe(PLANNED);
      const rowsB = storeB.rows();
      storeB.close();

      // 4. compare
      const storeA = StudyStore.open(A);
      const rowsA = storeA.rows();
      // a second resume has nothing to do and changes nothing
      const again = await runStudy(storeA, { threads: 2, progress: false });
      expect(again.ran).toBe(0);
      expect(storeA.rows().length).toBe(PLANNED);
      storeA.close();
      expect(rowsA.length).toBe(PLANNED);
      expect(rowsA.every((r) => r.status === 'ok')).toBe(true);
      expect(rowsA.map((r) => r.jobId)).toEqual(rowsB.map((r) => r.jobId));
      for (let i = 0; i < PLANNED; i++) expect(rowBytes(rowsA[i])).toBe(rowBytes(rowsB[i]));
      const db = new Database(dbA, { readonly: true });
      expect(db.prepare('SELECT COUNT(*) FROM (SELECT job_id FROM jobs GROUP BY job_id HAVING COUNT(*) > 1)').pluck().get()).toBe(0);
      expect(db.prepare('SELECT COUNT(*) FROM losses').pluck().get()).toBe(PLANNED * 3);
      expect(db.prepare('SELECT COUNT(*) FROM (SELECT job_id, name FROM losses GROUP BY job_id, name HAVING COUNT(*) > 1)').pluck().get()).toBe(0);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
