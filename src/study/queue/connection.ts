/**
 * Redis connection for the distributed study runner (BullMQ on Redis). The queue URL is
 * `redis://[user[:password]@]HOST:PORT[/DB]` (or `rediss://` for TLS); a password may also come from
 * the environment (MOELAB_REDIS_PASSWORD), so it need not appear on a command line. The URL is never
 * written into a study directory, and every message shows it with the password masked.
 *
 * bullmq and ioredis are imported lazily (≈ 200 ms): commands that do not use a queue never load them.
 * Under ESM, BullMQ is given constructed `new Redis(…, { maxRetriesPerRequest: null })` clients
 * (null: a command waits through a Redis restart instead of failing after 20 retries).
 */
import { OptionError } from '../../errors.js';
import type { Redis, RedisOptions } from 'ioredis';

/** The one BullMQ queue that coordinators fill and workers serve (per Redis database). */
export const DEFAULT_QUEUE_NAME = 'moelab-study';

export const PASSWORD_ENV = 'MOELAB_REDIS_PASSWORD';

export interface QueueTarget {
  /** The URL as given (may hold a password: never print or store it). */
  url: string;
  /** The URL with the password masked, for messages. */
  display: string;
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
}

/** Parse and check a `--queue` URL; a bad URL is a one-line OptionError naming the part that is wrong. */
export function parseQueueUrl(url: string, env: NodeJS.ProcessEnv = process.env): QueueTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OptionError(`--queue ${JSON.stringify(url)}: not a URL; expected redis://HOST:PORT[/DB]`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new OptionError(`--queue: scheme ${JSON.stringify(u.protocol.replace(/:$/, ''))} is not redis or rediss; expected redis://HOST:PORT[/DB]`);
  if (!u.hostname) throw new OptionError('--queue: no host; expected redis://HOST:PORT[/DB]');
  const port = u.port === '' ? 6379 : Number(u.port);
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,2}$/.test(path)) throw new OptionError(`--queue: database ${JSON.stringify(path)} is not a number 0–15 (redis://HOST:PORT/DB)`);
  const db = path === '' ? 0 : Number(path);
  if (u.search || u.hash) throw new OptionError('--queue: query strings and fragments are not supported (redis://[user:password@]HOST:PORT[/DB])');
  const password = u.password ? decodeURIComponent(u.password) : env[PASSWORD_ENV] || undefined;
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const masked = new URL(u.href);
  if (masked.password) masked.password = '***';
  return {
    url, display: masked.href.replace(/\/$/, ''), host: u.hostname.replace(/^\[|\]$/g, ''), port, db, tls: u.protocol === 'rediss:',
    ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}),
  };
}

export interface BullModules {
  bullmq: typeof import('bullmq');
  Redis: typeof Redis;
}

let modules: Promise<BullModules> | undefined;

/** bullmq + ioredis, loaded on first use. */
export function loadBull(): Promise<BullModules> {
  modules ??= Promise.all([import('bullmq'), import('ioredis')]).then(([bullmq, ioredis]) => ({ bullmq, Redis: ioredis.Redis }));
  return modules;
}

/** A new ioredis client for BullMQ (blocking commands need their own connection each). */
export async function connect(target: QueueTarget, name: string): Promise<Redis> {
  const { Redis } = await loadBull();
  const options: RedisOptions = {
    host: target.host, port: target.port, db: target.db, connectionName: name,
    maxRetriesPerRequest: null,
    // reconnect forever (a Redis restart must not end a run), backing off to 2 s
    retryStrategy: (times: number) => Math.min(50 * times, 2000),
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
  };
  const client = new Redis(options);
  // ioredis emits connection errors as events; the waits below and BullMQ report them
  client.on('error', () => undefined);
  return client;
}

/** Fail early, with one line, when Redis cannot be reached (instead of waiting forever). */
export async function ensureReachable(client: Redis, target: QueueTarget, timeoutMs = 5000): Promise<void> {
  let onError: ((e: Error) => void) | undefined;
  try {
    // the first connection error ends the wait (later, during a run, ioredis reconnects instead)
    const failed = new Promise<string>((r) => {
      onError = (e: Error): void => r(e.message || String(e));
      client.on('error', onError);
    });
    const timer = new Promise<string>((r) => setTimeout(() => r(`no answer within ${timeoutMs / 1000} s`), timeoutMs).unref());
    const r = await Promise.race([client.ping(), failed, timer]).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    if (r !== 'PONG') {
      client.disconnect();
      throw new OptionError(`--queue ${target.display}: cannot reach Redis (${r})`);
    }
  } finally {
    if (onError) client.off('error', onError);
  }
}
