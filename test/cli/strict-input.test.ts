/**
 * Strict CSV input and output (issue 12, item 3): decimal numbers only, a BOM dropped, messages with
 * file line numbers, duplicate --x refused, and every CSV moelab writes read back identically.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';
import { readCsvDataset, writeCsvDataset, parseNumberOption } from '../../src/cli/io.js';
import { parseDecimal } from '../../src/decimal.js';

let dir = '';
const f = (name: string): string => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'moelab-strict-'));
});

async function expectUserError(args: string[], pattern: RegExp): Promise<void> {
  const r = await runCli(args);
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(pattern);
}

describe('decimal numbers only', () => {
  it('hex, binary, octal, Infinity and blanks are not numbers; decimals in every form are', () => {
    for (const s of ['0x10', '0b11', '0o7', '0X1F', 'Infinity', '-Infinity', 'NaN', '', ' ', '1e999', '1_000', '1,5', '--1', '1e', '.', 'e5', '+']) {
      expect(parseDecimal(s), s).toBeUndefined();
    }
    const ok: [string, number][] = [['0', 0], ['-0.5', -0.5], ['+3', 3], ['.25', 0.25], ['5.', 5], ['1e-300', 1e-300], ['-2.5E+3', -2500], [' 7 ', 7], ['007', 7]];
    for (const [s, v] of ok) expect(parseDecimal(s), s).toBe(v);
    expect(() => parseNumberOption('0x10', '--k', { integer: true })).toThrow(/--k: expected a decimal number, got "0x10"/);
  });

  it('a CSV cell 0x10, 0b11 or 0o7 is refused with its file line', async () => {
    for (const [cell, line] of [['0x10', 3], ['0b11', 2], ['0o7', 4]] as const) {
      const rows = ['x1,y', '0.1,1', '0.2,2', '0.3,3'];
      rows[line - 1] = `${cell},${line}`;
      writeFileSync(f('hex.csv'), rows.join('\n') + '\n');
      expect(() => readCsvDataset(f('hex.csv'))).toThrow(new RegExp(`line ${line}, column x1: "${cell}" is not a finite decimal number`));
    }
  });
});

describe('BOM and line numbers', () => {
  it('a UTF-8 BOM does not hide the first column', () => {
    writeFileSync(f('bom.csv'), '\ufeffx1,y\n0.5,1\n0.25,2\n');
    const d = readCsvDataset(f('bom.csv'));
    expect(d.xNames).toEqual(['x1']);
    expect(Array.from(d.X)).toEqual([0.5, 0.25]);
    writeFileSync(f('bom-y.csv'), '\ufeffy,x1\n1,0.5\n2,0.25\n');
    expect(Array.from(readCsvDataset(f('bom-y.csv')).y)).toEqual([1, 2]);
  });

  it('messages count file lines, across blank lines, CRLF and quoted line breaks', async () => {
    writeFileSync(f('blank.csv'), '\nx1,y\n\n0.1,1\n\n\n0.2,abc\n');
    await expectUserError(['fit', '--data', f('blank.csv'), '--k', '1'], /blank\.csv: line 7, column y: "abc" is not a finite decimal number/);
    writeFileSync(f('crlf.csv'), 'x1,y\r\n\r\n0.1,1\r\n0.2,\r\n');
    expect(() => readCsvDataset(f('crlf.csv'))).toThrow(/line 4, column y: empty cell/);
    writeFileSync(f('quoted.csv'), 'x1,y,note\n0.1,1,"two\nlines"\n0.2,oops,x\n');
    expect(() => readCsvDataset(f('quoted.csv'), { x: ['x1'] })).toThrow(/line 4, column y: "oops"/);
    writeFileSync(f('lab.csv'), 'x1,y\n0.1,cat\n\n0.2,\n');
    expect(() => readCsvDataset(f('lab.csv'), { classes: true })).toThrow(/line 4, column y: empty class label/);
  });

  it('mixed line ends (CRLF and LF in one file) give one record per line, with file line numbers', async () => {
    // a CRLF header then LF rows: csv-parse alone merged the rows into the one label "a\nb\nc"
    writeFileSync(f('mixed-labels.csv'), 'x,y\r\n0.1,a\n0.2,b\n0.3,a\n');
    const d = readCsvDataset(f('mixed-labels.csv'), { classes: true });
    expect(d.n).toBe(3);
    expect(d.classLabels).toEqual(['a', 'b']);
    expect(Array.from(d.y)).toEqual([0, 1, 0]);
    // an LF file with one CRLF line: later line numbers are not shifted
    writeFileSync(f('mixed-lines.csv'), 'x1,y\n0.1,1\r\n0.2,1\n0.3,abc\n');
    await expectUserError(['fit', '--data', f('mixed-lines.csv'), '--k', '1'], /mixed-lines\.csv: line 4\b/);
  });

  it('--x naming a column twice is refused', async () => {
    writeFileSync(f('two.csv'), 'x1,x2,y\n0.1,0.2,1\n0.3,0.4,2\n');
    await expectUserError(['fit', '--data', f('two.csv'), '--k', '1', '--x', 'x1,x1'], /--x: the input column "x1" is listed twice/);
  });
});

describe('CSV round trip', () => {
  it('simulate writes class labels with commas, quotes, line breaks and spaces so that fit reads them back', async () => {
    const labels = ['a,b', 'say "hi"', 'two\nlines', ' padded '];
    const model = {
      gate: { type: 'softmax', beta0: [0, 0], beta1: [[1], [0]] },
      experts: { type: 'multinomialLogistic', classes: 4, labels, a: [[0.1, 0.2, 0.3, 0], [0.3, -0.2, 0.1, 0]], b: [[[1], [0], [-1], [0]], [[0], [1], [0], [0]]] },
    };
    writeFileSync(f('mn.json'), JSON.stringify(model));
    const r = await runCli(['simulate', '--model', f('mn.json'), '--n', '400', '--seed', '2', '--out', f('mn.csv')]);
    expect(r.code, r.stderr).toBe(0);
    const d = readCsvDataset(f('mn.csv'), { classes: true });
    expect(d.n).toBe(400);
    expect(new Set(d.classLabels)).toEqual(new Set(labels));
    const fit = await runCli(['fit', '--data', f('mn.csv'), '--k', '1', '--expert', 'multinomial', '--json']);
    expect(fit.code, fit.stderr).toBe(0);
    expect(new Set((JSON.parse(fit.stdout) as { model: { experts: { labels: string[] } } }).model.experts.labels)).toEqual(new Set(labels));
  });

  it('property: any labels and doubles written by writeCsvDataset read back identically (seeded)', () => {
    const label = fc.string({ unit: fc.constantFrom('a', 'b', ',', '"', '\n', '\r', ' ', 'é', '\t', '1', '.', '#', '\ufeff'), minLength: 1, maxLength: 6 });
    const num = fc.double({ noNaN: true, noDefaultInfinity: true });
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.uniqueArray(label, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.array(num, { minLength: 3, maxLength: 3 }), fc.nat()), { minLength: 1, maxLength: 12 }),
      (d, labs, rows) => {
        const n = rows.length;
        const X = new Float64Array(n * d);
        const y = new Float64Array(n);
        rows.forEach(([xs, c], t) => { for (let u = 0; u < d; u++) X[t * d + u] = xs[u]; y[t] = c % labs.length; });
        const path = f('prop.csv');
        writeCsvDataset(path, { X, y, n, d }, labs);
        const back = readCsvDataset(path, { classes: true });
        expect(back.n).toBe(n);
        expect(Array.from(back.X)).toEqual(Array.from(X));
        const got = Array.from(back.y, (c) => (back.classLabels as string[])[c]);
        expect(got).toEqual(Array.from(y, (c) => labs[c]));
        // numeric responses too
        writeCsvDataset(path, { X, y: X.subarray(0, n), n, d });
        expect(Array.from(readCsvDataset(path).y)).toEqual(Array.from(X.subarray(0, n)));
      },
    ), { seed: 12, numRuns: 150 });
  });

  it('the written file is RFC 4180: a comma inside a label is quoted', () => {
    writeCsvDataset(f('q.csv'), { X: Float64Array.of(1), y: Float64Array.of(0), n: 1, d: 1 }, ['a,b']);
    expect(readFileSync(f('q.csv'), 'utf8')).toBe('x1,y\n1,"a,b"\n');
  });

  it('a model with an empty label is refused (an empty cell reads as missing)', async () => {
    writeFileSync(f('mn0.json'), JSON.stringify({
      gate: { type: 'softmax', beta0: [0, 0], beta1: [[1], [0]] },
      experts: { type: 'multinomialLogistic', classes: 2, labels: ['', 'b'], a: [[0.1, 0], [0.3, 0]], b: [[[1], [0]], [[0], [0]]] },
    }));
    await expectUserError(['simulate', '--model', f('mn0.json'), '--n', '10', '--out', f('z.csv')], /experts\.labels\[0\]: must not be empty/);
  });
});
