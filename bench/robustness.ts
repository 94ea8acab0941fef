/**
 * Robustness tally (issue 12): runs seeded batteries of malformed, hostile and rescaled inputs through
 * the CLI (in process) and the library, and classifies each case as clean (a correct result or a
 * one-line error with exit 2/74), wrong silently (exit 0 on invalid input, or a rescaled fit that
 * differs), stack trace (an error that is not a MoelabError, or a multi-line message), hang (> 30 s)
 * or crash. Prints the table of /work/notes/issue-12.md.
 *
 *   npx tsx bench/robustness.ts
 */
import fc from 'fast-check';
import { mkdtempSync, writeFileSync, copyFileSync, readFileSync, statSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { main } from '../src/cli/main.js';
import { AUTHORS_TRUTH } from '../src/model/presets.js';
import { loadStudy } from '../src/study/config.js';
import { MoelabError } from '../src/errors.js';
import { MixtureOfExperts } from '../src/model/model.js';
import { Rng } from '../src/numeric/rng.js';
import { sampleX } from '../src/model/data.js';
import { fitEM } from '../src/estimate/em.js';
import { fitLSE } from '../src/estimate/lse.js';
import type { ModelJSON } from '../src/model/model.js';
import { StudyStore } from '../src/study/store.js';
import { runStudy } from '../src/study/runner.js';

type Outcome = 'clean' | 'wrong' | 'stack' | 'hang' | 'crash';
const rows: { category: string; tally: Record<Outcome, number>; tried: number }[] = [];
const newTally = (): Record<Outcome, number> => ({ clean: 0, wrong: 0, stack: 0, hang: 0, crash: 0 });

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number; threw?: unknown }> {
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array): boolean => { stdout += c.toString(); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array): boolean => { stderr += c.toString(); return true; }) as typeof process.stderr.write;
  const t0 = performance.now();
  try {
    const code = await main(args);
    return { code, stdout, stderr, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    return { code: 70, stdout, stderr, seconds: (performance.now() - t0) / 1000, threw: e };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/** Classify a CLI result: `valid` says whether exit 0 is the right answer. */
function classify(r: Awaited<ReturnType<typeof cli>>, valid: boolean | undefined): Outcome {
  if (r.seconds > 30) return 'hang';
  if (r.threw !== undefined || /\n\s+at |internal error/.test(r.stderr)) return 'stack';
  if (r.code === 0) return valid === false ? 'wrong' : 'clean';
  const errLines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('warning: ') && !/^(study |stopping|resume with|next:)/.test(l));
  if (r.code !== 2 && r.code !== 74 && r.code !== 130) return 'crash';
  return errLines.length <= 1 ? 'clean' : 'stack';
}

const dir = mkdtempSync(join(tmpdir(), 'moelab-tally-'));
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function csvValid(text: string): boolean {
  let recs: string[][];
  try {
    // CRLF and LF both end a record, mixed in one file (as moelab reads it since e9c7b8b)
    recs = parse(text.replace(/^\ufeff/, ''), { skip_empty_lines: true, trim: true, record_delimiter: ['\r\n', '\n'] }) as string[][];
  } catch {
    return false;
  }
  if (recs.length < 4) return false;
  const [h, ...body] = recs;
  if (h.length !== 2 || [...h].sort().join(',') !== 'x1,y') return false;
  return body.every((r) => r.every((c) => DECIMAL.test(c) && Number.isFinite(Number(c))));
}

async function csvBattery(): Promise<void> {
  const tally = newTally();
  let tried = 0;
  const pieces = ['0', '1', '7', '.', '-', '+', 'e', '5e3', '1e999', '0x10', '0b1', '0o7', 'NaN', 'Infinity', ',', ',', '\n', '\n', '\r\n', '"', ' ', '\ufeff', 'x1', 'y', 'abc', '\t', '\u0000'];
  const gen = fc.tuple(fc.constantFrom('x1,y\n', '\ufeffx1,y\n', 'x1,y\r\n', '', 'y,x1\n', 'x1,x1\n', '\n\nx1,y\n'),
    fc.array(fc.tuple(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.double({ min: -1e3, max: 1e3, noNaN: true })), { maxLength: 12 }).map((rs) => rs.map(([a, b]) => `${a},${b}`).join('\n')),
    fc.array(fc.constantFrom(...pieces), { maxLength: 50 }).map((a) => a.join('')), fc.boolean())
    .map(([h, v, junk, mix]) => h + v + (mix ? '\n' + junk : ''));
  const cases = fc.sample(gen, { seed: 42, numRuns: 400 });
  // the findings: hex/binary/octal, BOM, line numbers after blank lines, duplicate --x
  cases.push('x1,y\n0x10,1\n0.2,2\n0.3,3\n', 'x1,y\n0b11,1\n0.2,2\n0.3,3\n', 'x1,y\n0o7,1\n0.2,2\n0.3,3\n', '\ufeffx1,y\n0.1,1\n0.2,2\n0.3,3\n', '\n\nx1,y\n\n0.1,1\n\n0.2,z\n');
  for (const text of cases) {
    tried++;
    writeFileSync(join(dir, 'c.csv'), text);
    const r = await cli(['fit', '--data', join(dir, 'c.csv'), '--k', '1', '--max-iter', '20', '--json']);
    tally[classify(r, csvValid(text))]++;
  }
  writeFileSync(join(dir, 'two.csv'), 'x1,x2,y\n0.1,0.2,1\n0.3,0.4,2\n0.5,0.1,3\n0.6,0.3,1\n');
  const dup = await cli(['fit', '--data', join(dir, 'two.csv'), '--k', '1', '--x', 'x1,x1']);
  tried++;
  tally[classify(dup, false)]++;
  rows.push({ category: 'CSV input (fit)', tally, tried });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
function mutate(v: Json, path: number[], rep: Json, op: number): Json {
  if (path.length === 0 || v === null || typeof v !== 'object') return op === 0 ? rep : v;
  const [i, ...rest] = path;
  if (Array.isArray(v)) {
    if (v.length === 0) return rep;
    const j = i % v.length;
    if (rest.length === 0 && op === 1) return v.filter((_, t) => t !== j);
    return v.map((e, t) => (t === j ? mutate(e, rest, rep, op) : e));
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return rep;
  const key = keys[i % keys.length];
  if (rest.length === 0 && op === 1) {
    const { [key]: _d, ...o } = v;
    return o;
  }
  if (rest.length === 0 && op === 2) return { ...v, [`${key}x`]: rep };
  return { ...v, [key]: mutate(v[key], rest, rep, op) };
}
const value = fc.oneof(fc.constantFrom<Json>(null, true, 0, -1, 1e308, 5e-324, '', 'constructor', '__proto__', 'toString', [], {}, [[1], [2]], 'param:nope', 1e9, 1e7), fc.double(), fc.integer(), fc.string({ maxLength: 4 }));
const mutation = fc.tuple(fc.array(fc.nat({ max: 30 }), { minLength: 1, maxLength: 4 }), value, fc.integer({ min: 0, max: 2 }));

async function modelBattery(): Promise<void> {
  const tally = newTally();
  const cases = fc.sample(fc.array(mutation, { minLength: 1, maxLength: 3 }), { seed: 43, numRuns: 300 });
  for (const muts of cases) {
    let m = JSON.parse(JSON.stringify(AUTHORS_TRUTH)) as Json;
    for (const [p, r, op] of muts) m = mutate(m, p, r, op);
    writeFileSync(join(dir, 'm.json'), JSON.stringify(m));
    const r = await cli(['simulate', '--model', join(dir, 'm.json'), '--n', '50', '--out', join(dir, 'm.csv')]);
    let valid: boolean | undefined;
    if (r.code === 0) {
      // success must produce finite data that moelab reads back
      const back = await cli(['fit', '--data', join(dir, 'm.csv'), '--k', '1', '--max-iter', '5', '--json']);
      valid = back.code === 0 || !/not a finite decimal number/.test(back.stderr);
    }
    tally[classify(r, valid)]++;
  }
  rows.push({ category: 'model JSON (simulate)', tally, tried: cases.length });
}

const BASE: Json = {
  name: 'fz', seed: 3, truth: 'authors', n: [200, 400], replicates: 2,
  settings: [{ name: 'a', k: 2, gate: 'softmax', experts: 'gaussian', losses: ['D1', 'D1:beta1', { name: 'hellinger', options: { samples: 16 } }] }],
  profiles: { quick: { replicates: 1, settings: { a: { k: 3 } } } },
};

function configBattery(): void {
  const tally = newTally();
  const cases = fc.sample(fc.tuple(fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom(undefined, 'quick', 'constructor', 'toString')), { seed: 44, numRuns: 600 });
  for (const [muts, profile] of cases) {
    let c = BASE;
    for (const [p, r, op] of muts) c = mutate(c, p, r, op);
    const t0 = performance.now();
    try {
      const st = loadStudy(JSON.stringify(c), { source: 'fz.json', ...(profile !== undefined ? { profile } : {}) });
      // a resolved study must be runnable: known losses/blocks, bounded plan
      const ok = st.ns.length > 0 && st.settings.every((s) => s.losses.length > 0 && s.k >= 1) && (profile !== 'constructor' && profile !== 'toString');
      tally[performance.now() - t0 > 30_000 ? 'hang' : ok ? 'clean' : 'wrong']++;
    } catch (e) {
      tally[e instanceof MoelabError && !/\n/.test(e.message) ? 'clean' : 'stack']++;
    }
  }
  rows.push({ category: 'study config (load)', tally, tried: cases.length });
}

async function storeBattery(): Promise<void> {
  const tally = newTally();
  let tried = 0;
  const cfg = `name: t\nseed: 5\ntruth: authors\nn: [200, 300]\nreplicates: 3\nsettings:\n  - name: e\n    k: 2\n    gate: softmax\n    experts: gaussian\n    tol: 1e-4\n    losses: [D1]\n`;
  const full = join(dir, 'full');
  const s = StudyStore.create(full, loadStudy(cfg));
  await runStudy(s, { inline: true, progress: false });
  s.close();
  const bytes = readFileSync(StudyStore.pathIn(full));
  const size = statSync(StudyStore.pathIn(full)).size;
  const damage = fc.sample(fc.array(fc.tuple(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 60 }), { seed: 45, numRuns: 60 });
  for (const edits of damage) {
    const d = mkdtempSync(join(dir, 'st-'));
    const b = Buffer.from(bytes);
    for (const [at, v] of edits) b[at] = v;
    writeFileSync(StudyStore.pathIn(d), b);
    // is the damaged store sound? (a resume that runs on an unsound store would be a silent success)
    let sound = false;
    try {
      const st = StudyStore.open(d, { readonly: true });
      sound = st.integrity().length === 0 && st.schemaProblems().length === 0;
      st.close();
    } catch {
      sound = false;
    }
    for (const args of [['study', 'status', d, '--json'], ['study', 'export', d, '--csv', join(d, 'x.csv')], ['study', 'report', d, '--no-figures', '--bootstrap', '20'], ['study', 'resume', d, '--inline', '--no-progress']]) {
      tried++;
      const r = await cli(args);
      // a clean status on a store whose quick_check fails would be a silent success
      let valid: boolean | undefined;
      if (args[1] === 'status' && r.code === 0) {
        const st = StudyStore.open(d, { readonly: true });
        valid = st.integrity().length === 0;
        st.close();
      }
      if (args[1] === 'resume' && r.code === 0) valid = sound;
      tally[classify(r, valid)]++;
    }
    rmSync(d, { recursive: true, force: true });
  }
  // paths: a file as --out, a missing parent, a missing dir, a file as the study dir
  writeFileSync(join(dir, 'afile'), 'x');
  writeFileSync(join(dir, 'cfg.yaml'), cfg);
  for (const args of [['study', 'run', join(dir, 'cfg.yaml'), '--out', join(dir, 'afile'), '--inline'], ['study', 'run', join(dir, 'cfg.yaml'), '--out', join(dir, 'afile', 'x'), '--inline'], ['study', 'status', join(dir, 'none')], ['study', 'status', join(dir, 'afile')], ['study', 'export', full, '--csv', join(dir, 'no', 'x.csv')], ['study', 'run', '--preset', '../../x', '--out', join(dir, 'p')]]) {
    tried++;
    tally[classify(await cli(args), false)]++;
  }
  rows.push({ category: 'study store faults', tally, tried });
}

function scaleBattery(): void {
  const tally = newTally();
  const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
  const n = 1000;
  const rng = new Rng(9);
  const X = sampleX({ type: 'uniform', low: 0, high: 1 }, n, 1, rng.split('x'));
  const { y } = truth.sample(X, n, rng.split('y'));
  const spec = { ...truth.spec(), k: 2 };
  const base = fitEM(spec, { X, y, n, d: 1 });
  let tried = 0;
  for (const c of [1e-150, 1e-100, 1e-50, 1e-12, 1e-6, 1e-3, 1e3, 1e6, 1e12, 1e50, 1e100, 1e150]) {
    for (const which of ['x', 'y'] as const) {
      tried++;
      try {
        const r = which === 'y' ? fitEM(spec, { X, y: y.map((v) => v * c), n, d: 1 }) : fitEM(spec, { X: X.map((v) => v * c), y, n, d: 1 });
        const ll = which === 'y' ? r.logLikelihood + n * Math.log(c) : r.logLikelihood;
        const same = Math.abs(ll - base.logLikelihood) <= 1e-8 * Math.abs(base.logLikelihood) && r.converged === base.converged;
        tally[same ? 'clean' : 'wrong']++;
      } catch (e) {
        tally[e instanceof MoelabError ? 'wrong' : 'stack']++;
      }
    }
  }
  // one outlier at 1e12: the floor must not rise to the outlier's scale
  tried++;
  const yo = y.slice();
  yo[0] = 1e12;
  const o = fitEM(spec, { X, y: yo, n, d: 1 });
  const v = o.model.toJSON().experts.variance as number[];
  tally[Math.min(...v) < 1e3 ? 'clean' : 'wrong']++;
  // the other families: x·c + m and y·c + m where the family is closed under it (SSE·c², ℓ − n·log c, same converged)
  const families: { truth: ModelJSON; lse: boolean; y: 'affine' | 'scale' | 'none'; d: number }[] = [
    { truth: { gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[3], [0]] }, experts: { type: 'regression', activation: 'linear', a: [[2], [-1]], b: [0.5, 1], noiseVariance: 0.01 } }, lse: true, y: 'affine', d: 1 },
    { truth: { gate: { type: 'denseToSparse', tau: 1, beta0: [0.5, 0], beta1: [[3], [0]] }, experts: { type: 'regression', activation: 'linear', a: [[2], [-1]], b: [0.5, 1], noiseVariance: 0.01 } }, lse: true, y: 'affine', d: 1 },
    { truth: { gate: { type: 'softmax', beta0: [0.2, 0], beta1: [[3], [0]] }, experts: { type: 'regression', activation: 'relu', a: [[2], [-2]], b: [0.5, 1], noiseVariance: 0.01 } }, lse: true, y: 'scale', d: 1 },
    { truth: { gate: { type: 'softmax', beta0: [0.2, 0], beta1: [[3], [0]] }, experts: { type: 'regression', activation: 'gelu', a: [[2], [-2]], b: [0.5, 1], noiseVariance: 0.01 } }, lse: true, y: 'none', d: 1 },
    { truth: { gate: { type: 'softmax', beta0: [0.3, 0], beta1: [[2, -1.5], [0, 0]] }, experts: { type: 'multinomialLogistic', classes: 3, a: [[1, -0.5, 0], [-1, 0.5, 0]], b: [[[2, 1], [-1, 2], [0, 0]], [[-2, 0.5], [1.5, -2], [0, 0]]] } }, lse: false, y: 'none', d: 2 },
    { truth: { gate: { type: 'activation', sigma: 'tanh', bias: 'inside', tau: 1, beta0: [0.3, 0], beta1: [[3], [0]] }, experts: { type: 'gaussianLinear', a: [[-2], [2]], b: [1, -1], variance: [0.05, 0.1] } }, lse: false, y: 'affine', d: 1 },
  ];
  for (const f of families) {
    const m = MixtureOfExperts.fromJSON(f.truth);
    const fr = new Rng(10);
    const nf = 600;
    const Xf = sampleX({ type: 'uniform', low: -1, high: 1 }, nf, f.d, fr.split('x'));
    const yf = m.sample(Xf, nf, fr.split('y')).y;
    const objective = (X2: Float64Array, y2: Float64Array): { v: number; converged: boolean } => {
      if (f.lse) {
        const r = fitLSE(m.spec(), { X: X2, y: y2, n: nf, d: f.d });
        return { v: r.sse, converged: r.converged };
      }
      const r = fitEM(m.spec(), { X: X2, y: y2, n: nf, d: f.d }, { init: { type: 'model', model: m } });
      return { v: r.logLikelihood, converged: r.converged };
    };
    const b0 = objective(Xf, yf);
    for (const cx of [1e-4, 1e4]) {
      for (const cy of f.y === 'none' ? [1] : [1e-3, 1e5]) {
        tried++;
        try {
          const my = f.y === 'affine' ? 2 * cy : 0;
          const X2 = Xf.map((v) => cx * v + 3 * cx);
          // the multinomial and activation-gate starts are given: map them with the data
          if (!f.lse) {
            const j = m.toJSON();
            const g = j.gate as unknown as { beta0: number[]; beta1: number[][] };
            g.beta0 = g.beta0.map((v, i) => v - g.beta1[i].reduce((s2, w) => s2 + (w / cx) * 3 * cx, 0));
            g.beta1 = g.beta1.map((row) => row.map((w) => w / cx));
            if (j.experts.type === 'multinomialLogistic') {
              const e = j.experts as unknown as { a: number[][]; b: number[][][] };
              e.a = e.a.map((ai, i) => ai.map((v, c2) => v - e.b[i][c2].reduce((s2, w) => s2 + (w / cx) * 3 * cx, 0)));
              e.b = e.b.map((bi) => bi.map((row) => row.map((w) => w / cx)));
            } else {
              const e = j.experts as unknown as { a: number[][]; b: number[]; variance: number[] };
              e.b = e.b.map((v, i) => cy * v + my - e.a[i].reduce((s2, w) => s2 + (cy * w / cx) * 3 * cx, 0));
              e.a = e.a.map((row) => row.map((w) => (cy * w) / cx));
              e.variance = e.variance.map((v) => v * cy * cy);
            }
            const r = fitEM(m.spec(), { X: X2, y: yf.map((v) => cy * v + my), n: nf, d: f.d }, { init: { type: 'model', model: MixtureOfExperts.fromJSON(j) } });
            const same = Math.abs(r.logLikelihood + nf * Math.log(cy) - b0.v) <= 1e-6 * Math.abs(b0.v) && r.converged === b0.converged;
            tally[same ? 'clean' : 'wrong']++;
            continue;
          }
          const r = objective(X2, yf.map((v) => cy * v + my));
          const same = Math.abs(r.v / (cy * cy) - b0.v) <= 1e-6 * Math.abs(b0.v) && r.converged === b0.converged;
          tally[same ? 'clean' : 'wrong']++;
        } catch (e) {
          tally[e instanceof MoelabError ? 'wrong' : 'stack']++;
        }
      }
    }
  }
  rows.push({ category: 'rescaled data (fitEM: Gaussian, multinomial, activation gate; fitLSE: linear, relu, GELU)', tally, tried });
}

async function boundsBattery(): Promise<void> {
  const tally = newTally();
  let tried = 0;
  const big = (over: string): string => `name: b\nseed: 1\ntruth: authors\n${over}settings:\n  - name: s\n    k: 2\n    gate: softmax\n    experts: gaussian\n    losses: [D1]\n`;
  const configs = [
    big('n: { type: linear, from: 100, to: 1000000000, count: 1000000000 }\nreplicates: 2\n'),
    big('n: [200]\nreplicates: 10000000\n'),
    big('n: { type: log, from: 100, to: 1000000000000, count: 3 }\nreplicates: 2\n'),
    big('n: [200, 400]\nreplicates: 2\n').replace('k: 2', 'k: 1000000'),
    big('n: [200, 400]\nreplicates: 2\n').replace('k: 2', 'k: 300'),
    'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n',
  ];
  for (const text of configs) {
    tried++;
    writeFileSync(join(dir, 'big.yaml'), text);
    tally[classify(await cli(['study', 'run', join(dir, 'big.yaml'), '--out', join(dir, 'bigout'), '--inline', '--no-progress']), false)]++;
  }
  writeFileSync(join(dir, 'n2000.csv'), ['x1,y', ...Array.from({ length: 2000 }, (_, i) => `${(i % 97) / 97},${Math.sin(i)}`)].join('\n') + '\n');
  const head = ['y', ...Array.from({ length: 40_000 }, (_, j) => `x${j}`)].join(',');
  writeFileSync(join(dir, 'wide.csv'), [head, ...[0, 1, 2].map((i) => [i, ...Array.from({ length: 40_000 }, (_, j) => (j % 7) / 7)].join(','))].join('\n') + '\n');
  for (const args of [['--data', join(dir, 'n2000.csv'), '--k', '100000'], ['--data', join(dir, 'n2000.csv'), '--k', '300'], ['--data', join(dir, 'n2000.csv'), '--k', '1000000', '--allow-large'], ['--data', join(dir, 'wide.csv'), '--k', '2']]) {
    tried++;
    tally[classify(await cli(['fit', ...args]), false)]++;
  }
  tried++;
  const tl = await cli(['fit', '--data', join(dir, 'n2000.csv'), '--k', '60', '--time-limit', '0.5', '--json']);
  tally[tl.code === 0 && /EM_TIME_LIMIT/.test(tl.stdout) && tl.seconds < 30 ? 'clean' : classify(tl, false)]++;
  rows.push({ category: 'unbounded work', tally, tried });
}

async function namesBattery(): Promise<void> {
  const tally = newTally();
  let tried = 0;
  const base = `name: t\nseed: 7\ntruth: authors\nn: [200, 400]\nreplicates: 2\nprofiles:\n  quick: { replicates: 1 }\nsettings:\n  - name: exact\n    k: 2\n    gate: softmax\n    experts: gaussian\n`;
  const texts = [
    ...['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'].map((e) => `${base}    estimator: ${e}\n    losses: [D1]\n`),
    ...['toString', 'constructor', 'param:nope', 'D1:nope', 'hellinger:a', '__proto__'].map((l) => `${base}    losses: [D1, "${l}"]\n`),
    base.replace('truth: authors', 'truth: constructor') + '    losses: [D1]\n',
  ];
  for (const text of texts) {
    tried++;
    writeFileSync(join(dir, 'n.yaml'), text);
    tally[classify(await cli(['study', 'run', join(dir, 'n.yaml'), '--out', join(dir, `nout-${tried}`), '--inline', '--no-progress', '--limit', '1']), false)]++;
  }
  writeFileSync(join(dir, 'ok.yaml'), `${base}    losses: [D1]\n`);
  for (const p of ['constructor', 'toString', '__proto__']) {
    tried++;
    tally[classify(await cli(['study', 'run', join(dir, 'ok.yaml'), '--profile', p, '--out', join(dir, `pout-${p}`), '--inline', '--no-progress', '--limit', '1']), false)]++;
  }
  for (const p of ['../../x', '/etc/passwd', 'softmax-exact.yaml', 'constructor']) {
    tried++;
    tally[classify(await cli(['study', 'run', '--preset', p, '--out', join(dir, 'pp'), '--inline', '--no-progress', '--limit', '1']), false)]++;
  }
  rows.push({ category: 'unsafe names', tally, tried });
}

mkdirSync(dir, { recursive: true });
await csvBattery();
await modelBattery();
configBattery();
await storeBattery();
scaleBattery();
await boundsBattery();
await namesBattery();
void copyFileSync;
const header = '| category | cases tried | clean | wrong silently | stack trace | hang | crash |';
console.log(header);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.category} | ${r.tried} | ${r.tally.clean} | ${r.tally.wrong} | ${r.tally.stack} | ${r.tally.hang} | ${r.tally.crash} |`);
rmSync(dir, { recursive: true, force: true });
