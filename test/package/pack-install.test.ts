/**
 * The installable package (issue 11 item 1): `npm pack` of a copy of this checkout (its `prepack`
 * builds dist/), installed into an empty project without network (`npm ci --offline` from a lockfile
 * holding this checkout's production entries, so the tarballs come from the npm cache that
 * `npm ci` filled; `--prefer-offline` as a fallback), then used as a user would:
 * `import { fitEM } from 'moelab'` from .mjs (same log-likelihood as the source), a strict .ts consumer
 * typechecks with `tsc --noEmit` (skipLibCheck, as `tsc --init` sets it; wrong uses are rejected, so the types
 * resolve and are not `any`),
 * `npx moelab --version` and `npx moelab demo` run compiled JavaScript with no tsx installed, and a
 * study and a bootstrap run on worker threads (piscina loading dist/study/worker.js and
 * dist/estimate/fit-worker.js).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fitEM } from '../../src/estimate/em.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { Rng } from '../../src/numeric/rng.js';
import { sampleX } from '../../src/model/data.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string; version: string; bin: Record<string, string>; engines: Record<string, string>; dependencies: Record<string, string>;
};
interface LockEntry { dev?: boolean; [key: string]: unknown }
const LOCK = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

let tmp = '';
let cons = '';
let packed: string[] = [];
const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

function run(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 120_000 });
}
function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// the fitting script run by the consumer and, in-process, against the source
const N = 2000;
function fitScriptData(): { X: Float64Array; y: Float64Array } {
  const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
  const rng = new Rng(7);
  const X = sampleX({ type: 'uniform', low: 0, high: 1 }, N, 1, rng.split('x'));
  const { y } = truth.sample(X, N, rng.split('y'));
  return { X, y };
}
const CONSUMER_MJS = `
import { fitEM, MixtureOfExperts, AUTHORS_TRUTH, Rng, sampleX } from 'moelab';
const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
const rng = new Rng(7);
const X = sampleX({ type: 'uniform', low: 0, high: 1 }, ${N}, 1, rng.split('x'));
const { y } = truth.sample(X, ${N}, rng.split('y'));
const fit = fitEM({ ...truth.spec(), k: 2 }, { X, y, n: ${N}, d: 1 }, { init: { type: 'kmeans++' }, seed: 3 });
console.log(JSON.stringify({ logLikelihood: fit.logLikelihood, iterations: fit.iterations }));
`;
const CONSUMER_TS = `
import { fitEM, MixtureOfExperts, AUTHORS_TRUTH, StudyStore, type FitResult, type ModelJSON } from 'moelab';
const truth: MixtureOfExperts = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
const json: ModelJSON = truth.toJSON();
export function fitted(X: Float64Array, y: Float64Array): FitResult {
  return fitEM({ ...truth.spec(), k: 2 }, { X, y, n: y.length, d: 1 }, { restarts: 2 });
}
// @ts-expect-error: logLikelihood is a number; fails to compile (unused directive) if the types were any
export const wrong: string = fitted(new Float64Array(0), new Float64Array(0)).logLikelihood;
// @ts-expect-error: the store takes a better-sqlite3 Database; fails to compile if its types were missing (any)
export const store = (): StudyStore => StudyStore.open('dir', 42);
export { json };
`;

describe('npm pack → install into an empty project', () => {
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'moelab-pack-'));
    // 1. a copy of the checkout (without node_modules, dist, .git), packed: prepack builds its dist/
    const src = join(tmp, 'src-copy');
    mkdirSync(src);
    for (const e of readdirSync(ROOT)) {
      if (['node_modules', 'dist', '.git', 'coverage', 'out', 'tmp', '.vitest'].includes(e)) continue;
      cpSync(join(ROOT, e), join(src, e), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'), 'dir');
    const out = join(tmp, 'out');
    mkdirSync(out);
    const info = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', out], src), 'npm pack').replace(/^[^[]*/s, '')) as { filename: string; files: { path: string }[] }[];
    packed = info[0].files.map((f) => f.path);
    const tarball = info[0].filename;
    // 2. an empty project depending on the tarball, with a lockfile of this checkout's production entries
    cons = join(tmp, 'consumer');
    mkdirSync(cons);
    cpSync(join(out, tarball), join(cons, tarball));
    const dep = `file:${tarball}`;
    const packages: Record<string, LockEntry> = {
      '': { name: 'consumer', version: '1.0.0', dependencies: { [PKG.name]: dep } },
      [`node_modules/${PKG.name}`]: { version: PKG.version, resolved: dep, license: 'MIT', dependencies: PKG.dependencies, bin: PKG.bin, engines: PKG.engines },
    };
    for (const [key, entry] of Object.entries(LOCK.packages)) if (key.startsWith('node_modules/') && !entry.dev) packages[key] = entry;
    writeFileSync(join(cons, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { [PKG.name]: dep } }));
    writeFileSync(join(cons, 'package-lock.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
    // better-sqlite3's install script would download a prebuilt binary: scripts off, the checkout's build copied
    let r = run('npm', ['ci', '--offline', '--ignore-scripts'], cons);
    if (r.status !== 0) r = run('npm', ['ci', '--prefer-offline', '--ignore-scripts'], cons);
    ok(r, 'npm ci of the tarball');
    cpSync(join(ROOT, 'node_modules', 'better-sqlite3', 'build'), join(cons, 'node_modules', 'better-sqlite3', 'build'), { recursive: true });
  }, 180_000);
  afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it('ships dist/, bin, presets, docs, examples, README and LICENSE, and no sources, tests, benches or maps', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', PKG.bin.moelab, 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/cli-fast/main.js', 'dist/cli-fast/fit-worker.js', 'dist/study/worker.js', 'studies/softmax-exact.yaml', 'docs/math-spec.md', 'examples/truth.json']) {
      expect(packed, f).toContain(f);
    }
    expect(packed.filter((f) => /^(src|test|bench|scripts|web)\//.test(f) || f.endsWith('.map') || f.endsWith('.test.js'))).toEqual([]);
    expect(existsSync(join(cons, 'node_modules', 'tsx')), 'tsx must not be installed with the package').toBe(false);
  });

  it('import { fitEM } from "moelab" works from .mjs and gives the source\'s log-likelihood', () => {
    writeFileSync(join(cons, 'fit.mjs'), CONSUMER_MJS);
    const got = JSON.parse(ok(run(process.execPath, ['fit.mjs'], cons), 'node fit.mjs')) as { logLikelihood: number; iterations: number };
    const { X, y } = fitScriptData();
    const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
    const want = fitEM({ ...truth.spec(), k: 2 }, { X, y, n: N, d: 1 }, { init: { type: 'kmeans++' }, seed: 3 });
    expect(got.iterations).toBe(want.iterations);
    expect(Math.abs(got.logLikelihood - want.logLikelihood)).toBeLessThanOrEqual(1e-9 * Math.abs(want.logLikelihood));
  });

  it('a strict .ts consumer typechecks with tsc --noEmit (types resolve, and are not any)', () => {
    writeFileSync(join(cons, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(cons, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: true },
      files: ['consumer.ts'],
    }));
    const r = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], cons);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('npx moelab --version and npx moelab demo run the compiled CLI', () => {
    expect(ok(run('npx', ['--no-install', 'moelab', '--version'], cons), 'npx moelab --version').trim()).toBe(PKG.version);
    const demo = ok(run('npx', ['--no-install', 'moelab', 'demo', '--n', '2000'], cons), 'npx moelab demo');
    expect(demo).toMatch(/^moelab demo: n = 2000 draws/);
    expect(demo).toMatch(/log-likelihood -?\d/);
  });

  it('simulate from the shipped examples/truth.json, fit, and bootstrap on worker threads (compiled fit worker)', () => {
    const truth = join(cons, 'node_modules', PKG.name, 'examples', 'truth.json');
    ok(run('npx', ['--no-install', 'moelab', 'simulate', '--model', truth, '--n', '400', '--seed', '2', '--out', 'd.csv'], cons), 'simulate');
    const fit = JSON.parse(ok(run('npx', ['--no-install', 'moelab', 'fit', '--data', 'd.csv', '--k', '2', '--bootstrap', '4', '--threads', '2', '--json'], cons), 'fit --bootstrap')) as { logLikelihood: number; bootstrap?: unknown };
    expect(Number.isFinite(fit.logLikelihood)).toBe(true);
    expect(fit.bootstrap).toBeDefined();
  });

  it('a study runs on worker threads from the installed package', () => {
    writeFileSync(join(cons, 'mini.json'), JSON.stringify({
      name: 'mini', seed: 1, truth: 'authors', x: { type: 'uniform', low: 0, high: 1 }, n: [200, 400], replicates: 2,
      settings: [{ name: 'exact', k: 2, gate: { type: 'softmax' }, experts: { type: 'gaussianLinear' }, estimator: 'em', init: 'nearTruth', restarts: 1, losses: [{ name: 'D1' }] }],
    }));
    ok(run('npx', ['--no-install', 'moelab', 'study', 'run', 'mini.json', '--out', 'st', '--threads', '2', '--no-progress'], cons), 'study run');
    const status = JSON.parse(ok(run('npx', ['--no-install', 'moelab', 'study', 'status', 'st', '--json'], cons), 'study status')) as { planned: number; ok: number; failed: number };
    expect(status).toMatchObject({ planned: 4, ok: 4, failed: 0 });
  });
});
