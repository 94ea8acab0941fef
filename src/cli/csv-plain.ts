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

/** A plain CSV whose data cells are all finite decimal numbers: the header and the values, row-major. */
export interface PlainTable {
  header: string[];
  /** 1-based line of the header. */
  headerLine: number;
  rows: number;
  /** rows × header.length values, row-major. */
  values: Float64Array;
  /** 1-based file line of each data row. */
  lines: Float64Array;
}

const enum C { TAB = 9, LF = 10, CR = 13, SPACE = 32, PLUS = 43, COMMA = 44, MINUS = 45, DOT = 46, D0 = 48, D9 = 57, E = 69, e = 101 }

/**
 * The same file as `plainRecords` reads it, when every data cell is a finite decimal (`parseDecimal`'s
 * grammar), as numbers without a string per row or cell (n = 1e5 × 2: ≈ 0.1 s less CPU cold, mostly
 * allocation); undefined otherwise (then `plainRecords` / csv-parse read it, and name the bad cell).
 */
export function plainNumericTable(text: string): PlainTable | undefined {
  const len = text.length;
  // the header is the first line (blank lines before it: left to plainRecords), read by
  // plainRecords (it may hold any plain characters)
  const start = 0;
  const headerLine = 1;
  let eol = text.indexOf('\n', start);
  if (eol < 0) eol = len;
  const head = plainRecords(text.slice(start, eol));
  if (head === undefined || head.length !== 1) return undefined;
  const header = head[0].record;
  const width = header.length;
  // csv-parse takes the record delimiter from the first line: every line but the last must match it
  const crlf = eol > start && eol < len && text.charCodeAt(eol - 1) === C.CR;
  let values = new Float64Array(Math.max(16, width * Math.ceil((len - eol) / (4 * width + 2))));
  let lines = new Float64Array(Math.max(4, values.length / width));
  let rows = 0;
  let line = headerLine;
  let pos = eol + 1;
  while (pos < len) {
    line++;
    let end = text.indexOf('\n', pos);
    const last = end < 0;
    if (last) end = len;
    let stop = end;
    const cr = stop > pos && text.charCodeAt(stop - 1) === C.CR;
    if (!last && cr !== crlf) return undefined;
    if (cr) stop--;
    if (stop === pos) { pos = end + 1; continue; } // an empty line
    if ((rows + 1) * width > values.length) {
      const grown = new Float64Array(values.length * 2);
      grown.set(values);
      values = grown;
    }
    if (rows + 1 > lines.length) {
      const grown = new Float64Array(lines.length * 2);
      grown.set(lines);
      lines = grown;
    }
    // the cells of [pos, stop): trimmed, each a decimal
    let a = pos;
    for (let j = 0; j < width; j++) {
      let b = a;
      while (b < stop && text.charCodeAt(b) !== C.COMMA) b++;
      if ((b === stop) !== (j === width - 1)) return undefined; // ragged row
      const v = decimalCell(text, a, b);
      if (v === undefined) return undefined;
      values[rows * width + j] = v;
      a = b + 1;
    }
    lines[rows] = line;
    rows++;
    pos = end + 1;
  }
  if (rows === 0) return undefined;
  return { header, headerLine, rows, values: values.subarray(0, rows * width), lines: lines.subarray(0, rows) };
}

/** The finite decimal text[a, b) (spaces and tabs around it allowed), or undefined. */
function decimalCell(text: string, a: number, b: number): number | undefined {
  while (a < b && isBlank(text.charCodeAt(a))) a++;
  while (b > a && isBlank(text.charCodeAt(b - 1))) b--;
  let i = a;
  let c = text.charCodeAt(i);
  if (c === C.PLUS || c === C.MINUS) c = text.charCodeAt(++i);
  let digits = 0;
  while (i < b && c >= C.D0 && c <= C.D9) { digits++; c = text.charCodeAt(++i); }
  if (i < b && c === C.DOT) {
    c = text.charCodeAt(++i);
    while (i < b && c >= C.D0 && c <= C.D9) { digits++; c = text.charCodeAt(++i); }
  }
  if (digits === 0) return undefined;
  if (i < b && (c === C.E || c === C.e)) {
    c = text.charCodeAt(++i);
    if (c === C.PLUS || c === C.MINUS) c = text.charCodeAt(++i);
    let exp = 0;
    while (i < b && c >= C.D0 && c <= C.D9) { exp++; c = text.charCodeAt(++i); }
    if (exp === 0) return undefined;
  }
  if (i !== b) return undefined;
  const v = Number(text.slice(a, b));
  return Number.isFinite(v) ? v : undefined;
}

function isBlank(c: number): boolean {
  return c === C.SPACE || c === C.TAB;
}
