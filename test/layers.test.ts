import { describe, it, expect } from 'vitest';
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const eslint = new ESLint({ cwd: root });

/** Messages of the layering rule for `code` linted as if it were the file `path` of the repository. */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(root, path) });
  return r.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

describe('the layering lint rule (docs/architecture.md) bites', () => {
  it('fails when a gate imports an expert, or an expert a gate (type imports too)', async () => {
    expect(await layerErrors('src/gates/zz-violation.ts', "import { GaussianLinearExperts } from '../experts/gaussian-linear.js';\nexport const x = GaussianLinearExperts;\n"))
      .toEqual([expect.stringMatching(/layering .*src\/gates\/ must not import/)]);
    expect(await layerErrors('src/experts/zz-violation.ts', "import type { Gate } from '../gates/gate.js';\nexport type X = Gate;\n")).toHaveLength(1);
  });

  it('fails when a lower layer imports a higher one', async () => {
    expect(await layerErrors('src/numeric/zz.ts', "import { MixtureOfExperts } from '../model/model.js';\nexport const x = MixtureOfExperts;\n")).toHaveLength(1);
    expect(await layerErrors('src/model/zz.ts', "import { fitEM } from '../estimate/em.js';\nexport const x = fitEM;\n")).toHaveLength(1);
    expect(await layerErrors('src/measure/voronoi/zz.ts', "import { runStudy } from '../../study/runner.js';\nexport const x = runStudy;\n")).toHaveLength(1);
    expect(await layerErrors('src/study/zz.ts', "import { main } from '../cli/main.js';\nexport const x = main;\n")).toHaveLength(1);
  });

  it('passes imports of the layers below', async () => {
    expect(await layerErrors('src/experts/zz.ts', "import type { BlockInfo } from '../family/blocks.js';\nimport { Rng } from '../numeric/rng.js';\nexport type X = BlockInfo;\nexport const r = Rng;\n")).toEqual([]);
    expect(await layerErrors('src/estimate/zz.ts', "import { MixtureOfExperts } from '../model/model.js';\nimport { SoftmaxGate } from '../gates/softmax.js';\nexport const x = [MixtureOfExperts, SoftmaxGate];\n")).toEqual([]);
    expect(await layerErrors('src/study/zz.ts', "import { fitEM } from '../estimate/em.js';\nexport const x = fitEM;\n")).toEqual([]);
  });

  it('has no exceptions: no source file silences the rule', () => {
    const files = (readdirSync(join(root, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(50);
    const silenced = files.filter((f) => readFileSync(join(root, 'src', f), 'utf8').includes('eslint-disable-next-line @typescript-eslint/no-restricted-imports'));
    expect(silenced.map((f) => relative('.', f))).toEqual([]);
  });

  it('lets experts use the shared floor (the softmax core, M-step types) but not the gates', async () => {
    expect(await layerErrors('src/experts/zz.ts', "import { LinearSoftmaxCore } from '../family/linear-softmax.js';\nimport type { ExpertMStepOptions } from '../family/mstep.js';\nexport type X = ExpertMStepOptions;\nexport const c = LinearSoftmaxCore;\n")).toEqual([]);
    expect(await layerErrors('src/experts/zz.ts', "import { LinearSoftmaxCore } from '../gates/softmax.js';\nexport const c = LinearSoftmaxCore;\n")).toHaveLength(1);
    expect(await layerErrors('src/family/zz.ts', "import type { Gate } from '../gates/gate.js';\nexport type X = Gate;\n")).toHaveLength(1);
  });
});

/** The modules a file loads at run time: static imports and re-exports that are not type-only (those are erased). */
function valueImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  return sf.statements.flatMap((st) => {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const c = st.importClause;
      const typeOnly = c !== undefined && (c.isTypeOnly || (!c.name && c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      return typeOnly ? [] : [st.moduleSpecifier.text];
    }
    if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const c = st.exportClause;
      const typeOnly = st.isTypeOnly || (c !== undefined && ts.isNamedExports(c) && c.elements.length > 0 && c.elements.every((e) => e.isTypeOnly));
      return typeOnly ? [] : [st.moduleSpecifier.text];
    }
    return [];
  });
}

/** The static run-time closure of `entry` (a path under src/): its modules and the packages they import. */
function closure(entry: string): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const visit = (rel: string): void => {
    if (modules.has(rel)) return;
    modules.add(rel);
    for (const spec of valueImports(join(root, 'src', rel))) {
      if (spec.startsWith('.')) visit(relative(join(root, 'src'), join(root, 'src', dirname(rel), spec.replace(/\.js$/, '.ts'))));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { modules, packages };
}

describe('the faces use only the entries (docs/architecture.md, "Entries")', () => {
  it('fails when the CLI imports a deep module: static, type-only, re-export and lazy import()', async () => {
    const cli = (path: string, code: string) => eslint.lintText(code, { filePath: join(root, path) }).then(([r]) => r.messages.map((m) => `${m.ruleId}: ${m.message}`));
    expect(await cli('src/cli/commands/zz.ts', "import { fitEM } from '../../estimate/em.js';\nexport const x = fitEM;\n"))
      .toEqual([expect.stringMatching(/^@typescript-eslint\/no-restricted-imports: .*src\/cli\/commands\/ imports only src\/index.ts, src\/core.ts, src\/internal.ts/)]);
    expect(await cli('src/cli/zz.ts', "import type { Gate } from '../gates/gate.js';\nexport type X = Gate;\n")).toHaveLength(1);
    expect(await cli('src/cli/zz.ts', "export { fitEM } from '../estimate/em.js';\n")).toHaveLength(1);
    expect(await cli('src/cli/commands/zz.ts', "export async function f() { const { runStudy } = await import('../../study/runner.js'); return runStudy; }\n"))
      .toEqual([expect.stringMatching(/^no-restricted-syntax: .*imports only/)]);
  });

  it('passes the entries and the CLI\'s own modules', async () => {
    expect(await layerErrors('src/cli/commands/zz.ts', "import { fitEM } from '../../core.js';\nimport { StudyStore } from '../../index.js';\nimport { LIMITS } from '../../internal.js';\nimport { readText } from '../io.js';\nexport const x = [fitEM, StudyStore, LIMITS, readText];\n")).toEqual([]);
    const [r] = await eslint.lintText("export async function f() { return (await import('../../index.js')).runStudy; }\n", { filePath: join(root, 'src/cli/commands/zz.ts') });
    expect(r.messages).toEqual([]);
  });

  it('lets the web import only the browser-safe entry', async () => {
    expect(await layerErrors('web/src/zz.ts', "import { fitEM } from '../../src/estimate/em.js';\nexport const x = fitEM;\n")).toEqual([expect.stringMatching(/web\/src\/ imports only src\/core.ts/)]);
    expect(await layerErrors('web/src/zz.ts', "import { StudyStore } from '../../src/index.js';\nexport const x = StudyStore;\n")).toHaveLength(1);
    expect(await layerErrors('web/src/zz.ts', "import { fitEM } from '../../src/core.js';\nexport const x = fitEM;\n")).toEqual([]);
  });

  it('keeps library modules off the entries (an entry imports every layer)', async () => {
    expect(await layerErrors('src/study/zz.ts', "import { fitEM } from '../index.js';\nexport const x = fitEM;\n")).toEqual([expect.stringMatching(/not an entry/)]);
    expect(await layerErrors('src/measure/voronoi/zz.ts', "import { LIMITS } from '../../internal.js';\nexport const x = LIMITS;\n")).toHaveLength(1);
  });

  it('passes on the tree: src/cli and web/src import nothing but the entries', async () => {
    const results = await eslint.lintFiles(['src/cli', 'web/src']);
    expect(results.length).toBeGreaterThan(20);
    const bad = results.flatMap((r) => r.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports' || m.ruleId === 'no-restricted-syntax').map((m) => `${relative(root, r.filePath)}:${m.line} ${m.message}`));
    expect(bad).toEqual([]);
  });

  it('src/core.ts is browser-safe, and a fit starts without the Node-side API', () => {
    const core = closure('core.ts');
    expect(core.modules.size).toBeGreaterThan(60);
    // no node: built-in, no native or Node-only package: only these two, which run in a browser
    expect([...core.packages].map((p) => p.split('/')[0]).sort()).toEqual(['pure-rand', 'zod']);
    expect(core.modules.has('study/store.ts') || core.modules.has('study/config.ts')).toBe(false);
    const fit = closure('cli/commands/fit.ts');
    expect(fit.modules.has('core.ts')).toBe(true);
    expect(['index.ts', 'study/store.ts', 'study/runner.ts', 'estimate/fit-pool.ts'].filter((m) => fit.modules.has(m))).toEqual([]);
    expect(closure('cli/main.ts').modules.has('core.ts')).toBe(false); // `moelab --version` loads no library module
  });
});
