/**
 * Reproduction of the papers' claims (issue 15, item 6): run a profile of every preset (one resumable
 * study store per preset under DIR/run/<preset>/), then judge every claim of math-spec §7 with the
 * verdict rule of src/measure/rate-summary.ts and write DIR/reproduction.json, DIR/reproduction.md
 * and the figures under DIR/figures/. A partial store gives a partial report that says which jobs
 * are missing. The parts, in the order data flows: report-view.ts (the stores as the report reads
 * them), reproduce-collect.ts (the claims), report-causes.ts (why a claim is not reproduced),
 * reproduce-markdown.ts and reproduce-figures.ts (the files).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { studyHash } from './config.js';
import { StudyStore } from './store.js';
import { runStudy, type RunSummary } from './runner.js';
import { planJobs } from './plan.js';
import { OptionError } from '../errors.js';
import { collectReproduction, resolvePresets, resolvedPreset, storeDir, type Reproduction } from './reproduce-collect.js';
import { reproductionJSON, reproductionMarkdown } from './reproduce-markdown.js';
import { writeFigures } from './reproduce-figures.js';

export { collectReproduction, farFitsOf, storeDir, type ClaimRow, type FarFits, type PresetStatus, type Reproduction } from './reproduce-collect.js';
export { withPresetLosses, checkRecompute, type RecomputeNote } from './report-view.js';
export { diagnose } from './report-causes.js';
export { reproductionJSON, reproductionMarkdown, timingText, readmeTable, updateReadme, readReproduction, SPEC_ROWS } from './reproduce-markdown.js';
export { COMPARISONS } from './reproduce-figures.js';

export interface ReproduceOptions {
  presets?: string[];
  profile?: string;
  threads?: number;
  progress?: boolean;
  signal?: AbortSignal;
  /** Called after each preset's run. */
  onPreset?: (preset: string, summary: RunSummary, store: StudyStore) => void;
}

/** Open the store of a preset: the stored study if the directory has one (resume), else a new store for the preset's profile. */
function openStore(out: string, preset: string, profile: string | undefined, warn: (s: string) => void): StudyStore {
  const dir = storeDir(out, preset);
  const study = resolvedPreset(preset, profile);
  if (StudyStore.exists(dir)) {
    const store = StudyStore.open(dir);
    if (store.hash !== studyHash(study)) warn(`${dir}: the stored study differs from the current preset ${preset} (profile ${profile ?? 'full'}); resuming the stored one`);
    return store;
  }
  return StudyStore.create(dir, study);
}

/**
 * Run (or resume) the chosen profile of each preset. The presets are interleaved in rounds of
 * `chunk` replicates (every preset's first `chunk` replicates, then the next ones, …): a run stopped
 * at any time has every claim covered by as many replicates as the time allowed, instead of some
 * presets complete and the rest missing. Within a preset the runner's order is replicate waves too.
 */
export async function runReproduction(out: string, options: ReproduceOptions & { chunk?: number } = {}): Promise<{ preset: string; summary: RunSummary }[]> {
  const presets = resolvePresets(options.presets);
  const chunk = options.chunk ?? 5;
  if (!Number.isInteger(chunk) || chunk < 1) throw new OptionError(`chunk: expected a positive integer, got ${chunk}`);
  const done: { preset: string; summary: RunSummary }[] = [];
  for (let round = 0; ; round++) {
    let pendingAny = false;
    for (const [i, p] of presets.entries()) {
      if (options.signal?.aborted) return done;
      const store = openStore(out, p, options.profile, (s) => process.stderr.write(s + '\n'));
      try {
        const st = store.study;
        const planned = planJobs(st).length;
        const stored = store.finishedIds().size;
        if (stored >= planned) continue;
        pendingAny = true;
        const limit = st.settings.length * st.ns.length * chunk;
        process.stderr.write(`round ${round + 1}, [${i + 1}/${presets.length}] ${p} (profile ${st.profile}): ${stored}/${planned} jobs stored; next ${Math.min(limit, planned - stored)}\n`);
        const summary = await runStudy(store, { ...(options.threads !== undefined ? { threads: options.threads } : {}), progress: options.progress ?? true, limit, ...(options.signal ? { signal: options.signal } : {}) });
        options.onPreset?.(p, summary, store);
        done.push({ preset: p, summary });
        if (summary.aborted) return done;
      } finally {
        store.close();
      }
    }
    if (!pendingAny) return done;
  }
}

/** Write reproduction.json, reproduction.md and the figures into out. */
export async function writeReproduction(out: string, options: { presets?: string[]; profile?: string; bootstrap?: number; png?: boolean; wallSeconds?: number; note?: string; recompute?: string[] } = {}): Promise<{ json: string; md: string; figures: string[]; reproduction: Reproduction }> {
  const { reproduction: r, curves } = collectReproduction(out, options);
  const { figures, figOf, compFigs } = await writeFigures(out, curves, options.png ?? true);
  const json = join(out, 'reproduction.json');
  writeFileSync(json, JSON.stringify(reproductionJSON(r), null, 2) + '\n');
  const md = join(out, 'reproduction.md');
  writeFileSync(md, reproductionMarkdown(r, { figOf, compFigs, out, ...(options.wallSeconds !== undefined ? { wallSeconds: options.wallSeconds } : {}), ...(options.note ? { note: options.note } : {}) }));
  return { json, md, figures, reproduction: r };
}
