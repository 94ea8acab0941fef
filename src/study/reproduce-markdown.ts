/**
 * What a reproduction writes as text: reproduction.json (the claims contract), reproduction.md (run
 * status, timing, math-spec §7 row by row, the rule, the claims, the causes, the figures) and the
 * README's verdict table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { OptionError } from '../errors.js';
import type { RunTiming } from './run-facts.js';
import type { ClaimRow, Reproduction } from './reproduce-collect.js';
import { diagnose, localCause } from './report-causes.js';
import { num, ci, theoryText, minutes } from './report-text.js';

/** The JSON contract: {"claims":[{"preset","setting","loss","theory","summary","slope","ci","verdict"}, …]} plus details. */
export function reproductionJSON(r: Reproduction): Record<string, unknown> {
  return {
    claims: r.claims.map((c) => ({
      preset: c.preset, setting: c.setting, loss: c.loss, theory: c.theory, summary: c.summary, slope: c.slope, ci: c.ci, verdict: c.verdict,
      kind: c.kind, reason: c.reason, meanSlope: c.meanSlope, meanCi: c.meanCi, medianSlope: c.medianSlope, medianCi: c.medianCi,
      localSlopes: c.localSlopes, bestModel: c.bestModel, nMin: c.nMin, nMax: c.nMax, reps: c.reps, ...(c.aboveOne ? { aboveOne: c.aboveOne } : {}), ...(c.farFits ? { farFits: c.farFits } : {}),
    })),
    presets: r.presets,
    rule: r.rule,
    ...(r.timing ? { timing: r.timing } : {}),
  };
}

/** The rows of math-spec §7 and the preset settings that test them (null: no preset covers the row). */
export const SPEC_ROWS: { row: string; theory: string; tests: [string, string][] | null; note?: string }[] = [
  { row: 'P0 softmax, Gaussian linear (ex)', theory: 'density, masses, every parameter n^−1/2', tests: [['softmax-exact', 'exact']] },
  { row: 'P0 (ov), cell size m = 2', theory: 'density n^−1/2; β₁, b n^−1/8; a, ν n^−1/4', tests: [['softmax-over', 'over3'], ['softmax-over', 'over3-free']] },
  { row: 'P0 (ov), cell size m = 3', theory: 'β₁, b n^−1/12; a, ν n^−1/6', tests: [['softmax-over', 'over4']], note: 'only D2 and the density are measured (the cells of k = 4 fits are 3 or 2 + 2 depending on the replicate)' },
  { row: 'P1 top-K (ex)', theory: 'parametric', tests: [['topk-exact', 'exact']] },
  { row: 'P1 top-K (ov), K̄ ≥ max Σ|A|', theory: 'as P0 (ov) per active cell', tests: [['topk-over', 'over-kbar3'], ['topk-over-small', 'over-kbar3']] },
  { row: 'P1 top-K (ov), K̄ below the bound', theory: 'the density does not converge', tests: [['topk-over-small', 'over-kbar2']] },
  { row: 'P2 MLMoE, slopes ≠ 0 (ex/ov)', theory: 'n^−1/2 / n^−1/4', tests: [['multinomial-softmax', 'exact'], ['multinomial-softmax', 'over']] },
  { row: 'P2 MLMoE, some slope = 0 (softmax gate)', theory: 'parameters slower than any polynomial', tests: [['multinomial-softmax-vanishing', 'exact'], ['multinomial-softmax-vanishing', 'over']], note: 'fixed truth: the pointwise rate' },
  { row: 'P2 MLMoE, some slope = 0, minimax (local alternatives)', theory: 'worst-case parameter risk slower than any polynomial', tests: [['multinomial-local', 'exact-local'], ['multinomial-local', 'over-local']], note: 'truths b₂ = ε_n → 0 around the vanishing slope; worst case over 2 truths per n' },
  { row: 'P2 modified gate M(x)', theory: 'n^−1/2 / n^−1/4', tests: [['multinomial-modified-vanishing', 'exact'], ['multinomial-modified-vanishing', 'over'], ['multinomial-modified-local', 'exact-local'], ['multinomial-modified-local', 'over-local']], note: 'the -local settings: the same local alternatives as multinomial-local' },
  { row: 'P3 LSE, strongly identifiable h', theory: 'n^−1/2 / n^−1/4', tests: [['lse-gelu', 'exact'], ['lse-gelu', 'over'], ['lse-sigmoid', 'exact'], ['lse-sigmoid', 'over'], ['lse-gelu-local', 'split-local']], note: 'lse-gelu-local: the split-intercept local alternatives of lse-linear-local' },
  { row: 'P3 LSE, linear h', theory: 'slower than any polynomial', tests: [['lse-linear', 'exact'], ['lse-linear', 'over']], note: 'fixed truth: the pointwise rate' },
  { row: 'P3 LSE, linear h, minimax (local alternatives)', theory: 'worst-case parameter risk slower than any polynomial', tests: [['lse-linear-local', 'split-local']], note: 'a duplicated expert whose intercepts split by ±ε_n; worst case over 2 truths per n' },
  { row: 'P4 dense-to-sparse with τ', theory: 'TV n^−1/2; parameters slower than any polynomial', tests: [['temperature', 'exact'], ['temperature', 'over']], note: 'no local-alternative preset: along the scale orbit (β₁, β₀, τ) → c(β₁, β₀, τ) every truth is the same model in canonical form, so such a family is refused (settings[i].truth.moves); see the local-alternatives section' },
  { row: 'P4 activation gate (ex)', theory: 'n^−1/2 (β₁, τ and experts)', tests: [['activation', 'exact']] },
  { row: 'P4 activation gate (ov)', theory: 'n^−1/2 … n^−1/4', tests: [['activation', 'over']] },
];

