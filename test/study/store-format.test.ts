/**
 * The named objective (store format 2: `objective_name`, `objective_value`) and the migration of a
 * format-1 store (one column `log_likelihood`, which held −SSE for LSE jobs): a store written with
 * the old schema opens read-only as it is (nothing written), and a resume migrates it, keeps every
 * row and runs only the missing jobs, ending with the rows of an uninterrupted run, byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadStudy } from '../../src/study/config.js';
import { StudyStore } from '../../src/study/store.js';
import { runStudy } from '../../src/study/runner.js';
import { rowBytes, type ResultRow } from '../../src/study/job.js';
import { exportCSV } from '../../src/study/export.js';

const CONFIG = `name: objective-test
seed: 7
truth:
  gate: { type: softmax, beta0: [-0.5, 0], beta1: [[3], [0]] }
  experts: { type: regression, activation: sigmoid, a: [[2], [-3]], b: [1, 0.5], noiseVariance: 0.04 }
x: { type: uniform, low: -3, high: 3 }
n: [200, 400]
replicates: 2
settings:
  - { name: lse, k: 2, gate: softmax, experts: { type: regression, activation: sigmoid }, estimator: lse, losses: [l2] }
`;
const EM_CONFIG = `name: objective-test-em
seed: 7
truth: authors
n: [200, 400]
replicates: 2
settings:
  - { name: em, k: 2, gate: softmax, experts: gaussian, losses: [D1] }
`;

/** The schema of format 1, as moelab wrote it up to 397c7db (src/study/store.ts there). */
const FORMAT1_SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (
  job_id TEXT NOT NULL UNIQUE, setting TEXT NOT NULL, n INTEGER NOT NULL, rep INTEGER NOT NULL, seed TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error TEXT, log_likelihood REAL, iterations INTEGER,
  converged INTEGER, seconds REAL NOT NULL, model TEXT, warnings TEXT, finished_at TEXT NOT NULL
);
CREATE INDEX jobs_setting_n ON jobs (setting, n);
CREATE TABLE losses (job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE, name TEXT NOT NULL, value REAL, PRIMARY KEY (job_id, name));
`;

/** A format-1 copy of the store in `from` (its rows but those `drop` names), in `to`. */
function writeFormat1(from: string, to: string, drop: (jobId: string) => boolean): void {
  mkdirSync(to, { recursive: true });
  const db = new Database(join(to, 'study.sqlite'));
  db.exec(FORMAT1_SCHEMA);
  db.exec(`ATTACH DATABASE '${join(from, 'study.sqlite')}' AS src`);
  db.function('dropped', (id: unknown) => (drop(String(id)) ? 1 : 0));
  db.exec(`INSERT INTO meta SELECT key, CASE key WHEN 'format' THEN 'moelab-study-store/1' ELSE value END FROM src.meta;
    INSERT INTO jobs SELECT job_id, setting, n, rep, seed, status, error, objective_value, iterations, converged, seconds, model, warnings, finished_at FROM src.jobs WHERE dropped(job_id) = 0;
    INSERT INTO losses SELECT l.job_id, l.name, l.value FROM src.losses l JOIN jobs j ON j.job_id = l.job_id;`);
  db.exec('DETACH DATABASE src');
  db.close();
}

const columns = (file: string): string[] => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.pragma('table_info(jobs)') as { name: string }[]).map((c) => c.name);
  } finally {
    db.close();
  }
};
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const bytes = (rows: ResultRow[]): string[] => rows.map(rowBytes).sort();

async function fullRun(dir: string, config: string): Promise<ResultRow[]> {
  const store = StudyStore.create(dir, loadStudy(config));
  try {
    await runStudy(store, { inline: true, progress: false });
    return store.rows();
  } finally {
    store.close();
  }
}

describe('the stored objective is named', () => {
  it('EM rows are logLikelihood, LSE rows negSSE (= −SSE), in the rows, the store and the CSV', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-objective-'));
    try {
      const lse = await fullRun(join(dir, 'lse'), CONFIG);
      const em = await fullRun(join(dir, 'em'), EM_CONFIG);
      expect(lse.map((r) => r.objectiveName)).toEqual(['negSSE', 'negSSE', 'negSSE', 'negSSE']);
      expect(em.map((r) => r.objectiveName)).toEqual(['logLikelihood', 'logLikelihood', 'logLikelihood', 'logLikelihood']);
      for (const r of lse) expect(r.objectiveValue).toBeLessThan(0);
      // −SSE: the l2 loss is not it, but −SSE/n is near −σ² = −0.04 for a fit this close
      for (const r of lse) {
        expect(-r.objectiveValue! / r.n).toBeGreaterThan(0.02);
        expect(-r.objectiveValue! / r.n).toBeLessThan(0.06);
      }
      expect(columns(join(dir, 'lse', 'study.sqlite'))).toEqual(expect.arrayContaining(['objective_name', 'objective_value']));
      expect(columns(join(dir, 'lse', 'study.sqlite'))).not.toContain('log_likelihood');
      const store = StudyStore.open(join(dir, 'lse'), { readonly: true });
      try {
        expect(store.meta('format')).toBe('moelab-study-store/2');
        const csv = exportCSV(store).text.split('\n');
        expect(csv[0]).toBe('job_id,setting,n,rep,seed,status,error,objective_name,objective_value,iterations,converged,seconds,warnings,l2');
        expect(csv[1].split(',').slice(7, 9)).toEqual(['negSSE', String(lse[0].objectiveValue)]);
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('a format-1 store opens read-only unchanged, and a resume migrates it and runs only the missing jobs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-format1-'));
    try {
      for (const [name, config] of [['lse', CONFIG], ['em', EM_CONFIG]] as const) {
        const full = await fullRun(join(dir, `${name}-full`), config);
        const old = join(dir, `${name}-old`);
        const dropped = (id: string): boolean => id.endsWith('/400/1'); // job ids are setting/n/rep
        writeFormat1(join(dir, `${name}-full`), old, (id) => dropped(id));
        const file = join(old, 'study.sqlite');
        const kept = full.filter((r) => !dropped(r.jobId));
        expect(kept.length).toBe(3);
        expect(columns(file)).toContain('log_likelihood');

        // read-only: the rows, named from the setting, and not a byte written
        const before = sha(file);
        const ro = StudyStore.open(old, { readonly: true });
        try {
          expect(ro.schemaProblems()).toEqual([]);
          expect(bytes(ro.rows())).toEqual(bytes(kept));
          expect(ro.rows().map((r) => r.objectiveName)).toEqual(kept.map((r) => r.objectiveName));
          expect(ro.meta('format')).toBe('moelab-study-store/1');
        } finally {
          ro.close();
        }
        expect(sha(file)).toBe(before);

        // resume: migrated in place, the kept rows untouched, only the dropped job run
        const store = StudyStore.open(old);
        try {
          expect(store.meta('format')).toBe('moelab-study-store/2');
          expect(bytes(store.rows())).toEqual(bytes(kept));
          const s = await runStudy(store, { inline: true, progress: false });
          expect([s.alreadyDone, s.ran]).toEqual([3, 1]);
          expect(bytes(store.rows())).toEqual(bytes(full));
          expect(store.rows().map((r) => r.objectiveName)).toEqual(full.map((r) => r.objectiveName));
        } finally {
          store.close();
        }
        expect(columns(file)).toEqual(expect.arrayContaining(['objective_name', 'objective_value']));
        expect(columns(file)).not.toContain('log_likelihood');
        // opening again is a no-op
        const again = StudyStore.open(old);
        try {
          expect(bytes(again.rows())).toEqual(bytes(full));
        } finally {
          again.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('stores a row of a worker from before format 2 (objective as logLikelihood) under its name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-oldrow-'));
    try {
      const full = await fullRun(join(dir, 'full'), CONFIG);
      const store = StudyStore.create(join(dir, 'b'), loadStudy(CONFIG));
      try {
        const { objectiveName: _n, objectiveValue, ...rest } = full[0];
        const oldRow = { ...rest, logLikelihood: objectiveValue } as unknown as ResultRow;
        expect(store.write(oldRow)).toBe(true);
        const [r] = store.rows();
        expect([r.objectiveName, r.objectiveValue]).toEqual(['negSSE', objectiveValue]);
        expect(rowBytes(r)).toBe(rowBytes(full[0]));
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('reads the committed medium-run stores (format 1) with their objective named', () => {
    for (const [preset, name] of [['lse-linear', 'negSSE'], ['softmax-exact', 'logLikelihood']] as const) {
      const dir = join(__dirname, '..', '..', 'docs', 'reproduction', 'run', preset);
      const store = StudyStore.open(dir, { readonly: true });
      try {
        const rows = store.rows();
        expect(rows.length).toBeGreaterThan(100);
        expect(new Set(rows.map((r) => r.objectiveName))).toEqual(new Set([name]));
        const raw = new Database(StudyStore.pathIn(dir), { readonly: true });
        try {
          const col = columns(StudyStore.pathIn(dir)).includes('log_likelihood') ? 'log_likelihood' : 'objective_value';
          const values = raw.prepare(`SELECT ${col} FROM jobs ORDER BY setting, n, rep`).pluck().all();
          expect(rows.map((r) => r.objectiveValue)).toEqual(values);
        } finally {
          raw.close();
        }
      } finally {
        store.close();
      }
    }
  });
});
