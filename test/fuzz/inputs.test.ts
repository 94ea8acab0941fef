/**
 * Fuzz tests (issue 12, item 7), fast-check, seeded, a few seconds each: random CSV bytes, random
 * model JSON and random study configs never produce a stack trace (an error that is not a
 * MoelabError) nor a silent success on invalid input (exit 0 where an independent check says the
 * input is invalid).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { runCli } from '../cli/run-cli.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { loadStudy } from '../../src/study/config.js';
import { MoelabError } from '../../src/errors.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'moelab-fuzz-'));
});

/** An independent reading of what a valid fit input is: header x1,y; ≥ 4 rows; every cell a decimal literal; CRLF and LF both end a line, mixed or not. */
function csvIsValid(text: string): boolean {
  let rows: string[][];
  try {
    rows = parse(text.replace(/^\ufeff/, '').replace(/\r\n/g, '\n'), { skip_empty_lines: true, trim: true }) as string[][];
  } catch {
    return false;
  }
  if (rows.length < 2) return false;
  const [h, ...body] = rows;
  if (h.length !== 2 || [...h].sort().join(',') !== 'x1,y') return false;
  if (body.length < 3) return false; // k = 1 Gaussian: 3 free parameters (a, b, variance)
  return body.every((r) => r.every((c) => /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(c) && Number.isFinite(Number(c))));
}

const pieces = ['0', '1', '2', '9', '.', '-', '+', 'e', 'E', '5e3', '1e999', '0x10', '0b1', '0o7', 'NaN', 'Infinity', ',', ',', ',', '\n', '\n', '\r\n', '"', ' ', '\ufeff', 'x1', 'y', 'abc', '#', '\t', '\u0000', '1e-320'];

describe('fuzz: CSV input to fit', () => {
  it('random CSV bytes: exit 0 only for valid input, else exit 2 and one line (seeded)', async () => {
    const body = fc.array(fc.constantFrom(...pieces), { maxLength: 60 }).map((a) => a.join(''));
    const validRows = fc.array(fc.tuple(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { minLength: 0, maxLength: 12 })
      .map((rs) => rs.map(([a, b]) => `${a},${b}`).join('\n'));
    const text = fc.tuple(fc.constantFrom('x1,y\n', '\ufeffx1,y\n', 'x1,y\r\n', '', 'y,x1\n', 'x1,x1\n'), validRows, body, fc.boolean())
      .map(([h, v, junk, mix]) => h + v + (mix ? '\n' + junk : ''));
    let clean = 0;
    let refused = 0;
    await fc.assert(fc.asyncProperty(text, async (t) => {
      const path = join(dir, 'f.csv');
      writeFileSync(path, t);
      const r = await runCli(['fit', '--data', path, '--k', '1', '--max-iter', '20', '--json']);
      expect(r.stderr, r.stderr).not.toMatch(/\n\s+at |internal error/);
      if (r.code === 0) {
        clean++;
        // a success must be on valid input (no hex, no junk silently read as numbers)
        expect(csvIsValid(t), `accepted invalid input ${JSON.stringify(t)}`).toBe(true);
        const out = JSON.parse(r.stdout) as { logLikelihood: number };
        expect(Number.isFinite(out.logLikelihood)).toBe(true);
      } else {
        refused++;
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      }
    }), { seed: 7, numRuns: 250 });
    expect(clean).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  }, 60_000);
});

// -------------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Apply a random mutation at a random path of a JSON value. */
function mutate(v: Json, path: number[], replacement: Json, op: number): Json {
  if (path.length === 0 || v === null || typeof v !== 'object') return op === 0 ? replacement : v;
  const [i, ...rest] = path;
  if (Array.isArray(v)) {
    if (v.length === 0) return replacement;
    const j = i % v.length;
    if (rest.length === 0 && op === 1) return v.filter((_, t) => t !== j);
    if (rest.length === 0 && op === 2) return [...v, replacement];
    return v.map((e, t) => (t === j ? mutate(e, rest, replacement, op) : e));
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return replacement;
  const key = keys[i % keys.length];
  if (rest.length === 0 && op === 1) {
    const { [key]: _drop, ...others } = v;
    return others;
  }
  if (rest.length === 0 && op === 2) return { ...v, [`${key}x`]: replacement };
  return { ...v, [key]: mutate(v[key], rest, replacement, op) };
}

const jsonValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1e308, -1e308, 5e-324, 1e-12, 2, 3, '', 'softmax', 'gaussianLinear', 'constructor', '__proto__', [], {}, [[]], [1, 2], [[1], [2]]),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 4 }),
);

const mutation = fc.tuple(fc.array(fc.nat({ max: 30 }), { minLength: 1, maxLength: 4 }), jsonValue, fc.integer({ min: 0, max: 2 }));

describe('fuzz: model JSON', () => {
  it('random mutations of a model file: simulate succeeds with finite data or fails in one line (seeded)', async () => {
    let ok = 0;
    let refused = 0;
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (muts) => {
      let m: Json = JSON.parse(JSON.stringify(AUTHORS_TRUTH)) as Json;
      for (const [p, r, op] of muts) m = mutate(m, p, r, op);
      const path = join(dir, 'm.json');
      writeFileSync(path, JSON.stringify(m));
      const out = join(dir, 'm.csv');
      const r = await runCli(['simulate', '--model', path, '--n', '50', '--out', out]);
      expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
      if (r.code === 0) {
        ok++;
        // what was written is finite numbers that read back (no NaN/Infinity from a degenerate model)
        const back = await runCli(['fit', '--data', out, '--k', '1', '--max-iter', '5', '--json']);
        expect(back.stderr).not.toMatch(/not a finite decimal number|\n\s+at /);
      } else {
        refused++;
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      }
    }), { seed: 11, numRuns: 200 });
    expect(ok).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(20);
  }, 60_000);
});

// -------------------------------------------------------------------------------------------------

const BASE_CONFIG: Json = {
  name: 'fz', seed: 3, truth: 'authors', n: [200, 400], replicates: 2,
  settings: [{ name: 'a', k: 2, gate: 'softmax', experts: 'gaussian', losses: ['D1', 'D1:beta1', { name: 'hellinger', options: { samples: 16 } }] }],
  profiles: { quick: { replicates: 1, settings: { a: { k: 3 } } } },
};

describe('fuzz: study configs', () => {
  it('random mutations of a config: loadStudy resolves it or throws a one-line MoelabError (seeded)', () => {
    let ok = 0;
    let refused = 0;
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom(undefined, 'quick', 'full', 'constructor'), (muts, profile) => {
      let c: Json = BASE_CONFIG;
      for (const [p, r, op] of muts) c = mutate(c, p, r, op);
      try {
        const st = loadStudy(JSON.stringify(c), { source: 'fz.json', ...(profile !== undefined ? { profile } : {}) });
        ok++;
        // a resolved study is well-formed: the plan is finite and bounded
        expect(st.ns.length).toBeGreaterThan(0);
        expect(st.ns.every((n) => Number.isInteger(n) && n >= 2)).toBe(true);
        expect(st.settings.every((s) => s.k >= 1 && s.losses.length > 0)).toBe(true);
      } catch (e) {
        refused++;
        expect(e, (e as Error).stack).toBeInstanceOf(MoelabError);
        expect((e as Error).message).not.toMatch(/\n/);
      }
    }), { seed: 5, numRuns: 400 });
    expect(ok).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(50);
  }, 60_000);
});
