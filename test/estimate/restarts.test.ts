import { describe, it, expect } from 'vitest';
import { bestOf } from '../../src/estimate/restarts.js';
import { OptionError } from '../../src/errors.js';

// The one restart loop of EM (bestOfRestarts) and least squares (fitLSE, the scale wrapper's mapped starts).
describe('bestOf (restarts.ts)', () => {
  const values = [3, 1, 2, 1];

  it('keeps the best objective in either direction (the first of equal ones) and records every objective', () => {
    const min = bestOf({ restarts: 4, direction: 'min', objective: (r: { v: number; r: number }) => r.v, prepare: (r) => r, run: (r, p) => ({ v: values[p], r }) });
    expect(min.best).toEqual({ v: 1, r: 1 }); // restart 3 ties and does not replace it
    expect(min.objectives).toEqual(values);
    const max = bestOf({ restarts: 4, direction: 'max', objective: (r: { v: number }) => r.v, prepare: () => undefined, run: (r) => ({ v: values[r] }) });
    expect(max.best.v).toBe(3);
    expect(max.warnings).toEqual([]);
  });

  it('a failing run is a failed restart (±Infinity, RESTART_FAILED); a failing preparation propagates; one restart propagates', () => {
    const failing = (r: number): { v: number } => {
      if (r === 0) throw new Error('no start');
      return { v: values[r] };
    };
    const min = bestOf({ restarts: 3, direction: 'min', objective: (x: { v: number }) => x.v, prepare: () => undefined, run: failing });
    expect(min.objectives).toEqual([Infinity, 1, 2]);
    expect(min.warnings.map((w) => [w.code, w.message])).toEqual([['RESTART_FAILED', 'restart 1: no start']]);
    const max = bestOf({ restarts: 2, direction: 'max', objective: (x: { v: number }) => x.v, prepare: () => undefined, run: failing });
    expect(max.objectives).toEqual([-Infinity, 1]);
    expect(() => bestOf({ restarts: 3, direction: 'min', objective: (x: { v: number }) => x.v, prepare: (r) => { if (r === 1) throw new Error('bad prepare'); return r; }, run: (r) => ({ v: r }) })).toThrow('bad prepare');
    expect(() => bestOf({ restarts: 1, direction: 'min', objective: (x: { v: number }) => x.v, prepare: () => undefined, run: failing })).toThrow('no start');
    expect(() => bestOf({ restarts: 2, direction: 'min', objective: (x: { v: number }) => x.v, prepare: () => undefined, run: () => { throw new Error('x'); } })).toThrow(OptionError);
  });

  it('stop is asked before every restart after the first; onRestart after each success', () => {
    const asked: number[] = [];
    const done: number[] = [];
    const out = bestOf({
      restarts: 5,
      direction: 'min',
      objective: (x: { v: number }) => x.v,
      prepare: () => undefined,
      run: (r) => ({ v: 10 - r }),
      stop: (r) => { asked.push(r); return r === 3; },
      onRestart: (r) => done.push(r),
    });
    expect(asked).toEqual([1, 2, 3]);
    expect(done).toEqual([0, 1, 2]);
    expect(out.objectives).toEqual([10, 9, 8]);
    expect(out.best.v).toBe(8);
  });
});
