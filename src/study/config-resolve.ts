/**
 * The validated study config → the `ResolvedStudy` (split from config.ts): plugins, the truth, the
 * profile, the size limits, and every setting (families, estimator options, losses, local
 * alternatives), each issue collected with its field path so that the caller fails once with all.
 */
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MoelabError, OptionError } from '../errors.js';
import { checkFitSize, checkStudyBound, fitBytes, LIMITS } from '../limits.js';
import { parseGateSpec, gateFactory } from '../gates/registry.js';
import { parseExpertSpec, expertFactory } from '../experts/registry.js';
import type { GateJSON } from '../gates/gate.js';
import type { ExpertJSON } from '../experts/expert.js';
import { MixtureOfExperts, type ModelJSON } from '../model/model.js';
import type { XDesign } from '../model/data.js';
import { measureEntry, measureNames } from './measures.js';
import { estimatorEntry, estimatorNames } from './estimators.js';
import { checkLocalTruth, checkLocalTruths, resolveLocalTruth, type LocalTruth } from './local-truth.js';
import { isPluginLoaded, resolvePluginRef, type PluginRef } from './plugins.js';
import { NAMED_TRUTHS, type GridInput, type LossSpec, type ProfileInput, type ResolvedSetting, type ResolvedStudy, type StudyConfig } from './config-schema.js';
import { expandGrid, gridCount, gridRange, sortedDistinct } from './config-grid.js';

/** One config issue: the field path and the message. */
export interface Issue {
  path: PropertyKey[];
  message: string;
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
export function resolveStudy(c: StudyConfig, profileName: string | undefined, fail: (issues: Issue[]) => never, allowLarge: boolean, baseDir: string): ResolvedStudy {
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
