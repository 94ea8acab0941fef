/**
 * Exponents of the Voronoi losses: r̄(m) (math-spec §1.5), the presets D1, D2, D2strong, Dr
 * (math-spec §1.6, §2.3, §3.5, §5.3) and explicit per-block exponent rules.
 */
import { OptionError } from '../../errors.js';
import { voronoiExpertHook, voronoiGateHook, type Atoms, type ExponentRule } from '../atoms.js';
import type { GateJSON } from '../../gates/gate.js';

/** r̄(m) of math-spec §1.5: r̄(1) = 1, r̄(2) = 4, r̄(3) = 6; m ≥ 4 only with a user value. */
export function rbar(m: number, user?: Record<number, number> | ((m: number) => number)): number {
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`r̄: cell size must be a positive integer, got ${m}`);
  if (m === 1) return 1;
  if (m === 2) return 4;
  if (m === 3) return 6;
  const v = typeof user === 'function' ? user(m) : user?.[m];
  if (v === undefined || !(v > 0)) {
    throw new OptionError(`r̄(${m}) is not known (math-spec §1.5 only gives r̄(m) ≥ 7 for m ≥ 4): a Voronoi cell has ${m} fitted atoms; supply a value with the rbar option (CLI: --rbar ${m}=VALUE) or use a loss that does not need r̄ (D1, D2strong, Dr:R)`);
  }
  return v;
}

/** Exponent of `block` in a cell of `m` fitted atoms. */
export type ExponentFunction = (block: string, m: number) => number;

/** An explicit exponent specification: per-block rules as functions of the cell size. */
export interface ExplicitExponents {
  name?: string;
  /** Per block: a constant exponent, or a function of the cell size m (including m = 1). */
  exponents: Record<string, number | ((m: number) => number)>;
  /** For blocks not listed (default: an error naming the block). */
  default?: number | ((m: number) => number);
}

export type LossSpec = string | ExplicitExponents;

/** Names accepted by `loss` (case-insensitive), for help texts. */
export const LOSS_PRESETS: readonly { name: string; help: string }[] = [
  { name: 'D1', help: 'exponent 1 on every block (exact-specified loss, math-spec §2.3)' },
  { name: 'D2', help: "over-specified loss of the expert family: 1 in single-atom cells; Gaussian linear (P0): β₁, b → r̄(m), a, ν → r̄(m)/2; other families 2" },
  { name: 'D2strong', help: 'strongly identifiable over-specified loss: 1 in single-atom cells, 2 in multi-atom cells (P1 restated, P2, P3)' },
  { name: 'Dr:R', help: 'exponent R on every block in every cell (math-spec §1.6 D_{·,r})' },
  { name: 'P0-D1 | P1-D1 | P2-D1 | P3-D1 | P4-D1', help: 'D1' },
  { name: 'P0-D2 | P1-D2', help: 'D2 with the r̄ pattern of P0 on (β₁, a, b, ν)' },
  { name: 'P2-D2 | P3-D2', help: 'D2strong' },
  { name: 'custom:BLOCK=EXPR,…', help: 'multi-atom cell exponents per block; EXPR is a number, rbar, rbar/N or N*rbar; single-atom cells get 1' },
];

function ruleValue(rule: ExponentRule, m: number, rb: (m: number) => number): number {
  return typeof rule === 'number' ? rule : rule(m, rb);
}

