/**
 * Filesystem and SQLite failures as one-line `EnvironmentError`s naming the path and the cause
 * (issue 12: a read-only folder, a full disk or a corrupted store must not end in a stack trace).
 * `OptionError` is used instead where the cause is the user's argument (a path that is a file, a
 * missing parent folder).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EnvironmentError, MoelabError, OptionError } from './errors.js';

/** errno / SQLite result code → a short cause, and whether the user's argument is to blame. */
const CAUSES: ReadonlyMap<string, { cause: string; user?: boolean }> = new Map([
  ['ENOENT', { cause: 'no such file or directory', user: true }],
  ['ENOTDIR', { cause: 'a part of the path is a file, not a directory', user: true }],
  ['EISDIR', { cause: 'is a directory', user: true }],
  ['EEXIST', { cause: 'already exists', user: true }],
  ['EACCES', { cause: 'permission denied' }],
  ['EPERM', { cause: 'operation not permitted' }],
  ['EROFS', { cause: 'read-only file system' }],
  ['ENOSPC', { cause: 'no space left on the device (disk full)' }],
  ['EDQUOT', { cause: 'disk quota exceeded' }],
  ['EIO', { cause: 'input/output error' }],
  ['EMFILE', { cause: 'too many open files' }],
  ['ENAMETOOLONG', { cause: 'file name too long', user: true }],
  ['SQLITE_FULL', { cause: 'no space left on the device (disk full)' }],
  ['SQLITE_READONLY', { cause: 'the database is read-only (read-only file system or permissions)' }],
  ['SQLITE_READONLY_DIRECTORY', { cause: 'the folder is read-only' }],
  ['SQLITE_CANTOPEN', { cause: 'cannot open the database file (missing, not readable, or its folder is not writable)' }],
  ['SQLITE_CORRUPT', { cause: 'the database file is corrupted' }],
  ['SQLITE_NOTADB', { cause: 'not a database file (corrupted or overwritten)' }],
  ['SQLITE_IOERR', { cause: 'input/output error' }],
  ['SQLITE_IOERR_SHMSIZE', { cause: 'cannot size the shared-memory file (disk full?)' }],
  ['SQLITE_BUSY', { cause: 'the database is locked by another process' }],
  ['SQLITE_PERM', { cause: 'permission denied' }],
  ['SQLITE_AUTH', { cause: 'permission denied' }],
]);

function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** Whether `e` is a filesystem (errno) or SQLite error that `environmentError` can describe. */
export function isEnvironmentFault(e: unknown): boolean {
  const c = codeOf(e);
  return c !== undefined && (c.startsWith('SQLITE_') || /^E[A-Z]+$/.test(c));
}

/** Whether `e` means the disk is full. */
export function isDiskFull(e: unknown): boolean {
  const c = codeOf(e);
  return c === 'ENOSPC' || c === 'EDQUOT' || c === 'SQLITE_FULL' || (c?.startsWith('SQLITE_IOERR') === true && /disk|space|full/i.test((e as Error).message));
}

/** Whether `e` means the database is corrupted. */
export function isCorrupt(e: unknown): boolean {
  const c = codeOf(e);
  return c?.startsWith('SQLITE_CORRUPT') === true || c === 'SQLITE_NOTADB';
}

/**
 * One line for a failed filesystem/SQLite operation: `PATH: cannot ACTION: CAUSE`. MoelabErrors pass
 * through; anything that is not a filesystem/SQLite error is returned unchanged (a bug keeps its stack).
 */
export function environmentError(e: unknown, path: string, action: string): unknown {
  if (e instanceof MoelabError || !isEnvironmentFault(e)) return e;
  const code = codeOf(e) as string;
  const base = code === 'SQLITE_IOERR_SHMSIZE' ? code : code.startsWith('SQLITE_IOERR') ? 'SQLITE_IOERR' : code.startsWith('SQLITE_CORRUPT') ? 'SQLITE_CORRUPT' : code.startsWith('SQLITE_CANTOPEN') ? 'SQLITE_CANTOPEN' : code.startsWith('SQLITE_READONLY') && code !== 'SQLITE_READONLY_DIRECTORY' ? 'SQLITE_READONLY' : code;
  const known = CAUSES.get(base);
  const cause = known?.cause ?? ((e as Error).message.split('\n')[0] || code);
  const message = `${path}: cannot ${action}: ${cause} (${code})`;
  return known?.user ? new OptionError(message) : new EnvironmentError(message, e);
}

/**
 * mkdir -p that reports the real cause: Node's recursive mkdir says ENOENT on a read-only file
 * system, so the last level is retried without `recursive` to get EROFS / EACCES.
 */
export function makeDir(path: string, action = 'create the folder'): void {
  guardIo(path, action, () => {
    try {
      mkdirSync(path, { recursive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && existsSync(dirname(path))) mkdirSync(path);
      throw e;
    }
  });
}

/** Run `fn`, turning filesystem/SQLite errors into one-line errors about `path`. */
export function guardIo<T>(path: string, action: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw environmentError(e, path, action);
  }
}

/** Async form of `guardIo`. */
export async function guardIoAsync<T>(path: string, action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw environmentError(e, path, action);
  }
}
