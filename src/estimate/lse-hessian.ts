/**
 * The exact Hessian of S/2 = ½ Σ_t (y_t − f_G(x_t))² for a softmax gate with regression experts
 * (P3, math-spec §5.1, §9.3), in one pass over the rows, for the Newton phase of
 * Levenberg–Marquardt (src/numeric/lm.ts), which otherwise forms it from p forward differences of
 * the gradient (p passes):
 *
 *   ∇²(S/2) = Σ_t J_tᵀJ_t − Σ_t e_t ∇²f_t,   e_t = y_t − f_t,
 *
 * with f = Σᵢ πᵢ hᵢ, softmax logits z_j = β₀ⱼ + β₁ⱼᵀx (j < k; z_k = 0, the reference), u = (1, x):
 *   ∂f/∂z_j = g_j = π_j (h_j − f);   ∂²f/∂z_j∂z_l = δ_jl g_j − π_j g_l − π_l g_j;
 *   ∂²f/∂z_j∂ηᵢ = π_j (δ_ij − πᵢ) ∂hᵢ/∂ηᵢ;   ∂²f/∂ηᵢ∂ηᵢ = πᵢ ∂²hᵢ/∂ηᵢ²  (0 across experts),
 * and the chain rule ∂z_j/∂β_j = u. Hand-written for the same reason as lm.ts (p ≤ ~30, one fused
 * pass over Float64Arrays).
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { RegressionExperts } from '../experts/regression.js';

/** Whether `lseHessian` applies: the plain softmax gate (type 'softmax') with regression experts. */
export function hasAnalyticHessian(model: MixtureOfExperts): boolean {
  return model.gate.type === 'softmax' && model.expert instanceof RegressionExperts;
}

/** Scratch buffers of `lseHessian` (allocated once per fit). */
export class LSEHessianWorkspace {
  readonly logP: Float64Array;
  readonly pi: Float64Array;
  readonly h: Float64Array;
  readonly g: Float64Array;
  readonly dh: Float64Array;
  readonly d2h: Float64Array;
  readonly J: Float64Array;
  readonly u: Float64Array;
  /** Per-expert views of dh and d2h (made once: no allocation in the row loop). */
  readonly dhOf: Float64Array[];
  readonly d2hOf: Float64Array[];
  constructor(model: MixtureOfExperts, n: number) {
    const { k, d } = model;
    const q = (model.expert as RegressionExperts).perExpert;
    this.logP = new Float64Array(n * k);
    this.pi = new Float64Array(k);
    this.h = new Float64Array(k);
    this.g = new Float64Array(k);
    this.dh = new Float64Array(k * q);
    this.d2h = new Float64Array(k * q * q);
    this.J = new Float64Array(model.nParams);
    this.u = new Float64Array(d + 1);
    this.dhOf = Array.from({ length: k }, (_, i) => this.dh.subarray(i * q, (i + 1) * q));
    this.d2hOf = Array.from({ length: k }, (_, i) => this.d2h.subarray(i * q * q, (i + 1) * q * q));
  }
}

/**
 * S(θ) and, into H (p×p, full), the exact Hessian of S/2, and into b, Jᵀe = −∇(S/2). Returns
 * Infinity when θ is not finite. Needs `hasAnalyticHessian(model)`.
 */
export function lseHessian(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: LSEHessianWorkspace, H: Float64Array, b: Float64Array): number {
  const { k, d } = model;
  const expert = model.expert as RegressionExperts;
  const q = expert.perExpert;
  const pG = model.gate.nParams; // (k − 1)(d + 1)
  const qG = d + 1;
  const p = theta.length;
  for (let i = 0; i < p; i++) if (!Number.isFinite(theta[i])) return Infinity;
  const thG = theta.subarray(0, pG);
  const thE = theta.subarray(pG);
  const { X, y, n } = data;
  const { logP, pi, h, g, dh, d2h, J, u, dhOf, d2hOf } = ws;
  model.gate.logWeights(thG, X, n, logP);
  H.fill(0, 0, p * p);
  b.fill(0, 0, p);
  let sse = 0;
  let comp = 0;
  u[0] = 1;
  for (let t = 0; t < n; t++) {
    for (let a = 0; a < d; a++) u[a + 1] = X[t * d + a];
    let f = 0;
    for (let i = 0; i < k; i++) {
      pi[i] = Math.exp(logP[t * k + i]);
      h[i] = expert.derivativesAt(thE, i, X, t, dhOf[i], d2hOf[i]);
      f += pi[i] * h[i];
    }
    const e = y[t] - f;
    const term = e * e - comp;
    const next = sse + term;
    comp = next - sse - term;
    sse = next;
    for (let j = 0; j < k; j++) g[j] = pi[j] * (h[j] - f);
    // J_t = ∂f_t/∂θ
    for (let j = 0; j < k - 1; j++) for (let a = 0; a < qG; a++) J[j * qG + a] = g[j] * u[a];
    for (let i = 0; i < k; i++) for (let m = 0; m < q; m++) J[pG + i * q + m] = pi[i] * dh[i * q + m];
    for (let r = 0; r < p; r++) {
      const jr = J[r];
      b[r] += jr * e;
      const row = r * p;
      for (let c = 0; c <= r; c++) H[row + c] += jr * J[c];
    }
    // − e_t ∇²f_t (lower triangle: row index ≥ column index)
    // gate–gate
    for (let j = 0; j < k - 1; j++) {
      for (let l = 0; l <= j; l++) {
        const fz = (j === l ? g[j] : 0) - pi[j] * g[l] - pi[l] * g[j];
        if (fz === 0) continue;
        const s = e * fz;
        for (let a = 0; a < qG; a++) {
          const row = (j * qG + a) * p;
          for (let c = 0; c < qG; c++) {
            const col = l * qG + c;
            if (col > j * qG + a) continue;
            H[row + col] -= s * u[a] * u[c];
          }
        }
      }
    }
    // expert (rows) – gate (columns)
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k - 1; j++) {
        const w = e * pi[j] * ((i === j ? 1 : 0) - pi[i]);
        if (w === 0) continue;
        for (let m = 0; m < q; m++) {
          const row = (pG + i * q + m) * p;
          const wm = w * dh[i * q + m];
          for (let a = 0; a < qG; a++) H[row + j * qG + a] -= wm * u[a];
        }
      }
    }
    // expert–expert (block diagonal)
    for (let i = 0; i < k; i++) {
      const w = e * pi[i];
      if (w === 0) continue;
      for (let m = 0; m < q; m++) {
        const row = (pG + i * q + m) * p + pG + i * q;
        for (let m2 = 0; m2 <= m; m2++) H[row + m2] -= w * d2h[i * q * q + m * q + m2];
      }
    }
  }
  for (let r = 0; r < p; r++) for (let c = r + 1; c < p; c++) H[r * p + c] = H[c * p + r];
  return Number.isFinite(sse) ? sse : Infinity;
}
