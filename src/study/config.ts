/**
 * Study configuration (docs/architecture.md "Study"; math-spec §7, §8): a YAML or JSON file naming the
 * truth, the fitted settings, the x design, the sample-size grid, replicates, the study seed and the
 * losses to record (each with its theoretical slope). Validated with zod; every error names the field
 * (and its line in the file).
 *
 * `loadStudy(text, {profile})` returns a `ResolvedStudy`: a plain JSON object with the profile
 * applied, the grid expanded and gate/expert CLI specs turned into JSON specs. The resolved study is
 * what the plan, the workers and the store see; its hash identifies the study.
 */
import { createHash } from 'node:crypto';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { EM_DEFAULTS } from '../estimate/options.js';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { OptionError, MoelabError } from '../errors.js';
import { checkFitSize, checkStudyBound, fitBytes, LIMITS } from '../limits.js';
import { readStdinSync } from '../stdin.js';
import { parseGateSpec, gateFactory } from '../gates/registry.js';
import { parseExpertSpec, expertFactory } from '../experts/registry.js';
import type { GateJSON } from '../gates/gate.js';
import type { ExpertJSON } from '../experts/expert.js';
import { MixtureOfExperts, type ModelJSON } from '../model/model.js';
import { AUTHORS_TRUTH } from '../model/presets.js';
import type { XDesign } from '../model/data.js';
import { parseXDesign } from '../model/data.js';
import { measureEntry, measureNames } from './measures.js';
import { estimatorEntry, estimatorNames, type InitConfig } from './estimators.js';
import { LocalTruthSchema, checkLocalTruth, checkLocalTruths, resolveLocalTruth, type LocalTruth } from './local-truth.js';
import { isPluginLoaded, loadPluginRefs, resolvePluginRef, type PluginRef } from './plugins.js';

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

type GridInput =
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

// ---------------------------------------------------------------------------------------------
// Grid expansion

/** Expand a sample-size grid: linear uses the authors' int() truncation of linspace (math-spec §8.1). */
export function expandGrid(g: GridInput): number[] {
  switch (g.type) {
    case 'list':
      return g.values.slice();
    case 'linear': {
      if (g.count === 1) return [g.from];
      const out: number[] = [];
      for (let i = 0; i < g.count; i++) out.push(Math.floor(g.from + ((g.to - g.from) * i) / (g.count - 1) + 1e-9));
      return out;
    }
    case 'log': {
      if (g.count === 1) return [g.from];
      const a = Math.log(g.from);
      const b = Math.log(g.to);
      const out: number[] = [];
      for (let i = 0; i < g.count; i++) out.push(Math.round(Math.exp(a + ((b - a) * i) / (g.count - 1))));
      return out;
    }
    case 'concat':
      return g.parts.flatMap(expandGrid);
  }
}

