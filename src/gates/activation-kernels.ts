/**
 * Generated one-pass kernels of the activation gate (P4, math-spec §6.2): the logits, the
 * gradient and the exact Newton system (Q, ∇Q, −∇²Q) of Q = Σ_t Σ_i R_ti log π_ti, for one
 * shape (k, d), activation σ, bias placement and whether log τ is a parameter.
 *
 * Why generated code: the plain path of `ActivationGate` runs block by block over long loops
 * (σ into three n×(k−1) buffers, then the weights, the gradient, every Hessian block and the
 * log τ row, each a pass of its own): at n = 1e5, k = 2, d = 1 one Newton pass took ≈ 10–14 ms,
 * 5× the softmax gate's. Here every row is read once and every sum lives in a register: σ, σ′,
 * σ″ are inlined per activation (the switch is resolved when the source is built, not per row),
 * the loops over experts and features are unrolled, and nothing is stored per row. As for the
 * softmax kernels (family/softmax-kernels.ts), the source is built from integers and fixed
 * identifiers only, compiled once per shape and cached for the life of the process
 * (numeric/codegen.ts); shapes with too many sums keep the plain path.
 *
 * Notation (row t, free experts j < k−1, reference k−1, x₀ ≡ 1, a1_j = σ′(u_j)/τ):
 *   A (bias outside): u_j = β₁ⱼᵀx, z_j = σ(u_j)/τ + β₀ⱼ,  ∂z_j/∂β₀ⱼ = 1, ∂z_j/∂β₁ⱼ = a1_j x
 *   B (bias inside):  u_j = β₀ⱼ + β₁ⱼᵀx, z_j = σ(u_j)/τ,   ∂z_j/∂(β₀ⱼ, β₁ⱼ) = a1_j (1, x)
 *   reference z_ref = σ(0)/τ; ∂z_i/∂log τ = h_i = −σ(u_i)/τ (h_ref = −σ(0)/τ).
 * The logits are taken relative to the reference, δ_j = z_j − z_ref (log π is shift-invariant).
 *   ∇Q = Σ_t Σ_i c_ti ∇z_ti,  c_ti = R_ti − s_t π_ti,  s_t = Σ_i R_ti,
 *   −∇²Q = Σ_t [ s_t (Σ_i π_i ∇z_i ∇z_iᵀ − m mᵀ) − Σ_i c_i ∇²z_i ],  m = Σ_i π_i ∇z_i,
 * with ∇²z_j = σ″/τ ṽṽᵀ on block j (ṽ = (0, x) for A, (1, x) for B), −a1_j ṽ across block j and
 * log τ, and ∂²z_i/∂(log τ)² = −h_i.
 */
import { compileKernel, maxOf, type KernelSource } from '../numeric/codegen.js';
import { EXP_SCOPE, expSource, LOG_BLOCK } from '../numeric/fastmath.js';
import { normalCdfPdf } from '../numeric/special.js';
import { GELU, LINEAR, SIGMOID, TANH } from '../family/activations.js';
import type { LogitsFragment } from './gate.js';

/** What identifies a kernel: the shape and the gate's fixed settings. */
export interface ActivationShape {
  k: number;
  d: number;
  /** Activation code (family/activations.ts). */
  code: number;
  inside: boolean;
  /** Whether θ ends with log τ. */
  hasLogTau: boolean;
}

/**
 * Q, ∇Q into g and the full symmetric −∇²Q into NH at θ (τ enters as invTau, zRef = σ(0)/τ).
 * With W null, π is computed; with W = the E-step's π at this θ, the kernel takes it (no exps)
 * and returns 0 instead of Q (the caller has Q from the E-step).
 */
export type ActivationPassKernel = (theta: Float64Array, X: Float64Array, R: Float64Array, n: number, invTau: number, zRef: number, g: Float64Array, NH: Float64Array, W: Float64Array | null) => number;

/**
 * Q and ∇Q into g at θ without −∇²Q (the Newton trials near the end, numeric/newton.ts
 * `gradientPass`): the pass kernel's lines for Q and g, the same bits; NH and W are not read.
 */
export type ActivationValueGradientKernel = ActivationPassKernel;

/** ∇θ Σ_t Σ_i W_ti log π_ti for arbitrary real W into g; π computed, or taken from P when given. */
export type ActivationGradientKernel = (theta: Float64Array, X: Float64Array, W: Float64Array, n: number, invTau: number, zRef: number, g: Float64Array, P: Float64Array | null) => void;

