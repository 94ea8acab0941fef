/**
 * Results store: one SQLite file (better-sqlite3, WAL mode) per study directory.
 *
 *  meta(key, value)                study JSON, hash, creation time, format
 *  jobs(job_id UNIQUE, …)          one row per finished job (ok or failed, with its error)
 *  losses(job_id, name, value)     one row per recorded loss of a job
 *
 * Format 2 names the fit's objective: `objective_name` ('logLikelihood' for EM, 'negSSE' for LSE)
 * and `objective_value`. Format 1 (before) had one column `log_likelihood`, which held −SSE for LSE
 * jobs. A format-1 store opens as it is: read-only opens read `log_likelihood` as the value and name
 * it from the setting's estimator; a writable open (run, resume) first migrates it in one
 * transaction (the column renamed, the name filled in per setting, `format` set to 2), keeping every
 * row, so a resume redoes nothing. Code from before format 2 refuses a migrated store (it lacks
 * `log_likelihood`) with one line and writes nothing.
 *
 * Each job is written in one transaction (its jobs row and its loss rows together), and the insert
 * is `ON CONFLICT(job_id) DO NOTHING`, so a run killed at any moment keeps every committed job, and a
 * resumed run can never duplicate one.
 *
 * Faults (issue 12): every filesystem and SQLite error becomes one line naming the path and the cause
 * (`EnvironmentError`, exit 74; `OptionError`, exit 2, when the path given is to blame). Read-only
 * commands (`status`, `export`, `report`) open the store with `{ readonly: true }`, which never writes
 * the study folder; where SQLite cannot open a WAL database in place (a read-only folder without the
 * -shm file) the store is read from a snapshot copy in the temporary folder. A full disk aborts the
 * transaction being written (SQLite rolls it back), so every stored row stays and `resume` finishes
 * the run once space is freed. `integrity()` runs `PRAGMA quick_check`.
 */
import Database from 'better-sqlite3';
import { accessSync, constants, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OptionError, EnvironmentError } from '../errors.js';
import { environmentError, guardIo, isCorrupt, makeDir } from '../io-errors.js';
import { studyHash, type ResolvedStudy } from './config.js';
import type { ResultRow } from './job.js';
import { objectiveOf, type ObjectiveName } from './estimators.js';

export const STORE_FILE = 'study.sqlite';
/** The `format` of a store this code writes (meta table). */
export const STORE_FORMAT = 'moelab-study-store/2';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  job_id TEXT NOT NULL UNIQUE,
  setting TEXT NOT NULL,
  n INTEGER NOT NULL,
  rep INTEGER NOT NULL,
  seed TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  error TEXT,
  objective_name TEXT,
  objective_value REAL,
  iterations INTEGER,
  converged INTEGER,
  seconds REAL NOT NULL,
  model TEXT,
  warnings TEXT,
  finished_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_setting_n ON jobs (setting, n);
