/**
 * The playground page: controls ↔ state ↔ URL, two workers (fit, study) and the figures.
 * No framework: the page is one form and a few outputs.
 */
import { MixtureOfExperts, type ModelJSON } from '../../src/core.js';
import { EXPERT_FAMILIES, EXPERT_LABELS, GATE_FAMILIES, GATE_LABELS, defaultTruth, isExpertFamily, isGateFamily } from './presets.js';
import { defaultState, estimatorFor, stateFromQuery, stateToQuery, trueK, type AppState } from './state.js';
import type { ExpertCurves, StudyPoint } from './core.js';
import type { FromWorker, ToWorker } from './messages.js';
import { cellOf, cellsPlot, dataPlot, gatePlot, ratePlot, tracePlot, type CellOf } from './plots.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

let state: AppState = defaultState();
const params = new URLSearchParams(location.search);
try {
  state = stateFromQuery(location.search);
} catch (e) {
  $('state-error').textContent = `${(e as Error).message}; using the defaults`;
}

// ---------------------------------------------------------------------------------------------
// Truth table: one row per parameter coordinate, one column per expert (or group)

type Path = (string | number)[];

function getAt(o: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], o);
}
function setAt(o: unknown, path: Path, value: number): void {
  const parent = getAt(o, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]] = value;
}

/** Sub-paths of the numeric leaves of v (v itself when it is a number). */
function leafPaths(v: unknown): Path[] {
  if (typeof v === 'number') return [[]];
  if (Array.isArray(v)) return v.flatMap((e, i) => leafPaths(e).map((p) => [i, ...p]));
  return [];
}

function fmtPath(p: Path): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

function renderTruthTable(): void {
  const table = $('truth-table') as HTMLTableElement;
  const rows: { label: string; cells: (Path | null)[] }[] = [];
  let cols = 1;
  for (const section of ['gate', 'experts'] as const) {
    const block = state.truth[section] as Record<string, unknown>;
    for (const [key, v] of Object.entries(block)) {
      if (key === 'type') continue;
      if (typeof v === 'number') {
        if (key === 'K' || key === 'K1' || key === 'K2' || key === 'classes') continue; // structure: edit in JSON
        rows.push({ label: `${section}.${key}`, cells: [[section, key]] });
      } else if (Array.isArray(v) && v.length && leafPaths(v).length) {
        cols = Math.max(cols, v.length);
        const subs = leafPaths(v[0]);
        for (const sub of subs) {
          rows.push({ label: `${section}.${key}${sub.map((s) => `[${s}]`).join('')}`, cells: v.map((_, j) => (typeof getAt(v[j], sub) === 'number' ? [section, key, j, ...sub] : null)) });
        }
      }
    }
  }
  const head = table.tHead as HTMLTableSectionElement;
  head.innerHTML = '';
  const hr = head.insertRow();
  const th0 = document.createElement('th');
  th0.scope = 'col';
  th0.textContent = 'parameter';
  hr.appendChild(th0);
  for (let j = 0; j < cols; j++) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = `${j + 1}`;
    hr.appendChild(th);
  }
  const body = table.tBodies[0];
  body.innerHTML = '';
  for (const r of rows) {
    const tr = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = r.label;
    tr.appendChild(th);
    for (let j = 0; j < cols; j++) {
      const td = tr.insertCell();
      const p = r.cells[j];
      if (!p) continue;
      const inp = document.createElement('input');
      inp.type = 'number';
      inp.step = 'any';
      inp.value = String(getAt(state.truth, p));
      inp.setAttribute('aria-label', fmtPath(p));
      inp.dataset.testid = `truth-${fmtPath(p)}`;
      inp.addEventListener('change', () => {
        const val = Number(inp.value);
        if (inp.value.trim() === '' || !Number.isFinite(val)) {
          $('truth-error').textContent = `${fmtPath(p)}: expected a finite number, got ${JSON.stringify(inp.value)}`;
          return;
        }
        const next = structuredClone(state.truth);
        setAt(next, p, val);
        setTruth(next, false);
      });
      td.appendChild(inp);
    }
  }
}

