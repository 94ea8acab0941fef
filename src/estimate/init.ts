/**
 * Initialisations for EM / LSE.
 *  - `random`: k data points drawn as centres in standardised (x, y); soft assignment; M-steps.
 *  - `kmeans++`: k-means++ seeding (Arthur & Vassilvitskii 2007) + Lloyd steps on standardised
 *    (x, y); soft assignment; M-steps.
 *  - `nearTruth`: the papers' protocol (math-spec §8.3): a surjective assignment of fitted atoms to
 *    true atoms with the last fitted atom on the reference expert, then small Gaussian noise with
 *    sd 0.005·n^−0.083 (gate), 0.05·n^−0.083 (expert coefficients) and |N(0, (0.005·n^−0.25)²)|
 *    added to positive scales.
 *  - `model`: a given model (its parameters are copied).
 * Soft assignments use (1−ε)·one-hot + ε/k (ε = 0.1) so the first gate M-step has a finite optimum
 * even when the clusters are separable in x.
 */
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelJSON } from '../model/model.js';
import type { Rng } from '../numeric/rng.js';
import { OptionError } from '../errors.js';
import type { BlockInfo } from '../gates/gate.js';

export interface NearTruthInit {
  type: 'nearTruth';
  truth: MixtureOfExperts;
  /** Sample size used in the noise scales (default: the data's n). */
  n?: number;
  /** Noise scale multipliers: sd = scale·n^exponent. Defaults from math-spec §8.3. */
  gateSd?: number;
  expertSd?: number;
  scaleSd?: number;
  /**
   * When several fitted atoms share a true atom, divide its weight among them
   * (β₀ ← β₀* − log m), so the start has the true mixing weights. Default true. The authors' code
   * copies β₀* unchanged (set false for parity).
   */
  splitMass?: boolean;
  /**
   * Fixed assignment of fitted atoms to true atoms (0-based true index per fitted expert), instead of
   * the random surjective draw of math-spec §8.3: lets a study pin the Voronoi cell structure (e.g.
   * cells (2, 2) for k = 4, k* = 2). Must cover every true atom and end on the reference (k*−1).
   */
  assignment?: readonly number[];
}

export type InitSpec =
  | { type: 'random' }
  | { type: 'kmeans++'; lloydIterations?: number }
  | NearTruthInit
  | { type: 'model'; model: MixtureOfExperts };

interface InitBudget {
  gateMaxIter?: number;
  expertMaxIter?: number;
  /** performance.now() after which the start is cut short (a fit's time limit): k-means stops, the gate M-step is skipped. */
  deadline?: number;
}

/** Whether the time limit has passed. */
function late(budget: InitBudget): boolean {
  return budget.deadline !== undefined && performance.now() > budget.deadline;
}

/** Working parameters for a start, for the given (prepared) model structure. */
export function initialise(model: MixtureOfExperts, data: Dataset, init: InitSpec, rng: Rng, budget: InitBudget = {}): Float64Array {
  switch (init.type) {
    case 'model': {
      if (init.model.nParams !== model.nParams || init.model.k !== model.k || init.model.d !== model.d) {
        throw new OptionError(`init model has k=${init.model.k}, d=${init.model.d} but the fit needs k=${model.k}, d=${model.d}`);
      }
      return init.model.theta.slice();
    }
    case 'nearTruth':
      return nearTruth(model, init, data.n, rng);
    case 'random':
    case 'kmeans++': {
      const labels = init.type === 'random' ? randomCentres(data, model.k, rng) : kmeansPlusPlus(data, model.k, rng, init.lloydIterations ?? 10, budget);
      return fromLabels(model, data, labels, budget);
    }
    default: {
      const never: never = init;
      throw new OptionError(`unknown init ${JSON.stringify(never)}`);
    }
  }
}

/** Standardised (x, y) points, row-major n×(d+1). */
function standardise(data: Dataset): { Z: Float64Array; m: number } {
  const { X, y, n, d } = data;
  const m = d + 1;
  const Z = new Float64Array(n * m);
  for (let u = 0; u < m; u++) {
    let mean = 0;
    for (let t = 0; t < n; t++) mean += u < d ? X[t * d + u] : y[t];
    mean /= n;
    let v = 0;
    for (let t = 0; t < n; t++) {
      const z = (u < d ? X[t * d + u] : y[t]) - mean;
      v += z * z;
    }
    const sd = Math.sqrt(v / n) || 1;
    for (let t = 0; t < n; t++) Z[t * m + u] = ((u < d ? X[t * d + u] : y[t]) - mean) / sd;
  }
  return { Z, m };
}

function dist2(Z: Float64Array, t: number, C: Float64Array, c: number, m: number): number {
  let s = 0;
  for (let u = 0; u < m; u++) {
    const e = Z[t * m + u] - C[c * m + u];
    s += e * e;
  }
  return s;
}

