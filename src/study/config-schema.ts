/**
 * Study configuration, the input and the resolved form (split from config.ts, which loads and
 * resolves): the zod schema of a config file (every error names the field) and the plain-JSON
 * `ResolvedStudy` that the plan, the workers and the store see.
 */
import { z } from 'zod';
import { EM_DEFAULTS } from '../estimate/options.js';
import { OptionError } from '../errors.js';
import type { GateJSON } from '../gates/gate.js';
import type { ExpertJSON } from '../experts/expert.js';
import type { ModelJSON } from '../model/model.js';
import { AUTHORS_TRUTH } from '../model/presets.js';
import type { XDesign } from '../model/data.js';
import { parseXDesign } from '../model/data.js';
import type { InitConfig } from './estimators.js';
import { LocalTruthSchema, type LocalTruth } from './local-truth.js';
import type { PluginRef } from './plugins.js';

/** A config file that fails validation; the message lists every issue as `path (line L): message`. */
export class StudyConfigError extends OptionError {
  constructor(message: string, readonly pretty: string) {
    super(message);
  }
}

/** Named truths a config can refer to by string (`truth: authors`). */
export const NAMED_TRUTHS: Record<string, ModelJSON> = {
  authors: AUTHORS_TRUTH,
};

// ---------------------------------------------------------------------------------------------
// Schema

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const posInt = z.number().int('must be an integer').min(1, 'must be ≥ 1');
const nValue = z.number().int('sample sizes must be integers').min(2, 'sample sizes must be ≥ 2');

export type GridInput =
  | { type: 'list'; values: number[] }
  | { type: 'linear'; from: number; to: number; count: number }
  | { type: 'log'; from: number; to: number; count: number }
  | { type: 'concat'; parts: GridInput[] };

const rangeGrid = <T extends 'linear' | 'log'>(t: T) =>
  z.strictObject({ type: z.literal(t), from: nValue, to: nValue, count: posInt })
    .refine((g) => g.to >= g.from, { message: '`to` must be ≥ `from`', path: ['to'] });

const GridSchema: z.ZodType<GridInput> = z.lazy(() =>
  z.preprocess(
    (v) => (Array.isArray(v) ? { type: 'list', values: v } : v),
    z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('list'), values: z.array(nValue).min(1, 'needs at least one sample size') }),
      rangeGrid('linear'),
      rangeGrid('log'),
      z.strictObject({ type: z.literal('concat'), parts: z.array(GridSchema).min(1, 'needs at least one part') }),
    ]),
  ),
) as z.ZodType<GridInput>;

const XSchema = z.union([
  z.string().transform((s, ctx) => {
    try {
      return parseXDesign(s, 'x');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^x: /, '') });
      return z.NEVER;
    }
  }),
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('uniform'), low: finite.default(0), high: finite.default(1) }),
    z.strictObject({ type: z.literal('grid'), low: finite.default(0), high: finite.default(1) }),
    z.strictObject({ type: z.literal('normal'), mean: finite.default(0), sd: finite.default(1) }),
  ]).superRefine((x, ctx) => {
    if (x.type === 'normal' && !(x.sd > 0)) ctx.addIssue({ code: 'custom', message: 'must be > 0', path: ['sd'] });
    if (x.type !== 'normal' && !(x.high > x.low)) ctx.addIssue({ code: 'custom', message: 'must be > low', path: ['high'] });
  }),
]);

const LossSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { name: v } : v),
  z.strictObject({
    /** `D1`, `D2`, `hellinger`, … or `BASE:block` (e.g. `D2:beta1`) for one block of a Voronoi loss. */
    name: z.string().regex(/^[A-Za-z][\w-]*(:[A-Za-z][\w-]*)?$/, 'expected NAME or NAME:BLOCK (e.g. D1, hellinger, D2:beta1)'),
    /** Theoretical log-log slope (math-spec §7), drawn as a reference line. */
    theory: finite.optional(),
    /**
     * What the theorem states (src/measure/rate-summary.ts, the verdict rule): `rate` an O_P(n^theory)
     * bound (default when theory < 0), `slow` a rate slower than any polynomial, `plateau` no
     * convergence (default when theory ≥ 0).
     */
    claim: z.enum(['rate', 'slow', 'plateau']).optional(),
    /** `slow` claims: the polynomial rate of the counterpart setting the claim contrasts with (default −0.5). */
    versus: z.number().negative('must be < 0').optional(),
    /** Options passed to the measuring function (e.g. { mode: raw } for a Voronoi loss). */
    options: z.record(z.string(), z.unknown()).optional(),
  }),
);

const InitSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { type: v } : v),
  z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('nearTruth'),
      gateSd: finite.optional(),
      expertSd: finite.optional(),
      scaleSd: finite.optional(),
      splitMass: z.boolean().optional(),
      /** Fitted atom → true atom (0-based), instead of the random surjective draw. */
      assignment: z.array(z.number().int().min(0)).min(1).optional(),
    }),
    z.strictObject({ type: z.literal('kmeans++') }),
    z.strictObject({ type: z.literal('random') }),
  ]),
);

