// The layering of docs/architecture.md as lint rules: a module imports only the layers below it.
// Each entry: the files of a layer, and the layers (directories of src/) they must not import.
// Enforced by `npm run lint` (CI) with @typescript-eslint/no-restricted-imports (type imports
// count too); test/layers.test.ts proves that a violation fails.
const ABOVE_NUMERIC = ['family', 'gates', 'experts', 'model', 'estimate', 'measure', 'select', 'infer', 'plot', 'study', 'cli'];

export const LAYERS = [
  { files: 'src/numeric/**', forbid: ABOVE_NUMERIC },
  { files: 'src/family/**', forbid: ABOVE_NUMERIC.filter((l) => l !== 'family') },
  // gates and experts never import each other (their shared floor is family/)
  { files: 'src/gates/**', forbid: ['experts', 'model', 'estimate', 'measure', 'select', 'infer', 'plot', 'study', 'cli'] },
  { files: 'src/experts/**', forbid: ['gates', 'model', 'estimate', 'measure', 'select', 'infer', 'plot', 'study', 'cli'] },
  { files: 'src/model/**', forbid: ['estimate', 'measure', 'select', 'infer', 'plot', 'study', 'cli'] },
  { files: 'src/estimate/**', forbid: ['measure', 'select', 'infer', 'plot', 'study', 'cli'] },
  { files: 'src/measure/**', forbid: ['estimate', 'select', 'infer', 'plot', 'study', 'cli'] },
  { files: 'src/select/**', forbid: ['plot', 'study', 'cli'] },
  { files: 'src/infer/**', forbid: ['study', 'cli'] },
  { files: 'src/plot/**', forbid: ['study', 'cli'] },
  { files: 'src/study/**', forbid: ['cli'] },
  { files: 'src/*.ts', forbid: ['cli'] },
];

/** Flat-config blocks, one per layer. */
export function layerRules() {
  return LAYERS.map(({ files, forbid }) => ({
    files: [files.endsWith('.ts') ? files : `${files}/*.ts`, ...(files.endsWith('.ts') ? [] : [`${files}/**/*.ts`])],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{
          group: forbid.flatMap((l) => [`**/${l}/*`, `**/${l}/**`, `../${l}/*`, `../../${l}/*`]),
          message: `layering (docs/architecture.md): ${files.replace('/**', '/')} must not import this layer`,
        }],
      }],
    },
  }));
}
