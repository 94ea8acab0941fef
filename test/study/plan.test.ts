import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStudy } from '../../src/study/config.js';
import { executionOrder, pendingCost, pendingJobs, planJobs, plannedCount } from '../../src/study/plan.js';
import { rowBytes, runJob } from '../../src/study/job.js';
import { StudyStore } from '../../src/study/store.js';
import { runStudy } from '../../src/study/runner.js';
import { deriveSeed } from '../../src/numeric/rng.js';

const CONFIG = `name: plan-test
seed: 11
truth: authors
n: [150, 400, 1000]
replicates: 3
settings:
  - name: exact
    k: 2
    gate: softmax
    experts: gaussian
    losses: [D1, D1:beta1, param:a]
  - name: exact-km
    k: 2
    gate: softmax
    experts: gaussian
    init: kmeans++
    restarts: 2
    losses: [D1]
`;

describe('study plan', () => {
  it('the lazy plan walks the pending jobs in execution order, skipping finished ones; costs add up', () => {
    const study = loadStudy(CONFIG);
    const all = planJobs(study);
    expect(plannedCount(study)).toBe(all.length);
    expect([...pendingJobs(study)]).toEqual(executionOrder(all));
    const finished = new Set(all.filter((_, i) => i % 3 === 0).map((j) => j.id));
    const left = executionOrder(all.filter((j) => !finished.has(j.id)));
    expect([...pendingJobs(study, finished)]).toEqual(left);
    expect(pendingCost(study, finished)).toEqual({ jobs: left.length, cost: left.reduce((s, j) => s + j.cost, 0) });
    // a plan of 10⁹ jobs is not expanded to take its first job
    const huge = { ...study, replicates: 1e9 };
    const it = pendingJobs(huge);
    expect(it.next().value).toMatchObject({ rep: 0 });
    expect(plannedCount(huge)).toBe(1e9 * all.length / study.replicates);
  });

  it('is deterministic: same config → same jobs and seeds, seeds = deriveSeed(studySeed, setting, n, rep)', () => {
    const a = planJobs(loadStudy(CONFIG));
    const b = planJobs(loadStudy(CONFIG));
    expect(a).toEqual(b);
    expect(a.length).toBe(2 * 3 * 3);
    expect(new Set(a.map((j) => j.id)).size).toBe(a.length);
    expect(new Set(a.map((j) => j.seed)).size).toBe(a.length);
    for (const j of a) expect(j.seed).toBe(deriveSeed(11, j.setting, j.n, j.rep).toString());
    expect(a[0]).toMatchObject({ id: 'exact/150/0', setting: 'exact', n: 150, rep: 0 });
    // another study seed changes every job seed, not the ids
    const c = planJobs(loadStudy(CONFIG.replace('seed: 11', 'seed: 12')));
    expect(c.map((j) => j.id)).toEqual(a.map((j) => j.id));
    for (let i = 0; i < a.length; i++) expect(c[i].seed).not.toBe(a[i].seed);
    // execution order is a permutation, replicate waves first
    const order = executionOrder(a);
    expect(order.map((j) => j.id).sort()).toEqual(a.map((j) => j.id).sort());
    expect(order.slice(0, 6).every((j) => j.rep === 0)).toBe(true);
  });

  it('a job re-run alone gives the same bytes as inside a pooled run', async () => {
    const study = loadStudy(CONFIG);
    const dir = mkdtempSync(join(tmpdir(), 'moelab-plan-'));
    try {
      const store = StudyStore.create(dir, study);
      const s = await runStudy(store, { threads: 2, progress: false });
      expect(s.ran).toBe(18);
      expect(s.failed).toBe(0);
      const stored = store.rows();
      store.close();
      expect(stored.length).toBe(18);
      const jobs = planJobs(study);
      // re-run a few jobs alone, in reverse order, in this thread
      for (const id of ['exact-km/1000/2', 'exact/400/1', 'exact/150/0']) {
        const job = jobs.find((j) => j.id === id)!;
        const alone = runJob(study, job);
        const again = runJob(study, job);
        const fromStore = stored.find((r) => r.jobId === id)!;
        expect(alone.status).toBe('ok');
        expect(rowBytes(alone)).toBe(rowBytes(again));
        expect(rowBytes(alone)).toBe(rowBytes(fromStore));
        expect(Object.keys(alone.losses).sort()).toEqual(job.setting === 'exact' ? ['D1', 'D1:beta1', 'param:a'] : ['D1']);
        expect(alone.losses.D1).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records a failing job with its error instead of dropping it', () => {
    // a block that the loss does not have fails at the measure stage, after a successful fit
    const study = loadStudy(CONFIG);
    const job = planJobs(study)[0];
    const s0 = study.settings[0];
    const broken = { ...study, settings: [{ ...s0, losses: [...s0.losses, { name: 'D1:nope', base: 'D1', block: 'nope', options: {} }] }] };
    const row = runJob(broken, job);
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(/^measure: OptionError: loss D1:nope: D1 has no block "nope" \(blocks: beta1, a, b, variance, mass\)$/);
    expect(row.model).not.toBeNull();
    expect(row.losses['D1:nope']).toBeNull();
  });
});