function assign(Z: Float64Array, n: number, m: number, C: Float64Array, k: number, labels: Int32Array): void {
  for (let t = 0; t < n; t++) {
    let best = 0;
    let bd = Infinity;
    for (let c = 0; c < k; c++) {
      const dd = dist2(Z, t, C, c, m);
      if (dd < bd) { bd = dd; best = c; }
    }
    labels[t] = best;
  }
}

function randomCentres(data: Dataset, k: number, rng: Rng): Int32Array {
  const { Z, m } = standardise(data);
  const n = data.n;
  const C = new Float64Array(k * m);
  for (let c = 0; c < k; c++) {
    const t = rng.int(n);
    for (let u = 0; u < m; u++) C[c * m + u] = Z[t * m + u];
  }
  const labels = new Int32Array(n);
  assign(Z, n, m, C, k, labels);
  return labels;
}

function kmeansPlusPlus(data: Dataset, k: number, rng: Rng, lloyd: number, budget: InitBudget): Int32Array {
  const { Z, m } = standardise(data);
  const n = data.n;
  const C = new Float64Array(k * m);
  const D = new Float64Array(n).fill(Infinity);
  let t0 = rng.int(n);
  for (let c = 0; c < k; c++) {
    for (let u = 0; u < m; u++) C[c * m + u] = Z[t0 * m + u];
    for (let t = 0; t < n; t++) D[t] = Math.min(D[t], dist2(Z, t, C, c, m));
    if (c + 1 < k) {
      // past the time limit the remaining centres are data points drawn uniformly (no distance pass)
      if (late(budget)) {
        for (let c2 = c + 1; c2 < k; c2++) {
          const t = rng.int(n);
          for (let u = 0; u < m; u++) C[c2 * m + u] = Z[t * m + u];
        }
        lloyd = 0;
        break;
      }
      let total = 0;
      for (let t = 0; t < n; t++) total += D[t];
      t0 = total > 0 ? rng.categorical(D, 0, n) : rng.int(n);
    }
  }
  const labels = new Int32Array(n);
  const counts = new Float64Array(k);
  for (let it = 0; it <= lloyd; it++) {
    assign(Z, n, m, C, k, labels);
    if (it === lloyd || late(budget)) break;
    C.fill(0);
    counts.fill(0);
    for (let t = 0; t < n; t++) {
      const c = labels[t];
      counts[c]++;
      for (let u = 0; u < m; u++) C[c * m + u] += Z[t * m + u];
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) {
        const t = rng.int(n); // re-seed an empty cluster
        for (let u = 0; u < m; u++) C[c * m + u] = Z[t * m + u];
      } else for (let u = 0; u < m; u++) C[c * m + u] /= counts[c];
    }
  }
  return labels;
}

/** M-steps from soft labels: experts first, then the gate from zero. */
function fromLabels(model: MixtureOfExperts, data: Dataset, labels: Int32Array, budget: InitBudget): Float64Array {
  const { k } = model;
  const n = data.n;
  const eps = 0.1;
  const R = new Float64Array(n * k).fill(eps / k);
  for (let t = 0; t < n; t++) R[t * k + labels[t]] += 1 - eps;
  const theta = new Float64Array(model.nParams);
  const g = model.gate;
  model.expert.mStep(theta.subarray(g.nParams), data.X, data.y, data.n, R, { maxIter: budget.expertMaxIter ?? 50, tol: 1e-10 });
  if (late(budget)) return theta; // past the time limit: the gate stays at zero (equal weights), a valid start
  g.mStep(theta.subarray(0, g.nParams), data.X, data.n, R, { maxIter: budget.gateMaxIter ?? 50, tol: 1e-10 });
  return theta;
}

/** Draw s ∈ [k*]^k with s_{k−1} = k*−1 covering every true index (math-spec §8.3 step 1). */
export function surjectiveAssignment(k: number, kTrue: number, rng: Rng): Int32Array {
  if (k < kTrue) throw new OptionError(`nearTruth init needs at least as many fitted experts (k=${k}) as true experts (${kTrue})`);
  const s = new Int32Array(k);
  const seen = new Uint8Array(kTrue);
  for (let attempt = 0; attempt < 10000; attempt++) {
    seen.fill(0);
    for (let i = 0; i < k - 1; i++) s[i] = rng.int(kTrue);
    s[k - 1] = kTrue - 1;
    for (let i = 0; i < k; i++) seen[s[i]] = 1;
    if (seen.every((v) => v === 1)) return s;
  }
  // deterministic fallback: a permutation-like cover
  for (let i = 0; i < k; i++) s[i] = i < kTrue ? i : rng.int(kTrue);
  s[k - 1] = kTrue - 1;
  return s;
}

