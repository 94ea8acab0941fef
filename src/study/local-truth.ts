/**
 * Local alternatives: a setting whose truth depends on n (issue 15; math-spec §1.6 [REC]).
 *
 * The "slower than any polynomial" results (P2 vanishing slopes, P3 linear experts, P4 temperature;
 * math-spec §1.6, §4.3, §5.3, §6.1) are MINIMAX lower bounds: for every r ≥ 1,
 *   inf_{Ḡn} sup_{G ∈ ℰ_k(Θ)∖ℰ_{k−1}(Θ)} E_G[D_{1,r}(Ḡn, G)] ≳ n^{−1/2}.
 * A fixed truth measures the pointwise rate, which can be parametric. The standard way to show a
 * minimax lower bound is Le Cam's two-point construction: a truth G_n at parameter distance ε_n from
 * the degenerate configuration G*, where D_{1,r}(G_n, G*) ≍ ε_n^r while the density distance
 * h(g_{G_n}, g_{G*}) is of higher order; at the ε_n where h ≲ n^{−1/2} no estimator separates the two,
 * so max over {G*, G_n} of the risk is ≳ D(G_n, G*)/2. An estimator that does not separate them has a
 * parameter error ≍ ε_n, i.e. the slope of ε_n in n; one that does has its uniform polynomial rate.
 *
 * A setting's `truth:` block makes the job's truth a pure function of (study, setting, n, rep):
 *   truth index  t = rep mod T  (T = scales.length; replicate rep serves truth t),
 *   ε_{n,t}      = scales[t] · (n / n0)^{−rate},
 *   the truth    = the study truth with every `moves[j]` applied: value + add·ε, or value·(1 + times·ε),
 *                  elementwise on an array; the result is put through the model's canonical form.
 * Readings (the option math-spec asks for, [REC]):
 *   `sequence` (default): rate > 0, local alternatives G_{n,t} → G* at n^{−rate};
 *   `family`:   rate = 0, a fixed finite family of truths around G* (the sup over a neighbourhood).
 * The report's summary is the WORST CASE over the family (max over t of the per-(n, t) statistic),
 * which is what the sup over G means; with T = 1 it is the single sequence.
 * `init: centre` (default) starts a nearTruth initialisation from the study truth G*, the same for every
 * truth of the family: the estimator must not know which alternative generated the data (a start
 * near the job's own truth would hand it the answer). `init: own` starts near the job's truth.
 */
import { z } from 'zod';
import type { ModelJSON } from '../model/model.js';
import { MixtureOfExperts } from '../model/model.js';
import { MoelabError } from '../errors.js';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

const MoveSchema = z.strictObject({
  /** Field of the truth's model JSON, e.g. `experts.b[1][0][0]` or `gate.beta1` (an array: every entry). */
  path: z.string().regex(/^[A-Za-z_]\w*(\.[A-Za-z_]\w*|\[\d+\])*$/, 'expected a field path such as experts.b[1][0][0] or gate.beta1'),
  /** value + add·ε */
  add: finite.optional(),
  /** value·(1 + times·ε) */
  times: finite.optional(),
}).superRefine((m, ctx) => {
  if ((m.add === undefined) === (m.times === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of `add` and `times`', path: ['add'] });
});

export const LocalTruthSchema = z.strictObject({
  /** [REC] `sequence`: ε shrinks at n^−rate (local alternatives); `family`: rate 0, a fixed family. */
  reading: z.enum(['sequence', 'family']).default('sequence'),
  /** ε scale of each truth of the family (truth index t = rep mod scales.length). */
  scales: z.array(finite).min(1, 'needs at least one scale'),
  /** ε_{n,t} = scales[t]·(n/n0)^−rate; must be > 0 for `sequence` and 0 (or absent) for `family`. */
  rate: z.number().min(0, 'must be ≥ 0').optional(),
  n0: z.number().positive('must be > 0').default(1000),
  moves: z.array(MoveSchema).min(1, 'needs at least one move'),
  /** Start of a nearTruth initialisation: the study truth (default) or the job's own truth. */
  init: z.enum(['centre', 'own']).default('centre'),
});

export type LocalTruthInput = z.output<typeof LocalTruthSchema>;

/** The resolved form (plain JSON in the resolved study; part of the study hash). */
export interface LocalTruth {
  reading: 'sequence' | 'family';
  scales: number[];
  rate: number;
  n0: number;
  moves: { path: string; add?: number; times?: number }[];
  init: 'centre' | 'own';
}

/** A path's parts: `experts.b[1][0]` → ['experts', 'b', 1, 0]. */
export function pathParts(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/([A-Za-z_]\w*)|\[(\d+)\]/g)) out.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return out;
}