/** Parse a multi-atom-cell exponent expression: number | rbar | rbar/N | rbar*N | N*rbar. */
export function parseExponentExpr(expr: string, where: string): ExponentRule {
  const s = expr.trim().toLowerCase().replace(/\s+/g, '');
  const num = Number(s);
  if (s !== '' && Number.isFinite(num)) {
    if (!(num > 0)) throw new OptionError(`${where}: exponent must be > 0, got ${expr}`);
    return num;
  }
  let m = /^(?:r̄|rbar)(?:([/*])([\d.]+))?$/.exec(s);
  if (m) {
    const c = m[2] === undefined ? 1 : Number(m[2]);
    if (!(c > 0)) throw new OptionError(`${where}: bad factor in ${JSON.stringify(expr)}`);
    const f = m[1] === '/' ? 1 / c : c;
    return (cell, rb) => rb(cell) * f;
  }
  m = /^([\d.]+)\*(?:r̄|rbar)$/.exec(s);
  if (m) {
    const c = Number(m[1]);
    if (!(c > 0)) throw new OptionError(`${where}: bad factor in ${JSON.stringify(expr)}`);
    return (cell, rb) => rb(cell) * c;
  }
  throw new OptionError(`${where}: cannot read the exponent ${JSON.stringify(expr)} (expected a number, rbar, rbar/N or N*rbar)`);
}

/**
 * Resolve a loss name or explicit spec into an exponent function for these atoms. `k`/`kStar` pick
 * the default (D1 when k = k*, D2 otherwise).
 */
export function resolveExponents(
  spec: LossSpec | undefined,
  atoms: Atoms,
  kStar: number,
  options: { r?: number; rbar?: Record<number, number> | ((m: number) => number); gateJson?: GateJSON } = {},
): { name: string; exponent: ExponentFunction } {
  const rb = (m: number): number => rbar(m, options.rbar);
  const blockNames = atoms.blocks.map((b) => b.name);
  if (spec !== undefined && typeof spec !== 'string') {
    const ex = spec;
    for (const name of Object.keys(ex.exponents)) {
      if (!blockNames.includes(name)) throw new OptionError(`loss exponents: no block named ${JSON.stringify(name)} (blocks: ${blockNames.join(', ')})`);
    }
    return {
      name: ex.name ?? 'custom',
      exponent: (block, m) => {
        const r = ex.exponents[block] ?? ex.default;
        if (r === undefined) throw new OptionError(`loss exponents: no exponent for block ${JSON.stringify(block)} and no default`);
        const v = typeof r === 'number' ? r : r(m);
        if (!(v > 0) || !Number.isFinite(v)) throw new OptionError(`loss exponents: block ${block}, cell size ${m}: exponent must be > 0, got ${v}`);
        return v;
      },
    };
  }
  const raw = (spec ?? (atoms.k === kStar ? 'D1' : 'D2')).trim();
  const name = raw.toLowerCase();
  const gateHook = voronoiGateHook(atoms.gateType, options.gateJson).hook;
  const expertHook = voronoiExpertHook(atoms.expertType);
  const d1: ExponentFunction = () => 1;
  const familyD2: ExponentFunction = (block, m) => {
    if (m === 1) return 1;
    const rule = gateHook.d2?.[block] ?? expertHook.d2?.[block] ?? 2;
    return ruleValue(rule, m, rb);
  };
  const strong: ExponentFunction = (_block, m) => (m === 1 ? 1 : 2);
  const rbarPattern: Record<string, ExponentRule> = {
    beta1: (m, r) => r(m), b: (m, r) => r(m), a: (m, r) => r(m) / 2, variance: (m, r) => r(m) / 2,
  };
  const p0D2: ExponentFunction = (block, m) => (m === 1 ? 1 : ruleValue(rbarPattern[block] ?? 2, m, rb));
  if (/^(p[0-4]-)?d1$/.test(name)) return { name: raw, exponent: d1 };
  if (name === 'd2') return { name: 'D2', exponent: familyD2 };
  if (name === 'p0-d2' || name === 'p1-d2') return { name: raw, exponent: p0D2 };
  if (name === 'd2strong' || name === 'p2-d2' || name === 'p3-d2') return { name: raw, exponent: strong };
  const dr = /^dr(?::|=)?(.*)$/.exec(name);
  if (dr) {
    const r = dr[1] === '' ? options.r : Number(dr[1]);
    if (r === undefined || !Number.isFinite(r) || !(r >= 1)) {
      throw new OptionError(`loss ${JSON.stringify(raw)}: Dr needs an exponent r ≥ 1 (write Dr:2, or pass the r option)`);
    }
    return { name: `Dr:${r}`, exponent: () => r };
  }
  if (name.startsWith('custom:')) {
    const rules: Record<string, ExponentRule> = {};
    for (const part of raw.slice(7).split(',')) {
      const eq = part.indexOf('=');
      if (eq < 0) throw new OptionError(`loss ${JSON.stringify(raw)}: expected BLOCK=EXPR, got ${JSON.stringify(part)}`);
      const block = part.slice(0, eq).trim();
      if (!blockNames.includes(block)) throw new OptionError(`loss ${JSON.stringify(raw)}: no block named ${JSON.stringify(block)} (blocks: ${blockNames.join(', ')})`);
      rules[block] = parseExponentExpr(part.slice(eq + 1), `loss ${raw}, block ${block}`);
    }
    return {
      name: raw,
      exponent: (block, m) => {
        if (m === 1) return 1;
        const rule = rules[block];
        if (rule === undefined) throw new OptionError(`loss ${JSON.stringify(raw)}: no exponent for block ${JSON.stringify(block)}`);
        return ruleValue(rule, m, rb);
      },
    };
  }
  throw new OptionError(`loss: unknown loss ${JSON.stringify(raw)} (known: ${LOSS_PRESETS.map((p) => p.name).join('; ')})`);
}