/** The logits δ_ti = z_ti − z_ref (n×k, reference column 0) into out. */
export type ActivationLogitsKernel = (theta: Float64Array, X: Float64Array, n: number, invTau: number, zRef: number, out: Float64Array) => void;

/** Largest number of scalar sums (gradient + lower triangle of −∇²Q) unrolled, as for the softmax kernels. */
const MAX_SUMS = 384;

function nParamsOf(s: ActivationShape): number {
  return (s.k - 1) * (s.d + 1) + (s.hasLogTau ? 1 : 0);
}

function keyOf(kind: string, s: ActivationShape): string {
  return `activation-${kind}:${s.k}:${s.d}:${s.code}:${s.inside ? 'B' : 'A'}:${s.hasLogTau ? 'L' : '-'}`;
}

/** The one-pass Newton kernel for this shape, or null when it has too many sums to unroll. */
export function activationPassKernel(s: ActivationShape): ActivationPassKernel | null {
  const p = nParamsOf(s);
  if (s.k < 2 || p + (p * (p + 1)) / 2 > MAX_SUMS) return null;
  const key = keyOf('pass', s);
  const kernel = compileKernel<ActivationPassKernel>(key, () => passSource(s, 2));
  warmUp(key, s, (w) => {
    kernel(w.theta, w.X, w.R, WARM_ROWS, 1, 0, w.g, w.NH, null);
    kernel(w.theta, w.X, w.R, WARM_ROWS, 1, 0, w.g, w.NH, w.R);
  });
  return kernel;
}

/** The value-and-gradient kernel for this shape (the pass kernel's shapes), or null. */
export function activationValueGradientKernel(s: ActivationShape): ActivationValueGradientKernel | null {
  const p = nParamsOf(s);
  if (s.k < 2 || p + (p * (p + 1)) / 2 > MAX_SUMS) return null;
  const key = keyOf('value-gradient', s);
  const kernel = compileKernel<ActivationValueGradientKernel>(key, () => passSource(s, 2, false));
  warmUp(key, s, (w) => kernel(w.theta, w.X, w.R, WARM_ROWS, 1, 0, w.g, w.NH, null));
  return kernel;
}

/** The one-pass gradient kernel for this shape, or null when it is too large. */
export function activationGradientKernel(s: ActivationShape): ActivationGradientKernel | null {
  if (s.k < 2 || nParamsOf(s) > MAX_SUMS) return null;
  const key = keyOf('gradient', s);
  const kernel = compileKernel<ActivationGradientKernel>(key, () => passSource(s, 1));
  warmUp(key, s, (w) => {
    kernel(w.theta, w.X, w.R, WARM_ROWS, 1, 0, w.g, null);
    kernel(w.theta, w.X, w.R, WARM_ROWS, 1, 0, w.g, w.R);
  });
  return kernel;
}

/** The logits kernel for this shape, or null when it is too large. */
export function activationLogitsKernel(s: ActivationShape): ActivationLogitsKernel | null {
  if (s.k < 2 || nParamsOf(s) > MAX_SUMS) return null;
  const key = keyOf('logits', s);
  const kernel = compileKernel<ActivationLogitsKernel>(key, () => passSource(s, 0));
  warmUp(key, s, (w) => kernel(w.theta, w.X, WARM_ROWS, 1, 0, w.R));
  return kernel;
}

const warmed = new Set<string>();
const WARM_ROWS = LOG_BLOCK + 1;

/**
 * Run a new kernel a dozen times on a few dummy rows, every branch included (π computed and given,
 * a row weight s ≠ 1 for the log correction, a full LOG_BLOCK), before its first real call. Why: V8 allocates a function's type feedback only after several calls, so the first call
 * at n = 1e5 is compiled on-stack (OSR) inside the loop with no feedback for the stores after
 * it, and that code then deoptimised at the loop exit on EVERY call (`--trace-deopt`:
 * "insufficient type feedback", 80 of 80 calls): 6–9 ms instead of ≈ 2 ms per pass at n = 1e5.
 */
