/**
 * A private redis-server for the queue tests and the queue benchmark: Debian's binary on 127.0.0.1,
 * a free port, a temporary directory, AOF persistence (appendfsync always, so a restart loses
 * nothing), no RDB snapshots. `.ci/run` installs redis-server when missing; without it the queue
 * tests skip with one line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

function which(bin: string): string | undefined {
  for (const d of [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    const p = join(d, bin);
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

export const REDIS_SERVER = which('redis-server');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** PING over a raw socket (no client library): true once the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => { s.destroy(); res(ok); };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (b) => done(b.toString().startsWith('+PONG')));
  });
}

export interface RedisInstance {
  port: number;
  dir: string;
  /** Process id of the running server (for CPU accounting in the benchmark). */
  pid(): number | undefined;
  url(db?: number): string;
  /** Stop gracefully (SIGTERM: Redis flushes its AOF) and start again on the same port and dir. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisInstance> {
  if (!REDIS_SERVER) throw new Error('redis-server not found');
  const bin = REDIS_SERVER;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'moelab-redis-'));
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--dir', dir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
    const t0 = Date.now();
    while (!(await ping(port))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode}`);
      if (Date.now() - t0 > 10_000) throw new Error('redis-server did not answer PING within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const halt = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((res) => {
      p.once('exit', () => res());
      p.kill('SIGTERM');
    });
  };
  await launch();
  return {
    port,
    dir,
    pid: () => proc?.pid,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    async restart(downMs = 300): Promise<void> {
      await halt();
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop(): Promise<void> {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
