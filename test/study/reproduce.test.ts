import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStudy } from '../../src/study/config.js';
import Database from 'better-sqlite3';
import { StudyStore } from '../../src/study/store.js';
import { planJobs } from '../../src/study/plan.js';
import type { ResultRow } from '../../src/study/job.js';
import { Rng } from '../../src/numeric/rng.js';
import { writeReproduction, storeDir, updateReadme } from '../../src/study/reproduce.js';

const SYNTH = `name: synth
seed: 5
truth: authors
n: { type: log, from: 100, to: 100000, count: 7 }
replicates: 20
settings:
  - name: exact
    k: 2
    gate: softmax
    experts: gaussian
    losses:
      - { name: D1, theory: -0.5 }
      - { name: hellinger, theory: 0, claim: plateau }
      - { name: D2:beta1, theory: 0, claim: slow }
`;

/** Synthetic losses: D1 = 3·n^-1/2·e^ε (claim n^-1/2: reproduced), hellinger = n^-1/2 (claim plateau: contradicted), D2:beta1 = 1/log n (claim slow: reproduced). */
function fill(dir: string, skip: (id: string) => boolean): void {
  const study = loadStudy(SYNTH);
  const store = StudyStore.create(dir, study);
  const rng = new Rng(11);
  for (const job of planJobs(study)) {
    if (skip(job.id)) continue;
    const e = (): number => Math.exp(0.3 * rng.normal());
    store.write({
      jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'ok', error: null,
      objectiveName: 'logLikelihood', objectiveValue: -1, iterations: 1, converged: true, seconds: 0.01, model: '{}', warnings: null,
      losses: { D1: 3 * job.n ** -0.5 * e(), hellinger: job.n ** -0.5 * e(), 'D2:beta1': e() / Math.log(job.n) },
    } satisfies ResultRow);
  }
  store.close();
}

