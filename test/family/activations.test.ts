import { describe, it, expect } from 'vitest';
import { ACTIVATION_FUNCTIONS, activateArray, activationCode, activationDerivatives, LINEAR } from '../../src/family/activations.js';
import { ACTIVATIONS as GATE_ACTIVATIONS } from '../../src/gates/activation.js';
import { ACTIVATIONS as EXPERT_ACTIVATIONS } from '../../src/experts/regression.js';

const Z = [-6.5, -3.1, -1.2, -0.4, -1e-3, 0.37, 1.5, 2.8, 7.25];

describe('the activation table (σ, σ′, σ″ shared by the activation gate and the regression experts)', () => {
  it.each(ACTIVATION_FUNCTIONS.map((name) => [name]))('%s: σ′ and σ″ match central differences of σ and σ′', (name) => {
    const code = activationCode(name);
    const s = new Float64Array(3);
    const sp = new Float64Array(3);
    const sm = new Float64Array(3);
    const h = 1e-5;
    for (const z of Z) {
      activationDerivatives(code, z, s);
      activationDerivatives(code, z + h, sp);
      activationDerivatives(code, z - h, sm);
      expect(Math.abs(s[1] - (sp[0] - sm[0]) / (2 * h)), `${name} σ′(${z})`).toBeLessThan(1e-9);
      expect(Math.abs(s[2] - (sp[1] - sm[1]) / (2 * h)), `${name} σ″(${z})`).toBeLessThan(1e-9);
    }
  });

  it('known values: sigmoid(0) = ½, tanh(1), gelu(1) = Φ(1), relu, linear', () => {
    const s = new Float64Array(3);
    activationDerivatives(activationCode('sigmoid'), 0, s);
    expect([...s]).toEqual([0.5, 0.25, 0]);
    activationDerivatives(activationCode('tanh'), 1, s);
    expect(s[0]).toBeCloseTo(0.7615941559557649, 15);
    expect(s[1]).toBeCloseTo(0.41997434161402614, 15);
    activationDerivatives(activationCode('gelu'), 1, s);
    expect(s[0]).toBeCloseTo(0.8413447460685429, 15);
    activationDerivatives(activationCode('relu'), -2, s);
    expect([...s]).toEqual([0, 0, 0]);
    activationDerivatives(activationCode('relu'), 0, s);
    expect(s[1]).toBe(0); // σ′(0) = 0 by convention
    activationDerivatives(activationCode('linear'), -3, s);
    expect([...s]).toEqual([-3, 1, 0]);
    // far tails: no overflow, no NaN
    activationDerivatives(activationCode('sigmoid'), -800, s);
    expect(s[0]).toBe(0);
    expect(Number.isNaN(s[2])).toBe(false);
  });

  it('the array form equals the scalar form bit for bit, with and without derivatives', () => {
    for (const name of ACTIVATION_FUNCTIONS) {
      const code = activationCode(name);
      const U = Float64Array.from(Z);
      const S1 = new Float64Array(Z.length);
      const S2 = new Float64Array(Z.length);
      activateArray(code, U, Z.length, S1, S2);
      const V = Float64Array.from(Z);
      activateArray(code, V, Z.length, null, null);
      const s = new Float64Array(3);
      Z.forEach((z, i) => {
        activationDerivatives(code, z, s);
        expect([U[i], S1[i], S2[i], V[i]], `${name}(${z})`).toEqual([s[0], s[1], s[2], s[0]]);
      });
    }
  });

  it('both families name functions of this one table (the gate’s identity is linear)', () => {
    expect(activationCode('identity')).toBe(LINEAR);
    expect(activationCode('softplus')).toBe(-1);
    for (const name of [...GATE_ACTIVATIONS, ...EXPERT_ACTIVATIONS]) expect(activationCode(name), name).toBeGreaterThanOrEqual(0);
  });
});
