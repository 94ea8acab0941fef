/**
 * Which version of each measure a study store's losses were computed with. A run records the versions
 * of `measureVersions()` in the store's meta (`measure_versions`); a report compares them with the
 * current ones and recomputes, from the stored fitted models, every loss whose measure changed since
 * (study/reproduce.ts). A store without the record (written before it existed, or by a runner that
 * does not write it) counts as version 1 of every measure; a store resumed by code of another version
 * records 0 for the measures that differ (its rows are mixed), so they are recomputed too.
 */
import type { StudyStore } from './store.js';
import { measureVersions } from './measures.js';

export const MEASURE_VERSIONS_META = 'measure_versions';

/** The versions the store's rows were computed with (1 for every measure when the store has no record). */
export function storedMeasureVersions(store: Pick<StudyStore, 'meta'>): Record<string, number> {
  const raw = store.meta(MEASURE_VERSIONS_META);
  if (raw === undefined) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === 'number')) as Record<string, number>;
  } catch {
    // unreadable record: treat as absent (every measure at version 1)
  }
  return {};
}

/**
 * Record the current versions at the start of a run: on an empty store as they are; on a store with
 * rows, a measure keeps its recorded version only if it equals the current one (else 0: mixed rows).
 * A store with rows and no record stays without one (its rows count as version 1).
 */
export function recordMeasureVersions(store: Pick<StudyStore, 'meta' | 'setMeta' | 'counts'>): void {
  const current = measureVersions();
  const raw = store.meta(MEASURE_VERSIONS_META);
  const c = store.counts();
  if (raw === undefined) {
    if (c.ok + c.failed === 0) store.setMeta(MEASURE_VERSIONS_META, JSON.stringify(current));
    return;
  }
  const stored = storedMeasureVersions(store);
  const merged = Object.fromEntries(Object.entries(current).map(([k, v]) => [k, (stored[k] ?? 1) === v ? v : 0]));
  store.setMeta(MEASURE_VERSIONS_META, JSON.stringify(merged));
}

/** The measures (base names) whose stored rows were computed with a version other than the current one. */
export function staleMeasures(store: Pick<StudyStore, 'meta'>): Set<string> {
  const stored = storedMeasureVersions(store);
  const out = new Set<string>();
  for (const [k, v] of Object.entries(measureVersions())) if ((stored[k] ?? 1) !== v) out.add(k);
  return out;
}