function warmUp(key: string, s: ActivationShape, call: (w: { theta: Float64Array; X: Float64Array; R: Float64Array; g: Float64Array; NH: Float64Array }) => void): void {
  if (warmed.has(key)) return;
  warmed.add(key);
  const p = nParamsOf(s);
  const w = { theta: new Float64Array(p), X: new Float64Array(WARM_ROWS * s.d), R: new Float64Array(WARM_ROWS * s.k).fill(0.4 / s.k), g: new Float64Array(p), NH: new Float64Array(p * p) };
  for (let i = 0; i < 12; i++) call(w);
}

/** Source computing σ(u) into `s`, σ′ into `s1` (level ≥ 1) and σ″ into `s2` (level 2), per activation code (activations.ts formulas). */
function activationSource(code: number, u: string, s: string, s1: string, s2: string, level: number): string[] {
  const out: string[] = [];
  switch (code) {
    case TANH:
      // tanh u = sign(u)(1 − e)/(1 + e), e = e^{−2|u|} by the inlined exp: a `Math.tanh` call
      // inside the kernel cost ≈ 15 ns per row (the call spills every live sum). Absolute error
      // ≤ 4e-16 (the exp's relative error on e ≤ 1), the level at which σ enters the logits.
      out.push(expSource(`${s}_e`, `-2 * Math.abs(${u})`));
      out.push(`const ${s}_a = (1 - ${s}_e) / (1 + ${s}_e);`, `const ${s} = ${u} < 0 ? -${s}_a : ${s}_a;`);
      if (level >= 1) out.push(`const ${s1} = 1 - ${s} * ${s};`);
      if (level >= 2) out.push(`const ${s2} = -2 * ${s} * ${s1};`);
      return out;
    case SIGMOID:
      out.push(expSource(`${s}_e`, `-Math.abs(${u})`));
      out.push(`const ${s} = ${u} >= 0 ? 1 / (1 + ${s}_e) : ${s}_e / (1 + ${s}_e);`);
      if (level >= 1) out.push(`const ${s1} = ${s} * (1 - ${s});`);
      if (level >= 2) out.push(`const ${s2} = ${s1} * (1 - 2 * ${s});`);
      return out;
    case GELU:
      out.push(`normalCdfPdf(${u}, PHI);`, `const ${s}_P = PHI[0];`, `const ${s} = ${u} * ${s}_P;`);
      if (level >= 1) out.push(`const ${s}_p = PHI[1];`, `const ${s1} = ${s}_P + ${u} * ${s}_p;`);
      if (level >= 2) out.push(`const ${s2} = ${s}_p * (2 - ${u} * ${u});`);
      return out;
    case LINEAR:
      out.push(`const ${s} = ${u};`);
      if (level >= 1) out.push(`const ${s1} = 1;`);
      if (level >= 2) out.push(`const ${s2} = 0;`);
      return out;
    default:
      throw new Error(`activation kernels: no source for activation code ${code}`);
  }
}

/**
 * σ (and σ′, σ″ up to `level`) of each free expert and its logit δ_j = z_j − z_ref (`dz<j>`), from
 * the θ entries named by `th`, the inputs `<x>1..<x>d` and the names of 1/τ and z_ref.
 */
function logitLines(shape: ActivationShape, level: number, th: (j: number, a: number) => string, x: string, invTau: string, zRef: string): string[] {
  const { k, d, code, inside } = shape;
  const out: string[] = [];
  for (let j = 0; j < k - 1; j++) {
    const terms = inside ? [th(j, 0)] : [];
    for (let a = 1; a <= d; a++) terms.push(`${th(j, a)} * ${x}${a}`);
    out.push(`const u${j} = ${terms.join(' + ')};`);
    out.push(...activationSource(code, `u${j}`, `s${j}`, `s1_${j}`, `s2_${j}`, level));
    // P4 (math-spec §6.2): A: σ(β₁ᵀx)/τ + β₀;  B: σ(β₁ᵀx + β₀)/τ
    out.push(`const dz${j} = s${j} * ${invTau}${inside ? '' : ` + ${th(j, 0)}`} - ${zRef};`);
  }
  return out;
}

/**
 * The logits of `activationLogitsKernel` as a row fragment for a fused E-step (gates/gate.ts
 * `LogitsFragment`): z_j = δ_j, z_ref = 0, with 1/τ = 1/e^{log τ} (or 1/fixedTau) and
 * z_ref = σ(0)/τ computed once, as the gate computes them: the same bits.
 */