/** Field-path issues of a `truth:` block against the study truth (relative paths, for the caller to prefix). */
export function checkLocalTruth(spec: LocalTruthInput, base: ModelJSON): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const rate = spec.rate ?? 0;
  if (spec.reading === 'sequence' && !(rate > 0)) issues.push({ path: ['rate'], message: 'reading `sequence` needs rate > 0 (ε = scale·(n/n0)^−rate); a fixed family is `reading: family`' });
  if (spec.reading === 'family' && rate !== 0) issues.push({ path: ['rate'], message: `reading \`family\` keeps the truths fixed in n: rate must be 0 or absent, got ${rate}` });
  spec.moves.forEach((m, j) => {
    let node: unknown = base;
    for (const p of pathParts(m.path)) {
      node = node !== null && typeof node === 'object' && Object.hasOwn(node, p) ? (node as Record<string | number, unknown>)[p] : undefined;
      if (node === undefined) break;
    }
    if (node === undefined) issues.push({ path: ['moves', j, 'path'], message: `the truth has no field ${m.path}` });
    else if (!isNumeric(node)) issues.push({ path: ['moves', j, 'path'], message: `${m.path} is not a number or an array of numbers` });
  });
  return issues;
}

function isNumeric(v: unknown): boolean {
  return typeof v === 'number' || (Array.isArray(v) && v.length > 0 && v.every(isNumeric));
}

export function resolveLocalTruth(spec: LocalTruthInput): LocalTruth {
  return {
    reading: spec.reading, scales: spec.scales.slice(), rate: spec.rate ?? 0, n0: spec.n0,
    moves: spec.moves.map((m) => ({ path: m.path, ...(m.add !== undefined ? { add: m.add } : {}), ...(m.times !== undefined ? { times: m.times } : {}) })),
    init: spec.init,
  };
}

/** Truth index of a replicate: t = rep mod T. */
export function truthIndex(spec: LocalTruth, rep: number): number {
  return rep % spec.scales.length;
}

/** ε_{n,t} = scales[t]·(n/n0)^−rate. */
export function epsilonOf(spec: LocalTruth, n: number, t: number): number {
  return spec.scales[t] * (spec.rate === 0 ? 1 : Math.pow(n / spec.n0, -spec.rate));
}

function moveValue(v: unknown, m: LocalTruth['moves'][number], eps: number): unknown {
  if (Array.isArray(v)) return v.map((x) => moveValue(x, m, eps));
  const x = v as number;
  return m.add !== undefined ? x + m.add * eps : x * (1 + (m.times as number) * eps);
}

/** The truth JSON at ε (the study truth with every move applied), not yet canonical. */
export function movedTruth(base: ModelJSON, spec: LocalTruth, eps: number): ModelJSON {
  const out = JSON.parse(JSON.stringify(base)) as ModelJSON;
  for (const m of spec.moves) {
    const parts = pathParts(m.path);
    let parent = out as unknown as Record<string | number, unknown>;
    for (let i = 0; i < parts.length - 1; i++) parent = parent[parts[i]] as Record<string | number, unknown>;
    const last = parts[parts.length - 1];
    parent[last] = moveValue(parent[last], m, eps);
  }
  return out;
}

/** The canonical truth model JSON of truth index t at sample size n (a pure function of its arguments). */
export function localTruthJSON(base: ModelJSON, spec: LocalTruth, n: number, t: number): ModelJSON {
  return MixtureOfExperts.fromJSON(movedTruth(base, spec, epsilonOf(spec, n, t)), 'truth').toJSON();
}

/**
 * The truths of a setting at every (n, t) must be valid models: returns the first failure's message
 * (the model's own field path) or undefined. Checked when the study is resolved, so no job fails on it.
 */
export function checkLocalTruths(base: ModelJSON, spec: LocalTruth, ns: readonly number[]): string | undefined {
  const centre = JSON.stringify(MixtureOfExperts.fromJSON(base, 'truth').toJSON());
  let moved = false;
  for (const n of ns) {
    for (let t = 0; t < spec.scales.length; t++) {
      try {
        if (JSON.stringify(localTruthJSON(base, spec, n, t)) !== centre) moved = true;
      } catch (e) {
        if (!(e instanceof MoelabError)) throw e;
        return `the truth at n=${n}, index ${t} (ε = ${epsilonOf(spec, n, t)}) is not a valid model: ${e.message}`;
      }
    }
  }
  // e.g. the scale orbit (β₁, β₀, τ) → c(β₁, β₀, τ) of a temperature gate: the canonical form
  // (gates/temperature.ts) maps every truth of it to the centre, and the data law is the same
  if (!moved) return 'every truth of the family is the centre truth after the model\'s canonical form (the moves follow an invariance of the model, or every ε is 0): no alternative to measure';
  return undefined;
}