CREATE TABLE IF NOT EXISTS losses (
  job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (job_id, name)
);
`;

interface JobRowDb {
  job_id: string;
  setting: string;
  n: number;
  rep: number;
  seed: string;
  status: 'ok' | 'failed';
  error: string | null;
  objective_name?: ObjectiveName | null;
  objective_value?: number | null;
  /** Format 1 (a store not migrated yet, read-only). */
  log_likelihood?: number | null;
  iterations: number | null;
  converged: number | null;
  seconds: number;
  model: string | null;
  warnings: string | null;
  finished_at: string;
}

export interface LossValue {
  setting: string;
  name: string;
  n: number;
  rep: number;
  value: number | null;
}

export interface StoreCounts {
  ok: number;
  failed: number;
  /** Total compute seconds of the finished jobs. */
  seconds: number;
}

/** SQLite says only CANTOPEN / READONLY when the folder cannot be written: ask the file system why. */
function folderCause(e: unknown, file: string): unknown {
  const code = (e as { code?: string }).code ?? '';
  if (!code.startsWith('SQLITE_CANTOPEN') && !code.startsWith('SQLITE_READONLY')) return e;
  for (const p of [dirname(file), file]) {
    try {
      if (existsSync(p)) accessSync(p, constants.W_OK);
    } catch (why) {
      return why;
    }
  }
  return e;
}

/**
 * A row's objective value. A row from a worker of code before format 2 (a BullMQ worker not yet
 * upgraded) carries it as `logLikelihood`: it is stored all the same, under its name.
 */
function objectiveValueOf(r: ResultRow): number | null {
  if (r.objectiveValue !== undefined) return r.objectiveValue;
  const legacy = (r as { logLikelihood?: unknown }).logLikelihood;
  return typeof legacy === 'number' ? legacy : null;
}

export interface OpenOptions {
  /** Open without writing anything in the study folder (status, export, report). */
  readonly?: boolean;
}

export class StudyStore {
  private constructor(
    readonly dir: string,
    private readonly db: Database.Database,
    readonly study: ResolvedStudy,
    readonly hash: string,
    /** A snapshot folder to delete on close (read-only media). */
    private readonly snapshot?: string,
  ) {}

  static pathIn(dir: string): string {
    return join(dir, STORE_FILE);
  }

  static exists(dir: string): boolean {
    return existsSync(StudyStore.pathIn(dir));
  }

  /** The store file, for messages. */
  get file(): string {
    return StudyStore.pathIn(this.dir);
  }

  private static connect(file: string): Database.Database {
    let db: Database.Database;
    try {
      db = new Database(file);
    } catch (e) {
      throw environmentError(folderCause(e, file), file, 'open the study store');
    }
    try {
      db.pragma('journal_mode = WAL');
      // WAL + NORMAL: a committed transaction survives a killed process (not a power cut).
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      return db;
    } catch (e) {
      db.close();
      throw environmentError(folderCause(e, file), file, 'open the study store');
    }
  }

  /** A read-only connection; falls back to a snapshot copy when SQLite cannot read the WAL store in place. */
  private static connectReadonly(file: string): { db: Database.Database; snapshot?: string } {
    const probe = (db: Database.Database): Database.Database => {
      db.pragma('busy_timeout = 5000');
      db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
      return db;
    };
    let first: Database.Database | undefined;
    try {
      first = new Database(file, { readonly: true, fileMustExist: true });
      return { db: probe(first) };
    } catch (e) {
      first?.close();
      const code = (e as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_CANTOPEN') && !code.startsWith('SQLITE_READONLY')) throw environmentError(e, file, 'open the study store');
    }
    // a WAL database in a folder SQLite cannot write (no -shm): read a copy of the file and its WAL
    const snap = guardIo(tmpdir(), 'make a snapshot folder', () => mkdtempSync(join(tmpdir(), 'moelab-snapshot-')));
    try {
      const copy = join(snap, STORE_FILE);
      guardIo(file, 'read the study store', () => {
        copyFileSync(file, copy);
        if (existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 0) copyFileSync(`${file}-wal`, `${copy}-wal`);
      });
      const db = guardIo(file, 'open the study store', () => probe(new Database(copy, { fileMustExist: true })));
      return { db, snapshot: snap };
    } catch (e) {
      rmSync(snap, { recursive: true, force: true });
      throw e;
    }
  }

  /** Create the store for a study in dir, or open it if it already holds the same study. */
  static create(dir: string, study: ResolvedStudy): StudyStore {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new OptionError(`${dir}: cannot create the study folder: it is a file, not a directory`);
    makeDir(dir, 'create the study folder');
    const hash = studyHash(study);
    const file = StudyStore.pathIn(dir);
    if (existsSync(file)) StudyStore.assertSound(dir); // a run into a folder that holds a store: never write to a damaged one
    const db = StudyStore.connect(file);
    try {
      const existing = db.prepare('SELECT value FROM meta WHERE key = ?').get('hash') as { value: string } | undefined;
      if (existing) {
        if (existing.value !== hash) {
          throw new OptionError(`${dir} already holds a different study (hash ${existing.value}, this config ${hash}); use \`moelab study resume ${dir}\` or another --out`);
        }
        return StudyStore.fromConnection(dir, db, { writable: true });
      }
      const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      db.transaction(() => {
        put.run('format', STORE_FORMAT);
        put.run('hash', hash);
        put.run('study', JSON.stringify(study));
        put.run('created_at', new Date().toISOString());
      })();
      return new StudyStore(dir, db, study, hash);
    } catch (e) {
      db.close();
      throw environmentError(e, file, 'initialise the study store');
    }
  }

  /** Open an existing study directory (`readonly`: never write to it). */
  static open(dir: string, options: OpenOptions = {}): StudyStore {
    const file = StudyStore.pathIn(dir);
    if (!StudyStore.exists(dir)) {
      const what = !existsSync(dir) ? 'no such directory' : !statSync(dir).isDirectory() ? 'not a directory' : `no study store here (expected ${file})`;
      throw new OptionError(`${dir}: ${what}; start a study with \`moelab study run\``);
    }
    if (options.readonly) {
      const { db, snapshot } = StudyStore.connectReadonly(file);
      return StudyStore.fromConnection(dir, db, { snapshot });
    }
    StudyStore.assertSound(dir);
    return StudyStore.fromConnection(dir, StudyStore.connect(file), { writable: true });
  }

  /**
   * Before a writable open of an existing store (resume, run into the same folder): read it
   * read-only and refuse, in one line naming the file and the damage, a store whose integrity check
   * (quick_check, foreign keys) fails or whose tables lack moelab's columns (a truncated or
   * overwritten file, a different schema). Nothing is written to a damaged store, so no finished row
   * is lost by writing over it; exit 74 (EnvironmentError), or 2 for a file that is not a moelab store.
   */
  static assertSound(dir: string): void {
    const store = StudyStore.open(dir, { readonly: true });
    try {
      const file = store.file;
      const problems = [...store.schemaProblems(), ...store.integrity()];
      if (problems.length) {
        throw new EnvironmentError(`${file}: the study store is damaged (${problems[0]}${problems.length > 1 ? `; and ${problems.length - 1} more` : ''}); nothing was written to it: restore it from a copy, or start again in a new folder`);
      }
    } finally {
      store.close();
    }
  }

  /** Tables or columns of moelab's schema missing from the store (a store written by something else, or damaged). */
  schemaProblems(): string[] {
    const want: Record<string, string[]> = {
      meta: ['key', 'value'],
      jobs: ['job_id', 'setting', 'n', 'rep', 'seed', 'status', 'error', 'iterations', 'converged', 'seconds', 'model', 'warnings', 'finished_at'],
      losses: ['job_id', 'name', 'value'],
    };
    const out: string[] = [];
    try {
      for (const [table, cols] of Object.entries(want)) {
        const have = new Set((this.db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name));
        if (have.size === 0) out.push(`no table ${table}`);
        else {
          // the objective: format 2 (objective_name, objective_value) or format 1 (log_likelihood)
          const objective = table !== 'jobs' || (have.has('objective_name') && have.has('objective_value')) || have.has('log_likelihood') ? [] : ['objective_name', 'objective_value'];
          const missing = [...cols.filter((c) => !have.has(c)), ...objective];
          if (missing.length) out.push(`table ${table} lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
        }
      }
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('SQLITE_')) return [(e as Error).message.replace(/\s+/g, ' ')];
      throw e;
    }
    return out;
  }

  /** Format 1 → 2 (see the head of this file): one transaction, every row kept; a no-op on a format-2 store. */
  private static migrate(conn: Database.Database, study: ResolvedStudy): void {
    const have = new Set((conn.pragma('table_info(jobs)') as { name: string }[]).map((c) => c.name));
    if (!have.has('log_likelihood') || have.has('objective_value')) return;
    conn.transaction(() => {
      conn.exec('ALTER TABLE jobs RENAME COLUMN log_likelihood TO objective_value');
      conn.exec('ALTER TABLE jobs ADD COLUMN objective_name TEXT');
      const name = conn.prepare('UPDATE jobs SET objective_name = ? WHERE setting = ?');
      for (const s of study.settings) name.run(objectiveOf(s.estimator), s.name);
      conn.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run('format', STORE_FORMAT);
    })();
  }

  private static fromConnection(dir: string, conn: Database.Database, how: { writable?: boolean; snapshot?: string } = {}): StudyStore {
    const file = StudyStore.pathIn(dir);
    const snapshot = how.snapshot;
    try {
      const get = (key: string): string | undefined => (conn.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
      const text = get('study');
      const hash = get('hash');
      if (!text || !hash) throw new OptionError(`${file}: not a moelab study store (no study in its meta table)`);
      let study: ResolvedStudy;
      try {
        study = JSON.parse(text) as ResolvedStudy;
      } catch {
        throw new EnvironmentError(`${file}: the study stored in the meta table is not valid JSON (the store is corrupted)`);
      }
      if (study === null || typeof study !== 'object' || !Array.isArray(study.settings) || !Array.isArray(study.ns)) {
        throw new EnvironmentError(`${file}: the study stored in the meta table is malformed (the store is corrupted)`);
      }
      if (how.writable) StudyStore.migrate(conn, study);
      return new StudyStore(dir, conn, study, hash, snapshot);
    } catch (e) {
      conn.close();
      if (snapshot) rmSync(snapshot, { recursive: true, force: true });
      if ((e as { code?: string }).code === 'SQLITE_ERROR' && /no such table/.test((e as Error).message)) {
        throw new OptionError(`${file}: not a moelab study store (${(e as Error).message})`);
      }
      throw environmentError(e, file, 'read the study store');
    }
  }

  /** Run a database operation; SQLite and filesystem errors become one line naming the store. */
  private io<T>(action: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw environmentError(e, this.file, action);
    }
  }

  /**
   * SQLite's `PRAGMA quick_check` (and a foreign-key check): `[]` if the store is sound, else the
   * first problems found (at most `limit`). A file too damaged to be read yields its read error.
   */
  integrity(limit = 5): string[] {
    try {
      const rows = this.db.pragma(`quick_check(${Math.max(1, Math.floor(limit))})`, { simple: false }) as { quick_check: string }[];
      const problems = rows.map((r) => r.quick_check.replace(/\s+/g, ' ').trim()).filter((m) => m !== 'ok');
      if (problems.length) return problems;
      const fk = this.db.pragma('foreign_key_check') as unknown[];
      return fk.length ? [`${fk.length} loss row(s) without their job row (foreign key check)`] : [];
    } catch (e) {
      if (isCorrupt(e) || (e as { code?: string }).code?.startsWith('SQLITE_')) return [(e as Error).message.replace(/\s+/g, ' ')];
      throw e;
    }
  }

  meta(key: string): string | undefined {
    return this.io('read the study store', () => {
      return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
    });
  }

  setMeta(key: string, value: string): void {
    return this.io('write to the study store', () => {
      this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
    });
  }

  /** Ids of finished jobs (ok or failed). */
  finishedIds(): Set<string> {
    return this.io('read the study store', () => {
      const rows = this.db.prepare('SELECT job_id FROM jobs').pluck().all() as string[];
      return new Set(rows);
    });
  }

  private insertJob?: Database.Statement;
  private insertLoss?: Database.Statement;
  private writeTx?: (row: ResultRow) => boolean;

  /** Write one finished job atomically; returns false if the job was already stored (no change). */
  write(row: ResultRow): boolean {
    return this.io('write a result to the study store', () => {
      if (!this.writeTx) {
        this.insertJob = this.db.prepare(`INSERT INTO jobs (job_id, setting, n, rep, seed, status, error, objective_name, objective_value, iterations, converged, seconds, model, warnings, finished_at)
          VALUES (@job_id, @setting, @n, @rep, @seed, @status, @error, @objective_name, @objective_value, @iterations, @converged, @seconds, @model, @warnings, @finished_at)
          ON CONFLICT (job_id) DO NOTHING`);
        this.insertLoss = this.db.prepare('INSERT INTO losses (job_id, name, value) VALUES (?, ?, ?)');
        const ij = this.insertJob;
        const il = this.insertLoss;
        this.writeTx = this.db.transaction((r: ResultRow): boolean => {
          const info = ij.run({
            job_id: r.jobId, setting: r.setting, n: r.n, rep: r.rep, seed: r.seed, status: r.status, error: r.error,
            objective_name: r.objectiveName ?? this.objectiveOf(r.setting), objective_value: objectiveValueOf(r), iterations: r.iterations, converged: r.converged === null ? null : r.converged ? 1 : 0,
            seconds: r.seconds, model: r.model, warnings: r.warnings, finished_at: new Date().toISOString(),
          });
          if (info.changes === 0) return false;
          for (const [name, value] of Object.entries(r.losses)) il.run(r.jobId, name, value);
          return true;
        });
      }
      return this.writeTx(row);
    });
  }

  /** The objective of a setting of this store's study (`null`: no such setting, or an estimator unknown here). */
  objectiveOf(setting: string): ObjectiveName | null {
    const s = this.study.settings.find((x) => x.name === setting);
    return s ? objectiveOf(s.estimator) : null;
  }

  /** Delete failed jobs (so a resume retries them); returns how many. */
  deleteFailed(): number {
    return this.io('delete failed jobs from the study store', () => {
      return this.db.transaction(() => {
        const ids = this.db.prepare("SELECT job_id FROM jobs WHERE status = 'failed'").pluck().all() as string[];
        const dl = this.db.prepare('DELETE FROM losses WHERE job_id = ?');
        const dj = this.db.prepare('DELETE FROM jobs WHERE job_id = ?');
        for (const id of ids) {
          dl.run(id);
          dj.run(id);
        }
        return ids.length;
      })();
    });
  }

  counts(): StoreCounts {
    return this.io('read the study store', () => {
      const r = this.db.prepare(`SELECT COALESCE(SUM(status = 'ok'), 0) AS ok, COALESCE(SUM(status = 'failed'), 0) AS failed, COALESCE(SUM(seconds), 0) AS seconds FROM jobs`).get() as StoreCounts;
      return r;
    });
  }

  countsBySetting(): { setting: string; ok: number; failed: number; seconds: number }[] {
    return this.io('read the study store', () => {
      return this.db.prepare(`SELECT setting, SUM(status = 'ok') AS ok, SUM(status = 'failed') AS failed, SUM(seconds) AS seconds FROM jobs GROUP BY setting ORDER BY setting`).all() as { setting: string; ok: number; failed: number; seconds: number }[];
    });
  }

  /** The most recent distinct failure messages with their counts. */
  failures(limit = 10): { error: string; count: number; example: string }[] {
    return this.io('read the study store', () => {
      return this.db.prepare(`SELECT error, COUNT(*) AS count, MIN(job_id) AS example FROM jobs WHERE status = 'failed' GROUP BY error ORDER BY count DESC LIMIT ?`).all(limit) as { error: string; count: number; example: string }[];
    });
  }

  /** All stored rows, ordered by job id. */
  rows(): ResultRow[] {
    return this.io('read the study store', () => {
      const jobs = this.db.prepare('SELECT * FROM jobs ORDER BY setting, n, rep').all() as JobRowDb[];
      const losses = this.db.prepare('SELECT job_id, name, value FROM losses').all() as { job_id: string; name: string; value: number | null }[];
      const byJob = new Map<string, Record<string, number | null>>();
      for (const l of losses) {
        let m = byJob.get(l.job_id);
        if (!m) byJob.set(l.job_id, (m = {}));
        m[l.name] = l.value;
      }
      return jobs.map((j) => ({
        jobId: j.job_id, setting: j.setting, n: j.n, rep: j.rep, seed: j.seed, status: j.status, error: j.error,
        objectiveName: j.objective_name ?? this.objectiveOf(j.setting), objectiveValue: j.objective_value !== undefined ? j.objective_value : (j.log_likelihood ?? null),
        iterations: j.iterations, converged: j.converged === null ? null : j.converged === 1,
        seconds: j.seconds, model: j.model, losses: byJob.get(j.job_id) ?? {}, warnings: j.warnings,
      }));
    });
  }

  /** When each stored job finished and how long it took (wall time and throughput of a run). */
  timings(): { setting: string; n: number; rep: number; seconds: number; finishedAt: string }[] {
    return this.io('read the study store', () => this.db.prepare('SELECT setting, n, rep, seconds, finished_at AS finishedAt FROM jobs ORDER BY finished_at').all() as { setting: string; n: number; rep: number; seconds: number; finishedAt: string }[]);
  }

  /** Loss values of successful jobs. */
  lossValues(): LossValue[] {
    return this.io('read the study store', () => {
      return this.db.prepare(`SELECT j.setting AS setting, l.name AS name, j.n AS n, j.rep AS rep, l.value AS value
        FROM losses l JOIN jobs j ON j.job_id = l.job_id WHERE j.status = 'ok' ORDER BY j.setting, l.name, j.n, j.rep`).all() as LossValue[];
    });
  }

  /** Number of rows in the jobs table with the given id (for tests: 0 or 1). */
  countId(id: string): number {
    return (this.db.prepare('SELECT COUNT(*) FROM jobs WHERE job_id = ?').pluck().get(id) as number) ?? 0;
  }

  close(): void {
    try {
      this.db.close();
    } finally {
      if (this.snapshot) rmSync(this.snapshot, { recursive: true, force: true });
    }
  }
}
