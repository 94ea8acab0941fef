/**
 * moelab public API (`import … from 'moelab'`): everything of src/core.ts (the browser-safe part:
 * families, models, fits, measures, one study job) plus the Node-side part below (study configs
 * from files and plugins, the SQLite store, the local and queue runners, reports, the
 * reproduction, worker pools for many fits, figures as files).
 *
 * The faces use only the public API: src/cli imports src/index.ts, src/core.ts and src/internal.ts
 * (face-only helpers), web/src imports src/core.ts; eslint.layers.js enforces it
 * (docs/architecture.md, "Entries").
 */
export * from './core.js';

// studies: configs, plugins, store, runners (local pool, BullMQ queue), reports, the reproduction
export {
  loadStudy, loadStudyFile, loadStudyAsync, loadStudyFileAsync, expandGrid, studyHash, presetNames, presetPath, StudyConfigError,
} from './study/config.js';
export { ensurePlugins, PluginError, type PluginRef } from './study/plugins.js';
export { StudyStore, type LossValue, type StoreCounts } from './study/store.js';
export { runStudy, type RunOptions, type RunSummary } from './study/runner.js';
export { parseQueueUrl, DEFAULT_QUEUE_NAME, type QueueTarget } from './study/queue/connection.js';
export { runQueuedStudy, queueCounts, type QueueRunOptions, type QueueRunSummary, type QueueCounts } from './study/queue/coordinator.js';
export { startQueueWorker, type WorkerOptions as QueueWorkerOptions, type WorkerHandle as QueueWorkerHandle } from './study/queue/worker.js';
export { computeCurves, reportJSON, curvesTable, writeReport, figureSpec, renderSVG, svgToPNG, type Curve, type CurveDetail, type ReportJSON } from './study/report.js';
export { exportCSV, writeCSV } from './study/export.js';
export {
  runReproduction, writeReproduction, collectReproduction, withPresetLosses, checkRecompute, updateReadme as updateReproductionReadme,
  type ReproduceOptions, type Reproduction, type ClaimRow,
} from './study/reproduce.js';

// many fits on a worker pool: threads, model selection over k, the bootstrap
export { runFits, runFitTask, defaultThreads, type FitTask, type FitOutcome, type PlainEMOptions, type FitPoolOptions } from './estimate/fit-pool.js';
export { selectK, parseKRange, type SelectionResult, type SelectionRow, type SweepOptions } from './select/sweep.js';
export { bootstrap, bootstrapSample, matchExperts, quantileSorted, type BootstrapOptions, type BootstrapReport, type BootstrapParameter, type BootstrapType } from './infer/bootstrap.js';

// figures
export { writeFigure, figureFormat, htmlPage, type FigureFormat } from './plot/render.js';
export { selectionFigureSpec, dendrogramLayout } from './plot/select-figure.js';
export { fitFigureSpec, type FitFigureOptions } from './plot/fit-figure.js';