function sortedDistinct(ns: number[]): number[] {
  return [...new Set(ns)].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Loading

interface Issue {
  path: PropertyKey[];
  message: string;
}

function lineOf(doc: ReturnType<typeof parseDocument> | undefined, lc: LineCounter, path: PropertyKey[]): number | undefined {
  if (!doc) return undefined;
  for (let len = path.length; len >= 0; len--) {
    const p = path.slice(0, len).map((s) => (typeof s === 'symbol' ? String(s) : s)) as (string | number)[];
    const node = len === 0 ? doc.contents : doc.getIn(p, true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

function fail(issues: Issue[], source: string, doc: ReturnType<typeof parseDocument> | undefined, lc: LineCounter, pretty?: string): never {
  const parts = issues.map((i) => {
    const path = i.path.length ? z.core.toDotPath(i.path as (string | number)[]) : '(top level)';
    const line = lineOf(doc, lc, i.path);
    return `${path}${line !== undefined ? ` (line ${line})` : ''}: ${i.message}`;
  });
  const detail = pretty ?? parts.join('\n');
  throw new StudyConfigError(`${source}: invalid study config: ${parts.join('; ')}`, detail);
}

export interface LoadOptions {
  /** Profile to apply (`quick`, …); default: none (the full profile). */
  profile?: string;
  /** Name of the source for messages (file path). */
  source?: string;
  /** Lift the size limits of src/limits.ts (grid, n, replicates, jobs, k, columns, memory). */
  allowLarge?: boolean;
  /** Directory that a `truth:` file path is relative to (the config's directory; default: the working directory). */
  baseDir?: string;
}

/** Parse and validate config text (YAML or JSON) and resolve it. */
export function loadStudy(text: string, options: LoadOptions = {}): ResolvedStudy {
  const source = options.source ?? 'config';
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new StudyConfigError(`${source}: not valid YAML/JSON: ${e.message.split('\n')[0]}`, e.message);
  }
  let raw: unknown;
  try {
    // aliases are expanded with yaml's bound (maxAliasCount): a billion-laughs file stops here
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new StudyConfigError(`${source}: not a usable YAML/JSON document: ${(e as Error).message.split('\n')[0]}`, (e as Error).message);
  }
  const parsed = StudyConfigSchema.safeParse(raw);
  if (!parsed.success) fail(parsed.error.issues, source, doc, lc, z.prettifyError(parsed.error));
  return resolveStudy(parsed.data, options.profile, (issues) => fail(issues, source, doc, lc), options.allowLarge ?? false, options.baseDir ?? process.cwd());
}

/** A config file's text (`-`: standard input) and the options that name it; one-line error if unreadable. */
function readConfigFile(path: string, options: Omit<LoadOptions, 'source'>): { text: string; options: LoadOptions } {
  let text: string;
  try {
    text = path === '-' ? readStdinSync() : readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OptionError(`study config ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return { text, options: { ...options, source: path, baseDir: path === '-' ? process.cwd() : dirname(resolve(path)) } };
}

/** Load a config file (YAML or JSON). */
export function loadStudyFile(path: string, options: Omit<LoadOptions, 'source'> = {}): ResolvedStudy {
  const f = readConfigFile(path, options);
  return loadStudy(f.text, f.options);
}

/**
 * Load a config (text) whose `plugins:` must be imported before its settings can be checked: resolves
 * and imports them in this thread, then `loadStudy`. Same result as `loadStudy` for a config without
 * plugins.
 */
export async function loadStudyAsync(text: string, options: LoadOptions = {}): Promise<ResolvedStudy> {
  let raw: unknown;
  try {
    raw = parseDocument(text).toJS({ maxAliasCount: 100 });
  } catch {
    raw = undefined; // loadStudy reports it
  }
  const list = raw !== null && typeof raw === 'object' ? (raw as { plugins?: unknown }).plugins : undefined;
  if (Array.isArray(list) && list.every((m) => typeof m === 'string' && m !== '')) {
    const refs: PluginRef[] = [];
    for (const m of list as string[]) {
      try {
        refs.push(resolvePluginRef(m, options.baseDir ?? process.cwd()));
      } catch {
        return loadStudy(text, options); // reports the bad entry with its line
      }
    }
    try {
      await loadPluginRefs(refs);
    } catch (e) {
      const i = refs.findIndex((r) => !isPluginLoaded(r.sha256));
      const m = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw new OptionError(`${options.source ?? 'config'}: plugins[${Math.max(i, 0)}] ${refs[Math.max(i, 0)].module}: the module failed to load: ${m}`);
    }
  }
  return loadStudy(text, options);
}

/** `loadStudyFile` for configs with `plugins:` (imports them first; see loadStudyAsync). */
export async function loadStudyFileAsync(path: string, options: Omit<LoadOptions, 'source'> = {}): Promise<ResolvedStudy> {
  const f = readConfigFile(path, options);
  return loadStudyAsync(f.text, f.options);
}

/** Directory of the shipped presets (`studies/` at the package root). */
export function presetDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '..', '..', 'studies');
}

export function presetNames(): string[] {
  const dir = presetDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();
}

/** The file of a shipped preset. Only names listed by `presetNames()` are accepted (a path is given as a config file instead). */
export function presetPath(name: string): string {
  const names = presetNames();
  if (!names.includes(name)) {
    const hint = /[/\\]|\.ya?ml$/i.test(name) ? '; a config file is given as `moelab study run FILE`' : '';
    throw new OptionError(`--preset: unknown preset ${JSON.stringify(name)} (known: ${names.join(', ')})${hint}`);
  }
  return join(presetDir(), `${name}.yaml`);
}

function resolveFamily(spec: string | { type: string }, kind: 'gate' | 'experts'): GateJSON | ExpertJSON {
  if (typeof spec === 'string') return kind === 'gate' ? parseGateSpec(spec) : parseExpertSpec(spec);
  if (kind === 'gate') gateFactory(spec.type, 'type');
  else expertFactory(spec.type, 'type');
  return { ...spec };
}

function errorText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/^--(gate|expert)( [^:]*)?: /, '');
}

/** Number of sample sizes of a grid, without expanding it. */
function gridCount(g: GridInput): number {
  switch (g.type) {
    case 'list':
      return g.values.length;
    case 'linear':
    case 'log':
      return g.count;
    case 'concat':
      return g.parts.reduce((s, p) => s + gridCount(p), 0);
  }
}

/** Smallest and largest sample size of a grid, without expanding it. */
function gridRange(g: GridInput): { min: number; max: number } {
  switch (g.type) {
    case 'list':
      return { min: Math.min(...g.values), max: Math.max(...g.values) };
    case 'linear':
    case 'log':
      return { min: g.from, max: g.count === 1 ? g.from : g.to };
    case 'concat': {
      const r = g.parts.map(gridRange);
      return { min: Math.min(...r.map((x) => x.min)), max: Math.max(...r.map((x) => x.max)) };
    }
  }
}

/** Field-path issues collected while resolving (the caller fails once with all of them). */
type Issues = Issue[];

/** `plugins:` — each module resolved (sha256) and already loaded in this process; their families must be registered before the settings are checked. */
function resolvePlugins(c: StudyConfig, baseDir: string, issues: Issues): PluginRef[] {
  const plugins: PluginRef[] = [];
  (c.plugins ?? []).forEach((m, i) => {
    try {
      const ref = resolvePluginRef(m, baseDir);
      if (!isPluginLoaded(ref.sha256)) issues.push({ path: ['plugins', i], message: `${JSON.stringify(m)} is not loaded in this process (load the config with loadStudyFileAsync, as the CLI does)` });
      plugins.push(ref);
    } catch (e) {
      if (!(e instanceof MoelabError)) throw e;
      issues.push({ path: ['plugins', i], message: e.message });
    }
  });
  return plugins;
}

interface TruthResolved {
  /** Canonical model JSON (undefined when the truth has issues). */
  json?: ModelJSON;
  d: number;
  /** Number of true experts k* (0 when unknown). */
  k: number;
}

/** `truth:` — a named truth, a model JSON file (relative to the config's directory) or an inline model, in canonical form. */
function resolveTruth(truth: StudyConfig['truth'], baseDir: string, issues: Issues): TruthResolved {
  let json: ModelJSON | undefined;
  if (typeof truth === 'string' && Object.hasOwn(NAMED_TRUTHS, truth)) {
    json = NAMED_TRUTHS[truth];
  } else if (typeof truth === 'string') {
    // a model JSON file (a `fit --json` output too); the resolved study holds its content, so the
    // study's hash follows the model, not the path
    const file = resolve(baseDir, truth);
    if (!existsSync(file)) {
      issues.push({ path: ['truth'], message: `unknown named truth ${JSON.stringify(truth)} and no such file in ${baseDir} (named truths: ${Object.keys(NAMED_TRUTHS).join(', ')}; a file path is relative to the config's directory); or give a model JSON object` });
      return { d: 1, k: 0 };
    }
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as ModelJSON;
    } catch (e) {
      issues.push({ path: ['truth'], message: `${truth}: not valid JSON (${(e as Error).message})` });
      return { d: 1, k: 0 };
    }
  } else json = truth as unknown as ModelJSON;
  try {
    const m = MixtureOfExperts.fromJSON(json, 'truth');
    return { json: m.toJSON(), d: m.d, k: m.k };
  } catch (e) {
    if (!(e instanceof MoelabError)) throw e;
    issues.push(modelIssue(e.message));
    return { d: 1, k: 0 };
  }
}

/**
 * A model error as a config issue under `truth`. ModelFormatError carries its field path only in its
 * text (errors.ts: "the message names the field path", as `gate.beta1[0]: …` with or without a
 * `truth` prefix), so this is the one place where a lower layer's message is read for a path; a
 * message without one stays whole under `truth`.
 */
function modelIssue(msg: string): Issue {
  const mm = /^(?:truth\.?)?((?:gate|experts|model)?(?:\.?[\w]+|\[\d+\])*): (.*)$/s.exec(msg);
  const sub = mm ? mm[1].split(/\.|\[|\]/).filter((p) => p !== '').map((p) => (/^\d+$/.test(p) ? Number(p) : p)) : [];
  return { path: ['truth', ...sub], message: mm ? mm[2] : msg };
}

type ProfileInput = z.output<typeof ProfileSchema>;

interface ProfileResolved {
  name: string;
  profile: ProfileInput;
  grid: GridInput;
  gridPath: PropertyKey[];
  replicates: number;
  repPath: PropertyKey[];
}

/** `profiles.NAME` applied over the top-level grid and replicates (an unknown profile is an option error, not a config error). */
function resolveProfile(c: StudyConfig, profileName: string | undefined): ProfileResolved {
  let profile: ProfileInput = {};
  const name = profileName ?? 'full';
  if (profileName !== undefined && profileName !== 'full') {
    const p = Object.hasOwn(c.profiles, profileName) ? c.profiles[profileName] : undefined;
    if (!p) throw new OptionError(`profile ${JSON.stringify(profileName)} is not defined in this config (defined: ${['full', ...Object.keys(c.profiles)].join(', ')})`);
    profile = p;
  }
  return {
    name, profile,
    grid: profile.n ?? c.n,
    gridPath: profile.n ? ['profiles', name, 'n'] : ['n'],
    replicates: profile.replicates ?? c.replicates,
    repPath: profile.replicates !== undefined ? ['profiles', name, 'replicates'] : ['replicates'],
  };
}

/** Setting names are unique, and every profile refers to existing settings only. */
function checkSettingNames(c: StudyConfig, issues: Issues): void {
  const names = new Set<string>();
  c.settings.forEach((s, i) => {
    if (names.has(s.name)) issues.push({ path: ['settings', i, 'name'], message: `duplicate setting name ${JSON.stringify(s.name)}` });
    names.add(s.name);
  });
  for (const [pn, p] of Object.entries(c.profiles)) {
    for (const sn of Object.keys(p.settings ?? {})) if (!names.has(sn)) issues.push({ path: ['profiles', pn, 'settings', sn], message: `no setting named ${JSON.stringify(sn)}` });
    (p.only ?? []).forEach((sn, j) => { if (!names.has(sn)) issues.push({ path: ['profiles', pn, 'only', j], message: `no setting named ${JSON.stringify(sn)}` }); });
  }
}

/** The size limits (src/limits.ts), checked before anything is expanded or allocated. */
function checkSizes(c: StudyConfig, pr: ProfileResolved, allowLarge: boolean, issues: Issues): void {
  const sizes = gridCount(pr.grid);
  const range = gridRange(pr.grid);
  const sizeIssue = (path: PropertyKey[], m: string | undefined): void => { if (m) issues.push({ path, message: m }); };
  sizeIssue(pr.gridPath, checkStudyBound(sizes, LIMITS.sampleSizes, 'the number of sample sizes', allowLarge));
  sizeIssue(pr.gridPath, checkStudyBound(range.max, LIMITS.n, 'the largest sample size', allowLarge));
  sizeIssue(pr.repPath, checkStudyBound(pr.replicates, LIMITS.replicates, 'replicates', allowLarge));
  const only = pr.profile.only;
  const nSettings = only ? c.settings.filter((s) => only.includes(s.name)).length : c.settings.length;
  sizeIssue(pr.repPath, checkStudyBound(nSettings * sizes * pr.replicates, LIMITS.jobs, `the number of jobs (${nSettings} settings × ${sizes} sample sizes × ${pr.replicates} replicates)`, allowLarge));
}

/** `settings[i].losses`: known measures, no duplicates, valid options. */
function resolveLosses(s: StudyConfig['settings'][number], at: PropertyKey[], issues: Issues): LossSpec[] {
  const known = measureNames();
  const losses: LossSpec[] = [];
  const seen = new Set<string>();
  s.losses.forEach((l, j) => {
    const [base, block] = l.name.split(':');
    if (!known.includes(base)) issues.push({ path: [...at, j, 'name'], message: `unknown loss ${JSON.stringify(base)} (known: ${known.join(', ')})` });
    if (seen.has(l.name)) issues.push({ path: [...at, j, 'name'], message: `loss ${JSON.stringify(l.name)} is listed twice` });
    seen.add(l.name);
    const m = measureEntry(base);
    if (m && l.options) {
      const po = m.options.safeParse(l.options);
      if (!po.success) for (const iss of po.error.issues) issues.push({ path: [...at, j, 'options', ...iss.path], message: iss.message });
    }
    losses.push({ name: l.name, base, ...(block ? { block } : {}), ...(l.theory !== undefined ? { theory: l.theory } : {}), ...(l.claim !== undefined ? { claim: l.claim } : {}), ...(l.versus !== undefined ? { versus: l.versus } : {}), options: l.options ?? {} });
  });
  return losses;
}

/** `settings[i].init.assignment` (nearTruth): one true index per fitted expert, every true index used, ending on the reference. */
function checkAssignment(s: StudyConfig['settings'][number], k: number, truthK: number, at: PropertyKey[], issues: Issues): void {
  const asg = s.init.type === 'nearTruth' ? s.init.assignment : undefined;
  if (!asg || truthK <= 0) return;
  if (asg.length !== k) issues.push({ path: [...at, 'init', 'assignment'], message: `needs one true index per fitted expert (k=${k}), got ${asg.length}` });
  else if (asg.some((j) => j >= truthK) || new Set(asg).size !== truthK || asg[k - 1] !== truthK - 1) {
    issues.push({ path: [...at, 'init', 'assignment'], message: `must use every true index 0…${truthK - 1} and end on the reference ${truthK - 1}, got [${asg.join(', ')}]` });
  }
}

/** The size of one fit and the model of the setting: checked before any job runs (NAME:BLOCK losses must exist for its families). */
function checkSettingModel(s: StudyConfig['settings'][number], k: number, fam: { gate?: GateJSON; experts?: ExpertJSON }, losses: LossSpec[], ctx: SettingContext, at: PropertyKey[], issues: Issues): void {
  const { d } = ctx.truth;
  const range = gridRange(ctx.pr.grid);
  let sizeOk = true;
  try {
    checkFitSize({ n: range.max, k, d, allowLarge: ctx.allowLarge, where: `k=${k}` });
  } catch (e) {
    if (!(e instanceof MoelabError)) throw e;
    if (!/rows are fewer/.test(e.message)) {
      issues.push({ path: [...at, 'k'], message: e.message.replace(/^k=\d+: /, '') });
      sizeOk = false;
    }
  }
  if (range.min < k * (d + 1)) {
    issues.push({ path: ctx.pr.gridPath, message: `the sample size n=${range.min} is below the at least k·(d+1) = ${k * (d + 1)} parameters of setting ${JSON.stringify(s.name)}` });
    sizeOk = false;
  }
  if (!fam.gate || !fam.experts || !sizeOk || fitBytes(0, k, d) > LIMITS.fitBytes) return;
  let model: MixtureOfExperts | undefined;
  try {
    model = MixtureOfExperts.fromSpec({ gate: fam.gate, experts: fam.experts, k, d });
  } catch (e) {
    if (!(e instanceof MoelabError)) throw e;
    issues.push({ path: at, message: e.message });
    return;
  }
  if (range.min < model.nParams) {
    issues.push({ path: ctx.pr.gridPath, message: `the sample size n=${range.min} is below the ${model.nParams} free parameters of setting ${JSON.stringify(s.name)} (k=${k})` });
  }
  checkBlocks(model, losses, (j, message) => issues.push({ path: [...at, 'losses', j, 'name'], message }));
}

/** `settings[i].truth`: local alternatives (src/study/local-truth.ts), checked against the truth at every (n, truth index). */
function resolveSettingTruth(s: StudyConfig['settings'][number], ctx: SettingContext, at: PropertyKey[], issues: Issues): LocalTruth | undefined {
  if (!s.truth) return undefined;
  const tp = [...at, 'truth'];
  const before = issues.length;
  const truth = ctx.truth.json;
  if (truth && ctx.truth.k > 0) for (const iss of checkLocalTruth(s.truth, truth)) issues.push({ path: [...tp, ...iss.path], message: iss.message });
  const T = s.truth.scales.length;
  if (ctx.pr.replicates % T !== 0) issues.push({ path: [...tp, 'scales'], message: `${T} truths need a number of replicates that is a multiple of ${T} (replicate r serves truth r mod ${T}); ${ctx.pr.repPath.join('.')} is ${ctx.pr.replicates}` });
  if (issues.length !== before) return undefined;
  const local = resolveLocalTruth(s.truth);
  // every truth is built once here (only when nothing else is wrong: the grid is then within bounds)
  if (truth && ctx.truth.k > 0 && issues.length === 0) {
    const bad = checkLocalTruths(truth, local, sortedDistinct(expandGrid(ctx.pr.grid)));
    if (bad) issues.push({ path: [...tp, 'moves'], message: bad });
  }
  return local;
}

interface SettingContext {
  truth: TruthResolved;
  pr: ProfileResolved;
  allowLarge: boolean;
}

/** One `settings[i]` with its profile override applied. */
function resolveSetting(s: StudyConfig['settings'][number], i: number, ctx: SettingContext, issues: Issues): ResolvedSetting {
  const at: PropertyKey[] = ['settings', i];
  const po = ctx.pr.profile.settings;
  const o = po && Object.hasOwn(po, s.name) ? po[s.name] : {};
  const fam: { gate?: GateJSON; experts?: ExpertJSON } = {};
  try {
    fam.gate = resolveFamily(s.gate, 'gate');
  } catch (e) {
    issues.push({ path: [...at, 'gate'], message: errorText(e) });
  }
  try {
    fam.experts = resolveFamily(s.experts, 'experts');
  } catch (e) {
    issues.push({ path: [...at, 'experts'], message: errorText(e) });
  }
  const estimators = estimatorNames();
  if (!estimators.includes(s.estimator)) issues.push({ path: [...at, 'estimator'], message: `unknown estimator ${JSON.stringify(s.estimator)} (known: ${estimators.join(', ')})` });
  const options = { ...s.options, ...(o.options ?? {}) };
  const est = estimatorEntry(s.estimator);
  if (est) {
    const parsed = est.options.safeParse(options);
    if (!parsed.success) for (const iss of parsed.error.issues) issues.push({ path: [...at, 'options', ...iss.path], message: iss.message });
  }
  const k = o.k ?? s.k;
  const truthK = ctx.truth.k;
  if (truthK > 0 && k < truthK) issues.push({ path: [...at, 'k'], message: `k=${k} is below the truth's ${truthK} experts (the studies need k ≥ k*)` });
  checkAssignment(s, k, truthK, at, issues);
  const losses = resolveLosses(s, [...at, 'losses'], issues);
  checkSettingModel(s, k, fam, losses, ctx, at, issues);
  const local = resolveSettingTruth(s, ctx, at, issues);
  return {
    name: s.name,
    k,
    gate: fam.gate ?? { type: '?' },
    experts: fam.experts ?? { type: '?' },
    estimator: s.estimator,
    init: s.init,
    restarts: o.restarts ?? s.restarts,
    tol: o.tol ?? s.tol,
    maxIter: o.maxIter ?? s.maxIter,
    options,
    losses,
    ...(local ? { truth: local } : {}),
  };
}

/** The validated config → the resolved study (profile applied, grid expanded, families as JSON specs); every issue names its field path. */
function resolveStudy(c: StudyConfig, profileName: string | undefined, fail: (issues: Issue[]) => never, allowLarge: boolean, baseDir: string): ResolvedStudy {
  const issues: Issues = [];
  const plugins = resolvePlugins(c, baseDir, issues);
  if (issues.length) fail(issues);
  const truth = resolveTruth(c.truth, baseDir, issues);
  const pr = resolveProfile(c, profileName);
  checkSettingNames(c, issues);
  checkSizes(c, pr, allowLarge, issues);
  const ctx: SettingContext = { truth, pr, allowLarge };
  const only = pr.profile.only;
  const settings = c.settings.flatMap((s, i) => (only && !only.includes(s.name) ? [] : [resolveSetting(s, i, ctx, issues)]));
  if (issues.length) fail(issues);
  return {
    format: 'moelab-study/1',
    name: c.name,
    ...(c.description !== undefined ? { description: c.description } : {}),
    ...(c.claim !== undefined ? { claim: c.claim } : {}),
    profile: pr.name,
    ...(pr.profile.description !== undefined ? { profileDescription: pr.profile.description } : {}),
    seed: pr.profile.seed ?? c.seed,
    truth: truth.json as ModelJSON,
    d: truth.d,
    kTrue: truth.k,
    x: (pr.profile.x ?? c.x) as XDesign,
    ns: sortedDistinct(expandGrid(pr.grid)),
    replicates: pr.replicates,
    settings,
    ...(plugins.length ? { plugins } : {}),
  };
}

function checkBlocks(model: MixtureOfExperts, losses: LossSpec[], issue: (j: number, message: string) => void): void {
  const cache = new Map<string, string[] | string>();
  losses.forEach((l, j) => {
    if (l.block === undefined) return;
    const m = measureEntry(l.base);
    if (!m) return; // reported as an unknown loss
    if (!m.blocks) {
      issue(j, `loss ${JSON.stringify(l.base)} has no blocks (write it without ":${l.block}")`);
      return;
    }
    let names = cache.get(l.base);
    if (names === undefined) {
      try {
        names = m.blocks(model);
      } catch (e) {
        if (!(e instanceof MoelabError)) throw e;
        names = e.message;
      }
      cache.set(l.base, names);
    }
    if (typeof names === 'string') issue(j, `loss ${JSON.stringify(l.base)} cannot be computed for this setting: ${names}`);
    else if (!names.includes(l.block)) issue(j, `loss ${JSON.stringify(l.base)} has no block ${JSON.stringify(l.block)} for ${model.gate.spec().type}/${model.expert.spec().type} (blocks: ${names.join(', ')})`);
  });
}

/** Canonical JSON (sorted keys) of a value: the study hash is computed on it. */
export function canonicalJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJSON(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** SHA-256 (hex, first 16 chars) of the canonical resolved study, ignoring the free-text fields. */
export function studyHash(study: ResolvedStudy): string {
  const { description: _d, claim: _c, profileDescription: _p, plugins, ...rest } = study;
  // a plugin counts by its content (and its name in the config), not by where this machine keeps it
  const hashed = plugins?.length ? { ...rest, plugins: plugins.map((p) => ({ module: p.module, sha256: p.sha256 })) } : rest;
  return createHash('sha256').update(canonicalJSON(hashed)).digest('hex').slice(0, 16);
}