function perturbBlock(value: unknown, kind: BlockInfo['kind'], sd: { gate: number; expert: number; scale: number }, rng: Rng): unknown {
  if (typeof value === 'number') {
    if (kind === 'scale') return value + Math.abs(sd.scale * rng.normal());
    return value + (kind === 'gate' ? sd.gate : sd.expert) * rng.normal();
  }
  if (Array.isArray(value)) return value.map((v) => perturbBlock(v, kind, sd, rng));
  return value;
}

/** Validate a user-given nearTruth assignment (fitted atom → true atom). */
function checkedAssignment(a: readonly number[], k: number, kTrue: number): Int32Array {
  if (a.length !== k) throw new OptionError(`nearTruth assignment: needs one true index per fitted expert (k=${k}), got ${a.length}`);
  const seen = new Uint8Array(kTrue);
  a.forEach((j, i) => {
    if (!Number.isInteger(j) || j < 0 || j >= kTrue) throw new OptionError(`nearTruth assignment[${i}]: expected a true expert index 0…${kTrue - 1}, got ${j}`);
    seen[j] = 1;
  });
  if (!seen.every((v) => v === 1)) throw new OptionError(`nearTruth assignment: every true expert 0…${kTrue - 1} needs at least one fitted expert, got [${a.join(', ')}]`);
  if (a[k - 1] !== kTrue - 1) throw new OptionError(`nearTruth assignment: the last fitted expert must sit on the true reference (${kTrue - 1}), got ${a[k - 1]}`);
  return Int32Array.from(a);
}

/** nearTruth start (math-spec §8.3), in the fitted model's structure. */
function nearTruth(model: MixtureOfExperts, init: NearTruthInit, nData: number, rng: Rng): Float64Array {
  const truth = init.truth;
  if (truth.gate.type !== model.gate.type || truth.expert.type !== model.expert.type) {
    throw new OptionError(`nearTruth init needs the same gate and expert families (truth ${truth.gate.type}/${truth.expert.type}, fit ${model.gate.type}/${model.expert.type})`);
  }
  if (truth.d !== model.d) throw new OptionError(`nearTruth init: truth has d=${truth.d}, the data have d=${model.d}`);
  const n = init.n ?? nData;
  const sd = {
    gate: (init.gateSd ?? 0.005) * Math.pow(n, -0.083),
    expert: (init.expertSd ?? 0.05) * Math.pow(n, -0.083),
    scale: (init.scaleSd ?? 0.005) * Math.pow(n, -0.25),
  };
  // Gates whose parameter blocks are indexed by level rather than by expert (hierarchical) cannot
  // follow a reassignment of the experts: keep the experts in order, which needs k = k*.
  const inOrder = model.gate.blocks.some((b) => b.kind === 'gate' && !b.perExpert);
  if (inOrder && model.k !== truth.k) {
    throw new OptionError(`nearTruth init for the ${model.gate.type} gate needs as many fitted experts as true experts (fit k=${model.k}, truth k=${truth.k}); its blocks are not indexed by expert`);
  }
  const s = inOrder ? Int32Array.from({ length: model.k }, (_, i) => i) : init.assignment ? checkedAssignment(init.assignment, model.k, truth.k) : surjectiveAssignment(model.k, truth.k, rng);
  const counts = new Int32Array(truth.k);
  for (const j of s) counts[j]++;
  const tj = truth.toJSON();
  const build = (src: Record<string, unknown>, spec: Record<string, unknown>, blocks: readonly BlockInfo[]): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...src, ...spec };
    for (const b of blocks) {
      const v = src[b.name];
      if (b.perExpert && Array.isArray(v)) {
        out[b.name] = Array.from(s, (j, i) => {
          // a reference entry fixed by the model (BlockInfo.fixedReference) is copied unperturbed
          if (b.fixedReference && i === s.length - 1) return v[j];
          let val = perturbBlock(v[j], b.kind, sd, rng);
          if (b.name === 'beta0' && (init.splitMass ?? true) && typeof val === 'number') val -= Math.log(counts[j]);
          return val;
        });
      } else {
        out[b.name] = perturbBlock(v, b.kind === 'scale' ? 'scale' : b.kind, sd, rng);
      }
    }
    return out;
  };
  const json: ModelJSON = {
    gate: build(tj.gate, model.gate.spec(), model.gate.blocks) as ModelJSON['gate'],
    experts: build(tj.experts, model.expert.spec(), model.expert.blocks) as ModelJSON['experts'],
  };
  const theta = new Float64Array(model.nParams);
  theta.set(model.gate.paramsFromJSON(json.gate), 0);
  theta.set(model.expert.paramsFromJSON(json.experts), model.gate.nParams);
  return theta;
}
