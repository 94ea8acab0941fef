/**
 * Vite config of the playground (npm run web / npm run web:build). Relative base: the built
 * folder works from any path, and offline. Observable Plot and its d3 modules go to their own
 * chunk so the size budget (test/web/budget.test.ts) can tell the app's own JS from the plotting
 * library's.
 */
import { defineConfig } from 'vite';

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
