/** Raw mode: the authors' discrepancies.loss_SGaME_exact (math-spec §8.1), quirks included. */
import { OptionError } from '../../errors.js';
import { readMatrix, readVector } from '../../json-read.js';
import type { VoronoiOptions, VoronoiResult } from './types.js';
import { warning, type MoeWarning } from '../../warnings.js';

const RAW_RBAR = [0, 1, 4, 6];

export function rawLoss(fitJson: { gate: Record<string, unknown>; experts: Record<string, unknown> }, truthJson: { gate: Record<string, unknown>; experts: Record<string, unknown> }, K: number, Ks: number, options: VoronoiOptions): VoronoiResult {
  if (fitJson.gate.type !== 'softmax' || truthJson.gate.type !== 'softmax' || fitJson.experts.type !== 'gaussianLinear' || truthJson.experts.type !== 'gaussianLinear') {
    throw new OptionError('raw: the authors\' loss_SGaME_exact is defined for softmax-gated Gaussian linear experts only');
  }
  if (options.metric !== undefined && options.metric !== 'l1') throw new OptionError('raw: the authors\' code assigns cells with the L1 distance; do not combine raw with metric l2');
  if (options.loss !== undefined) {
    const want = K === Ks ? 'd1' : 'd2';
    if (typeof options.loss !== 'string' || options.loss.toLowerCase() !== want) {
      throw new OptionError(`raw: the authors' code chooses its own loss (${want.toUpperCase()} since k=${K}, k*=${Ks}); do not pass a different loss with raw`);
    }
  }
  if (options.translation !== undefined && options.translation !== 'none') throw new OptionError('raw: the authors\' code does not normalise; translation must be none or unset');
  const warnings: MoeWarning[] = [];
  // Values as given (no canonical form): beta[0,i] = β₀ᵢ, beta[1,i] = β₁ᵢ[0], A[0,i] = bᵢ, A[1,i] = aᵢ[0], Sigma = νᵢ.
  const read = (j: { gate: Record<string, unknown>; experts: Record<string, unknown> }, k: number, who: string) => {
    const beta0 = readVector(j.gate.beta0, `${who}.gate.beta0`, k);
    const beta1 = readMatrix(j.gate.beta1, `${who}.gate.beta1`, k);
    const a = readMatrix(j.experts.a, `${who}.experts.a`, k);
    const b = readVector(j.experts.b, `${who}.experts.b`, k);
    const v = readVector(j.experts.variance, `${who}.experts.variance`, k);
    return { beta0, beta1: beta1.map((r) => r[0]), a: a.map((r) => r[0]), b, v, d: beta1[0]?.length ?? 1 };
  };
  const f = read(fitJson, K, 'fit');
  const t = read(truthJson, Ks, 'truth');
  if (f.d > 1) warnings.push(warning('VORONOI_RAW_FIRST_COORDINATE', `raw: the authors' code reads only the first input coordinate of β₁ and a (d = ${f.d})`, { d: f.d }));
  const norm = (x: number): number => Math.sqrt(x * x); // np.linalg.norm of a scalar
  // gauss_dist_SGaME
  const D: number[][] = [];
  for (let i = 0; i < K; i++) {
    D.push([]);
    for (let j = 0; j < Ks; j++) {
      D[i].push(norm(t.beta1[j] - f.beta1[i]) + norm(t.b[j] - f.b[i]) + norm(t.a[j] - f.a[i]) + norm(t.v[j] - f.v[i]));
    }
  }
  // vor: every minimiser is appended (quirk: ties make vor longer than K and misalign it)
  const vor: number[] = [];
  for (let i = 0; i < K; i++) {
    const mn = Math.min(...D[i]);
    for (let j = 0; j < Ks; j++) if (D[i][j] === mn) vor.push(j);
  }
  if (vor.length > K) warnings.push(warning('VORONOI_RAW_TIE', 'raw: a fitted atom is equidistant from two true atoms; the authors\' code appends both and misaligns its cell list (reproduced)'));
  // np.unique(vor, return_counts=True): counts indexed by POSITION among the sorted unique values (quirk)
  const uniq = [...new Set(vor)].sort((x, y) => x - y);
  const counts = uniq.map((u) => vor.filter((v) => v === u).length);
  const countAt = (j: number): number => {
    if (j >= counts.length) {
      throw new OptionError(`raw: the authors' code fails on this input (IndexError: counts[${j}] with only ${counts.length} non-empty cells; some true atom has an empty cell)`);
    }
    return counts[j];
  };
  let summ = 0;
  const blocks: Record<string, number> = { beta1: 0, b: 0, a: 0, variance: 0, mass: 0 };
  const cells: number[][] = Array.from({ length: Ks }, () => []);
  for (let i = 0; i < K; i++) cells[vor[i]].push(i);
  const pieces = (i: number, j: number) => [norm(f.beta1[i] - t.beta1[j]), norm(f.b[i] - t.b[j]), norm(f.a[i] - t.a[j]), norm(f.v[i] - t.v[j])];
  if (Ks === K) {
    for (let i = 0; i < K; i++) {
      if (countAt(vor[i]) === 1) {
        const w = Math.exp(f.beta0[i]);
        summ += w * D[i][vor[i]];
        const [p1, pb, pa, pv] = [norm(t.beta1[vor[i]] - f.beta1[i]), norm(t.b[vor[i]] - f.b[i]), norm(t.a[vor[i]] - f.a[i]), norm(t.v[vor[i]] - f.v[i])];
        blocks.beta1 += w * p1;
        blocks.b += w * pb;
        blocks.a += w * pa;
        blocks.variance += w * pv;
      }
    }
  } else {
    for (let i = 0; i < K; i++) {
      const j = vor[i];
      const w = Math.exp(f.beta0[i]);
      const c = countAt(j);
      if (c === 1) {
        summ += w * D[i][j];
        const [p1, pb, pa, pv] = [norm(t.beta1[j] - f.beta1[i]), norm(t.b[j] - f.b[i]), norm(t.a[j] - f.a[i]), norm(t.v[j] - f.v[i])];
        blocks.beta1 += w * p1;
        blocks.b += w * pb;
        blocks.a += w * pa;
        blocks.variance += w * pv;
      } else {
        if (c >= RAW_RBAR.length) throw new OptionError(`raw: the authors' code fails on this input (IndexError: rbar[${c}]; a cell has ${c} fitted atoms and their r̄ table stops at 3)`);
        const rb = RAW_RBAR[c];
        const [p1, pb, pa, pv] = pieces(i, j);
        const b1 = Math.pow(p1, rb);
        const bd = Math.pow(pb, rb);
        const ad = Math.pow(pa, rb / 2);
        const sd = Math.pow(pv, rb / 2);
        summ += w * (b1 + bd + ad + sd);
        blocks.beta1 += w * b1;
        blocks.b += w * bd;
        blocks.a += w * ad;
        blocks.variance += w * sd;
      }
    }
  }
  for (let j = 0; j < Ks; j++) {
    let e = 0;
    for (let i = 0; i < K; i++) if (vor[i] === j) e += Math.exp(f.beta0[i]);
    const m = Math.abs(e - Math.exp(t.beta0[j]));
    summ += m;
    blocks.mass += m;
  }
  const blockMax: Record<string, number> = { beta1: 0, a: 0, b: 0, variance: 0 };
  const blockMaxMulti: Record<string, number> = { beta1: 0, a: 0, b: 0, variance: 0 };
  const sizes = cells.map((c) => c.length);
  for (let i = 0; i < K; i++) {
    const j = vor[i];
    const [p1, pb, pa, pv] = pieces(i, j);
    const vals: Record<string, number> = { beta1: p1, b: pb, a: pa, variance: pv };
    for (const key of Object.keys(vals)) {
      blockMax[key] = Math.max(blockMax[key], vals[key]);
      if (sizes[j] > 1) blockMaxMulti[key] = Math.max(blockMaxMulti[key], vals[key]);
    }
  }
  const exponents: Record<string, number[]> = {};
  for (const key of ['beta1', 'b', 'a', 'variance']) {
    exponents[key] = sizes.map((m) => {
      if (m === 0) return NaN;
      if (Ks === K || m === 1) return 1;
      const rb = m < RAW_RBAR.length ? RAW_RBAR[m] : NaN;
      return key === 'beta1' || key === 'b' ? rb : rb / 2;
    });
  }
  // the authors' loss keeps its quirks; no per-cell rate statistic is defined on it
  const cellBlock: Record<string, number> = { beta1: NaN, a: NaN, b: NaN, variance: NaN };
  return { loss: summ, cells, blocks, blockMax, blockMaxMulti, cellBlock, lossName: K === Ks ? 'raw:D1' : 'raw:D2', exponents, normalisation: null, warnings };
}
