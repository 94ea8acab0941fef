/**
 * The activation table: σ, σ′, σ″ of the scalar non-linearities used by the activation gate
 * (paper P4, σ(β₁ᵀx)/τ logits) and by the regression experts (paper P3, h = σ(aᵀx + b)), written
 * once (math-spec §1.2, §5.1). A function is addressed by its code, its index in
 * `ACTIVATION_FUNCTIONS`; `identity` (the gate's name) is `linear`.
 *
 *   linear:   σ = z,        σ′ = 1,              σ″ = 0
 *   sigmoid:  σ = 1/(1+e^−z), σ′ = σ(1 − σ),      σ″ = σ′(1 − 2σ)   (overflow-free form)
 *   tanh:     σ = tanh z,   σ′ = 1 − σ²,          σ″ = −2σσ′
 *   gelu:     σ = zΦ(z) (exact, erf-based), σ′ = Φ + zφ, σ″ = φ(2 − z²)
 *   relu:     σ = max(z, 0), σ′ = 1[z > 0] (σ′(0) = 0), σ″ ≡ 0 (almost everywhere)
 */
import { normalCdfPdf } from '../numeric/special.js';
import { expNonPositive } from '../numeric/fastmath.js';

export const ACTIVATION_FUNCTIONS = ['linear', 'sigmoid', 'tanh', 'gelu', 'relu'] as const;
export type ActivationFunction = (typeof ACTIVATION_FUNCTIONS)[number];

export const LINEAR = 0;
export const SIGMOID = 1;
export const TANH = 2;
export const GELU = 3;
export const RELU = 4;

/** The code of a function of the table by name (`identity` = `linear`); −1 if unknown. */
export function activationCode(name: string): number {
  return name === 'identity' ? LINEAR : (ACTIVATION_FUNCTIONS as readonly string[]).indexOf(name);
}

/** Scratch for Φ and φ of one argument. */
const PHI = new Float64Array(2);

/** σ(z), σ′(z), σ″(z) into out[0..2]. */
export function activationDerivatives(code: number, z: number, out: Float64Array): void {
  switch (code) {
    case LINEAR:
      out[0] = z; out[1] = 1; out[2] = 0;
      return;
    case SIGMOID: {
      const e = expNonPositive(-Math.abs(z));
      const s = z >= 0 ? 1 / (1 + e) : e / (1 + e);
      const s1 = s * (1 - s);
      out[0] = s; out[1] = s1; out[2] = s1 * (1 - 2 * s);
      return;
    }
    case TANH: {
      const th = Math.tanh(z);
      const s1 = 1 - th * th;
      out[0] = th; out[1] = s1; out[2] = -2 * th * s1;
      return;
    }
    case GELU: {
      normalCdfPdf(z, PHI);
      const P = PHI[0];
      const p = PHI[1];
      out[0] = z * P; out[1] = P + z * p; out[2] = p * (2 - z * z);
      return;
    }
    default: // RELU
      out[0] = z > 0 ? z : 0; out[1] = z > 0 ? 1 : 0; out[2] = 0;
  }
}

/**
 * σ applied in place to U[0..m) (U becomes σ(U)), with σ′ into S1 and σ″ into S2 when given: one
 * long loop per function (the switch sits outside the loop; the same formulas as
 * `activationDerivatives`).
 */
export function activateArray(code: number, U: Float64Array, m: number, S1: Float64Array | null, S2: Float64Array | null): void {
  switch (code) {
    case TANH:
      for (let i = 0; i < m; i++) {
        const s = Math.tanh(U[i]);
        U[i] = s;
        if (S1 !== null) {
          const s1 = 1 - s * s;
          S1[i] = s1;
          if (S2 !== null) S2[i] = -2 * s * s1;
        }
      }
      return;
    case SIGMOID:
      for (let i = 0; i < m; i++) {
        const u = U[i];
        const e = expNonPositive(-Math.abs(u));
        const s = u >= 0 ? 1 / (1 + e) : e / (1 + e);
        U[i] = s;
        if (S1 !== null) {
          const s1 = s * (1 - s);
          S1[i] = s1;
          if (S2 !== null) S2[i] = s1 * (1 - 2 * s);
        }
      }
      return;
    case GELU:
      for (let i = 0; i < m; i++) {
        const u = U[i];
        normalCdfPdf(u, PHI);
        const P = PHI[0];
        U[i] = u * P;
        if (S1 !== null) {
          const p = PHI[1];
          S1[i] = P + u * p;
          if (S2 !== null) S2[i] = p * (2 - u * u);
        }
      }
      return;
    case RELU:
      for (let i = 0; i < m; i++) {
        const u = U[i];
        U[i] = u > 0 ? u : 0;
        if (S1 !== null) S1[i] = u > 0 ? 1 : 0;
      }
      if (S2 !== null) S2.fill(0, 0, m);
      return;
    default: // LINEAR
      if (S1 !== null) S1.fill(1, 0, m);
      if (S2 !== null) S2.fill(0, 0, m);
  }
}
