/**
 * Kill-and-resume at several random kill points (issue 12, item 7): one study is SIGKILLed again and
 * again — during start-up, mid-run, near the end — at points drawn from a seeded generator, resumed
 * each time, and finally compared byte for byte with an uninterrupted run: no row lost, duplicated
 * or changed, and the stale lock of every killed run is taken over.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { storedRows } from './stored-rows.js';
import { loadStudy } from '../../src/study/config.js';
import { StudyStore } from '../../src/study/store.js';
import { runStudy } from '../../src/study/runner.js';
import { rowBytes } from '../../src/study/job.js';
import { Rng } from '../../src/numeric/rng.js';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');
const CONFIG = `name: kill-points
seed: 41
truth: authors
n: [300, 600, 1200]
replicates: 8
settings:
  - name: exact
    k: 2
    gate: softmax
    experts: gaussian
    tol: 1e-5
    losses: [D1, "D1:beta1"]
`;
const PLANNED = 24;


describe('kill and resume at random points', () => {
  it('SIGKILL at seeded random points (start-up, mid-run, late), resume each time: the uninterrupted rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-killpoints-'));
    try {
      const cfg = join(dir, 'study.yaml');
      writeFileSync(cfg, CONFIG);
      const A = join(dir, 'A');
      const db = StudyStore.pathIn(A);
      const rng = new Rng(2026);
      // kill points: a delay during start-up, then row targets drawn in increasing thirds of the plan
      const points: ({ delayMs: number } | { rows: number })[] = [
        { delayMs: Math.floor(rng.uniform() * 400) },
        { rows: 1 + Math.floor(rng.uniform() * 6) },
        { rows: 8 + Math.floor(rng.uniform() * 6) },
        { rows: 16 + Math.floor(rng.uniform() * 6) },
      ];
      const kills: { point: string; before: number; after: number }[] = [];
      for (const [i, p] of points.entries()) {
        // `study run` on an existing folder resumes it (and creates it if a start-up kill left none)
        const args = i % 2 === 0 || !existsSync(db) ? ['study', 'run', cfg, '--out', A] : ['study', 'resume', A];
        const child = spawn(process.execPath, [BIN, ...args, '--threads', '2', '--no-progress'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
        const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, signal) => res(signal)));
        const before = storedRows(db);
        if ('delayMs' in p) await new Promise((r) => setTimeout(r, p.delayMs));
        else {
          const t0 = Date.now();
          while (storedRows(db) < p.rows && child.exitCode === null && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 15));
        }
        child.kill('SIGKILL');
        expect(await exited, stderr).toBe('SIGKILL');
        const after = storedRows(db);
        expect(after).toBeGreaterThanOrEqual(before); // a kill never loses a stored row
        kills.push({ point: JSON.stringify(p), before, after });
      }
      expect(storedRows(db)).toBeLessThan(PLANNED);
      const res = spawnSync(process.execPath, [BIN, 'study', 'resume', A, '--threads', '2', '--no-progress'], { cwd: ROOT, encoding: 'utf8' });
      expect(res.status, res.stderr).toBe(0);
      expect(existsSync(join(A, 'run.lock'))).toBe(false);

      const B = join(dir, 'B');
      const sB = StudyStore.create(B, loadStudy(CONFIG));
      await runStudy(sB, { threads: 2, progress: false });
      const rowsB = sB.rows();
      sB.close();
      const sA = StudyStore.open(A, { readonly: true });
      const rowsA = sA.rows();
      expect(sA.integrity()).toEqual([]);
      sA.close();
      expect(rowsA.length).toBe(PLANNED);
      expect(rowsA.map(rowBytes)).toEqual(rowsB.map(rowBytes));
      expect(kills.length).toBe(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
