/** Sample-size grids of a study config (math-spec §8.1): expansion, and count and range without expanding. */
import type { GridInput } from './config-schema.js';

/** Expand a sample-size grid: linear uses the authors' int() truncation of linspace (math-spec §8.1). */
export function expandGrid(g: GridInput): number[] {
  switch (g.type) {
    case 'list':
      return g.values.slice();
    case 'linear': {
      if (g.count === 1) return [g.from];
      const out: number[] = [];
      for (let i = 0; i < g.count; i++) out.push(Math.floor(g.from + ((g.to - g.from) * i) / (g.count - 1) + 1e-9));
      return out;
    }
    case 'log': {
      if (g.count === 1) return [g.from];
      const a = Math.log(g.from);
      const b = Math.log(g.to);
      const out: number[] = [];
      for (let i = 0; i < g.count; i++) out.push(Math.round(Math.exp(a + ((b - a) * i) / (g.count - 1))));
      return out;
    }
    case 'concat':
      return g.parts.flatMap(expandGrid);
  }
}

/** Sorted distinct sample sizes. */
export function sortedDistinct(ns: number[]): number[] {
  return [...new Set(ns)].sort((a, b) => a - b);
}

/** Number of sample sizes of a grid, without expanding it. */
export function gridCount(g: GridInput): number {
  switch (g.type) {
    case 'list':
      return g.values.length;
    case 'linear':
    case 'log':
      return g.count;
    case 'concat':
      return g.parts.reduce((s, p) => s + gridCount(p), 0);
  }
}

/** Smallest and largest sample size of a grid, without expanding it. */
export function gridRange(g: GridInput): { min: number; max: number } {
  switch (g.type) {
    case 'list':
      return { min: Math.min(...g.values), max: Math.max(...g.values) };
    case 'linear':
    case 'log':
      return { min: g.from, max: g.count === 1 ? g.from : g.to };
    case 'concat': {
      const r = g.parts.map(gridRange);
      return { min: Math.min(...r.map((x) => x.min)), max: Math.max(...r.map((x) => x.max)) };
    }
  }
}
