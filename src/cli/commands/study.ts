/**
 * `moelab study run|resume|status|report|export|presets`: convergence-rate studies
 * (config → plan → parallel run → SQLite store → rates and figures).
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadStudyFileAsync, presetNames, presetPath, loadStudy, StudyStore, runStudy, type RunSummary, computeCurves, curvesTable, reportJSON, writeReport, writeCSV, parseQueueUrl, runReproduction, writeReproduction, updateReproductionReadme, runQueuedStudy, queueCounts, withPresetLosses, checkRecompute, EnvironmentError, OptionError, type ResolvedStudy, plannedCount } from '../../index.js';
import { guardIo, guardIoAsync, makeDir } from '../../internal.js';
import { readFileSync } from 'node:fs';
import { parseNumberOption } from '../io.js';

interface RunCliOptions {
  allowLarge?: boolean;
  preset?: string;
  quick?: boolean;
  profile?: string;
  out: string;
  threads?: string;
  progress: boolean;
  limit?: string;
  inline?: boolean;
  queue?: string;
  queueName?: string;
  attempts?: string;
  backoff?: string;
}

function runOptions(opts: { threads?: string; progress: boolean; limit?: string; inline?: boolean }): { threads?: number; progress: boolean; limit?: number; inline?: boolean } {
  return {
    ...(opts.threads !== undefined ? { threads: parseNumberOption(opts.threads, '--threads', { integer: true, min: 1 }) } : {}),
    ...(opts.limit !== undefined ? { limit: parseNumberOption(opts.limit, '--limit', { integer: true, min: 1 }) } : {}),
    progress: opts.progress,
    inline: opts.inline ?? false,
  };
}

/** Run with Ctrl-C / SIGTERM turned into a clean stop (finished jobs stay stored). */
async function runWithSignals(store: StudyStore, opts: Parameters<typeof runStudy>[1]): Promise<RunSummary> {
  return withStopSignals('stopping: finished jobs are stored; cancelling the rest…', (signal) => runStudy(store, { ...opts, signal }));
}

