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
import { LineCounter, parseDocument, isNode } from 'yaml';
import { OptionError } from '../errors.js';
import { readStdinSync } from '../stdin.js';
import { isPluginLoaded, loadPluginRefs, resolvePluginRef, type PluginRef } from './plugins.js';
import { StudyConfigError, StudyConfigSchema, type ResolvedStudy } from './config-schema.js';
import { resolveStudy, type Issue } from './config-resolve.js';

// The schema and the resolved form live in config-schema.ts, grids in config-grid.ts, the
// resolution in config-resolve.ts; the public API stays here.
export { StudyConfigError, NAMED_TRUTHS, STUDY_DEFAULT_TOL, StudyConfigSchema } from './config-schema.js';
export type { StudyConfig, LossSpec, InitConfig, ResolvedSetting, ResolvedStudy } from './config-schema.js';
export { expandGrid } from './config-grid.js';

// ---------------------------------------------------------------------------------------------
// Loading



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
