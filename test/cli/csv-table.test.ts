import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { plainNumericTable, plainRecords } from '../../src/cli/csv-plain.js';
import { parseDecimal } from '../../src/decimal.js';

/** What readCsvDataset reads through plainRecords: header, values (undefined if a cell is not a decimal), lines. */
function viaRecords(text: string): { header: string[]; values: number[]; lines: number[] } | undefined {
  const recs = plainRecords(text);
  if (!recs || recs.length < 2) return undefined;
  const values: number[] = [];
  for (const r of recs.slice(1)) for (const c of r.record) {
    const v = parseDecimal(c);
    if (v === undefined) return undefined;
    values.push(v);
  }
  return { header: recs[0].record, values, lines: recs.slice(1).map((r) => r.info.lines) };
}

describe('plainNumericTable (the numbers-only CSV path of readCsvDataset)', () => {
  const num = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), fc.integer().map(String), fc.constantFrom('-0', '1.', '.5', '+3', '1e-5', '2E+10', '-.25e3'));
  const bad = fc.constantFrom('', 'x', '1e', '.', '+', '1 2', '0x10', 'Infinity', '1e999', '--1', '1.2.3');
  const pad = fc.constantFrom('', ' ', '\t');
  it('reads what plainRecords + parseDecimal read (values bit for bit, lines), or leaves the file to them', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }).chain((w) => fc.tuple(
        fc.array(fc.constantFrom('x1', 'y', 'a_b', 'z'), { minLength: w, maxLength: w }),
        fc.array(fc.tuple(fc.array(fc.tuple(pad, fc.oneof({ weight: 20, arbitrary: num }, { weight: 1, arbitrary: bad }), pad), { minLength: w, maxLength: w }), fc.nat(2)), { minLength: 1, maxLength: 10 }),
      )),
      fc.boolean(), fc.boolean(),
      ([head, rows], crlf, trailing) => {
        const eol = crlf ? '\r\n' : '\n';
        const body = rows.map(([cells, blanks]) => eol.repeat(blanks) + cells.map(([a, c, b]) => a + c + b).join(',')).join(eol);
        const text = head.join(',') + eol + body + (trailing ? eol : '');
        const want = viaRecords(text);
        const got = plainNumericTable(text);
        if (want === undefined) {
          expect(got).toBeUndefined();
          return;
        }
        expect(got).toBeDefined();
        expect(got!.header).toEqual(want.header);
        expect(got!.headerLine).toBe(1);
        expect(Array.from(got!.lines)).toEqual(want.lines);
        expect(got!.values.length).toBe(want.values.length);
        want.values.forEach((v, i) => expect(Object.is(got!.values[i], v)).toBe(true));
      },
    ), { numRuns: 300, seed: 5 });
  });

  it('leaves blank lines before the header, ragged rows, mixed line ends, quotes and other characters to the general path', () => {
    for (const text of ['\nx,y\n1,2\n', 'x,y\n1,2,3\n', 'x,y\n1\n', 'x,y\n1,2\r\n3,4\n', 'x,y\r\n1,2\n3,4\r\n', 'x,y\n"1",2\n', '\uFEFFx,y\n1,2\n', 'x,y\n1;2,3\n', 'x,y\n \n1,2\n', 'x,y\n1,2\r3,4\n', 'x,y\n', '']) {
      expect(plainNumericTable(text), JSON.stringify(text)).toBeUndefined();
    }
    const t = plainNumericTable('x1,y\r\n1,2\r\n\r\n-0,1e3\r\n')!;
    expect(Array.from(t.lines)).toEqual([2, 4]);
    expect(Object.is(t.values[2], -0)).toBe(true);
    expect(t.values[3]).toBe(1000);
  });
});
