/**
 * Progress of long fits (issue 11 item 6): a line on stderr only when it is a terminal — unit tests
 * with an injected stream and clock, and the real CLI under a pseudo-terminal (`script`) and with
 * stderr on a pipe.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fitProgress } from '../../src/cli/progress.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';

function fakeStream(isTTY: boolean): { isTTY: boolean; out: string[]; write(s: string): boolean } {
  const out: string[] = [];
  return { isTTY, out, write: (s: string) => { out.push(s); return true; } };
}

describe('fitProgress', () => {
  it('on a terminal: restart i/R, iteration, ℓ and ‖∇‖, throttled, after the delay, cleared at the end', () => {
    const stream = fakeStream(true);
    let t = 0;
    const p = fitProgress(3, { stream, now: () => t, delay: 500, interval: 100 });
    p.em(1, -900.5);
    t = 400;
    p.em(2, -880.25);
    expect(stream.out).toEqual([]); // before the delay
    t = 600;
    p.em(3, -870.125);
    t = 650;
    p.em(4, -869); // within the interval: dropped
    t = 800;
    p.em(5, -868.5, 3.2e-6);
    t = 1000;
    p.em(1, -950); // the count drops: restart 2, gradient forgotten
    p.done();
    expect(stream.out).toEqual([
      '\r\x1b[Krestart 1/3   iteration 3   ℓ = -870.1250',
      '\r\x1b[Krestart 1/3   iteration 5   ℓ = -868.5000   ‖∇‖ 3.2e-6',
      '\r\x1b[Krestart 2/3   iteration 1   ℓ = -950.0000',
      '\r\x1b[K',
    ]);
  });
  it('LSE fits show the SSE; not a terminal: nothing at all', () => {
    const tty = fakeStream(true);
    const p = fitProgress(2, { stream: tty, now: () => 1000, delay: 0, interval: 0 });
    p.lse(1, 12, 34.5, 0.25);
    expect(tty.out[0]).toBe('\r\x1b[Krestart 2/2   iteration 12   SSE = 34.500000   ‖∇‖ 2.5e-1');
    const pipe = fakeStream(false);
    const q = fitProgress(2, { stream: pipe, now: () => 1000, delay: 0, interval: 0 });
    q.em(5, -1);
    q.lse(0, 1, 2, 3);
    q.done();
    expect(pipe.out).toEqual([]);
  });
});

describe('moelab fit progress', () => {
  const ROOT = resolve(import.meta.dirname, '..', '..');
  const BIN = join(ROOT, 'bin', 'moelab.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'moelab-progress-'));
  writeFileSync(join(dir, 'truth.json'), JSON.stringify(AUTHORS_TRUTH));
  // no delay and no throttle: on a fast machine the whole fit takes less than one 100 ms interval
  const env = { ...process.env, MOELAB_PROGRESS_DELAY: '0', MOELAB_PROGRESS_INTERVAL: '0' };
  const sim = spawnSync(process.execPath, [BIN, 'simulate', '--model', 'truth.json', '--n', '2000', '--seed', '3', '--out', 'd.csv'], { cwd: dir, encoding: 'utf8' });
  const args = ['fit', '--data', 'd.csv', '--k', '3', '--restarts', '2', '--json'];
  const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

  it.skipIf(!hasScript)('under a pseudo-terminal (script) stderr shows the progress line, then clears it', () => {
    expect(sim.status, sim.stderr).toBe(0);
    const cmd = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ') + ' > out.json';
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: dir, encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('\r\x1b[Krestart 1/2   iteration ');
    expect(r.stdout).toMatch(/restart 1\/2 {3}iteration \d+ {3}ℓ = -\d+\.\d{4}/);
    expect(r.stdout).toMatch(/restart 2\/2 {3}iteration \d+/);
    expect(r.stdout).toMatch(/‖∇‖ \d\.\de-\d+/);
    // the line is cleared before anything else is written: after the last clear only warning lines
    // may follow (an over-specified k = 3 fit can end on a flat ridge and say so)
    const tail = r.stdout.slice(r.stdout.lastIndexOf('\r\x1b[K') + 4);
    expect(tail).not.toMatch(/restart \d\/\d|iteration/);
    for (const line of tail.split(/\r?\n/).filter((l) => l.length > 0)) expect(line).toMatch(/^warning: /);
  });
  it('with stderr on a pipe the same fit is silent', () => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    // no progress at all: no carriage return, no escape, no iteration line; warnings (one line
    // each, also in --json) are the only thing stderr may carry
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).not.toContain('\x1b');
    expect(r.stderr).not.toContain('iteration');
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    for (const line of lines) expect(line).toMatch(/^warning: .* \[[A-Z_]+\]$/);
    expect(lines.length).toBe((JSON.parse(r.stdout) as { warnings: unknown[] }).warnings.length);
    expect((JSON.parse(r.stdout) as { warnings: unknown }).warnings).toBeInstanceOf(Array);
  });
});
