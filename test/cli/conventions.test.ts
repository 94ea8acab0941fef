/**
 * CLI conventions (issue 11 item 6): `-` is standard input/output for data and model files (round
 * trips through real processes), the plain-CSV fast path reads exactly what csv-parse reads, and a
 * study config's `truth:` may be a file path relative to the config.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { plainRecords } from '../../src/cli/csv-plain.js';
import { loadStudyFile } from '../../src/study/config.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { runCli } from './run-cli.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'moelab.mjs');
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'moelab-conv-'));
  writeFileSync(join(dir, 'truth.json'), JSON.stringify(AUTHORS_TRUTH));
});

function moelab(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('- is standard input and output', () => {
  it('simulate --out - | fit --data - gives the bytes and the fit of the file route; a model may come from stdin', () => {
    const toFile = moelab(['simulate', '--model', 'truth.json', '--n', '300', '--seed', '4', '--out', 'd.csv']);
    expect(toFile.code, toFile.stderr).toBe(0);
    const toStdout = moelab(['simulate', '--model', '-', '--n', '300', '--seed', '4', '--out', '-'], JSON.stringify(AUTHORS_TRUTH));
    expect(toStdout.code, toStdout.stderr).toBe(0);
    expect(toStdout.stdout).toBe(readFileSync(join(dir, 'd.csv'), 'utf8'));
    expect(toStdout.stderr).toBe('');
    const fromFile = moelab(['fit', '--data', 'd.csv', '--k', '2', '--json']);
    const fromStdin = moelab(['fit', '--data', '-', '--k', '2', '--json'], toStdout.stdout);
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    const a = JSON.parse(fromFile.stdout) as { logLikelihood: number; model: unknown };
    const b = JSON.parse(fromStdin.stdout) as { logLikelihood: number; model: unknown };
    expect(b.logLikelihood).toBe(a.logLikelihood);
    expect(b.model).toEqual(a.model);
  });
});

describe('plain-CSV fast path', () => {
  const cell = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), fc.integer().map(String), fc.constantFrom('x1', 'y', 'a_b', '1e-5', '-0'));
  const pad = fc.constantFrom('', ' ', '\t', '  ');
  it('reads what csv-parse reads (records, trimmed cells, 1-based line numbers), blank lines and CRLF files included', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }).chain((w) => fc.array(fc.tuple(fc.array(fc.tuple(pad, cell, pad), { minLength: w, maxLength: w }), fc.nat(2)), { minLength: 1, maxLength: 12 })),
      fc.boolean(),
      (rows, crlf) => {
        const eol = crlf ? '\r\n' : '\n';
        const text = rows.map(([cells, blanks]) => eol.repeat(blanks) + cells.map(([a, c, b]) => a + c + b).join(',') + eol).join('');
        const fast = plainRecords(text);
        expect(fast).toBeDefined();
        const slow = parse(text, { bom: true, skip_empty_lines: true, trim: true, relax_column_count: false, info: true }) as unknown as { record: string[]; info: { lines: number } }[];
        expect(fast?.map((r) => r.record)).toEqual(slow.map((r) => r.record));
        expect(fast?.map((r) => r.info.lines)).toEqual(slow.map((r) => r.info.lines));
      },
    ), { numRuns: 200, seed: 11 });
  });
  it('leaves quotes, a BOM, other characters, ragged rows, blank-looking lines and mixed line ends to csv-parse', () => {
    for (const text of ['x,y\n"1",2\n', '\uFEFFx,y\n1,2\n', 'x,y\n1;2,3\n', 'x,y\n1,2,3\n', 'x,y\n \n1,2\n', 'x,y\r1,2\n', 'é,y\n1,2\n', 'x,y\n1,2\r\n3,4\n']) {
      expect(plainRecords(text), JSON.stringify(text)).toBeUndefined();
    }
  });
});

describe('study config truth: a path relative to the config', () => {
  const config = (truth: string): string => JSON.stringify({
    name: 'rel', seed: 1, truth, x: { type: 'uniform', low: 0, high: 1 }, n: [200], replicates: 1,
    settings: [{ name: 'exact', k: 2, gate: { type: 'softmax' }, experts: { type: 'gaussianLinear' }, estimator: 'em', init: 'nearTruth', losses: [{ name: 'D1' }] }],
  });
  it('resolves truth.json next to the config, whatever the working directory; a missing file names the directory', () => {
    const sub = join(dir, 'cfg');
    mkdirSync(sub, { recursive: true });
    const shifted = { ...AUTHORS_TRUTH, experts: { ...AUTHORS_TRUTH.experts, b: [14, -5] } };
    writeFileSync(join(sub, 'truth.json'), JSON.stringify(shifted));
    writeFileSync(join(sub, 'study.json'), config('truth.json'));
    const st = loadStudyFile(join(sub, 'study.json'));
    expect(st.truth).toEqual(MixtureOfExperts.fromJSON(shifted).toJSON());
    writeFileSync(join(sub, 'bad.json'), config('nothere.json'));
    expect(() => loadStudyFile(join(sub, 'bad.json'))).toThrow(/unknown named truth "nothere\.json" and no such file in .*cfg/);
  });
});

describe('--json carries the warnings that the text output prints', () => {
  it('a fit stopped by --max-iter warns in both', async () => {
    const data = moelab(['simulate', '--model', 'truth.json', '--n', '400', '--seed', '2', '--out', 'w.csv']);
    expect(data.code, data.stderr).toBe(0);
    const args = ['fit', '--data', join(dir, 'w.csv'), '--k', '2', '--max-iter', '2'];
    const text = await runCli(args);
    const json = await runCli([...args, '--json']);
    expect(text.code).toBe(0);
    // warnings go to stderr, in text and --json modes alike (issue 12), and into the JSON
    const warned = text.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warned.length).toBeGreaterThan(0);
    expect(text.stdout).not.toContain('warning: ');
    expect(json.stderr.split('\n').filter((l) => l.startsWith('warning: '))).toEqual(warned);
    const typed = (JSON.parse(json.stdout) as { warnings: { code: string; message: string }[] }).warnings;
    expect(typed.map((w) => w.code)).toContain('EM_MAX_ITER');
    expect(typed.map((w) => `warning: ${w.message} [${w.code}]`)).toEqual(warned);
  });
});
