/** Test helper shared by the kill/resume and queue tests: rows a (possibly live) study store holds. */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';

/** Number of job rows in the SQLite file, read-only; 0 while the file is missing or being created. */
export function storedRows(file: string): number {
  if (!existsSync(file)) return 0;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT COUNT(*) FROM jobs').pluck().get() as number;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}
