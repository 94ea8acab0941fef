import { describe, it, expect } from 'vitest';
import { checkStrongIdentifiability } from '../../src/measure/identifiability.js';
import { parseExpertSpec } from '../../src/experts/registry.js';
import { OptionError } from '../../src/errors.js';

const check = (spec: string, opts: Parameters<typeof checkStrongIdentifiability>[1] = {}): ReturnType<typeof checkStrongIdentifiability> =>
  checkStrongIdentifiability(parseExpertSpec(spec), opts);

describe('strong identifiability (math-spec §5.2)', () => {
  it('linear experts are NOT strongly identifiable (second derivatives vanish; ∂h/∂a ≡ x·∂h/∂b)', () => {
    for (const d of [1, 2]) {
      const r = check('regression:linear', { d });
      expect(r.status).toBe('not identifiable');
      expect(r.identifiable).toBe(false);
      expect(r.zeroFunctions).toContain('∂²h/∂b² [η1]');
      expect(r.merged.some((m) => m.startsWith(d === 1 ? 'x·∂h/∂b [η1] ≡ ∂h/∂a [η1]' : 'x1·∂h/∂b [η1] ≡ ∂h/∂a1 [η1]'))).toBe(true);
      expect(r.ratio).toBe(0);
    }
  });

  for (const act of ['sigmoid', 'tanh', 'gelu']) {
    it(`${act} experts σ(aᵀx + b) are strongly identifiable (k = 1..4, d = 1, 2, several seeds)`, () => {
      for (const d of [1, 2]) {
        for (const k of [1, 2, 3]) {
          for (const seed of [1, 2, 3]) {
            const r = check(`regression:${act}`, { k, d, seed });
            expect(r.status, `${act} d=${d} k=${k} seed=${seed}: ${r.verdict}`).toBe('identifiable');
            expect(r.rank).toBe(r.functions);
            expect(r.zeroFunctions).toEqual([]);
            expect(r.ratio).toBeGreaterThan(1e-8);
          }
        }
      }
      expect(check(`regression:${act}`, { k: 4, d: 2 }).status).toBe('identifiable');
    });
  }

  it('ReLU experts are NOT strongly identifiable: σ″ ≡ 0, so every second derivative vanishes', () => {
    const r = check('regression:relu', { k: 3 });
    expect(r.status).toBe('not identifiable');
    expect(r.zeroFunctions).toHaveLength(3 * 3); // ∂²/∂b², ∂²/∂b∂a, ∂²/∂a² for 3 atoms
  });

  it('with an output weight c, c·σ(aᵀx + b) is NOT strongly identifiable (∂²h/∂c² ≡ 0, ∂²h/∂c∂b = ∂h/∂b / c)', () => {
    for (const act of ['sigmoid', 'tanh', 'gelu']) {
      const r = check(`regression:${act},c`, { k: 2 });
      expect(r.status).toBe('not identifiable');
      expect(r.zeroFunctions).toEqual(['∂²h/∂c² [η1]', '∂²h/∂c² [η2]']);
    }
  });

  it('with the REC terms h, x·h: tanh (d = 1, k = 3) and GELU (d = 2, k = 2) stay identifiable, ReLU does not', () => {
    expect(check('regression:tanh', { k: 3, includeH: true }).status).toBe('identifiable');
    expect(check('regression:gelu', { k: 2, d: 2, includeH: true }).status).toBe('identifiable');
    const relu = check('regression:relu', { k: 2, includeH: true });
    expect(relu.status).toBe('not identifiable');
    expect(relu.candidates).toBe(2 * 9); // h, x·h, 2 first, 3 second derivatives, 2 x·∂h per atom
  });

  it('is deterministic for a seed, and rejects density families and bad options', () => {
    expect(check('regression:gelu', { seed: 5 })).toEqual(check('regression:gelu', { seed: 5 }));
    expect(check('regression:gelu', { seed: 5 }).parameters).not.toEqual(check('regression:gelu', { seed: 6 }).parameters);
    expect(() => check('gaussian')).toThrow(OptionError);
    expect(() => check('regression:gelu', { k: 0 })).toThrow(/k: must be an integer/);
    expect(() => check('regression:gelu', { points: 3 })).toThrow(/points/);
  });
});
