/**
 * Vite config of the playground (npm run web / npm run web:build). Relative base: the built
 * folder works from any path, and offline. Observable Plot and its d3 modules go to their own
 * chunk so the size budget (test/web/budget.test.ts) can tell the app's own JS from the plotting
 * library's.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The library's sources (src/): the page imports them through src/core.ts. */
const LIB = fileURLToPath(new URL('../src/', import.meta.url));

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1000,
    rollupOptions: {
      // The page imports src/core.ts (docs/architecture.md, "Entries") for one class, and Rollup
      // would keep every module behind it that has a top-level statement (a registration, a zod
      // schema). A library module's top-level code serves only its own exports (no side-effect-only
      // imports on the web's path), so one whose exports are unused may go.
      treeshake: { moduleSideEffects: (id) => !id.startsWith(LIB) },
      // zod's sources carry /* @__PURE__ */ comments Rollup cannot place: harmless, and not ours
      onwarn(warning, warn) {
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('node_modules')) return;
        warn(warning);
      },
      output: {
        manualChunks(id) {
          if (/node_modules\/(@observablehq\/plot|d3-[a-z-]+|interval-tree-1d|isoformat|binary-search-bounds|internmap|delaunator|robust-predicates)\//.test(id)) return 'plot';
          return undefined;
        },
      },
    },
  },
});
