/** File input/output for the CLI: CSV datasets and model JSON files, with one-line errors. */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { DataError, ModelFormatError, OptionError, type Dataset, MixtureOfExperts } from '../core.js';
import { readStdinSync, parseDecimal, isDecimal } from '../internal.js';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { plainNumericTable, plainRecords } from './csv-plain.js';

let stdinText: string | undefined;


/**
 * The text of a file, or of standard input when `path` is `-` (read once and kept, so that `-` may
 * be named by two options of one command).
 */
export function readText(path: string, what: string): string {
  try {
    if (path === '-') return (stdinText ??= readStdinSync());
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OptionError(`${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : ((e as Error).message)}`);
  }
}

export interface CsvReadOptions {
  /** Response column (default `y`). */
  y?: string;
  /** Input columns (default: every other column). */
  x?: string[];
  /** Keep the response as class labels (codes 0..C−1 in order of first appearance, or numeric order when all labels are numbers). */
  classes?: boolean;
  /** The response column may be missing (`predict`): the Dataset then has an empty y (length 0). */
  yOptional?: boolean;
}

/**
 * Read a CSV with a header row into a Dataset. Strict: a UTF-8 byte-order mark is dropped, cells are
 * decimal numbers only (no hex, octal, binary, Infinity or NaN), input columns must be distinct, and
 * every error names the file, its line number (counting blank lines, 1-based: the header is the first
 * non-blank line) and the column.
 */
/** Every line end counts, even mixed in one file: csv-parse otherwise guesses one from the first line and reads the other kind as cell text (rows merged into one label). */
const RECORD_DELIMITERS = ['\r\n', '\n'];