/** A study setting's default `tol`: 1e-6, deliberately looser than fitEM's own default (EM_DEFAULTS.tol = 1e-8). */
export const STUDY_DEFAULT_TOL = 1e-6;

const FamilySpec = z.union([z.string().min(1), z.looseObject({ type: z.string().min(1) })]);

const SettingFields = {
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'use letters, digits, ".", "_" or "-" (no spaces)'),
  /** Number of fitted experts k (math-spec: exact k = k*, over k > k*). */
  k: posInt,
  gate: FamilySpec,
  experts: FamilySpec,
  estimator: z.string().default('em'),
  init: InitSchema.default({ type: 'nearTruth' }),
  restarts: posInt.default(1),
  tol: z.number().positive('must be > 0').default(STUDY_DEFAULT_TOL),
  maxIter: posInt.default(EM_DEFAULTS.maxIter),
  /** Extra estimator options (e.g. { polish: false } for EM). */
  options: z.record(z.string(), z.unknown()).default({}),
  losses: z.array(LossSchema).min(1, 'list at least one loss'),
  /** Local alternatives: the job's truth depends on (n, rep) (src/study/local-truth.ts; math-spec §1.6 [REC]). */
  truth: LocalTruthSchema.optional(),
};

const SettingSchema = z.strictObject(SettingFields);
const SettingOverride = z.strictObject({
  k: posInt.optional(),
  restarts: posInt.optional(),
  tol: z.number().positive('must be > 0').optional(),
  maxIter: posInt.optional(),
  options: z.record(z.string(), z.unknown()).optional(),
});

const ProfileSchema = z.strictObject({
  description: z.string().optional(),
  n: GridSchema.optional(),
  replicates: posInt.optional(),
  seed: z.number().int().optional(),
  x: XSchema.optional(),
  /** Per-setting overrides, by setting name. */
  settings: z.record(z.string(), SettingOverride).optional(),
  /** Run only these settings in this profile. */
  only: z.array(z.string()).optional(),
});

const TruthSchema = z.union([z.string(), z.looseObject({ gate: z.unknown(), experts: z.unknown() })]);

export const StudyConfigSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'use letters, digits, ".", "_" or "-" (no spaces)'),
  description: z.string().optional(),
  /** The claim of the papers this study checks (free text, shown in reports). */
  claim: z.string().optional(),
  /** Study seed: every job's seed is deriveSeed(seed, setting, n, rep). */
  seed: z.number().int('must be an integer'),
  /** The true model: a model JSON object, or the name of a preset (`authors`). */
  truth: TruthSchema,
  x: XSchema.default({ type: 'uniform', low: 0, high: 1 }),
  n: GridSchema,
  replicates: posInt,
  settings: z.array(SettingSchema).min(1, 'needs at least one fitted setting'),
  profiles: z.record(z.string(), ProfileSchema).default({}),
  /**
   * Plugin modules (file paths relative to the config's directory) that add gate, expert or measure
   * families (src/study/plugins.ts). The study records each with its sha256; every worker loads the
   * same bytes or refuses.
   */
  plugins: z.array(z.string().min(1, 'must not be empty')).optional(),
});


/** One `profiles.NAME` entry, validated. */
export type ProfileInput = z.output<typeof ProfileSchema>;

export type StudyConfig = z.output<typeof StudyConfigSchema>;

// ---------------------------------------------------------------------------------------------
// Resolved form (plain JSON: goes to workers, the store and the hash)

export interface LossSpec {
  name: string;
  /** Part before ':' (the measuring function). */
  base: string;
  /** Part after ':' (a block of a Voronoi loss), if any. */
  block?: string;
  theory?: number;
  claim?: 'rate' | 'slow' | 'plateau';
  versus?: number;
  options: Record<string, unknown>;
}

/** Defined with its consumer (estimators.ts: `initSpec`), re-exported here. */
export type { InitConfig };

export interface ResolvedSetting {
  name: string;
  k: number;
  gate: GateJSON;
  experts: ExpertJSON;
  estimator: string;
  init: InitConfig;
  restarts: number;
  tol: number;
  maxIter: number;
  options: Record<string, unknown>;
  losses: LossSpec[];
  /** Local alternatives (absent: every job's truth is the study truth). */
  truth?: LocalTruth;
}

export interface ResolvedStudy {
  format: 'moelab-study/1';
  name: string;
  description?: string;
  claim?: string;
  profile: string;
  /** The description of the profile that ran (`profiles.NAME.description`), when it has one. */
  profileDescription?: string;
  seed: number;
  truth: ModelJSON;
  /** Input dimension (from the truth). */
  d: number;
  /** Number of true experts k*. */
  kTrue: number;
  x: XDesign;
  /** Sorted distinct sample sizes. */
  ns: number[];
  replicates: number;
  settings: ResolvedSetting[];
  /** Plugin modules the jobs need (absent when none; `path` is not part of the study hash). */
  plugins?: PluginRef[];
}