export function activationLogitsFragment(s: ActivationShape, sigma0: number, fixedTau: number): LogitsFragment | null {
  if (s.k < 2 || nParamsOf(s) > MAX_SUMS) return null;
  const q = s.d + 1;
  const p = nParamsOf(s);
  const pre = [s.hasLogTau ? `const gf_invTau = 1 / Math.exp(thetaGate[${p - 1}]);` : 'const gf_invTau = 1 / GF_TAU;', 'const gf_zRef = GF_SIGMA0 * gf_invTau;'];
  for (let j = 0; j < s.k - 1; j++) for (let a = 0; a < q; a++) pre.push(`const gf_th${j}_${a} = thetaGate[${j * q + a}];`);
  const row = logitLines(s, 0, (j, a) => `gf_th${j}_${a}`, 'v', 'gf_invTau', 'gf_zRef');
  for (let j = 0; j < s.k - 1; j++) row.push(`z${j} = dz${j};`);
  row.push(`z${s.k - 1} = 0;`);
  return { key: `${keyOf('fragment', s)}:${s.hasLogTau ? '' : fixedTau}`, pre, row, scope: { ...EXP_SCOPE, ...gelu(s.code), GF_TAU: fixedTau, GF_SIGMA0: sigma0 } };
}

/**
 * The kernel source: level 0 = logits, 1 = gradient (with W arbitrary), 2 = Q + gradient + −∇²Q.
 * Parameter order of θ: [(β₀ⱼ, β₁ⱼ) for j < k−1, log τ].
 */
