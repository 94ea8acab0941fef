/**
 * The README's promises about files (issue 11 item 6): every file a README command reads is in
 * examples/ (or at the path it names), every `math-spec §N` cited by the code or the README is a
 * section of docs/math-spec.md, the papers are named with their arXiv ids, and the LICENSE is the one
 * package.json declares.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadStudyFile } from '../../src/study/config.js';
import { MixtureOfExperts } from '../../src/model/model.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const INPUT_OPTIONS = new Set(['--model', '--data', '--truth', '--fit', '--a', '--b', '--init-model']);

/** The moelab command lines of the README: fenced sh blocks (with `\` continuations) and inline code. */
function commandLines(): string[] {
  const lines: string[] = [];
  for (const block of README.matchAll(/```sh\n([\s\S]*?)```/g)) {
    lines.push(...block[1].replace(/\\\n\s*/g, ' ').split('\n'));
  }
  for (const inline of README.matchAll(/`([^`\n]*moelab [^`\n]*)`/g)) lines.push(...inline[1].split('|'));
  // comments are kept: they may name a command too (`# or: study run my-study.yaml`)
  return lines.map((l) => l.trim()).filter((l) => /\bmoelab /.test(l));
}

/** Input files named by a command: values of the input options and a `study run` config. */
function inputsOf(line: string): string[] {
  const words = line.replace(/\[[^\]]*\]/g, ' ').split(/\s+/);
  const files: string[] = [];
  words.forEach((w, i) => {
    const v = words[i + 1];
    if (INPUT_OPTIONS.has(w) && v !== undefined) files.push(v);
    if (w === 'run' && words[i - 1] === 'study' && v !== undefined && /\.(ya?ml|json)$/.test(v)) files.push(v);
  });
  // placeholders (FILE, DIR) and standard input are not files
  return files.filter((f) => f !== '-' && !/^[A-Z]+$/.test(f) && /\.\w+$/.test(f));
}

describe('README files', () => {
  it('every file a README command reads exists in examples/ (or at the repository path it names)', () => {
    const lines = commandLines();
    expect(lines.length).toBeGreaterThan(10);
    const inputs = [...new Set(lines.flatMap(inputsOf))];
    for (const f of ['truth.json', 'data.csv', 'fit.json', 'new.csv', 'labels.csv', 'm1.json', 'm2.json', 'my-study.yaml']) expect(inputs).toContain(f);
    const missing = inputs.filter((f) => !existsSync(f.includes('/') ? join(ROOT, f) : join(ROOT, 'examples', f)));
    expect(missing).toEqual([]);
  });
  it('the example models load, and my-study.yaml resolves its truth next to itself', () => {
    for (const f of ['truth.json', 'fit.json', 'm1.json', 'm2.json', 'classes-truth.json']) {
      expect(() => MixtureOfExperts.fromJSON(JSON.parse(readFileSync(join(ROOT, 'examples', f), 'utf8'))), f).not.toThrow();
    }
    const st = loadStudyFile(join(ROOT, 'examples', 'my-study.yaml'));
    expect(st.truth).toEqual(MixtureOfExperts.fromJSON(JSON.parse(readFileSync(join(ROOT, 'examples', 'truth.json'), 'utf8'))).toJSON());
  });
});

describe('citations live in the repository', () => {
  const spec = readFileSync(join(ROOT, 'docs', 'math-spec.md'), 'utf8');
  const sections = new Set([...spec.matchAll(/^#{2,3} (\d+(?:\.\d+)?)[ .]/gm)].map((m) => m[1]));
  function sources(dir: string): string[] {
    return readdirSync(dir).flatMap((e) => {
      const p = join(dir, e);
      return statSync(p).isDirectory() ? sources(p) : /\.(ts|mjs)$/.test(e) ? [p] : [];
    });
  }
  it('every math-spec §N cited in src/ and the README is a section of docs/math-spec.md', () => {
    expect(sections.has('2.1') && sections.has('8.3') && sections.has('9.5')).toBe(true);
    const bad: string[] = [];
    let cited = 0;
    for (const file of [...sources(join(ROOT, 'src')), join(ROOT, 'README.md')]) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/math-spec(?:\.md)?\s*§\s*(\d+(?:\.\d+)?)((?:\s*(?:,|and|–|-)\s*§?\s*\d+(?:\.\d+)?)*)/g)) {
        const nums = [m[1], ...[...m[2].matchAll(/\d+(?:\.\d+)?/g)].map((x) => x[0])];
        for (const num of nums) {
          cited++;
          if (!sections.has(num)) bad.push(`${file.slice(ROOT.length + 1)}: §${num}`);
        }
      }
    }
    expect(cited).toBeGreaterThan(50);
    expect(bad).toEqual([]);
  });
  it('no comment cites a document outside the repository', () => {
    const outside = sources(join(ROOT, 'src')).filter((f) => /shared\/(docs|seeds)/.test(readFileSync(f, 'utf8')));
    expect(outside).toEqual([]);
  });
  it('the README names the four papers (and the companion) with their arXiv ids; LICENSE is MIT as package.json says', () => {
    for (const id of ['2309.13850', '2310.14188', '2402.02952', '2503.03213', '2401.13875', '2305.03288']) expect(README).toContain(id);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string };
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
  });
});
