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

// The library's entries (docs/architecture.md, "Entries"): src/index.ts (the public API, Node),
// src/core.ts (its browser-safe part), src/internal.ts (helpers for the CLI only). No layer
// imports them statically (they import every layer: a cycle); the faces import nothing else.
const ENTRIES = ['index', 'core', 'internal'];

/**
 * The faces and the entries each may import. `up` is how a file of the face spells src/; a
 * specifier that starts with it and names anything but an allowed entry fails, in static imports
 * and re-exports (no-restricted-imports) and in lazy `import()` calls (no-restricted-syntax).
 */
export const FACES = [
  { files: 'src/cli/*.ts', up: '../', allow: ENTRIES },
  { files: 'src/cli/commands/*.ts', up: '../../', allow: ENTRIES },
  { files: 'web/src/**/*.ts', up: '../../src/', allow: ['core'] },
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Flat-config blocks, one per layer, then one per face. */
export function layerRules() {
  const entryGroup = ENTRIES.flatMap((e) => [`../${e}.js`, `../../${e}.js`, `../../../${e}.js`]);
  const layers = LAYERS.map(({ files, forbid }) => ({
    files: [files.endsWith('.ts') ? files : `${files}/*.ts`, ...(files.endsWith('.ts') ? [] : [`${files}/**/*.ts`])],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{
          group: forbid.flatMap((l) => [`**/${l}/*`, `**/${l}/**`, `../${l}/*`, `../../${l}/*`]),
          message: `layering (docs/architecture.md): ${files.replace('/**', '/')} must not import this layer`,
        }, {
          group: entryGroup,
          message: 'layering (docs/architecture.md): a library module imports the module it needs, not an entry (src/index.ts, core.ts, internal.ts)',
        }],
      }],
    },
  }));
  const faces = FACES.map(({ files, up, allow }) => {
    const regex = `^${escape(up)}(?!(?:${allow.join('|')})\\.js$)`;
    const message = `layering (docs/architecture.md): ${files.replace(/\/\*.*$/, '/')} imports only ${allow.map((e) => `src/${e}.ts`).join(', ')}`;
    return {
      files: [files],
      rules: {
        '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ regex, message }] }],
        'no-restricted-syntax': ['error', { selector: `ImportExpression[source.value=/${regex.replaceAll('/', '\\/')}/]`, message }],
      },
    };
  });
  return [...layers, ...faces];
}