function passSource(shape: ActivationShape, level: 0 | 1 | 2, hessian = true): KernelSource {
  const { k, d, code, inside, hasLogTau } = shape;
  const q = d + 1;
  const J = k - 1;
  const p = nParamsOf(shape);
  const L = p - 1; // index of log τ when hasLogTau
  const pre: string[] = [];
  const body: string[] = [];
  const decl: string[] = [];
  const post: string[] = [];
  for (let j = 0; j < J; j++) for (let a = 0; a < q; a++) pre.push(`const th${j}_${a} = theta[${j * q + a}];`);
  body.push(`const o = t * ${k};`);
  for (let a = 1; a <= d; a++) body.push(`const x${a} = X[t * ${d} + ${a - 1}];`);
  body.push(...logitLines(shape, hessian ? level : 1, (j, a) => `th${j}_${a}`, 'x', 'invTau', 'zRef'));
  if (level === 0) {
    for (let j = 0; j < J; j++) body.push(`out[o + ${j}] = dz${j};`);
    body.push(`out[o + ${J}] = 0;`);
    return { name: 'activationLogits', params: ['theta', 'X', 'n', 'invTau', 'zRef', 'out'], body: [...pre, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}'], scope: { ...EXP_SCOPE, ...gelu(code) } };
  }
  const Wname = level === 2 ? 'R' : 'W';
  const given = level === 2 ? 'W' : 'P'; // the optional π argument
  for (let i = 0; i < k; i++) body.push(`const r${i} = ${Wname}[o + ${i}];`);
  body.push(`const s = ${Array.from({ length: k }, (_, i) => `r${i}`).join(' + ')};`);
  // π: computed (max-shifted exps) or taken from the caller; Q only when computed (level 2)
  const probs: string[] = [];
  if (k === 2) {
    // two experts: {e^(δ − mx), e^(−mx)} = {1, e^(−|δ|)} (exp(0) is 1 exactly): the lines below
    // with max(δ, 0) resolved and one exp instead of two, the same sum, π and Q bit for bit
    probs.push('const mx = dz0 > 0 ? dz0 : 0;', expSource('e', '-Math.abs(dz0)'), 'const sum = 1 + e;', 'const inv = 1 / sum;');
    probs.push('const ei = e * inv;', 'p0 = dz0 > 0 ? inv : ei;', 'p1 = dz0 > 0 ? ei : inv;');
  } else {
    probs.push(maxOf('mx', Array.from({ length: J }, (_, j) => `dz${j}`), '0'));
    for (let j = 0; j < J; j++) probs.push(expSource(`e${j}`, `dz${j} - mx`));
    probs.push(expSource(`e${J}`, '-mx'));
    probs.push(`const sum = ${Array.from({ length: k }, (_, i) => `e${i}`).join(' + ')};`);
    probs.push('const inv = 1 / sum;');
    for (let i = 0; i < k; i++) probs.push(`p${i} = e${i} * inv;`);
  }
  if (level === 2) {
    probs.push(`Q += ${Array.from({ length: J }, (_, j) => `r${j} * dz${j}`).join(' + ')} - s * mx;`);
    probs.push('prod *= sum;');
    probs.push('if (s !== 1) corr += correction(s, sum);');
    probs.push(`if (++count === ${LOG_BLOCK}) { Q -= Math.log(prod); prod = 1; count = 0; }`);
  }
  body.push(`let ${Array.from({ length: k }, (_, i) => `p${i} = 0`).join(", ")};`); // numbers from the start: an undefined initial value would box every π
  body.push(`if (${given} === null) {`, ...probs.map((l) => `  ${l}`), '} else {', ...Array.from({ length: k }, (_, i) => `  p${i} = ${given}[o + ${i}];`), '}');
  for (let j = 0; j < J; j++) {
    body.push(`const c${j} = r${j} - s * p${j};`);
    body.push(`const a1_${j} = s1_${j} * invTau;`);
    body.push(`const ca${j} = c${j} * a1_${j};`);
  }
  // gradient: A: (c_j, c_j a1_j x);  B: c_j a1_j (1, x);  log τ: Σ_i c_i h_i
  const gname = (i: number): string => `g${i}`;
  for (let j = 0; j < J; j++) {
    for (let a = 0; a < q; a++) {
      const P = j * q + a;
      decl.push(`${gname(P)} = 0`);
      const term = a === 0 ? (inside ? `ca${j}` : `c${j}`) : `ca${j} * x${a}`;
      body.push(`${gname(P)} += ${term};`);
      post.push(`g[${P}] = ${gname(P)};`);
    }
  }
  if (hasLogTau) {
    body.push(`const cR = r${J} - s * p${J};`);
    for (let j = 0; j < J; j++) body.push(`const h${j} = -s${j} * invTau;`);
    body.push(`const chs = ${['-cR * zRef', ...Array.from({ length: J }, (_, j) => `c${j} * h${j}`)].join(' + ')};`);
    decl.push(`${gname(L)} = 0`);
    body.push(`${gname(L)} += chs;`);
    post.push(`g[${L}] = ${gname(L)};`);
  }
  if (level === 1) {
    const src = [...pre, `let ${decl.join(', ')};`, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}', ...post];
    return { name: 'activationGradient', params: ['theta', 'X', 'W', 'n', 'invTau', 'zRef', 'g', 'P'], body: src, scope: { ...EXP_SCOPE, ...gelu(code) } };
  }
  if (!hessian) {
    const src = [...pre, `let ${decl.join(', ')};`, 'let Q = 0, prod = 1, count = 0, corr = 0;', 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}', ...post, 'return Q - Math.log(prod) - corr;'];
    return { name: 'activationValueGradient', params: ['theta', 'X', 'R', 'n', 'invTau', 'zRef', 'g', 'NH', 'W'], body: src, scope: { ...EXP_SCOPE, correction: weightCorrection, ...gelu(code) } };
  }
  // −∇²Q: Fisher weights w_jl = s π_j (δ_jl − π_l); per block (j, l ≤ j) the coefficient of the
  // monomial x_a x_b for the four kinds of entries (a = 0 or not, b = 0 or not); the curvature
  // −c_j σ″_j/τ ṽṽᵀ joins the diagonal blocks.
  for (let a = 1; a <= d; a++) for (let b = 1; b <= a; b++) body.push(`const x${a}_${b} = x${a} * x${b};`);
  const mono = (a: number, b: number): string => (a === 0 && b === 0 ? '1' : a === 0 ? `x${b}` : b === 0 ? `x${a}` : `x${a >= b ? `${a}_${b}` : `${b}_${a}`}`);
  for (let j = 0; j < J; j++) {
    body.push(`const sp${j} = s * p${j};`);
    body.push(`const cv${j} = -c${j} * s2_${j} * invTau;`);
  }
  const H = new Map<string, string[]>(); // accumulator name → per-row term
  const cellName = (P: number, Qi: number): string => `H${P}_${Qi}`;
  const add = (P: number, Qi: number, term: string): void => {
    const [r, c] = P >= Qi ? [P, Qi] : [Qi, P];
    const nm = cellName(r, c);
    if (!H.has(nm)) H.set(nm, []);
    H.get(nm)!.push(term);
  };
  for (let j = 0; j < J; j++) {
    for (let l = 0; l <= j; l++) {
      const w = `w${j}_${l}`;
      body.push(j === l ? `const ${w} = sp${j} * (1 - p${l});` : `const ${w} = -sp${j} * p${l};`);
      const diag = j === l;
      // coefficient of x_a x_b (a, b ≥ 1) in block (j, l): w a1_j a1_l (+ curvature on the diagonal)
      body.push(`const k11_${j}_${l} = ${w} * a1_${j} * a1_${l}${diag ? ` + cv${j}` : ''};`);
      if (!inside) {
        body.push(`const k10_${j}_${l} = ${w} * a1_${j};`); // (j, a ≥ 1) × (l, 0)
        if (!diag) body.push(`const k01_${j}_${l} = ${w} * a1_${l};`); // (j, 0) × (l, b ≥ 1)
      }
      for (let a = 0; a < q; a++) {
        for (let b = 0; b < q; b++) {
          if (diag && b > a) continue;
          let coef: string;
          if (inside) coef = `k11_${j}_${l}`;
          else if (a === 0 && b === 0) coef = w;
          else if (b === 0) coef = `k10_${j}_${l}`;
          else if (a === 0) coef = `k01_${j}_${l}`;
          else coef = `k11_${j}_${l}`;
          const m = mono(a, b);
          add(j * q + a, l * q + b, m === '1' ? coef : `${coef} * ${m}`);
        }
      }
    }
  }
  if (hasLogTau) {
    // h̄ = Σ π h; (log τ, log τ): s(Σ π h² − h̄²) + Σ c h; (block j, log τ): s π_j (h_j − h̄) ∂z_j/∂θ_j + c_j a1_j ṽ
    body.push(`const hbar = ${['-p' + J + ' * zRef', ...Array.from({ length: J }, (_, j) => `p${j} * h${j}`)].join(' + ')};`);
    body.push(`const hh = ${[`p${J} * zRef * zRef`, ...Array.from({ length: J }, (_, j) => `p${j} * h${j} * h${j}`)].join(' + ')};`);
    add(L, L, 's * (hh - hbar * hbar) + chs');
    for (let j = 0; j < J; j++) {
      body.push(`const wf${j} = sp${j} * (h${j} - hbar);`);
      body.push(`const wc${j} = (wf${j} + c${j}) * a1_${j};`);
      for (let a = 0; a < q; a++) {
        const term = a === 0 ? (inside ? `wc${j}` : `wf${j}`) : `wc${j} * x${a}`;
        add(L, j * q + a, term);
      }
    }
  }
  for (const [nm, terms] of H) {
    decl.push(`${nm} = 0`);
    body.push(`${nm} += ${terms.join(' + ')};`);
    const [r, c] = nm.slice(1).split('_').map(Number);
    post.push(r === c ? `NH[${r * p + r}] = ${nm};` : `NH[${r * p + c}] = ${nm}; NH[${c * p + r}] = ${nm};`);
  }
  const src = [
    ...pre,
    `let ${decl.join(', ')};`,
    'let Q = 0, prod = 1, count = 0, corr = 0;',
    'for (let t = 0; t < n; t++) {',
    ...body.map((l) => `  ${l}`),
    '}',
    ...post,
    'return W === null ? Q - Math.log(prod) - corr : 0;',
  ];
  return { name: 'activationPass', params: ['theta', 'X', 'R', 'n', 'invTau', 'zRef', 'g', 'NH', 'W'], body: src, scope: { ...EXP_SCOPE, correction: weightCorrection, ...gelu(code) } };
}

/** The scope of the GELU source: Φ and φ of one argument into PHI. */
function gelu(code: number): Record<string, unknown> {
  return code === GELU ? { normalCdfPdf, PHI: new Float64Array(2) } : {};
}

/**
 * (s − 1)·log(sum), the correction of a row whose weight s is not 1 when Σ_t s_t·log(sum_t) is
 * taken as Σ_blocks log Π sum_t; the same rule as the softmax core's (family/linear-softmax.ts):
 * for |s − 1| < 1e-14 the log is replaced by 2(sum − 1)/(sum + 1), an error at the rounding level of Q.
 */
function weightCorrection(s: number, sum: number): number {
  const dd = s - 1;
  return dd > -1e-14 && dd < 1e-14 ? (2 * dd * (sum - 1)) / (sum + 1) : dd * Math.log(sum);
}
