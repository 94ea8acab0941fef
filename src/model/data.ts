/** Datasets and input designs. X is row-major n×d, y has length n. */
import { OptionError } from '../errors.js';
import type { Rng } from '../numeric/rng.js';

export interface Dataset {
  X: Float64Array;
  y: Float64Array;
  n: number;
  d: number;
  /** Column names of X (default x1..xd). */
  xNames?: string[];
  yName?: string;
  /** For class responses: the label of each class code 0..C−1. */
  classLabels?: string[];
  /** For data read from a file: the file line of each row (for messages). */
  sourceLines?: Float64Array;
}

/** How inputs are drawn in simulations. */
export type XDesign =
  | { type: 'uniform'; low: number; high: number }
  | { type: 'grid'; low: number; high: number }
  | { type: 'normal'; mean: number; sd: number };

/** Parse `uniform:0,1`, `grid:0,1`, `normal:0,1` (CLI form). */
export function parseXDesign(spec: string, option = '--x'): XDesign {
  const m = /^(uniform|grid|normal)(?::\s*(-?[\d.eE+-]+)\s*,\s*(-?[\d.eE+-]+))?$/.exec(spec.trim());
  if (!m) throw new OptionError(`${option}: expected uniform:LOW,HIGH, grid:LOW,HIGH or normal:MEAN,SD, got ${JSON.stringify(spec)}`);
  const type = m[1] as XDesign['type'];
  const a = m[2] === undefined ? (type === 'normal' ? 0 : 0) : Number(m[2]);
  const b = m[3] === undefined ? 1 : Number(m[3]);
  if (!Number.isFinite(a) || !Number.isFinite(b)) throw new OptionError(`${option}: bounds must be finite numbers in ${JSON.stringify(spec)}`);
  if (type === 'normal') {
    if (!(b > 0)) throw new OptionError(`${option}: normal sd must be > 0, got ${b}`);
    return { type, mean: a, sd: b };
  }
  if (!(b > a)) throw new OptionError(`${option}: need LOW < HIGH, got ${a},${b}`);
  return { type, low: a, high: b };
}

/**
 * Draw (or lay out) n inputs in R^d. `uniform`: i.i.d. on [low, high]^d. `grid`: for d = 1 the
 * equispaced grid linspace(low, high, n) of the authors' code (math-spec §8.1); for d > 1 a product
 * grid, which needs n to be a perfect d-th power. `normal`: i.i.d. N(mean, sd²) per coordinate.
 */
export function sampleX(design: XDesign, n: number, d: number, rng: Rng): Float64Array {
  const X = new Float64Array(n * d);
  switch (design.type) {
    case 'uniform': {
      const w = design.high - design.low;
      for (let i = 0; i < n * d; i++) X[i] = design.low + w * rng.uniform();
      return X;
    }
    case 'normal': {
      for (let i = 0; i < n * d; i++) X[i] = design.mean + design.sd * rng.normal();
      return X;
    }
    case 'grid': {
      const m = Math.round(Math.pow(n, 1 / d));
      if (Math.pow(m, d) !== n) {
        throw new OptionError(`grid design in d=${d} needs n to be a perfect ${d}-th power (got n=${n}); use uniform instead`);
      }
      const step = m > 1 ? (design.high - design.low) / (m - 1) : 0;
      for (let t = 0; t < n; t++) {
        let r = t;
        for (let u = d - 1; u >= 0; u--) {
          X[t * d + u] = design.low + step * (r % m);
          r = Math.floor(r / m);
        }
      }
      return X;
    }
  }
}
