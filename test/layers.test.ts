import { describe, it, expect } from 'vitest';
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';

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
