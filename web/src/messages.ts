/** Messages between the page and the fitting worker. */
import type { AppState } from './state.js';
import type { ExpertCurves, FitSummary, Measures, StudyResult } from './core.js';

export type ToWorker = { type: 'fit'; state: AppState } | { type: 'study'; state: AppState } | { type: 'bench'; state: AppState; repeats: number };

export type FromWorker =
  | { type: 'data'; x: number[]; y: number[]; truthCurves: ExpertCurves }
  | { type: 'progress'; points: { iteration: number; value: number }[]; gradientNorm: number | null; elapsed: number }
  | { type: 'fitted'; fit: FitSummary; fitCurves: ExpertCurves }
  | { type: 'measured'; measures: Measures }
  | { type: 'studyRow'; n: number; rep: number; loss: number | null; done: number; total: number; error: string | null }
  | { type: 'studyDone'; result: StudyResult }
  | { type: 'benchDone'; seconds: number[] }
  | { type: 'error'; message: string };