/** Run `body` with the first SIGINT/SIGTERM turned into an abort of its signal (and `message` on stderr). */
async function withStopSignals<T>(message: string, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const stop = (): void => {
    if (!ac.signal.aborted) {
      process.stderr.write(`\n${message}\n`);
      ac.abort();
    }
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await body(ac.signal);
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

interface QueueCliOptions { queue?: string; queueName?: string; attempts?: string; backoff?: string; threads?: string; limit?: string; inline?: boolean; progress: boolean; retryFailed?: boolean }

/** `--queue URL`: enqueue on Redis and collect what `moelab worker`s return (see study/queue/). */
function checkQueueOptions(opts: QueueCliOptions): void {
  if (opts.queue === undefined) return;
  for (const [flag, v] of [['--threads', opts.threads], ['--limit', opts.limit], ['--inline', opts.inline]] as const) {
    if (v !== undefined && v !== false) throw new OptionError(`${flag} does not apply with --queue (the workers choose their --concurrency)`);
  }
  parseQueueUrl(opts.queue);
}

async function runOnQueue(dir: string, store: StudyStore, opts: QueueCliOptions & { queue: string }): Promise<void> {
  const target = parseQueueUrl(opts.queue);
  await withStopSignals('stopping the coordinator: finished jobs are stored; queued jobs stay queued for the workers', async (signal) => {
    const s = await runQueuedStudy(store, {
      target, progress: opts.progress, signal, retryFailed: opts.retryFailed ?? false,
      ...(opts.queueName !== undefined ? { queueName: opts.queueName } : {}),
      ...(opts.attempts !== undefined ? { attempts: parseNumberOption(opts.attempts, '--attempts', { integer: true, min: 1 }) } : {}),
      ...(opts.backoff !== undefined ? { backoffMs: parseNumberOption(opts.backoff, '--backoff', { integer: true, min: 0 }) } : {}),
      onEnqueued: (n) => process.stderr.write(`enqueued ${n} jobs on ${target.display}\n`),
    });
    const c = store.counts();
    process.stderr.write(`${s.aborted ? 'interrupted' : 'done'}: collected ${s.ran} jobs (${s.ok} ok, ${s.failed} failed) in ${s.wallSeconds.toFixed(1)} s from up to ${s.workers} worker${s.workers === 1 ? '' : 's'} (${s.jobsPerSecond.toFixed(2)} jobs/s); store ${dir}: ${c.ok + c.failed}/${s.planned} jobs (${c.failed} failed)\n`);
    if (s.aborted) {
      process.stderr.write(`resume with: moelab study resume ${dir} --queue URL\n`);
      process.exitCode = 130;
    }
  });
}

function summaryLine(dir: string, s: RunSummary, store: StudyStore): string {
  const c = store.counts();
  const planned = s.planned;
  const head = s.aborted ? 'interrupted' : 'done';
  return `${head}: ran ${s.ran} jobs (${s.ok} ok, ${s.failed} failed) in ${s.wallSeconds.toFixed(1)} s on ${s.threads} thread${s.threads > 1 ? 's' : ''} (${s.jobsPerSecond.toFixed(2)} jobs/s); store ${dir}: ${c.ok + c.failed}/${planned} jobs (${c.failed} failed)`;
}

function describeStudy(study: ResolvedStudy): string {
  const jobs = plannedCount(study);
  const plugins = study.plugins?.length ? `; plugins ${study.plugins.map((p) => `${p.module} (sha256 ${p.sha256.slice(0, 12)}…)`).join(', ')}` : '';
  return `study ${study.name} (profile ${study.profile}): ${study.settings.map((s) => s.name).join(', ')} × ${study.ns.length} sample sizes (${study.ns[0]}…${study.ns[study.ns.length - 1]}) × ${study.replicates} replicates = ${jobs} jobs${plugins}`;
}

export function register(program: Command): void {
  const study = program.command('study').description('convergence-rate studies: run a config or preset over sample sizes × replicates, store, report rates and figures');
  for (const add of [registerRun, registerResume, registerStatus, registerReport, registerExport, registerReproduce, registerPresets]) add(study);
}

/** `study run CONFIG|--preset NAME --out DIR`: run (or continue) a study, locally or on a queue. */
function registerRun(study: Command): void {
  study
    .command('run')
    .description('run a study config (YAML/JSON) or a preset into DIR (resumable)')
    .argument('[config]', 'study config file (YAML or JSON)')
    .option('--preset <name>', 'a preset from studies/ (see `moelab study presets`)')
    .option('--quick', 'use the quick profile (small grid, few replicates)')
    .option('--profile <name>', 'use a named profile of the config')
    .requiredOption('--out <dir>', 'study directory (created; holds study.sqlite)')
    .option('--threads <n>', 'worker threads (default: all cores)')
    .option('--limit <n>', 'stop after this many jobs (resume later)')
    .option('--inline', 'run jobs in the main thread (debugging)')
    .option('--allow-large', 'lift the size limits on the grid, replicates, jobs, k, columns and fit memory')
    .option('--no-progress', 'no progress bar')
    .option('--queue <url>', 'distribute over `moelab worker`s through Redis: redis://[user:password@]HOST:PORT[/DB]')
    .option('--queue-name <name>', 'BullMQ queue name (default moelab-study)')
    .option('--attempts <n>', 'with --queue: attempts per job before it is stored as failed', '3')
    .option('--backoff <ms>', 'with --queue: first retry delay (doubled each attempt)', '2000')
    .action(async (config: string | undefined, opts: RunCliOptions) => {
      if ((config === undefined) === (opts.preset === undefined)) throw new OptionError('study run: give either a CONFIG file or --preset NAME');
      if (opts.quick && opts.profile && opts.profile !== 'quick') throw new OptionError('--quick and --profile name different profiles');
      checkQueueOptions(opts);
      const profile = opts.quick ? 'quick' : opts.profile;
      const path = config ?? presetPath(opts.preset as string);
      const resolved = await loadStudyFileAsync(path, { ...(profile !== undefined ? { profile } : {}), allowLarge: opts.allowLarge ?? false });
      const store = StudyStore.create(opts.out, resolved);
      try {
        const done = store.finishedIds().size;
        process.stderr.write(`${describeStudy(resolved)}${done ? `; ${done} already stored, resuming` : ''}\n`);
        if (opts.queue !== undefined) {
          await runOnQueue(opts.out, store, { ...opts, queue: opts.queue });
          return;
        }
        const s = await runWithSignals(store, runOptions(opts));
        process.stderr.write(summaryLine(opts.out, s, store) + '\n');
        if (s.aborted) {
          process.stderr.write(`resume with: moelab study resume ${opts.out}\n`);
          process.exitCode = 130;
        } else process.stderr.write(`next: moelab study report ${opts.out}\n`);
      } finally {
        store.close();
      }
    });
}

/** `study resume DIR`: run the jobs a store lacks. */
function registerResume(study: Command): void {
  study
    .command('resume')
    .description('run the jobs of DIR that are not stored yet')
    .argument('<dir>', 'study directory')
    .option('--threads <n>', 'worker threads (default: all cores)')
    .option('--limit <n>', 'stop after this many jobs')
    .option('--retry-failed', 'run failed jobs again (their rows are replaced)')
    .option('--inline', 'run jobs in the main thread (debugging)')
    .option('--no-progress', 'no progress bar')
    .option('--queue <url>', 'distribute over `moelab worker`s through Redis (collects what finished while no coordinator ran)')
    .option('--queue-name <name>', 'BullMQ queue name (default moelab-study)')
    .option('--attempts <n>', 'with --queue: attempts per job before it is stored as failed', '3')
    .option('--backoff <ms>', 'with --queue: first retry delay (doubled each attempt)', '2000')
    .action(async (dir: string, opts: QueueCliOptions) => {
      checkQueueOptions(opts);
      const store = StudyStore.open(dir);
      try {
        const done = store.finishedIds().size;
        process.stderr.write(`${describeStudy(store.study)}; ${done} already stored\n`);
        if (opts.queue !== undefined) {
          await runOnQueue(dir, store, { ...opts, queue: opts.queue });
          return;
        }
        const s = await runWithSignals(store, { ...runOptions(opts), retryFailed: opts.retryFailed ?? false });
        process.stderr.write(summaryLine(dir, s, store) + '\n');
        if (s.aborted) process.exitCode = 130;
      } finally {
        store.close();
      }
    });
}

/** `study status DIR`: jobs done, failed and pending, per setting (and on the queue). */
function registerStatus(study: Command): void {
  study
    .command('status')
    .description('progress of a study directory: jobs done, failed, pending, per setting')
    .argument('<dir>', 'study directory')
    .option('--json', 'print JSON')
    .option('--queue <url>', 'also show the jobs queued and running on this Redis queue')
    .option('--queue-name <name>', 'BullMQ queue name (default moelab-study)')
    .action(async (dir: string, opts: { json?: boolean; queue?: string; queueName?: string }) => {
      const store = StudyStore.open(dir, { readonly: true });
      try {
        // a store whose integrity check fails is reported, never summarised as if it were sound
        const problems = store.integrity();
        if (problems.length) {
          throw new EnvironmentError(`${store.file}: the study store is corrupted (SQLite quick_check: ${problems[0]}${problems.length > 1 ? `; and ${problems.length - 1} more` : ''}); restore it from a copy, or start again in a new folder`);
        }
        const st = store.study;
        const planned = plannedCount(st);
        const c = store.counts();
        const by = store.countsBySetting();
        const perSetting = st.settings.map((s) => {
          const row = by.find((b) => b.setting === s.name);
          const total = st.ns.length * st.replicates;
          return { setting: s.name, planned: total, ok: row?.ok ?? 0, failed: row?.failed ?? 0, pending: total - (row?.ok ?? 0) - (row?.failed ?? 0), seconds: row?.seconds ?? 0 };
        });
        const failures = store.failures(5);
        const status = {
          name: st.name, profile: st.profile, hash: store.hash, planned: planned, ok: c.ok, failed: c.failed,
          pending: planned - c.ok - c.failed, computeSeconds: c.seconds, settings: perSetting, failures, integrity: 'ok',
          lastRunStarted: store.meta('last_run_started') ?? null, lastRunFinished: store.meta('last_run_finished') ?? null,
          queue: null as null | { queued: number; running: number; uncollected: number; workers: number },
        };
        if (opts.queue !== undefined) {
          status.queue = await queueCounts(parseQueueUrl(opts.queue), store.hash, opts.queueName);
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify(status) + '\n');
          return;
        }
        const lines = [
          describeStudy(st),
          `stored ${c.ok + c.failed}/${planned}: ${c.ok} ok, ${c.failed} failed, ${status.pending} pending; ${c.seconds.toFixed(1)} s of compute`,
          ...(status.queue ? [`queue: ${status.queue.queued} queued, ${status.queue.running} running, ${status.queue.uncollected} finished not yet collected; ${c.ok} done, ${c.failed} failed; ${status.queue.workers} workers`] : []),
          ...perSetting.map((p) => `  ${p.setting.padEnd(24)} ${String(p.ok).padStart(6)} ok ${String(p.failed).padStart(5)} failed ${String(p.pending).padStart(6)} pending`),
          ...(failures.length ? ['failures:', ...failures.map((f) => `  ${f.count}× ${f.error} (e.g. ${f.example})`)] : []),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        store.close();
      }
    });
}

/** `study report DIR`: the rate table, figures and `--json` curves. */
function registerReport(study: Command): void {
  study
    .command('report')
    .description('rate table (OLS slope, bootstrap CI, median slope) and figures (SVG, PNG, HTML) of a study directory')
    .argument('<dir>', 'study directory')
    .option('--json', 'print the curves as JSON ({"curves":[…], "settings":[{name, estimator, objective}]})')
    .option('--out <dir>', 'where to write figures and index.html (default DIR/report)')
    .option('--no-figures', 'only the table / JSON')
    .option('--no-png', 'SVG and HTML only')
    .option('--bootstrap <B>', 'bootstrap resamples for the slope CI', '1000')
    .option('--recompute <names>', 'recompute these losses (comma-separated loss or measure names, e.g. D2inf) from the stored fitted models; losses whose measure changed since the run are recomputed anyway')
    .action(async (dir: string, opts: { json?: boolean; out?: string; figures: boolean; png: boolean; bootstrap: string; recompute?: string }) => {
      const store = StudyStore.open(dir, { readonly: true });
      try {
        const view = withPresetLosses(store, null, { recompute: opts.recompute ? opts.recompute.split(',').map((x) => x.trim()).filter(Boolean) : [], strict: true });
        for (const r of view.note.recomputed) process.stderr.write(`recomputed from the stored models: ${r.setting} · ${r.losses.join(', ')} (${r.reason})\n`);
        for (const r of view.note.stale) process.stderr.write(`warning: ${r.setting} · ${r.losses.join(', ')} were stored by an older version of the measure and need the data to recompute: reported as stored\n`);
        const notes = computeCurves(view, { bootstrap: parseNumberOption(opts.bootstrap, '--bootstrap', { integer: true, min: 1 }) });
        for (const s of notes.skipped) process.stderr.write(`skipped ${s.setting} · ${s.loss}: ${s.reason}\n`);
        if (opts.figures) {
          const outDir = opts.out ?? join(dir, 'report');
          makeDir(outDir, 'write the report');
          const files = await guardIoAsync(outDir, 'write the report', () => writeReport(store, outDir, notes, { png: opts.png }));
          process.stderr.write(`wrote ${files.html}, ${files.json}${files.svg.length ? `, ${files.svg.length} SVG` : ''}${files.png.length ? ` + ${files.png.length} PNG` : ''}\n`);
        }
        // each setting names what its fits maximised (logLikelihood | negSSE): the stored objective
        const settings = store.study.settings.map((s) => ({ name: s.name, estimator: s.estimator, objective: store.objectiveOf(s.name) }));
        if (opts.json) process.stdout.write(JSON.stringify({ ...reportJSON(notes.curves), settings }) + '\n');
        else process.stdout.write((notes.curves.length ? curvesTable(notes.curves) : 'no curves yet (need finished jobs at ≥ 2 sample sizes)') + '\n');
      } finally {
        store.close();
      }
    });
}

/** `study export DIR --csv FILE`: one line per job. */
function registerExport(study: Command): void {
  study
    .command('export')
    .description('export the stored jobs as CSV (one line per job, one column per loss)')
    .argument('<dir>', 'study directory')
    .requiredOption('--csv <file>', 'output CSV file; - for standard output')
    .option('--model', 'include the fitted model JSON column')
    .action((dir: string, opts: { csv: string; model?: boolean }) => {
      const store = StudyStore.open(dir, { readonly: true });
      try {
        const rows = guardIo(opts.csv, 'write the CSV', () => writeCSV(store, opts.csv, { model: opts.model ?? false }));
        if (opts.csv !== '-') process.stderr.write(`wrote ${rows} rows to ${opts.csv}\n`);
      } finally {
        store.close();
      }
    });
}

/** `study reproduce`: every preset's profile, every claim judged. */
function registerReproduce(study: Command): void {
  study
    .command('reproduce')
    .description('run a profile of every preset (resumable stores under DIR/run/<preset>), judge every claim, write DIR/reproduction.json, DIR/reproduction.md and DIR/figures/')
    .option('--preset <name...>', 'only these presets (default: all)')
    .option('--profile <name>', 'profile of every preset (e.g. medium, quick; default: full)')
    .requiredOption('--out <dir>', 'reproduction directory')
    .option('--threads <n>', 'worker threads (default: all cores)')
    .option('--chunk <reps>', 'replicates per preset per round (presets are interleaved in rounds, so a partial run covers every claim)', '5')
    .option('--no-run', 'only write the report from the stores already there (partial stores give a partial report)')
    .option('--no-png', 'SVG figures only')
    .option('--bootstrap <B>', 'bootstrap resamples for the intervals', '1000')
    .option('--readme <file>', 'also replace the verdict table between the reproduction markers of this README')
    .option('--recompute <names>', 'recompute these losses (comma-separated loss or measure names, e.g. D2inf,cell) from the stored fitted models; losses whose measure changed since the run are recomputed anyway')
    .option('--note <text>', 'a paragraph for the report (e.g. the machine the run had)')
    .option('--no-progress', 'no progress bar')
    .action(async (opts: { preset?: string[]; profile?: string; out: string; threads?: string; chunk: string; run: boolean; png: boolean; bootstrap: string; readme?: string; recompute?: string; note?: string; progress: boolean }) => {
      const recompute = opts.recompute ? opts.recompute.split(',').map((x) => x.trim()).filter(Boolean) : undefined;
      if (recompute) checkRecompute(recompute);
      const start = performance.now();
      const bootstrap = parseNumberOption(opts.bootstrap, '--bootstrap', { integer: true, min: 1 });
      let aborted = false;
      if (opts.run) {
        const ac = new AbortController();
        const stop = (): void => {
          if (!ac.signal.aborted) {
            process.stderr.write('\nstopping: finished jobs are stored; cancelling the rest…\n');
            ac.abort();
          }
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          const runs = await runReproduction(opts.out, {
            ...(opts.preset ? { presets: opts.preset } : {}), ...(opts.profile ? { profile: opts.profile } : {}),
            ...(opts.threads !== undefined ? { threads: parseNumberOption(opts.threads, '--threads', { integer: true, min: 1 }) } : {}),
            progress: opts.progress, signal: ac.signal, chunk: parseNumberOption(opts.chunk, '--chunk', { integer: true, min: 1 }),
            onPreset: (p, s, store) => process.stderr.write(`${p}: ${summaryLine(store.dir, s, store)}\n`),
          });
          aborted = runs.some((r) => r.summary.aborted) || ac.signal.aborted;
        } finally {
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
        }
      }
      const wall = (performance.now() - start) / 1000;
      const res = await writeReproduction(opts.out, {
        ...(opts.preset ? { presets: opts.preset } : {}), ...(opts.profile ? { profile: opts.profile } : {}), bootstrap, png: opts.png,
        ...(opts.run ? { wallSeconds: wall } : {}), ...(recompute ? { recompute } : {}), ...(opts.note ? { note: opts.note } : {}),
      });
      if (opts.readme) process.stderr.write(`${updateReproductionReadme(opts.readme, res.reproduction, join(opts.out, 'reproduction.json')) ? 'updated' : 'unchanged'}: ${opts.readme}\n`);
      const v = (x: string): number => res.reproduction.claims.filter((c) => c.verdict === x).length;
      process.stderr.write(`wrote ${res.md}, ${res.json}, ${res.figures.length} figure files: ${v('reproduced')} reproduced, ${v('contradicted')} contradicted, ${v('inconclusive')} inconclusive, ${v('not run')} not run\n`);
      if (aborted) {
        process.stderr.write(`interrupted: resume with the same command\n`);
        process.exitCode = 130;
      }
    });
}

/** `study presets`: the presets, their settings, losses and theory. */
function registerPresets(study: Command): void {
  study
    .command('presets')
    .description('list the shipped presets with their settings, losses and theoretical slopes')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const out = presetNames().map((name) => {
        const st = loadStudy(readFileSync(presetPath(name), 'utf8'), { source: name });
        return { name, claim: st.claim ?? '', settings: st.settings.map((s) => ({ name: s.name, k: s.k, gate: s.gate.type, experts: s.experts.type, estimator: s.estimator, losses: s.losses.map((l) => ({ name: l.name, theory: l.theory ?? null })) })) };
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify(out) + '\n');
        return;
      }
      for (const p of out) {
        process.stdout.write(`${p.name}: ${p.claim}\n`);
        for (const s of p.settings) process.stdout.write(`  ${s.name} (k=${s.k}, ${s.gate}/${s.experts}, ${s.estimator}): ${s.losses.map((l) => `${l.name}${l.theory !== null ? ` ${l.theory}` : ''}`).join(', ')}\n`);
      }
    });
}
