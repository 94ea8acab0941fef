/**
 * Safe names (issue 12, item 6): registry and profile lookups are own-property lookups, presets are
 * names only, and NAME:BLOCK losses are checked against the setting's families when the config loads.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStudy, presetPath, StudyConfigError } from '../../src/study/config.js';
import { measureAll } from '../../src/study/measures.js';
import { runCli } from '../cli/run-cli.js';

const cfg = (settingExtra: string, losses = '[D1]', top = ''): string => `name: t
seed: 7
truth: authors
n: [200, 400]
replicates: 2
${top}settings:
  - name: exact
    k: 2
    gate: softmax
    experts: gaussian
${settingExtra}    losses: ${losses}
`;

function loadError(text: string, profile?: string): Error {
  try {
    loadStudy(text, { source: 'cfg.yaml', ...(profile !== undefined ? { profile } : {}) });
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('own-property lookups', () => {
  it('estimator: constructor / toString is an unknown estimator, not a crash', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const e = loadError(cfg(`    estimator: ${name}\n`));
      expect(e, e.stack).toBeInstanceOf(StudyConfigError);
      expect(e.message).toMatch(new RegExp(`settings\\[0\\]\\.estimator \\(line 11\\): unknown estimator "${name}"`));
    }
  });

  it('a loss named toString / constructor is an unknown loss, not a crash', () => {
    for (const name of ['toString', 'constructor', 'valueOf']) {
      const e = loadError(cfg('', `[D1, ${name}]`));
      expect(e, e.stack).toBeInstanceOf(StudyConfigError);
      expect(e.message).toMatch(new RegExp(`unknown loss "${name}"`));
    }
    expect(() => measureAll([{ name: 'toString', base: 'toString', options: {} }], {} as never)).toThrow(/unknown loss "toString"/);
  });

  it('a named truth "constructor" is unknown', () => {
    const e = loadError(cfg('').replace('truth: authors', 'truth: constructor'));
    expect(e).toBeInstanceOf(StudyConfigError);
    expect(e.message).toMatch(/truth \(line 3\): unknown named truth "constructor"/);
  });

  it('--profile constructor is an undefined profile, not the full one', () => {
    const text = cfg('', '[D1]', 'profiles:\n  quick: { replicates: 1 }\n');
    for (const p of ['constructor', 'toString', '__proto__']) {
      const e = loadError(text, p);
      expect(e.message).toMatch(new RegExp(`profile "${p}" is not defined in this config \\(defined: full, quick\\)`));
    }
    expect(loadStudy(text, { profile: 'quick' }).replicates).toBe(1);
  });

  it('a setting named constructor gets no override from a profile that does not name it', () => {
    const text = cfg('', '[D1]', 'profiles:\n  quick: { replicates: 1, settings: { exact: { k: 3 } } }\n').replace('name: exact', 'name: constructor').replace('settings: { exact:', 'settings: { constructor:');
    expect(loadStudy(text, { profile: 'quick' }).settings[0].k).toBe(3);
    const plain = cfg('', '[D1]', 'profiles:\n  quick: { replicates: 1 }\n').replace('name: exact', 'name: constructor');
    expect(loadStudy(plain, { profile: 'quick' }).settings[0].k).toBe(2);
  });
});

describe('presets are names only', () => {
  it('--preset with a path is refused; a config file is the way to give a path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moelab-preset-'));
    writeFileSync(join(dir, 'x.yaml'), cfg(''));
    for (const name of ['../../x', join(dir, 'x'), '../studies/softmax-exact', 'softmax-exact.yaml', 'constructor']) {
      expect(() => presetPath(name)).toThrow(/--preset: unknown preset/);
    }
    const rel = join('..', '..', '..', '..', '..', dir, 'x');
    const r = await runCli(['study', 'run', '--preset', rel, '--out', join(dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--preset: unknown preset .*a config file is given as `moelab study run FILE`/);
    expect(presetPath('softmax-exact')).toMatch(/studies[/\\]softmax-exact\.yaml$/);
  });
});

describe('loss blocks are validated when the config loads', () => {
  it('param:nope, D1:nope and hellinger:a are refused with the blocks that exist', () => {
    let e = loadError(cfg('', '[D1, "param:nope"]'));
    expect(e).toBeInstanceOf(StudyConfigError);
    expect(e.message).toMatch(/settings\[0\]\.losses\[1\]\.name.*loss "param" has no block "nope" for softmax\/gaussianLinear \(blocks: beta1, a, b, variance\)/);
    e = loadError(cfg('', '["D1:nope"]'));
    expect(e.message).toMatch(/loss "D1" has no block "nope" .*blocks: beta1, a, b, variance, mass/);
    e = loadError(cfg('', '["hellinger:a"]'));
    expect(e.message).toMatch(/loss "hellinger" has no blocks \(write it without ":a"\)/);
    // the blocks that exist load
    const ok = loadStudy(cfg('', '[D1, "D1:beta1", "param:variance", "D2:mass"]'));
    expect(ok.settings[0].losses.map((l) => l.name)).toEqual(['D1', 'D1:beta1', 'param:variance', 'D2:mass']);
  });

  it('the blocks follow the families: omega1 exists for a hierarchical gate only', () => {
    const hier = cfg('', '["D1:omega1"]').replace('k: 2', 'k: 4').replace('gate: softmax', 'gate: hierarchical:2x2');
    expect(loadStudy(hier).settings[0].losses[0].block).toBe('omega1');
    expect(loadError(cfg('', '["D1:omega1"]')).message).toMatch(/no block "omega1"/);
  });
});