export function readCsvDataset(path: string, opts: CsvReadOptions = {}): Dataset {
  const text = readText(path, 'data file');
  // numbers only (the common case): read without a string per cell (csv-plain.ts)
  const table = opts.classes ? undefined : plainNumericTable(text);
  let records: { record: string[]; raw: string; info: { lines: number } }[] = [];
  if (!table) try {
    records = plainRecords(text) ?? parse(text, { bom: true, skip_empty_lines: true, trim: true, relax_column_count: false, info: true, raw: true, record_delimiter: RECORD_DELIMITERS }) as unknown as typeof records;
  } catch (e) {
    throw new DataError(`${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!table && records.length === 0) throw new DataError(`${path}: the file is empty (expected a header row)`);
  // csv-parse reports the line where a record ends; a record starts after its leading blank lines
  // and spans as many lines as it has line breaks inside quoted cells
  const lineOf = (i: number): number => {
    if (table) return i === 0 ? table.headerLine : table.lines[i - 1];
    const r = records[i];
    if (r.raw === '') return r.info.lines; // the plain fast path: a record is one line
    const body = r.raw.replace(/^[\r\n]+/, '').replace(/\r?\n$/, '');
    return r.info.lines - (body.match(/\n/g)?.length ?? 0);
  };
  const header = table ? table.header : records[0].record;
  const seen = new Set<string>();
  header.forEach((h, j) => {
    if (h === '') throw new DataError(`${path}: line ${lineOf(0)}: header column ${j + 1} is empty`);
    if (seen.has(h)) throw new DataError(`${path}: line ${lineOf(0)}: header has the column ${JSON.stringify(h)} twice`);
    seen.add(h);
  });
  const yName = opts.y ?? 'y';
  const colOf = new Map(header.map((h, j) => [h, j]));
  const yCol = colOf.get(yName) ?? -1;
  if (yCol < 0 && !opts.yOptional) throw new DataError(`${path}: no response column ${JSON.stringify(yName)} (columns: ${header.join(', ')})`);
  const xNames = opts.x ?? header.filter((_, j) => j !== yCol);
  if (xNames.length === 0) throw new DataError(`${path}: no input columns besides ${JSON.stringify(yName)}`);
  const xSeen = new Set<string>();
  const xCols = xNames.map((name) => {
    if (xSeen.has(name)) throw new DataError(`--x: the input column ${JSON.stringify(name)} is listed twice`);
    xSeen.add(name);
    const j = colOf.get(name) ?? -1;
    if (j < 0) throw new DataError(`${path}: no input column ${JSON.stringify(name)} (columns: ${header.join(', ')})`);
    if (j === yCol) throw new DataError(`${path}: column ${JSON.stringify(name)} is the response and cannot also be an input`);
    return j;
  });
  const n = table ? table.rows : records.length - 1;
  if (n === 0) throw new DataError(`${path}: no data rows after the header`);
  const d = xCols.length;
  const X = new Float64Array(n * d);
  const y = new Float64Array(n);
  const lines = new Float64Array(n);
  const num = (s: string, r: number, name: string): number => {
    if (s === '') throw new DataError(`${path}: line ${lineOf(r)}, column ${name}: empty cell`);
    const v = parseDecimal(s);
    if (v === undefined) throw new DataError(`${path}: line ${lineOf(r)}, column ${name}: ${JSON.stringify(s)} is not a finite decimal number`);
    return v;
  };
  if (table) {
    const { values } = table;
    const w = header.length;
    lines.set(table.lines);
    for (let t = 0; t < n; t++) for (let u = 0; u < d; u++) X[t * d + u] = values[t * w + xCols[u]];
    if (yCol >= 0) for (let t = 0; t < n; t++) y[t] = values[t * w + yCol];
    return { X, y: yCol >= 0 ? y : new Float64Array(0), n, d, xNames, yName, sourceLines: lines };
  }
  for (let r = 1; r <= n; r++) {
    const row = records[r].record;
    lines[r - 1] = lineOf(r);
    for (let u = 0; u < d; u++) X[(r - 1) * d + u] = num(row[xCols[u]], r, xNames[u]);
  }
  let classLabels: string[] | undefined;
  if (yCol < 0) {
    return { X, y: new Float64Array(0), n, d, xNames, yName, sourceLines: lines };
  } else if (opts.classes) {
    const labels = records.slice(1).map((rec, i) => {
      const s = rec.record[yCol];
      if (s === '') throw new DataError(`${path}: line ${lineOf(i + 1)}, column ${yName}: empty class label`);
      return s;
    });
    const distinct = [...new Set(labels)];
    const allNumeric = distinct.every(isDecimal);
    classLabels = allNumeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct;
    const code = new Map(classLabels.map((s, i) => [s, i]));
    labels.forEach((s, i) => { y[i] = code.get(s) ?? -1; });
  } else {
    for (let r = 1; r <= n; r++) y[r - 1] = num(records[r].record[yCol], r, yName);
  }
  return { X, y, n, d, xNames, yName, classLabels, sourceLines: lines };
}

/** The file line of data row t (0-based), or the record number when the data did not come from a file. */
export function rowLine(data: Dataset, t: number): string {
  return data.sourceLines ? `line ${data.sourceLines[t]}` : `row ${t + 2}`;
}

/**
 * Write x1..xd,y (or the given names) as CSV, atomically (temp file + rename). Cells are written by
 * csv-stringify (RFC 4180 quoting: labels with commas, quotes or line breaks are quoted, and so are
 * labels with leading or trailing spaces, which the reader would otherwise trim); numbers in the
 * shortest form that reads back to the same double. `readCsvDataset` reads the file back identically.
 */
export function writeCsvDataset(path: string, data: Dataset, yLabels?: string[]): void {
  const names = data.xNames ?? Array.from({ length: data.d }, (_, i) => `x${i + 1}`);
  const rows: string[][] = [[...names, data.yName ?? 'y']];
  for (let t = 0; t < data.n; t++) {
    const cells: string[] = [];
    for (let u = 0; u < data.d; u++) cells.push(numberCell(data.X[t * data.d + u]));
    cells.push(yLabels ? yLabels[data.y[t]] : numberCell(data.y[t]));
    rows.push(cells);
  }
  writeAtomic(path, csvText(rows));
}

/** Shortest decimal that reads back to the same double (−0 included). */
export function numberCell(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

/** CSV text of string cells (csv-stringify, `\n` line ends, quoting as in `writeCsvDataset`). */
export function csvText(rows: readonly (readonly string[])[]): string {
  return stringify(rows as string[][], { quoted_match: /^\s|\s$|^\uFEFF/, record_delimiter: 'unix' });
}

/** Write `text` to a file atomically (temp file + rename), or to standard output when `path` is `-`. */
export function writeAtomic(path: string, text: string): void {
  if (path === '-') {
    process.stdout.write(text);
    return;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Read a model JSON file (a `fit --json` output is accepted too); errors name file and field. */
export function readModelFile(path: string, what = 'model file'): MixtureOfExperts {
  const text = readText(path, what);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  try {
    return MixtureOfExperts.fromJSON(json);
  } catch (e) {
    if (e instanceof ModelFormatError) throw new ModelFormatError(`${path}: ${e.message}`);
    throw e;
  }
}

/** Parse a number option strictly; names the option in the error. */
export function parseNumberOption(value: string, option: string, opts: { integer?: boolean; min?: number; positive?: boolean } = {}): number {
  const v = parseDecimal(value);
  if (v === undefined) throw new OptionError(`${option}: expected a decimal number, got ${JSON.stringify(value)}`);
  if (opts.integer && !Number.isInteger(v)) throw new OptionError(`${option}: expected an integer, got ${value}`);
  if (opts.min !== undefined && v < opts.min) throw new OptionError(`${option}: must be ≥ ${opts.min}, got ${value}`);
  if (opts.positive && !(v > 0)) throw new OptionError(`${option}: must be > 0, got ${value}`);
  return v;
}
