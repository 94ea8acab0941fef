/**
 * Fast path of `readCsvDataset` for plain numeric CSVs. Hand-written because start-up matters
 * (issue 16): csv-parse with line information takes most of `fit --json` at n = 1e5 (≈ 0.3 s of CPU
 * for 1e5 × 2 cells, mostly allocation and GC), and a file of digits, signs, dots, letters and
 * commas needs no CSV machinery. Anything else — a quote, a byte-order mark, any other character,
 * a lone `\r`, mixed `\n` and `\r\n` line ends, a blank-looking line, ragged rows — returns undefined, and the caller parses the text
 * with csv-parse, so behaviour and error messages on such files are csv-parse's.
 */

/** One record as `readCsvDataset` reads it from csv-parse (`raw: ''`: it spans one line). */
export interface PlainRecord {
  record: string[];
  raw: string;
  info: { lines: number };
}

const PLAIN = /^[\w.,+\- \t\r\n]*$/;

/** Records of `text` (header included, blank lines skipped, cells trimmed), or undefined when it is not plain. */
export function plainRecords(text: string): PlainRecord[] | undefined {
  if (!PLAIN.test(text)) return undefined;
  const lines = text.split('\n');
  const out: PlainRecord[] = [];
  let width = -1;
  let crlf: boolean | undefined;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    const cr = line.endsWith('\r');
    // csv-parse takes the record delimiter from the first line: mixed line ends are its business
    if (i < lines.length - 1) {
      if (crlf === undefined) crlf = cr;
      else if (crlf !== cr) return undefined;
    }
    if (cr) line = line.slice(0, -1);
    if (line === '') continue;
    if (line.includes('\r')) return undefined;
    const cells = line.split(',');
    let blank = true;
    for (let j = 0; j < cells.length; j++) {
      const c = cells[j].trim();
      cells[j] = c;
      if (c !== '') blank = false;
    }
    if (blank) return undefined;
    if (width < 0) width = cells.length;
    else if (cells.length !== width) return undefined;
    out.push({ record: cells, raw: '', info: { lines: i + 1 } });
  }
  return out;
}
