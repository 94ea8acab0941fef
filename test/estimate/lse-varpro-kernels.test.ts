import { describe, it, expect } from 'vitest';
import { LSEWorkspace } from '../../src/estimate/lse.js';
import { VarproProblem } from '../../src/estimate/lse-varpro.js';
import { varproKernelShape } from '../../src/estimate/lse-varpro-kernels.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { sampleX } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { initialise } from '../../src/estimate/init.js';

// The compiled d = 1 passes of variable projection (lse-varpro-kernels.ts) against the loops of
// lse-varpro.ts: the same operations in the same order, so the same bits (value, reduced Gauss–Newton
// system, reduced exact Hessian, the projected experts), for k = 2 … 4 and several gate points.
describe('variable projection: compiled passes = loop passes, bit for bit', () => {
  it('k = 2, 3, 4 (d = 1): S_r, JᵀJ_r, Jᵀe_r, the reduced Hessian and η* identical', () => {
    const truth = MixtureOfExperts.fromJSON({
      gate: { type: 'softmax', beta0: [-0.5, 0], beta1: [[3], [0]] },
      experts: { type: 'regression', activation: 'linear', a: [[2], [-3]], b: [1, 0.5], noiseVariance: 0.04 },
    });
    const rng = new Rng(11);
    const n = 1500;
    const X = sampleX({ type: 'uniform', low: -3, high: 3 }, n, 1, rng.split('x'));
    const data = { X, y: truth.sample(X, n, rng.split('y')).y, n, d: 1 };
    expect(varproKernelShape(3, 1)).toBe(true);
    expect(varproKernelShape(3, 2)).toBe(false);
    for (const k of [2, 3, 4]) {
      const model = MixtureOfExperts.fromSpec({ ...truth.spec(), k });
      const theta0 = initialise(model, data, { type: 'nearTruth', truth }, new Rng(k), {});
      const pG = model.gate.nParams;
      const fast = new VarproProblem(model, data, new LSEWorkspace(model, n), theta0, 1e-6);
      const loops = new VarproProblem(model, data, new LSEWorkspace(model, n), theta0, 1e-6, false, true);
      for (let s = 0; s < 4; s++) {
        const x = theta0.slice(0, pG);
        for (let i = 0; i < pG; i++) x[i] += 0.4 * s * Math.sin(3 * i + s + 1);
        expect(fast.value(x)).toBe(loops.value(x));
        expect(Array.from(fast.full(x))).toEqual(Array.from(loops.full(x)));
        const [A1, b1, A2, b2] = [new Float64Array(pG * pG), new Float64Array(pG), new Float64Array(pG * pG), new Float64Array(pG)];
        expect(fast.normal(x, A1, b1)).toBe(loops.normal(x, A2, b2));
        expect(Array.from(A1)).toEqual(Array.from(A2));
        expect(Array.from(b1)).toEqual(Array.from(b2));
        const hf = fast.hessian;
        const hl = loops.hessian;
        if (!hf || !hl) throw new Error('no Hessian');
        expect(hf(x, A1, b1)).toBe(hl(x, A2, b2));
        expect(Array.from(A1)).toEqual(Array.from(A2));
        expect(Array.from(b1)).toEqual(Array.from(b2));
        expect(A1.some((v) => v !== 0)).toBe(true);
      }
    }
  });
});