/** Validate and adopt a truth; on error keep the old one and say why. */
function setTruth(next: ModelJSON, fromJSON: boolean): boolean {
  try {
    const m = MixtureOfExperts.fromJSON(next, 'truth');
    if (m.d !== 1) throw new Error(`truth: the playground needs input dimension 1 (got d = ${m.d})`);
    const g = (next.gate as { type: string }).type;
    const e = (next.experts as { type: string }).type;
    if (!isGateFamily(g) || !isExpertFamily(e)) throw new Error(`truth: gate ${g} / experts ${e} are not playground families`);
    const oldK = trueK(state.truth);
    state.truth = next;
    state.gate = g;
    state.experts = e;
    state.estimator = estimatorFor(e);
    if (trueK(next) !== oldK) state.k = trueK(next);
    $('truth-error').textContent = '';
    writeControls(!fromJSON);
    return true;
  } catch (err) {
    $('truth-error').textContent = (err as Error).message;
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Controls ↔ state ↔ URL

function fillSelect(id: string, values: readonly string[], labels: Record<string, string>): void {
  const sel = $<HTMLSelectElement>(id);
  for (const v of values) sel.add(new Option(labels[v], v));
}

function writeControls(table = true): void {
  $<HTMLSelectElement>('gate').value = state.gate;
  $<HTMLSelectElement>('experts').value = state.experts;
  $<HTMLTextAreaElement>('truth-json').value = JSON.stringify(state.truth, null, 1);
  $<HTMLInputElement>('x-low').value = String(state.x.low);
  $<HTMLInputElement>('x-high').value = String(state.x.high);
  $<HTMLInputElement>('n').value = String(state.n);
  $<HTMLInputElement>('seed').value = String(state.seed);
  $<HTMLInputElement>('k').value = String(state.k);
  const est = $<HTMLSelectElement>('estimator');
  est.value = state.estimator;
  for (const o of Array.from(est.options)) o.disabled = o.value !== estimatorFor(state.experts);
  $<HTMLSelectElement>('init').value = state.init;
  $<HTMLInputElement>('restarts').value = String(state.restarts);
  $<HTMLInputElement>('study-ns').value = state.study.ns.join(', ');
  $<HTMLInputElement>('study-reps').value = String(state.study.replicates);
  $('value-name').textContent = state.estimator === 'lse' ? 'sum of squared errors SSE' : 'log-likelihood ℓ';
  $('distance-name').textContent = state.experts === 'regression' ? 'L² distance of the regression functions' : 'E_X Hellinger distance';
  if (table) renderTruthTable();
  writeURL();
}

function writeURL(): void {
  const q = stateToQuery(state);
  history.replaceState(null, '', `?${q}`);
  $<HTMLAnchorElement>('permalink').href = `?${q}&autorun=1`;
}

function intInput(id: string, name: string, min: number, max: number, apply: (v: number) => void): void {
  const el = $<HTMLInputElement>(id);
  el.addEventListener('change', () => {
    const v = Number(el.value);
    if (!Number.isInteger(v) || v < min || v > max) {
      $('state-error').textContent = `${name}: expected an integer in [${min}, ${max}], got ${JSON.stringify(el.value)}`;
      return;
    }
    $('state-error').textContent = '';
    apply(v);
    writeControls(false);
  });
}

function bindControls(): void {
  fillSelect('gate', GATE_FAMILIES, GATE_LABELS);
  fillSelect('experts', EXPERT_FAMILIES, EXPERT_LABELS);
  const onFamily = () => {
    const g = $<HTMLSelectElement>('gate').value;
    const e = $<HTMLSelectElement>('experts').value;
    if (!isGateFamily(g) || !isExpertFamily(e)) return;
    const { truth, x } = defaultTruth(g, e);
    state = { ...state, gate: g, experts: e, truth, x, k: trueK(truth), estimator: estimatorFor(e) };
    $('truth-error').textContent = '';
    writeControls();
  };
  $('gate').addEventListener('change', onFamily);
  $('experts').addEventListener('change', onFamily);
  $('truth-json').addEventListener('change', () => {
    let next: ModelJSON;
    try {
      next = JSON.parse($<HTMLTextAreaElement>('truth-json').value) as ModelJSON;
    } catch (e) {
      $('truth-error').textContent = `truth JSON: ${(e as Error).message}`;
      return;
    }
    if (setTruth(next, true)) renderTruthTable();
  });
  $('reset-truth').addEventListener('click', () => {
    const { truth, x } = defaultTruth(state.gate, state.experts);
    state = { ...state, truth, x, k: trueK(truth) };
    $('truth-error').textContent = '';
    writeControls();
  });
  const xr = () => {
    const lo = Number($<HTMLInputElement>('x-low').value);
    const hi = Number($<HTMLInputElement>('x-high').value);
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) {
      $('state-error').textContent = `x range: expected finite numbers with "x to" > "x from", got ${lo} and ${hi}`;
      return;
    }
    $('state-error').textContent = '';
    state.x = { low: lo, high: hi };
    writeControls(false);
  };
  $('x-low').addEventListener('change', xr);
  $('x-high').addEventListener('change', xr);
  intInput('n', 'n', 10, 1_000_000, (v) => { state.n = v; });
  intInput('seed', 'seed', 0, 2 ** 31 - 1, (v) => { state.seed = v; });
  intInput('k', 'k', 1, 12, (v) => { state.k = v; });
  intInput('restarts', 'restarts', 1, 50, (v) => { state.restarts = v; });
  intInput('study-reps', 'replicates', 1, 100, (v) => { state.study.replicates = v; });
  $('estimator').addEventListener('change', () => {
    state.estimator = $<HTMLSelectElement>('estimator').value === 'lse' ? 'lse' : 'em';
    writeControls(false);
  });
  $('init').addEventListener('change', () => {
    const v = $<HTMLSelectElement>('init').value;
    state.init = v === 'kmeans++' || v === 'random' ? v : 'nearTruth';
    writeControls(false);
  });
  $('study-ns').addEventListener('change', () => {
    const raw = $<HTMLInputElement>('study-ns').value;
    const v = raw.split(/[\s,]+/).filter((s) => s !== '').map(Number);
    if (!v.length || v.some((m) => !Number.isInteger(m) || m < 20 || m > 200_000)) {
      $('state-error').textContent = `sample sizes: expected integers in [20, 200000] separated by commas, got ${JSON.stringify(raw)}`;
      return;
    }
    $('state-error').textContent = '';
    state.study.ns = [...new Set(v)].sort((a, b) => a - b);
    writeControls(false);
  });
  $('run').addEventListener('click', startFit);
  $('stop').addEventListener('click', stopFit);
  $('study-run').addEventListener('click', startStudy);
  $('bench-run').addEventListener('click', startBench);
  $('study-cancel').addEventListener('click', cancelStudy);
}

// ---------------------------------------------------------------------------------------------
// Fit worker

function newWorker(): Worker {
  return new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
}

let fitWorker: Worker | null = null;
let trace: { iteration: number; value: number }[] = [];
let data: { x: number[]; y: number[] } | null = null;
let truthCurves: ExpertCurves | null = null;
let fitCurves: ExpertCurves | null = null;
let cells: CellOf = null;
let traceQueued = false;

function place(figId: string, el: Element): void {
  const holder = $(figId).querySelector('.plot') as HTMLElement;
  holder.replaceChildren(el);
}

function drawTrace(): void {
  traceQueued = false;
  if (trace.length) place('fig-trace', tracePlot(trace, state.estimator === 'lse' ? 'SSE' : 'log-likelihood'));
}

function drawFigures(): void {
  if (!data) return;
  const classes = state.experts === 'multinomialLogistic';
  place('fig-data', dataPlot(data.x, data.y, truthCurves, fitCurves, classes, cells));
  place('fig-gate', gatePlot(truthCurves, fitCurves, cells));
}

function setStatus(s: string): void {
  $('status').textContent = s;
  $<HTMLButtonElement>('stop').disabled = s !== 'running';
  $<HTMLButtonElement>('run').textContent = s === 'idle' ? 'Fit' : 'Restart fit';
}

/** Shortest round-trip decimal: the page shows the exact double the library returned. */
const fmt = (v: number) => String(v);

function startFit(): void {
  fitWorker?.terminate();
  trace = [];
  data = null;
  fitCurves = null;
  cells = null;
  $('fig-cells').querySelector('.plot')?.replaceChildren();
  for (const id of ['loglik', 'iterations', 'gradnorm', 'converged', 'fit-seconds', 'd1', 'd2', 'distance']) $(id).textContent = '–';
  $('fit-warnings').textContent = '';
  ($('cells').querySelector('tbody') as HTMLElement).innerHTML = '';
  setStatus('running');
  const w = newWorker();
  fitWorker = w;
  w.onmessage = (e: MessageEvent<FromWorker>) => {
    if (w !== fitWorker) return;
    const m = e.data;
    switch (m.type) {
      case 'data':
        data = { x: m.x, y: m.y };
        truthCurves = m.truthCurves;
        drawFigures();
        break;
      case 'progress': {
        if (!m.points.length) break;
        trace.push(...m.points);
        const p = m.points[m.points.length - 1];
        $('loglik').textContent = fmt(p.value);
        $('iterations').textContent = String(p.iteration);
        if (m.gradientNorm !== null) $('gradnorm').textContent = `${m.gradientNorm.toExponential(3)} (${state.estimator === 'lse' ? '2' : '∞'}-norm, live)`;
        if (!traceQueued) {
          traceQueued = true;
          requestAnimationFrame(drawTrace);
        }
        break;
      }
      case 'fitted': {
        const f = m.fit;
        drawTrace();
        $('loglik').textContent = fmt(f.value);
        $('iterations').textContent = String(f.iterations);
        $('gradnorm').textContent = f.gradientNorm.toExponential(3);
        $('converged').textContent = f.converged ? 'yes' : 'no';
        $('fit-seconds').textContent = f.seconds.toFixed(4);
        $('fit-warnings').textContent = f.warnings.join('; ');
        fitCurves = m.fitCurves;
        drawFigures();
        setStatus('measuring');
        break;
      }
      case 'measured': {
        const ms = m.measures;
        const body = $('cells').querySelector('tbody') as HTMLElement;
        body.innerHTML = '';
        ms.cells.forEach((c, j) => {
          const tr = document.createElement('tr');
          const th = document.createElement('th');
          th.scope = 'row';
          th.textContent = `true ${j + 1}`;
          const td = document.createElement('td');
          td.textContent = c.length ? c.map((i) => `fitted ${i + 1}`).join(', ') : 'none (empty cell)';
          tr.append(th, td);
          body.appendChild(tr);
        });
        cells = cellOf(ms.cells, ms.fitAtoms.length);
        drawFigures();
        place('fig-cells', cellsPlot(ms.truthAtoms, ms.fitAtoms, ms.cells, state.experts === 'multinomialLogistic' ? 'slope of the first class' : 'expert slope a'));
        $('d1').textContent = ms.D1.toPrecision(6);
        $('d2').textContent = ms.D2.toPrecision(6);
        $('distance').textContent = ms.distance.toPrecision(6);
        if (ms.warnings.length) $('fit-warnings').textContent += ` ${ms.warnings.join('; ')}`;
        setStatus('done');
        w.terminate();
        fitWorker = null;
        break;
      }
      case 'error':
        $('fit-warnings').textContent = m.message;
        setStatus('error');
        w.terminate();
        fitWorker = null;
        break;
      default:
        break;
    }
  };
  w.onerror = (e) => {
    $('fit-warnings').textContent = `worker: ${e.message}`;
    setStatus('error');
  };
  w.postMessage({ type: 'fit', state: structuredClone(state) } satisfies ToWorker);
}

function stopFit(): void {
  fitWorker?.terminate();
  fitWorker = null;
  setStatus('stopped');
}

// ---------------------------------------------------------------------------------------------
// Study worker

let studyWorker: Worker | null = null;

function setStudyStatus(s: string): void {
  $('study-status').textContent = s;
  $<HTMLButtonElement>('study-cancel').disabled = s !== 'running';
}

function startStudy(): void {
  studyWorker?.terminate();
  const points: StudyPoint[] = [];
  for (const id of ['slope', 'slope-ci', 'theory']) $(id).textContent = '–';
  setStudyStatus('running');
  const w = newWorker();
  studyWorker = w;
  w.onmessage = (e: MessageEvent<FromWorker>) => {
    if (w !== studyWorker) return;
    const m = e.data;
    if (m.type === 'studyRow') {
      points.push({ n: m.n, rep: m.rep, loss: m.loss, status: m.error ?? 'ok' });
      $('study-progress').textContent = `${m.done} / ${m.total}`;
      place('fig-rate', ratePlot(points, null, -0.5, 'loss'));
    } else if (m.type === 'studyDone') {
      const r = m.result;
      $('theory').textContent = String(r.theory);
      if (r.rate) {
        $('slope').textContent = String(r.rate.slope);
        $('slope-ci').textContent = `[${r.rate.ci[0].toFixed(3)}, ${r.rate.ci[1].toFixed(3)}]`;
      } else $('slope').textContent = `none: ${r.error ?? ''}`;
      place('fig-rate', ratePlot(r.points, r.rate, r.theory, r.loss));
      setStudyStatus('done');
      w.terminate();
      studyWorker = null;
    } else if (m.type === 'error') {
      $('study-progress').textContent = m.message;
      setStudyStatus('error');
      w.terminate();
      studyWorker = null;
    }
  };
  w.postMessage({ type: 'study', state: structuredClone(state) } satisfies ToWorker);
}

function cancelStudy(): void {
  studyWorker?.terminate();
  studyWorker = null;
  setStudyStatus('cancelled');
}

// ---------------------------------------------------------------------------------------------
// Warm timing (its own worker)

function startBench(): void {
  const btn = $<HTMLButtonElement>('bench-run');
  btn.disabled = true;
  $('bench').textContent = 'running';
  const w = newWorker();
  w.onmessage = (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    if (m.type === 'benchDone') {
      const sorted = m.seconds.slice().sort((a, b) => a - b);
      $('bench').textContent = String(sorted[Math.floor(sorted.length / 2)]);
      $('bench-all').textContent = m.seconds.map((v) => v.toFixed(4)).join(' ');
    } else if (m.type === 'error') $('bench').textContent = m.message;
    btn.disabled = false;
    w.terminate();
  };
  w.postMessage({ type: 'bench', state: structuredClone(state), repeats: 9 } satisfies ToWorker);
}

bindControls();
writeControls();
if (params.get('autorun') === '1') startFit();
