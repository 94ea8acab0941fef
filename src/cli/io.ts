/** File input/output for the CLI: CSV datasets and model JSON files, with one-line errors. */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { DataError, ModelFormatError, OptionError } from '../errors.js';
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts } from '../model/model.js';

function readText(path: string, what: string): string {
  try {
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
}

/** Read a CSV with a header row into a Dataset; errors name the file, row (1-based, header = row 1) and column. */
export function readCsvDataset(path: string, opts: CsvReadOptions = {}): Dataset {
  const text = readText(path, 'data file');
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: false }) as string[][];
  } catch (e) {
    throw new DataError(`${path}: ${(e as Error).message}`);
  }
  if (rows.length === 0) throw new DataError(`${path}: the file is empty (expected a header row)`);
  const header = rows[0];
  const seen = new Set<string>();
  header.forEach((h, j) => {
    if (h === '') throw new DataError(`${path}: header column ${j + 1} is empty`);
    if (seen.has(h)) throw new DataError(`${path}: header has the column ${JSON.stringify(h)} twice`);
    seen.add(h);
  });
  const yName = opts.y ?? 'y';
  const yCol = header.indexOf(yName);
  if (yCol < 0) throw new DataError(`${path}: no response column ${JSON.stringify(yName)} (columns: ${header.join(', ')})`);
  const xNames = opts.x ?? header.filter((_, j) => j !== yCol);
  if (xNames.length === 0) throw new DataError(`${path}: no input columns besides ${JSON.stringify(yName)}`);
  const xCols = xNames.map((name) => {
    const j = header.indexOf(name);
    if (j < 0) throw new DataError(`${path}: no input column ${JSON.stringify(name)} (columns: ${header.join(', ')})`);
    if (j === yCol) throw new DataError(`${path}: column ${JSON.stringify(name)} is the response and cannot also be an input`);
    return j;
  });
  const n = rows.length - 1;
  if (n === 0) throw new DataError(`${path}: no data rows after the header`);
  const d = xCols.length;
  const X = new Float64Array(n * d);
  const y = new Float64Array(n);
  const num = (s: string, r: number, name: string): number => {
    if (s === '') throw new DataError(`${path}: row ${r + 1}, column ${name}: empty cell`);
    const v = Number(s);
    if (!Number.isFinite(v)) throw new DataError(`${path}: row ${r + 1}, column ${name}: ${JSON.stringify(s)} is not a finite number`);
    return v;
  };
  for (let r = 1; r <= n; r++) {
    const row = rows[r];
    for (let u = 0; u < d; u++) X[(r - 1) * d + u] = num(row[xCols[u]], r, xNames[u]);
  }
  let classLabels: string[] | undefined;
  if (opts.classes) {
    const labels = rows.slice(1).map((row, i) => {
      const s = row[yCol];
      if (s === '') throw new DataError(`${path}: row ${i + 2}, column ${yName}: empty class label`);
      return s;
    });
    const distinct = [...new Set(labels)];
    const allNumeric = distinct.every((s) => Number.isFinite(Number(s)));
    classLabels = allNumeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct;
    const code = new Map(classLabels.map((s, i) => [s, i]));
    labels.forEach((s, i) => { y[i] = code.get(s) ?? -1; });
  } else {
    for (let r = 1; r <= n; r++) y[r - 1] = num(rows[r][yCol], r, yName);
  }
  return { X, y, n, d, xNames, yName, classLabels };
}

/** Write x1..xd,y (or the given names) as CSV, atomically (temp file + rename). */
export function writeCsvDataset(path: string, data: Dataset, yLabels?: string[]): void {
  const names = data.xNames ?? Array.from({ length: data.d }, (_, i) => `x${i + 1}`);
  const lines: string[] = [[...names, data.yName ?? 'y'].join(',')];
  for (let t = 0; t < data.n; t++) {
    const cells: string[] = [];
    for (let u = 0; u < data.d; u++) cells.push(String(data.X[t * data.d + u]));
    cells.push(yLabels ? yLabels[data.y[t]] : String(data.y[t]));
    lines.push(cells.join(','));
  }
  writeAtomic(path, lines.join('\n') + '\n');
}

export function writeAtomic(path: string, text: string): void {
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
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v)) throw new OptionError(`${option}: expected a number, got ${JSON.stringify(value)}`);
  if (opts.integer && !Number.isInteger(v)) throw new OptionError(`${option}: expected an integer, got ${value}`);
  if (opts.min !== undefined && v < opts.min) throw new OptionError(`${option}: must be ≥ ${opts.min}, got ${value}`);
  if (opts.positive && !(v > 0)) throw new OptionError(`${option}: must be > 0, got ${value}`);
  return v;
}
