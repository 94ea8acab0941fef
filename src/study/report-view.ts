/**
 * The store as a report sees it (issue 15): the stored study with the current preset's statements,
 * plus the Voronoi-family losses computed from the stored fitted models — those the preset added
 * after the run, and those whose measure version changed (study/versions.ts) or that `--recompute`
 * names — exactly as a job would compute them (the job's own measure stream).
 */
import type { ResolvedStudy } from './config.js';
import type { StudyStore, LossValue } from './store.js';
import { jobTruthJSON } from './job.js';
import { OptionError } from '../errors.js';
import { measureAll, measureVersions } from './measures.js';
import { staleMeasures, storedMeasureVersions } from './versions.js';
import { MixtureOfExperts } from '../model/model.js';
import { Rng } from '../numeric/rng.js';

/** Losses a report can compute from a stored fitted model alone (no data): the Voronoi family. */
export const FROM_MODEL = new Set(['D1', 'D2', 'D2strong', 'D1inf', 'D2inf', 'D2stronginf', 'param', 'cell']);

/** `--recompute` names must be losses a stored model alone determines. */
export function checkRecompute(names: string[]): void {
  for (const f of names) {
    const base = f.split(':')[0];
    if (!FROM_MODEL.has(base)) throw new OptionError(`--recompute: ${f} needs the fitted data, not only the stored model (recomputable measures: ${[...FROM_MODEL].join(', ')})`);
  }
}

/** What a report view computed itself instead of reading the store. */
export interface RecomputeNote {
  /** Losses the preset lists that the run did not record, per setting. */
  added: { setting: string; losses: string[] }[];
  /** Stored losses recomputed from the stored models, per setting, with the reason. */
  recomputed: { setting: string; losses: string[]; reason: string }[];
  /** Stale losses that cannot be recomputed from a model alone (they need the data): reported as stored. */
  stale: { setting: string; losses: string[] }[];
}

/**
 * The store as the report sees it: the stored study with the theory and claim of each loss taken
 * from the current preset (they are statements about the run, not part of it), plus
 * - the losses the current preset lists that the stored run did not record and that follow from the
 *   stored fitted model (e.g. `cell:BLOCK`, added after the run started), and
 * - the stored losses whose measure changed since the run (a version in study/measures.ts other than
 *   the one the store recorded, study/versions.ts) or that `recompute` names (loss or measure names),
 * both computed here exactly as a job would (same measure stream from the job seed) and replacing any
 * stored value. `preset` null: the store's own study (`study report`).
 */
export function withPresetLosses(store: StudyStore, preset: ResolvedStudy | null, options: { recompute?: string[]; strict?: boolean } = {}): { study: ResolvedStudy; lossValues: () => LossValue[]; note: RecomputeNote } {
  const stored = store.study;
  const stale = staleMeasures(store);
  const forced = new Set(options.recompute ?? []);
  checkRecompute([...forced]);
  if (options.strict) {
    for (const f of forced) if (!stored.settings.some((s) => s.losses.some((l) => l.name === f || l.base === f))) throw new OptionError(`--recompute: the study ${stored.name} has no loss ${JSON.stringify(f)} (losses: ${[...new Set(stored.settings.flatMap((s) => s.losses.map((l) => l.name)))].join(', ')})`);
  }
  // only a store of this preset takes its statements and extra losses
  const cur = preset && stored.name === preset.name ? preset : null;
  const todo = new Map<string, ResolvedStudy['settings'][number]['losses']>();
  const note: RecomputeNote = { added: [], recomputed: [], stale: [] };
  const settings = stored.settings.map((s) => {
    const cs = cur?.settings.find((x) => x.name === s.name);
    const losses = s.losses.map((l) => {
      const c = cs?.losses.find((x) => x.name === l.name);
      if (!c) return l;
      const { theory: _t, claim: _c, versus: _v, ...rest } = l;
      return { ...rest, ...(c.theory !== undefined ? { theory: c.theory } : {}), ...(c.claim !== undefined ? { claim: c.claim } : {}), ...(c.versus !== undefined ? { versus: c.versus } : {}) };
    });
    const add = (cs?.losses ?? []).filter((c) => !s.losses.some((l) => l.name === c.name) && FROM_MODEL.has(c.base));
    const redo = s.losses.filter((l) => FROM_MODEL.has(l.base) && (stale.has(l.base) || forced.has(l.name) || forced.has(l.base)));
    const staleData = s.losses.filter((l) => !FROM_MODEL.has(l.base) && stale.has(l.base));
    if (add.length) note.added.push({ setting: s.name, losses: add.map((l) => l.name) });
    if (redo.length) {
      const why = redo.map((l) => (stale.has(l.base) ? `${l.name}: measure ${l.base} is at version ${measureVersions()[l.base]}, the store's rows at ${storedMeasureVersions(store)[l.base] ?? 1}` : `${l.name}: asked (--recompute)`));
      note.recomputed.push({ setting: s.name, losses: redo.map((l) => l.name), reason: why.join('; ') });
    }
    if (staleData.length) note.stale.push({ setting: s.name, losses: staleData.map((l) => l.name) });
    if (add.length || redo.length) todo.set(s.name, [...redo, ...add]);
    return { ...s, losses: [...losses, ...add] };
  });
  const study = { ...stored, settings };
  const lossValues = (): LossValue[] => {
    if (!todo.size) return store.lossValues();
    const out = store.lossValues().filter((v) => !todo.get(v.setting)?.some((l) => l.name === v.name));
    const centre = MixtureOfExperts.fromJSON(stored.truth, 'truth');
    const local = new Set(stored.settings.filter((s) => s.truth).map((s) => s.name));
    for (const row of store.rows()) {
      const add = todo.get(row.setting);
      if (!add || row.status !== 'ok' || !row.model) continue;
      let values: Record<string, number>;
      try {
        // each job's own truth (local alternatives: a function of setting, n and rep)
        const truth = local.has(row.setting) ? MixtureOfExperts.fromJSON(jobTruthJSON(stored, row.setting, row.n, row.rep), 'truth') : centre;
        const fit = MixtureOfExperts.fromJSON(JSON.parse(row.model) as Parameters<typeof MixtureOfExperts.fromJSON>[0], 'fit');
        values = measureAll(add, { fit, truth, data: { X: new Float64Array(0), y: new Float64Array(0), n: 0, d: stored.d }, design: stored.x, rng: new Rng(BigInt(row.seed)).split('measure') });
      } catch {
        continue;
      }
      for (const [name, value] of Object.entries(values)) out.push({ setting: row.setting, name, n: row.n, rep: row.rep, value: Number.isFinite(value) ? value : null });
    }
    return out;
  };
  return { study, lossValues, note };
}