/** The paragraph on the run's wall time, throughput and the machine (from the stores). */
export function timingText(t: RunTiming | undefined): string[] {
  if (!t || !t.jobs) return ['No jobs stored yet.'];
  const lines: string[] = [];
  lines.push(`${t.jobs} jobs finished between ${t.firstFinished} and ${t.lastFinished} (span ${minutes(t.spanSeconds)}); without the pauses ${t.pauses.length ? `(${t.pauses.map((p) => `${minutes(p.seconds)} after ${p.from}`).join(', ')})` : '(none)'} the run was busy for **${minutes(t.activeSeconds)}: ${t.jobsPerSecond.toFixed(2)} jobs/s**. The per-job times add up to ${t.computeSeconds.toFixed(0)} s, ${t.parallelism.toFixed(2)}× the busy wall time (about the worker count when every worker was busy).`);
  if (t.laterRoundRatio !== null) {
    const r = t.laterRoundRatio;
    lines.push(`The same jobs (same preset, setting and n) took ${r.toFixed(2)}× as long in their last replicate round as in the first (median over the groups)${r > 1.3 ? ': the machine was more loaded later in the run (it was shared), so the wall time overstates the cost on an idle machine' : r < 0.77 ? ': the machine was more loaded early in the run (it was shared), so the wall time overstates the cost on an idle machine' : ': no sign of a change of load during the run'}.`);
  }
  lines.push('Per-job seconds are wall-clock times inside a worker: on a shared machine they include the wait for a core. The stores do not record the machine\'s load; the note above says what the machine was doing, when given.');
  return lines;
}

