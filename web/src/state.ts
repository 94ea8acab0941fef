/**
 * The playground's whole state and its URL form. A link reproduces a run: every field that changes
 * a result (gate, experts, truth, x range, n, seed, k, estimator, initialisation, restarts, study
 * grid) is a query parameter. `truth` is the model JSON, or the word `default` for the gate × expert
 * preset (for softmax + Gaussian that is the authors' truth; `authors` is accepted as an alias).
 */
import type { ModelJSON } from '../../src/core.js';
import { defaultTruth, isExpertFamily, isGateFamily, type ExpertFamily, type GateFamily, type XRange } from './presets.js';

export type Estimator = 'em' | 'lse';
export type InitName = 'nearTruth' | 'kmeans++' | 'random';

export interface StudyState {
  /** Sample sizes of the mini rate study. */
  ns: number[];
  replicates: number;
}

export interface AppState {
  gate: GateFamily;
  experts: ExpertFamily;
  truth: ModelJSON;
  x: XRange;
  n: number;
  seed: number;
  k: number;
  estimator: Estimator;
  init: InitName;
  restarts: number;
  study: StudyState;
}

export const DEFAULT_STUDY: StudyState = { ns: [250, 500, 1000, 2000], replicates: 4 };

/** The estimator an expert family is fitted with: regression experts have no density (LSE only). */
export function estimatorFor(experts: ExpertFamily): Estimator {
  return experts === 'regression' ? 'lse' : 'em';
}

export function defaultState(gate: GateFamily = 'softmax', experts: ExpertFamily = 'gaussianLinear'): AppState {
  const { truth, x } = defaultTruth(gate, experts);
  return {
    gate, experts, truth, x, n: 2000, seed: 1, k: trueK(truth), estimator: estimatorFor(experts),
    init: 'nearTruth', restarts: 1, study: { ...DEFAULT_STUDY, ns: DEFAULT_STUDY.ns.slice() },
  };
}

/** Number of experts of a model JSON (length of its first per-expert expert block). */
export function trueK(truth: ModelJSON): number {
  const b = (truth.experts as Record<string, unknown>).b ?? (truth.experts as Record<string, unknown>).a;
  return Array.isArray(b) ? b.length : 0;
}

function intParam(p: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const s = p.get(name);
  if (s === null || s === '') return fallback;
  const v = Number(s);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`URL parameter ${name}: expected an integer in [${min}, ${max}], got ${JSON.stringify(s)}`);
  return v;
}

/** Read a state from a query string; throws one line naming the parameter on bad input. */
export function stateFromQuery(search: string): AppState {
  const p = new URLSearchParams(search);
  const gate = p.get('gate') ?? 'softmax';
  if (!isGateFamily(gate)) throw new Error(`URL parameter gate: unknown gate family ${JSON.stringify(gate)}`);
  const experts = p.get('experts') ?? 'gaussianLinear';
  if (!isExpertFamily(experts)) throw new Error(`URL parameter experts: unknown expert family ${JSON.stringify(experts)}`);
  const s = defaultState(gate, experts);
  const t = p.get('truth');
  if (t !== null && t !== 'default' && t !== 'authors') {
    try {
      s.truth = JSON.parse(t) as ModelJSON;
    } catch (e) {
      throw new Error(`URL parameter truth: not valid JSON (${(e as Error).message})`);
    }
  }
  const x = p.get('x');
  if (x !== null) {
    const [lo, hi] = x.split(',').map(Number);
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) throw new Error(`URL parameter x: expected LOW,HIGH with HIGH > LOW, got ${JSON.stringify(x)}`);
    s.x = { low: lo, high: hi };
  }
  s.n = intParam(p, 'n', s.n, 10, 1_000_000);
  s.seed = intParam(p, 'seed', s.seed, 0, 2 ** 31 - 1);
  s.k = intParam(p, 'k', trueK(s.truth), 1, 12);
  s.restarts = intParam(p, 'restarts', s.restarts, 1, 50);
  const est = p.get('estimator');
  if (est !== null) {
    if (est !== 'em' && est !== 'lse') throw new Error(`URL parameter estimator: expected em or lse, got ${JSON.stringify(est)}`);
    s.estimator = est;
  }
  const init = p.get('init');
  if (init !== null) {
    if (init !== 'nearTruth' && init !== 'kmeans++' && init !== 'random') throw new Error(`URL parameter init: expected nearTruth, kmeans++ or random, got ${JSON.stringify(init)}`);
    s.init = init;
  }
  const ns = p.get('ns');
  if (ns !== null) {
    const v = ns.split(',').map(Number);
    if (!v.length || v.some((m) => !Number.isInteger(m) || m < 20 || m > 200_000)) throw new Error(`URL parameter ns: expected integers in [20, 200000] separated by commas, got ${JSON.stringify(ns)}`);
    s.study.ns = [...new Set(v)].sort((a, b) => a - b);
  }
  s.study.replicates = intParam(p, 'reps', s.study.replicates, 1, 100);
  return s;
}

/** The query string of a state (defaults are written too, so a link never depends on them). */
export function stateToQuery(s: AppState): string {
  const p = new URLSearchParams();
  p.set('gate', s.gate);
  p.set('experts', s.experts);
  const preset = defaultTruth(s.gate, s.experts).truth;
  p.set('truth', JSON.stringify(preset) === JSON.stringify(s.truth) ? 'default' : JSON.stringify(s.truth));
  p.set('x', `${s.x.low},${s.x.high}`);
  p.set('n', String(s.n));
  p.set('seed', String(s.seed));
  p.set('k', String(s.k));
  p.set('estimator', s.estimator);
  p.set('init', s.init);
  p.set('restarts', String(s.restarts));
  p.set('ns', s.study.ns.join(','));
  p.set('reps', String(s.study.replicates));
  return p.toString();
}
