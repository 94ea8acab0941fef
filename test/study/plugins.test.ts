/**
 * `plugins:` in study configs (src/study/plugins.ts): the study records each plugin with its
 * sha256, the study hash follows the plugin's content (not its path), the local pool's threads load
 * it, and a run or resume whose copy differs or is missing is refused with one line.
 * (The queue workers' side is in queue.test.ts.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { loadStudy, loadStudyFileAsync, studyHash } from '../../src/study/config.js';
import { StudyStore } from '../../src/study/store.js';
import { runStudy } from '../../src/study/runner.js';
import { rowBytes, runJob } from '../../src/study/job.js';
import { planJobs } from '../../src/study/plan.js';
import { runCli } from '../cli/run-cli.js';

const FIXTURE = resolve(__dirname, 'fixtures', 'family-plugin.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'moelab-plugins-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

export const PLUGIN_CONFIG = `name: plug
seed: 11
truth: authors
n: [300, 600]
replicates: 3
plugins: [./family-plugin.mjs]
settings:
  - { name: plugged, k: 2, gate: plugsoftmax, experts: gaussian, losses: [D1, twiceD1] }
`;

/** A directory holding the config and a copy of the plugin (with `extra` appended: another content). */
function studyDir(name: string, extra = ''): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'family-plugin.mjs'), readFileSync(FIXTURE, 'utf8') + extra);
  writeFileSync(join(dir, 'plug.yaml'), PLUGIN_CONFIG);
  return dir;
}

describe('study plugins', () => {
  it('records the plugin with its sha256; the study hash follows the content, not the path', async () => {
    const a = studyDir('a');
    const b = studyDir('b'); // same bytes elsewhere
    const c = studyDir('c', '// another version\n');
    const sa = await loadStudyFileAsync(join(a, 'plug.yaml'));
    const sb = await loadStudyFileAsync(join(b, 'plug.yaml'));
    const sc = await loadStudyFileAsync(join(c, 'plug.yaml'));
    const sha = createHash('sha256').update(readFileSync(join(a, 'family-plugin.mjs'))).digest('hex');
    expect(sa.plugins).toEqual([{ module: './family-plugin.mjs', sha256: sha, path: join(a, 'family-plugin.mjs') }]);
    expect(sa.settings[0].gate).toEqual({ type: 'plugSoftmax' });
    expect(sb.plugins?.[0].path).toBe(join(b, 'family-plugin.mjs'));
    expect(studyHash(sb)).toBe(studyHash(sa));
    expect(sc.plugins?.[0].sha256).not.toBe(sha);
    expect(studyHash(sc)).not.toBe(studyHash(sa));
    // a config without plugins keeps its hash (no `plugins` key in the resolved study)
    const plain = loadStudy(PLUGIN_CONFIG.replace('plugins: [./family-plugin.mjs]\n', '').replace('plugsoftmax', 'softmax').replace(', twiceD1', ''));
    expect('plugins' in plain).toBe(false);
  });

  it('a missing or unloadable plugin is one line naming plugins[i] and its line', async () => {
    const d = join(tmp, 'missing');
    mkdirSync(d);
    writeFileSync(join(d, 'plug.yaml'), PLUGIN_CONFIG);
    await expect(loadStudyFileAsync(join(d, 'plug.yaml'))).rejects.toThrow(/plugins\[0\] \(line 6\): "\.\/family-plugin\.mjs": no such file .*missing\/family-plugin\.mjs/);
    writeFileSync(join(d, 'family-plugin.mjs'), 'export default function () { throw new Error("boom"); }\n');
    await expect(loadStudyFileAsync(join(d, 'plug.yaml'))).rejects.toThrow(/plugins\[0\] \.\/family-plugin\.mjs: the module failed to load: boom/);
    // loaded synchronously without importing it first: said so, not "unknown gate"
    const e = studyDir('unloaded', '// never imported\n');
    expect(() => loadStudy(PLUGIN_CONFIG, { baseDir: e })).toThrow(/plugins\[0\] \(line 6\): "\.\/family-plugin\.mjs" is not loaded in this process/);
  });

  it('the local pool loads the plugin in its threads; rows equal an inline run; resume refuses a changed or missing copy', async () => {
    const dir = studyDir('run');
    const markers = join(tmp, 'markers');
    mkdirSync(markers);
    process.env.MOELAB_TEST_PLUGIN_MARKER = markers;
    try {
      const study = await loadStudyFileAsync(join(dir, 'plug.yaml'));
      const store = StudyStore.create(join(dir, 'out'), study);
      const s = await runStudy(store, { threads: 2, progress: false });
      expect(s).toMatchObject({ planned: 6, ran: 6, ok: 6, failed: 0 });
      const rows = store.rows();
      store.close();
      const inline = new Map(planJobs(study).map((j) => [j.id, runJob(study, j)]));
      for (const r of rows) {
        expect(r.status, r.error ?? '').toBe('ok');
        expect(rowBytes(r)).toBe(rowBytes(inline.get(r.jobId) ?? r));
        const d1 = r.losses.D1 as number;
        expect(d1).toBeGreaterThan(0);
        expect(r.losses.twiceD1).toBeCloseTo(2 * d1, 10);
      }
      // loaded in pool threads (threadId > 0), not only in this thread
      expect(readdirSync(markers).some((f) => Number(f.split('-').pop()) > 0)).toBe(true);
    } finally {
      delete process.env.MOELAB_TEST_PLUGIN_MARKER;
    }
    // resume (the CLI) with the plugin edited since: refused, one line, nothing run
    const out = join(dir, 'out');
    const db = StudyStore.open(out);
    expect(db.deleteFailed()).toBe(0);
    db.close();
    copyFileSync(join(dir, 'family-plugin.mjs'), join(dir, 'keep.mjs'));
    writeFileSync(join(dir, 'family-plugin.mjs'), readFileSync(FIXTURE, 'utf8') + '// edited\n');
    const changed = await runCli(['study', 'resume', out, '--retry-failed', '--no-progress']);
    expect(changed.code).toBe(2);
    expect(changed.stderr.trim().split('\n').at(-1)).toMatch(/^moelab: study plug needs plugin \.\/family-plugin\.mjs \(sha256 [0-9a-f]{12}…\), but the copy of this process at .*run\/family-plugin\.mjs \(the recorded path\) differs \(sha256 [0-9a-f]{12}…\)/);
    rmSync(join(dir, 'family-plugin.mjs'));
    const missing = await runCli(['study', 'resume', out, '--no-progress']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/study plug needs plugin \.\/family-plugin\.mjs \(sha256 [0-9a-f]{12}…\), which this process does not have: not at .*run\/family-plugin\.mjs/);
    renameSync(join(dir, 'keep.mjs'), join(dir, 'family-plugin.mjs'));
    const ok = await runCli(['study', 'resume', out, '--no-progress']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/ran 0 jobs/);
  });
});