/** The markdown report: status of the run, the verdict table, the rule, and the figures. */
export function reproductionMarkdown(r: Reproduction, ctx: { figOf: Map<string, string>; compFigs: { title: string; path: string }[]; out: string; wallSeconds?: number; note?: string }): string {
  const rel = (p: string): string => relative(ctx.out, p);
  const planned = r.presets.reduce((s, p) => s + p.planned, 0);
  const ok = r.presets.reduce((s, p) => s + p.ok, 0);
  const failed = r.presets.reduce((s, p) => s + p.failed, 0);
  const cpu = r.presets.reduce((s, p) => s + p.computeSeconds, 0);
  const count = (v: string): number => r.claims.filter((c) => c.verdict === v).length;
  const lines: string[] = [];
  lines.push('# Reproduction of the papers\' claims', '');
  lines.push(`Generated by \`moelab study reproduce\` from the study stores under \`run/\`. ${ok + failed} of ${planned} jobs stored (${ok} ok, ${failed} failed, ${planned - ok - failed} missing); ${cpu.toFixed(0)} s of compute in the stored jobs${ctx.wallSeconds !== undefined ? `; wall time of this command ${ctx.wallSeconds.toFixed(0)} s` : ''}.`);
  if (ctx.note) lines.push('', ctx.note);
  lines.push('', `Verdicts: ${count('reproduced')} reproduced, ${count('contradicted')} contradicted, ${count('inconclusive')} inconclusive, ${count('not run')} not run.`, '');
  lines.push('## The run: wall time and throughput', '', ...timingText(r.timing), '');
  lines.push('| preset | profile | jobs ok / planned | failed | missing | Σ job seconds | busy wall | jobs/s | first – last finished (UTC) |', '|---|---|---|---|---|---|---|---|---|');
  for (const p of r.presets) {
    const t = p.timing;
    lines.push(`| ${p.preset} | ${p.profile} | ${p.ok} / ${p.planned} | ${p.failed} | ${p.missing} | ${p.computeSeconds.toFixed(0)} | ${t && t.jobs ? minutes(t.activeSeconds) : '—'} | ${t && t.jobs ? t.jobsPerSecond.toFixed(2) : '—'} | ${t?.firstFinished ? `${t.firstFinished.slice(11, 19)} – ${(t.lastFinished ?? '').slice(11, 19)}` : '—'} |`);
  }
  const perPreset = r.presets.reduce((a, p) => a + (p.timing?.activeSeconds ?? 0), 0);
  lines.push('', `A preset's busy wall time is the span of its own jobs' finish times without pauses (one \`study reproduce\` interleaves the presets in rounds of replicates, so this includes the other presets' stretches between its rounds only when they are shorter than a pause).${r.timing && perPreset > 1.05 * r.timing.activeSeconds ? ` Here the presets' busy times add up to ${minutes(perPreset)}, more than the whole run's ${minutes(r.timing.activeSeconds)}: some presets ran at the same time (e.g. in a second process), so the whole run's figure above is the wall time.` : ''}`, '');
  lines.push('## math-spec §7, row by row', '');
  lines.push('| §7 setting | theory | tested by | verdicts |', '|---|---|---|---|');
  for (const row of SPEC_ROWS) {
    const cell = (t: string): string => t.replace(/\|/g, '\\|'); // a | inside a table cell (Σ|A|) must be escaped
    if (!row.tests) { lines.push(`| ${cell(row.row)} | ${cell(row.theory)} | — | not tested: ${row.note ?? ''} |`); continue; }
    const cs = r.claims.filter((c) => row.tests!.some(([p, s]) => c.preset === p && c.setting === s));
    const by = (v: string): number => cs.filter((c) => c.verdict === v).length;
    const list = cs.map((c) => `${c.loss} ${c.verdict === 'reproduced' ? '✓' : c.verdict === 'contradicted' ? '✗' : c.verdict === 'not run' ? '·' : '?'}`).join(', ');
    lines.push(`| ${cell(row.row)} | ${cell(row.theory)} | ${row.tests.map(([p, s]) => `${p} · ${s}`).join(', ')} | ${by('reproduced')} reproduced, ${by('contradicted')} contradicted, ${by('inconclusive')} inconclusive${by('not run') ? `, ${by('not run')} not run` : ''}: ${list}${row.note ? ` (${row.note})` : ''} |`);
  }
  lines.push('', '✓ reproduced, ✗ contradicted, ? inconclusive, · not run.', '');
  lines.push('## Verdict rule', '', ...r.rule.split('\n').map((l) => `- ${l}`), '');
  lines.push('## Claims', '');
  lines.push('| preset · setting | loss | theory | verdict (summary: slope [95% CI]) | mean slope [CI] | median slope [CI] | local slopes per decade (q0.8) | best trend | n range | reps |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const c of r.claims) {
    const local = c.localSlopes.map((w) => num(w.slope)).join(', ') || '—';
    lines.push(`| ${c.preset} · ${c.setting} | ${c.loss} | ${theoryText(c)} | **${c.verdict}** (${c.summary}: ${num(c.slope)} ${ci(c.ci)}) | ${num(c.meanSlope)} ${ci(c.meanCi)} | ${num(c.medianSlope)} ${ci(c.medianCi)} | ${local} | ${c.bestModel ?? '—'} | ${c.nMin ?? '—'}–${c.nMax ?? '—'} | ${c.reps} |`);
  }
  const computed = r.presets.filter((p) => p.computedAtReport && (p.computedAtReport.added.length || p.computedAtReport.recomputed.length || p.computedAtReport.stale.length));
  if (computed.length) {
    lines.push('', '### Computed at report time', '', 'From the stored fitted models, with each job\'s own measure stream (exactly as the job would have):', '');
    for (const p of computed) {
      const n = p.computedAtReport!;
      for (const a of n.added) lines.push(`- ${p.preset} · ${a.setting}: ${a.losses.join(', ')} (listed by the preset, not recorded by the run)`);
      for (const a of n.recomputed) lines.push(`- ${p.preset} · ${a.setting}: ${a.losses.join(', ')} recomputed (${a.reason})`);
      for (const a of n.stale) lines.push(`- ${p.preset} · ${a.setting}: ${a.losses.join(', ')} were stored by an older measure version and need the data: reported as stored`);
    }
  }
  const missing = r.presets.filter((p) => p.missing > 0);
  if (missing.length) {
    lines.push('', '### Missing jobs', '');
    for (const p of missing) for (const m of p.missingBySetting) lines.push(`- ${p.preset} · ${m.setting}: ${m.missing} jobs missing, at n = ${m.ns.join(', ')}`);
  }
  const locals = r.claims.filter((c) => c.local);
  if (locals.length) {
    lines.push('', '## Minimax claims: local alternatives', '');
    lines.push('Settings with a `truth:` block (src/study/local-truth.ts): the truth of a job is the centre with the named fields moved by ε_{n,t} = scale_t·(n/n0)^−rate, truth t = rep mod T, and the estimator starts from the centre. The summary is the worst case over the T truths at each n (the sup of the minimax statement, math-spec §1.6); the rule is the last line of the verdict rule above. Every claim of these settings, with the worst truth\'s median loss at the largest n against its ε:', '');
    for (const c of locals) {
      const l = c.local!;
      const f = r.presets.find((p) => p.preset === c.preset)?.facts?.find((x) => x.setting === c.setting);
      lines.push(`- **${c.preset} · ${c.setting} · ${c.loss}: ${c.verdict}** (${c.summary}: ${num(c.slope)} ${ci(c.ci)}; ${l.truths} truths, ${l.reading}${l.rate ? `, ε ∝ n^−${num(l.rate, 4).replace(/0+$/, '')}` : ''}; worst truth per n ${l.worstTruth.join(' ')}). ${c.reason}. ${localCause(c, f)}`);
    }
  }
  const reasons = r.claims.filter((c) => c.verdict !== 'reproduced' && c.verdict !== 'not run');
  if (reasons.length) {
    lines.push('', '## Claims contradicted or inconclusive: why, and the run that would settle it', '');
    lines.push('Generated from the data: the rule\'s reason, the estimator\'s record in the store (fits that did not converge, sit on the gate or the expert bound, or have expert coefficients far beyond the truth\'s), the share of far fits, the summaries that disagree and the trend of the local slopes; then the cause these point to and the run that would decide. The figure is the preset\'s panel of that setting.', '');
    for (const c of reasons) {
      const fig = ctx.figOf.get(`${c.preset}\u0000${c.setting}`);
      const facts = r.presets.find((p) => p.preset === c.preset)?.facts?.find((f) => f.setting === c.setting);
      const sibling = c.loss.startsWith('param:') ? r.claims.find((x) => x.preset === c.preset && x.setting === c.setting && x.loss === `cell:${c.loss.slice(6)}`) : undefined;
      lines.push(`- **${c.preset} · ${c.setting} · ${c.loss}: ${c.verdict}.** ${c.reason}. ${diagnose(c, facts, sibling)}${fig ? ` Figure: [${c.preset}-${c.setting}](${rel(fig)}).` : ''}`);
    }
  }
  if (ctx.compFigs.length) {
    lines.push('', '## Side by side', '');
    for (const f of ctx.compFigs) lines.push(`### ${f.title}`, '', `![${f.title}](${rel(f.path)})`, '');
  }
  lines.push('', '## Figures per preset', '', 'Median loss with 25–75 % and 10–90 % bands and the mean against n (log-log), the OLS line of the mean, and the theoretical slope (dashed).', '');
  for (const [key, path] of ctx.figOf) {
    const [p, s] = key.split('\u0000');
    lines.push(`### ${p} · ${s}`, '', `![${p} ${s}](${rel(path)})`, '');
  }
  return lines.join('\n') + '\n';
}

const README_START = '<!-- reproduction:start -->';
const README_END = '<!-- reproduction:end -->';

/** The compact verdict table for the README (between the reproduction markers). */
export function readmeTable(r: Reproduction, source: string): string {
  const rows = r.claims.map((c) => `| ${c.preset} · ${c.setting} | ${c.loss} | ${theoryText(c)} | ${c.verdict} | ${c.slope === null ? '—' : `${num(c.slope)} ${ci(c.ci)}`} | ${c.nMin ?? '—'}–${c.nMax ?? '—'}, ${c.reps} reps |`);
  const ok = r.presets.reduce((a, p) => a + p.ok, 0);
  const planned = r.presets.reduce((a, p) => a + p.planned, 0);
  return [
    README_START,
    `Generated from \`${source}\` by \`moelab study reproduce --readme README.md\` (${ok}/${planned} jobs of the run stored; slope = the 0.8-quantile's, the summary the verdict rule reads; per-claim details, figures and the rule in \`docs/reproduction/reproduction.md\`).`,
    '',
    '| preset · setting | loss | theory | verdict | slope [95% CI] | n, replicates |',
    '|---|---|---|---|---|---|',
    ...rows,
    README_END,
  ].join('\n');
}

/** Replace the README's reproduction block (between the markers) with the table. */
export function updateReadme(path: string, r: Reproduction, source: string): boolean {
  const text = readFileSync(path, 'utf8');
  const a = text.indexOf(README_START);
  const b = text.indexOf(README_END);
  if (a < 0 || b < a) throw new OptionError(`${path}: no ${README_START} … ${README_END} block to replace`);
  const next = text.slice(0, a) + readmeTable(r, source) + text.slice(b + README_END.length);
  if (next === text) return false;
  writeFileSync(path, next);
  return true;
}

/** Read a reproduction.json back (for the README table). */
export function readReproduction(path: string): { claims: ClaimRow[] } {
  return JSON.parse(readFileSync(path, 'utf8')) as { claims: ClaimRow[] };
}