describe('study reproduce report', () => {
  it('judges every claim, lists missing jobs of a partial store and presets not run, and has the JSON contract', async () => {
    const out = mkdtempSync(join(tmpdir(), 'moelab-repro-'));
    try {
      // a partial store: replicates 15..19 of the largest n are missing
      fill(storeDir(out, 'softmax-exact'), (id) => id.startsWith('exact/100000/') && Number(id.split('/')[2]) >= 15);
      const storeFile = StudyStore.pathIn(storeDir(out, 'softmax-exact'));
      // as committed under docs/reproduction: a consistent copy in rollback-journal mode
      const db = new Database(storeFile);
      db.pragma('journal_mode = DELETE');
      db.close();
      const before = readFileSync(storeFile);
      const res = await writeReproduction(out, { presets: ['softmax-exact', 'topk-exact'], png: false, bootstrap: 300 });
      // the report only reads: the store's bytes (journal mode included) are unchanged
      expect(readFileSync(storeFile).equals(before)).toBe(true);
      const json = JSON.parse(readFileSync(res.json, 'utf8')) as { claims: Record<string, unknown>[]; presets: { preset: string; missing: number; missingBySetting: { setting: string; missing: number; ns: number[] }[] }[] };
      for (const c of json.claims) expect(Object.keys(c).slice(0, 8)).toEqual(['preset', 'setting', 'loss', 'theory', 'summary', 'slope', 'ci', 'verdict']);
      const v = Object.fromEntries(json.claims.filter((c) => c.preset === 'softmax-exact').map((c) => [c.loss, c.verdict]));
      expect(v).toEqual({ D1: 'reproduced', hellinger: 'contradicted', 'D2:beta1': 'reproduced' });
      const topk = json.claims.filter((c) => c.preset === 'topk-exact');
      const { loadStudyFile, presetPath } = await import('../../src/study/config.js');
      expect(topk.length).toBe(loadStudyFile(presetPath('topk-exact')).settings.reduce((a, st) => a + st.losses.length, 0));
      for (const c of topk) expect(c.verdict).toBe('not run');
      const se = json.presets.find((p) => p.preset === 'softmax-exact')!;
      expect(se.missing).toBe(5);
      expect(se.missingBySetting).toEqual([{ setting: 'exact', missing: 5, ns: [100000] }]);
      const md = readFileSync(res.md, 'utf8');
      expect(md).toContain('softmax-exact · exact: 5 jobs missing, at n = 100000');
      expect(md).toMatch(/\| softmax-exact · exact \| D1 \| n\^−0\.5 \| \*\*reproduced\*\*/);
      expect(md).toContain('**contradicted**');
      // the run's wall time from the stores (7 sizes × 20 reps − 5 missing), and math-spec §7 row by row
      const stored = 7 * 20 - 5;
      expect((JSON.parse(readFileSync(res.json, 'utf8')) as { timing: { jobs: number; computeSeconds: number } }).timing.jobs).toBe(stored);
      expect(res.reproduction.timing!.computeSeconds).toBeCloseTo(stored * 0.01, 9);
      expect(md).toContain(`${stored} jobs finished between `);
      expect(md).toMatch(/\| P0 softmax, Gaussian linear \(ex\) \| [^|]+ \| softmax-exact · exact \| 2 reproduced, 1 contradicted, 0 inconclusive: D1 ✓, hellinger ✗, D2:beta1 ✓ \|/);
      expect(md).toMatch(/\| P1 top-K \(ex\) \| parametric \| topk-exact · exact \| 0 reproduced, 0 contradicted, 0 inconclusive, \d+ not run/);
      // a | inside a cell is escaped: every §7 row has exactly 5 unescaped pipes
      for (const line of md.split('\n').filter((l) => l.startsWith('| P') && l.includes('§') === false && /^\| P\d/.test(l))) expect(line.replace(/\\\|/g, '').split('|').length).toBe(6);
      expect(md).toContain('| P1 top-K (ov), K̄ ≥ max Σ\\|A\\| |');
      expect(existsSync(join(out, 'figures', 'softmax-exact-exact.svg'))).toBe(true);
      // a paragraph for the contradicted claim, and the README block generated from the same result
      expect(md).toMatch(/\*\*softmax-exact · exact · hellinger: contradicted\.\*\* the loss still falls/);
      const readme = join(out, 'README.md');
      writeFileSync(readme, 'intro\n<!-- reproduction:start -->\nold\n<!-- reproduction:end -->\ntail\n');
      expect(updateReadme(readme, res.reproduction, 'docs/reproduction/reproduction.json')).toBe(true);
      const text = readFileSync(readme, 'utf8');
      expect(text.startsWith('intro\n<!-- reproduction:start -->\nGenerated from `docs/reproduction/reproduction.json`')).toBe(true);
      expect(text).toMatch(/\| softmax-exact · exact \| D1 \| n\^−0\.5 \| reproduced \| −0\.\d\d \[/);
      expect(text).toContain('| topk-exact · exact | D1 | n^−0.5 | not run | — |');
      expect(text.endsWith('<!-- reproduction:end -->\ntail\n')).toBe(true);
      expect(updateReadme(readme, res.reproduction, 'docs/reproduction/reproduction.json')).toBe(false);
      writeFileSync(readme, 'no markers\n');
      expect(() => updateReadme(readme, res.reproduction, 'x')).toThrow(/no <!-- reproduction:start -->/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('withPresetLosses', () => {
  it('adds the losses a preset gained after the run (cell:BLOCK) from the stored models, and takes theory from the preset', async () => {
    const { withPresetLosses } = await import('../../src/study/reproduce.js');
    const { loadStudyFile, presetPath } = await import('../../src/study/config.js');
    const { voronoiLoss } = await import('../../src/measure/voronoi.js');
    const { AUTHORS_TRUTH } = await import('../../src/model/presets.js');
    const preset = loadStudyFile(presetPath('softmax-exact'), { profile: 'quick' });
    // the run as it was started: without the cell losses and with another theory on D1
    const old = { ...preset, settings: preset.settings.map((s) => ({ ...s, losses: s.losses.filter((l) => l.base !== 'cell').map((l) => (l.name === 'D1' ? { ...l, theory: -0.3 } : l)) })) };
    const dir = mkdtempSync(join(tmpdir(), 'moelab-repro-'));
    try {
      const store = StudyStore.create(dir, old);
      const jobs = planJobs(old).slice(0, 3);
      const models = jobs.map((_, i) => ({ gate: { type: 'softmax', beta0: [-8 + 0.1 * i, 0], beta1: [[25 + i], [0]] }, experts: { type: 'gaussianLinear', a: [[-20], [20.5]], b: [15, -5 + 0.2 * i], variance: [0.09, 0.16] } }));
      jobs.forEach((job, i) => store.write({
        jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'ok', error: null, objectiveName: 'logLikelihood', objectiveValue: -1, iterations: 1,
        converged: true, seconds: 0.01, model: JSON.stringify(models[i]), warnings: null, losses: { D1: 0.1, hellinger: 0.01 },
      }));
      const view = withPresetLosses(store, preset);
      const d1 = view.study.settings[0].losses.find((l) => l.name === 'D1')!;
      expect(d1.theory).toBe(-0.5);
      expect(view.study.settings[0].losses.map((l) => l.name)).toEqual(preset.settings[0].losses.map((l) => l.name));
      const vals = view.lossValues().filter((v) => v.name === 'cell:b');
      expect(vals.length).toBe(3);
      jobs.forEach((job, i) => {
        const want = voronoiLoss(models[i] as never, AUTHORS_TRUTH, { loss: 'D1' }).cellBlock.b;
        expect(vals.find((v) => v.rep === job.rep && v.n === job.n)!.value).toBeCloseTo(want, 12);
      });
      expect(vals[0].value).toBeCloseTo(0, 12);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('recomputing stale losses from the stored models', () => {
  const setup = async (record: 'none' | 'current' | 'empty-then-run') => {
    const { loadStudyFile, presetPath } = await import('../../src/study/config.js');
    const { recordMeasureVersions, MEASURE_VERSIONS_META } = await import('../../src/study/versions.js');
    const preset = loadStudyFile(presetPath('softmax-over'), { profile: 'quick' });
    const dir = mkdtempSync(join(tmpdir(), 'moelab-recompute-'));
    const store = StudyStore.create(dir, preset);
    if (record === 'empty-then-run') recordMeasureVersions(store);
    const jobs = planJobs(preset).slice(0, 3);
    // far fits (the reference cell split in β₁ by ≈ 4): the old whole-orbit infimum gave ≈ 1.0003 for each
    const models = jobs.map((_, i) => ({ gate: { type: 'softmax', beta0: [-0.08, -7.6, 0], beta1: [[4.27 + 0.3 * i], [28.5], [0]] }, experts: { type: 'gaussianLinear', a: [[20.25], [-20.0], [20.3]], b: [-5.15, 15.0, -4.86], variance: [0.14, 0.09, 0.138] } }));
    jobs.forEach((job, i) => store.write({
      jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'ok', error: null, objectiveName: 'logLikelihood', objectiveValue: -1, iterations: 1,
      converged: true, seconds: 0.01, model: JSON.stringify(models[i]), warnings: null,
      losses: Object.fromEntries(preset.settings[0].losses.map((l) => [l.name, l.name === 'D2inf' ? 1.0003 : 0.5])),
    }));
    if (record === 'current') recordMeasureVersions(store); // a store with rows and no record keeps none
    return { preset, dir, store, jobs, models, meta: () => store.meta(MEASURE_VERSIONS_META) };
  };

  it('a store without a version record (a run of older code) gets D2inf recomputed with the job\'s own stream; the others stay as stored', async () => {
    const { withPresetLosses } = await import('../../src/study/reproduce.js');
    const { voronoiLoss } = await import('../../src/measure/voronoi.js');
    const { AUTHORS_TRUTH } = await import('../../src/model/presets.js');
    const { preset, dir, store, jobs, models, meta } = await setup('current');
    try {
      expect(meta()).toBeUndefined();
      const view = withPresetLosses(store, preset);
      expect(view.note.recomputed.map((r) => r.losses)).toEqual([['D2inf']]);
      const vals = view.lossValues();
      const inf = vals.filter((v) => v.name === 'D2inf');
      expect(inf.length).toBe(3); // replaced, not duplicated
      jobs.forEach((job, i) => {
        const want = voronoiLoss(models[i] as never, AUTHORS_TRUTH, { loss: 'D2', infimum: true }).infimum!.loss;
        expect(want).toBeGreaterThan(2);
        expect(inf.find((v) => v.rep === job.rep && v.n === job.n)!.value).toBeCloseTo(want, 12);
      });
      expect(vals.filter((v) => v.name === 'D2').every((v) => v.value === 0.5)).toBe(true);
      // asked explicitly: D2 too (from the model: not 0.5)
      const forced = withPresetLosses(store, preset, { recompute: ['D2'] }).lossValues().filter((v) => v.name === 'D2');
      expect(forced.length).toBe(3);
      expect(forced[0].value).toBeCloseTo(voronoiLoss(models[0] as never, AUTHORS_TRUTH, { loss: 'D2' }).loss, 12);
      expect(() => withPresetLosses(store, null, { recompute: ['hellinger'] })).toThrow(/needs the fitted data/);
      expect(() => withPresetLosses(store, null, { recompute: ['D1inf'], strict: true })).toThrow(/has no loss "D1inf"/);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a store that recorded the current versions before its first row is read as stored', async () => {
    const { withPresetLosses } = await import('../../src/study/reproduce.js');
    const { measureVersions } = await import('../../src/study/measures.js');
    const { recordMeasureVersions } = await import('../../src/study/versions.js');
    const { preset, dir, store, meta } = await setup('empty-then-run');
    try {
      expect(JSON.parse(meta()!)).toEqual(measureVersions());
      expect(measureVersions().D2inf).toBe(2);
      const view = withPresetLosses(store, preset);
      expect(view.note.recomputed).toEqual([]);
      expect(view.lossValues().filter((v) => v.name === 'D2inf').every((v) => v.value === 1.0003)).toBe(true);
      // resumed by code with another version of D2inf: the rows are mixed, recorded as 0, recomputed
      store.setMeta('measure_versions', JSON.stringify({ ...measureVersions(), D2inf: 1 }));
      recordMeasureVersions(store);
      expect(JSON.parse(meta()!).D2inf).toBe(0);
      expect(withPresetLosses(store, preset).note.recomputed.map((r) => r.losses)).toEqual([['D2inf']]);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('far fits: which block makes the loss, and the constant it implies', () => {
  it('a stored over-specified fit with its reference cell split in β₁: the β₁ term, its error and the constant C = err·n^{1/8}', async () => {
    const { farFitsOf, diagnose } = await import('../../src/study/reproduce.js');
    const { MixtureOfExperts } = await import('../../src/model/model.js');
    const { AUTHORS_TRUTH } = await import('../../src/model/presets.js');
    const { voronoiLoss } = await import('../../src/measure/voronoi.js');
    const far = {
      gate: { type: 'softmax', beta0: [-0.08357739362714421, -7.604600415967305, 0], beta1: [[4.265832294104956], [28.529440930570892], [0]] },
      experts: { type: 'gaussianLinear', a: [[20.251274245435205], [-20.003418828097924], [20.308116300248393]], b: [-5.146591231448203, 15.002599842630682, -4.856100029026773], variance: [0.14153832406054848, 0.09039712640991096, 0.1384259809039062] },
    };
    const v = voronoiLoss(far as never, AUTHORS_TRUTH, { loss: 'D2' });
    const f = farFitsOf('D2inf', [{ n: 100000, model: JSON.stringify(far) }], MixtureOfExperts.fromJSON(AUTHORS_TRUTH, 'truth'), 15199)!;
    expect(f.block).toBe('beta1');
    expect(f.share).toBeCloseTo(v.blocks.beta1 / v.loss, 12);
    expect(f.share).toBeGreaterThan(0.95);
    expect(f.exponent).toBe(4); // r̄(2) in the 2-atom reference cell
    expect(f.medianError).toBeCloseTo(v.blockMax.beta1, 12);
    const text = diagnose({ preset: 'p', setting: 's', loss: 'D2', theory: -0.5, summary: 'q0.8', slope: -0.9, ci: [-1.4, -0.3], verdict: 'inconclusive', kind: 'rate', reason: 'x', meanSlope: null, meanCi: null, medianSlope: null, medianCi: null, localSlopes: [], bestModel: null, nMin: 100, nMax: 100000, reps: 5, aboveOne: { small: 0.9, large: 0.45, nSmallTo: 658, nLargeFrom: 15199 }, farFits: f });
    const C = f.medianError * 100000 ** (1 / 8);
    expect(text).toContain(`C ≈ ${C.toFixed(1)}`);
    expect(text).toContain('the beta1 term makes');
  });
});

describe('diagnose picks the cause the data support', () => {
  const base = { preset: 'p', setting: 's', theory: -0.25, summary: 'q0.8', ci: [-0.18, 0.0] as [number, number], kind: 'rate', reason: 'x', meanSlope: null, meanCi: null, medianSlope: null, medianCi: null, localSlopes: [], bestModel: null, nMin: 100, nMax: 100000, reps: 20 };
  const facts = { setting: 's', ok: 240, failed: 0, nonConverged: 0, nonConvergedLarge: 0, ridge: 0, varianceFloor: 0, largeJobs: 80, gateBound: 10, atBound: 3, expertBound: null, atExpertBound: 0, beyondExpertBound: 0, expertFar: 0, expertFarSmall: 0, smallJobs: 80, expertMax: 20, trueExpertMax: 20, nLargeFrom: 15199, nSmallTo: 658 };
  it('param:BLOCK contradicted while cell:BLOCK is reproduced: the statistic, with the sibling\'s slope', async () => {
    const { diagnose } = await import('../../src/study/reproduce.js');
    const cell = { ...base, loss: 'cell:a', slope: -0.31, ci: [-0.38, -0.21] as [number, number], verdict: 'reproduced' as const };
    const t = diagnose({ ...base, loss: 'param:a', slope: -0.09, verdict: 'contradicted' }, facts, cell);
    expect(t).toContain('Cause: the statistic');
    expect(t).toContain('cell:a on the same fits is reproduced (q0.8: −0.31 [−0.38, −0.21])');
  });
  it('many fits on the gate bound and a slope shallower than the theory: the bound', async () => {
    const { diagnose } = await import('../../src/study/reproduce.js');
    const t = diagnose({ ...base, loss: 'cell:beta1', theory: -0.5, slope: -0.29, verdict: 'contradicted' }, { ...facts, atBound: 48 });
    expect(t).toContain('Cause: the bound on Θ — 20 % of the fits have a gate coefficient on the bound 10');
    // the same with few fits on the bound: not that cause
    expect(diagnose({ ...base, loss: 'cell:beta1', theory: -0.5, slope: -0.29, verdict: 'contradicted' }, facts)).not.toContain('the bound on Θ');
  });
  it('runaway expert coefficients: the text names the blocks the setting bounds, and by what', async () => {
    const { diagnose } = await import('../../src/study/reproduce.js');
    const runaway = { ...facts, expertFar: 40, expertFarSmall: 30, expertMax: 1e4, trueExpertMax: 2 };
    const claim = { ...base, loss: 'D2', slope: -0.9, verdict: 'inconclusive' as const };
    expect(diagnose(claim, runaway)).toContain('only the gate is bounded (by 10), the experts are not');
    expect(diagnose(claim, { ...runaway, gateBound: null })).toContain('neither the gate nor the experts are bounded');
    const both = diagnose(claim, { ...runaway, expertBound: 5, atExpertBound: 60 });
    expect(both).toContain('the gate is bounded by 10 and the experts by 5');
    expect(both).not.toContain('only the gate');
    // fits on the expert bound are counted as those on the gate bound are
    expect(both).toContain('60 of 240 fits (25 %) have an expert coefficient on the bound 5.');
    expect(both).toContain('Run that would decide: a tighter expert bound than 5');
    expect(diagnose(claim, runaway)).toContain('a compact Θ for the experts (`expertBound`');
    const beyond = diagnose(claim, { ...runaway, expertBound: 5, beyondExpertBound: 12 });
    expect(beyond).toContain('12 of 240 fits (5 %) have an expert coefficient beyond the bound 5 in the stored model\'s units');
    expect(beyond).toContain('the expert bound 5 applied in the model\'s units');
  });
  it('many fits on the expert bound and a slope shallower than the theory: the bound on the experts', async () => {
    const { diagnose } = await import('../../src/study/reproduce.js');
    const t = diagnose({ ...base, loss: 'cell:b', theory: -0.5, slope: -0.29, verdict: 'contradicted' }, { ...facts, expertBound: 8, atExpertBound: 72 });
    expect(t).toContain('Cause: the bound on Θ — 30 % of the fits have an expert coefficient on the bound 8');
  });
  it('a local claim with runaway experts names the expert bound as it is (EM multinomial experts take expertBound)', async () => {
    const { diagnose } = await import('../../src/study/reproduce.js');
    const local = { ...base, loss: 'cell:b', slope: -0.1, verdict: 'inconclusive' as const, local: { truths: 2, reading: 'worst', rate: 0.25, worstTruth: [0, 1], lastMedian: 0.3, lastEpsilon: 0.4 } };
    const runaway = { ...facts, expertFar: 40, expertFarSmall: 30, expertMax: 1e4, trueExpertMax: 2 };
    const t = diagnose(local, runaway);
    expect(t).not.toContain('EM has no expert bound');
    expect(t).toContain('Run that would decide: a compact Θ for the experts (`expertBound`');
    expect(diagnose(local, { ...runaway, expertBound: 10 })).toContain('Run that would decide: a tighter expert bound than 10, then the same local alternatives');
  });
});

describe('settingFacts counts the fits on each bound', () => {
  it('a gate coefficient on gateBound, an expert coefficient on expertBound and one beyond it are counted apart', async () => {
    const { settingFacts } = await import('../../src/study/run-facts.js');
    const study = { ns: [100, 1000, 10000], truth: { experts: { type: 'multinomialLogistic', classes: 2, a: [[2, 0]], b: [[[1], [0]]] } }, settings: [{ name: 's', options: { gateBound: 10, expertBound: 8 } }, { name: 'free', options: {} }] };
    const model = (g: number, e: number): string => JSON.stringify({ gate: { type: 'softmax', beta0: [g, 0], beta1: [[1], [0]] }, experts: { type: 'multinomialLogistic', classes: 2, a: [[e, 0], [1, 0]], b: [[[0.5], [0]], [[0.2], [0]]] } });
    const row = (setting: string, n: number, m: string): ResultRow => ({ jobId: `${setting}/${n}`, setting, n, rep: 0, seed: '1', status: 'ok', error: null, objectiveName: 'logLikelihood', objectiveValue: 0, iterations: 1, converged: true, seconds: 0, model: m, losses: {}, warnings: null });
    const rows = [row('s', 100, model(10, -8)), row('s', 1000, model(3, 8)), row('s', 10000, model(-10, 9)), row('s', 10000, model(1, 2)), row('free', 100, model(10, 8))];
    const [f, free] = settingFacts(study as never, rows);
    expect(f.gateBound).toBe(10);
    expect(f.atBound).toBe(2);
    expect(f.expertBound).toBe(8);
    expect(f.atExpertBound).toBe(2);
    expect(f.beyondExpertBound).toBe(1);
    expect(free.gateBound).toBeNull();
    expect(free.expertBound).toBeNull();
    expect(free.atBound + free.atExpertBound + free.beyondExpertBound).toBe(0);
  });
});
