/**
 * Plugin modules of a study (`plugins: [./my-family.mjs]` in a config): files that add gate, expert or
 * measure families (registerGate, registerExpert, registerMeasure). A plugin is imported for its side
 * effects, and when its default export is a function that function is called with the moelab API
 * (this build's own module instances, so a plugin registers into the registries the jobs use whether
 * moelab runs from dist/ or from source).
 *
 * The resolved study records each plugin as { module (as written), sha256 (of the file's bytes),
 * path (absolute, where the machine that resolved the config found it) }; the hash is part of the
 * study hash, the path is not. Whoever runs a job (the inline runner, the local pool's threads, a
 * queue worker's job threads) loads the same bytes or refuses with one line: `ensurePlugins` looks
 * for the file among the caller's own `--plugin` files (same file name) and then at the recorded
 * path, and compares its sha256 with the study's. Only the plugin file itself is hashed, not what it
 * imports.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OptionError } from '../errors.js';

/** One plugin of a resolved study. */
export interface PluginRef {
  /** The path as written in the config (`./families/my-gate.mjs`). */
  module: string;
  /** SHA-256 (hex) of the file's bytes: the study hash includes it. */
  sha256: string;
  /** Absolute path where the config's machine found it (not hashed: another machine may hold its copy elsewhere). */
  path: string;
}

/** A study's plugin is missing here, or this copy differs from the study's (one line, exit 2). */
export class PluginError extends OptionError {}

export function sha256Of(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const short = (sha: string): string => sha.slice(0, 12);

/** Resolve a `plugins:` entry of a config (a file path, relative to the config's directory) and hash it. */
export function resolvePluginRef(module: string, baseDir: string): PluginRef {
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !module.startsWith('file:')) {
    throw new OptionError(`${JSON.stringify(module)}: give a plugin as a file path (./my-family.mjs, relative to the config's directory)`);
  }
  const path = module.startsWith('file:') ? fileURLToPath(module) : isAbsolute(module) ? module : resolve(baseDir, module);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OptionError(`${JSON.stringify(module)}: ${code === 'ENOENT' ? `no such file ${path}` : `cannot read ${path} (${code ?? (e as Error).message})`}`);
  }
  return { module, sha256: sha256Of(bytes), path };
}

/** Modules loaded in this thread, by URL (each content is imported once, with its hash in the URL). */
const loaded = new Map<string, Promise<void>>();
/** Plugin contents (sha256) loaded in this thread. */
const loadedShas = new Set<string>();

/** Whether a plugin with this content has been loaded in this thread. */
export function isPluginLoaded(sha256: string): boolean {
  return loadedShas.has(sha256);
}

/**
 * Import a plugin module once per thread (its default export, if a function, gets the moelab API).
 * `sha256` goes into the URL's query so that two contents of one path are two modules.
 */
export function importPlugin(url: string, sha256?: string): Promise<void> {
  const key = sha256 ? `${url}${url.includes('?') ? '&' : '?'}sha256=${sha256}` : url;
  let p = loaded.get(key);
  if (!p) {
    p = (async () => {
      const mod = (await import(key)) as { default?: unknown };
      if (typeof mod.default === 'function') {
        const api: unknown = await import('../index.js');
        await (mod.default as (api: unknown) => unknown)(api);
      }
      if (sha256) loadedShas.add(sha256);
    })();
    loaded.set(key, p);
    p.catch(() => loaded.delete(key));
  }
  return p;
}

/** A `--plugin` argument (path or URL) as an import URL. */
export function pluginUrl(p: string): string {
  return /^(file|data|node):/.test(p) ? p : p.startsWith('.') || p.startsWith('/') || isAbsolute(p) ? pathToFileURL(resolve(p)).href : p;
}

/** Load the plugins of a resolved config in this thread (`path` read again: the bytes must still be these). */
export async function loadPluginRefs(refs: readonly PluginRef[]): Promise<void> {
  for (const r of refs) {
    const now = sha256Of(readFileSync(r.path));
    if (now !== r.sha256) throw new PluginError(`plugin ${r.module}: ${r.path} changed while the study was loading`);
    await importPlugin(pathToFileURL(r.path).href, r.sha256);
  }
}

/** Where this machine's copy of a study plugin is: one of `own` (by file name) first, then the recorded path. */
function locate(ref: PluginRef, own: readonly string[]): { path: string; from: string } | undefined {
  const name = basename(ref.path);
  const mine = own.find((p) => basename(p) === name);
  if (mine) return { path: mine, from: '--plugin' };
  if (existsSync(ref.path)) return { path: ref.path, from: 'the recorded path' };
  return undefined;
}

export interface EnsureOptions {
  /** The caller's own plugin files (a worker's `--plugin` paths), preferred over the recorded paths. */
  own?: readonly string[];
  /** Who refuses, for the message (`worker host:pid`). */
  who?: string;
  /**
   * Check the files again even if this thread loaded these contents already (a run or resume starts
   * with it: a file edited since the study began is refused, though the old code is still loaded).
   */
  recheck?: boolean;
}

/** Checked contents per (sha256): a thread checks a study's plugins once, not per job. */
const checked = new Map<string, Promise<void>>();

/**
 * Make sure every plugin of `study` is loaded here, from a file with the study's bytes; else throw a
 * one-line PluginError saying which plugin, where it looked, and what differs.
 */
export function ensurePlugins(study: { name: string; plugins?: readonly PluginRef[] }, opts: EnsureOptions = {}): Promise<void> {
  const refs = study.plugins ?? [];
  if (refs.length === 0) return Promise.resolve();
  const key = refs.map((r) => r.sha256).join(',');
  let p = opts.recheck ? undefined : checked.get(key);
  if (!p) {
    p = (async () => {
      const who = opts.who ?? 'this process';
      for (const r of refs) {
        const at = locate(r, opts.own ?? []);
        if (!at) {
          throw new PluginError(`study ${study.name} needs plugin ${r.module} (sha256 ${short(r.sha256)}…), which ${who} does not have: not at ${r.path} and no --plugin named ${basename(r.path)}; copy it there or pass --plugin PATH`);
        }
        let bytes: Buffer;
        try {
          bytes = readFileSync(at.path);
        } catch (e) {
          throw new PluginError(`study ${study.name} needs plugin ${r.module}: ${who} cannot read ${at.path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
        const sha = sha256Of(bytes);
        if (sha !== r.sha256) {
          throw new PluginError(`study ${study.name} needs plugin ${r.module} (sha256 ${short(r.sha256)}…), but the copy of ${who} at ${at.path} (${at.from}) differs (sha256 ${short(sha)}…); use the study's version of the file`);
        }
        await importPlugin(pathToFileURL(at.path).href, r.sha256);
      }
    })();
    checked.set(key, p);
    p.catch(() => checked.delete(key));
  }
  return p;
}

/** The `--plugin` files of a worker, from the URLs passed to its job threads (file: URLs only). */
export function ownPluginPaths(urls: readonly string[]): string[] {
  return urls.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u));
}
