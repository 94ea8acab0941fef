/**
 * The run lock of a study folder: `run.lock` holds "PID STARTTIME" of the process that runs the
 * study. It is taken atomically: the line is written to a private temporary file first and then
 * hard-linked to `run.lock` (link fails if the lock exists), so the lock never exists half-written
 * and two runs starting together cannot both take it. A lock whose process is gone is stale and is
 * taken over; so is one whose process is a zombie (killed, not yet reaped) or whose pid now belongs
 * to another process (a different start time in /proc). Takeover renames the stale file away and
 * checks that what it moved is the stale lock it read, so it never removes a fresh lock.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OptionError } from '../errors.js';
import { environmentError } from '../io-errors.js';

export const LOCK_FILE = 'run.lock';

interface Holder {
  pid: number;
  /** Start time of the process (Linux /proc/PID/stat field 22), when known. */
  start?: string;
  text: string;
}

/** State and start time of a process from /proc (Linux); undefined elsewhere or if it is gone. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], start: rest[19] };
  } catch {
    return undefined;
  }
}

/** Whether the holder's process still runs: alive, not a zombie, and the same process (start time). */
export function holderAlive(h: { pid: number; start?: string }): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = procStat(h.pid);
  if (st) {
    if (st.state === 'Z' || st.state === 'X') return false; // killed, waiting to be reaped
    if (h.start !== undefined && st.start !== h.start) return false; // the pid was reused
  }
  return true;
}

function myText(): string {
  const st = procStat(process.pid);
  return st ? `${process.pid} ${st.start}\n` : `${process.pid}\n`;
}

function readHolder(path: string): Holder | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const [p, start] = text.trim().split(/\s+/);
  const pid = Number(p);
  return { pid: Number.isInteger(pid) && pid > 0 ? pid : 0, ...(start !== undefined ? { start } : {}), text };
}

function inProgress(dir: string, pid: number): OptionError {
  return new OptionError(`${dir}: another run is in progress (pid ${pid}); wait for it or stop it first`);
}

/**
 * Take the exclusive run lock of `dir`; returns the function that releases it. Throws OptionError if
 * a live process holds it, EnvironmentError (one line) if the folder cannot be written.
 */
export function acquireLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  const text = myText();
  const tmp = join(dir, `.${LOCK_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    const fd = openSync(tmp, 'wx');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* not created */
    }
    throw environmentError(e, path, 'take the run lock');
  }
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        linkSync(tmp, path);
        return () => {
          try {
            if (readFileSync(path, 'utf8') === text) unlinkSync(path);
          } catch {
            /* already gone */
          }
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw environmentError(e, path, 'take the run lock');
      }
      const holder = readHolder(path);
      if (!holder) continue; // released meanwhile
      if (holder.pid === 0) {
        // unreadable content: a lock of an older moelab being written, or garbage; stale after 2 s
        const age = Date.now() - statSync(path).mtimeMs;
        if (age < 2000) throw new OptionError(`${dir}: the run lock ${path} is being taken by another process; try again`);
      } else if (holderAlive(holder)) throw inProgress(dir, holder.pid);
      // stale: move it away, and make sure what was moved is the stale lock just read
      const grave = `${tmp}.stale`;
      try {
        renameSync(path, grave);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw environmentError(e, path, 'remove the stale run lock');
      }
      const moved = readFileSync(grave, 'utf8');
      if (moved !== holder.text) {
        // another process took the lock between our read and our rename: put its lock back
        try {
          linkSync(grave, path);
        } catch {
          /* a third process holds it now */
        }
        unlinkSync(grave);
        const now = readHolder(path);
        throw inProgress(dir, now?.pid ?? holder.pid);
      }
      unlinkSync(grave);
    }
    throw new OptionError(`${dir}: could not take the run lock ${path} (it keeps changing hands)`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* gone */
    }
  }
}
