/**
 * The named parameters of a model's JSON form as a flat, labelled list (block, expert, component),
 * and the Jacobian of that list with respect to the working parameters θ, by central differences.
 * Inference runs on θ (log-variances, the gate without its reference row); the Jacobian carries a
 * covariance to the reported blocks by the delta method whatever the family's map θ → JSON is
 * (ν = exp(log ν), the unit-slope convention of the temperature gate, …).
 */
import type { MixtureOfExperts, ModelJSON } from '../model/model.js';

export interface ParameterLabel {
  part: 'gate' | 'experts';
  /** JSON block name (`beta0`, `beta1`, `a`, `b`, `variance`, …). */
  block: string;
  /** Readable symbol: β₀, β₁, a, b, ν, τ … */
  symbol: string;
  /** Expert 1..k for per-expert blocks, null for shared ones. */
  expert: number | null;
  /** Component inside the block: an input name, a class label, or '' for a scalar. */
  component: string;
}

export interface FlatParameters {
  labels: ParameterLabel[];
  values: number[];
}

const SYMBOLS: Record<string, string> = {
  beta0: 'β₀', beta1: 'β₁', omega0: 'ω₀', omega1: 'ω₁', variance: 'ν', tau: 'τ', noiseVariance: 'σ²',
};

/** Readable name of a JSON block (β₁ for `beta1`, ν for `variance`). */
export function blockSymbol(block: string): string {
  return SYMBOLS[block] ?? block;
}

export interface Naming {
  xNames: readonly string[];
  classLabels?: readonly string[];
}

function flattenValue(v: unknown, path: number[], out: { path: number[]; value: number }[]): void {
  if (typeof v === 'number') out.push({ path, value: v });
  else if (Array.isArray(v)) v.forEach((w, i) => flattenValue(w, [...path, i], out));
}

/** Component label of a path inside one expert's entry of a block. */
function componentLabel(path: number[], d: number, isSlope: boolean, naming: Naming, classBlock: boolean): string {
  const parts: string[] = [];
  path.forEach((idx, level) => {
    const last = level === path.length - 1;
    if (last && isSlope) parts.push(naming.xNames[idx] ?? `x${idx + 1}`);
    else if (classBlock) parts.push(`class ${naming.classLabels?.[idx] ?? String(idx)}`);
    else parts.push(String(idx + 1));
  });
  void d;
  return parts.join(', ');
}

/** Flatten the named blocks of a model JSON (numbers only), labelled. */
export function flattenModel(model: MixtureOfExperts, json: ModelJSON = model.toJSON(), naming?: Partial<Naming>): FlatParameters {
  const d = model.d;
  const names: Naming = {
    xNames: naming?.xNames ?? Array.from({ length: d }, (_, u) => (d === 1 ? 'x' : `x${u + 1}`)),
    classLabels: naming?.classLabels ?? (Array.isArray(json.experts.labels) ? (json.experts.labels as unknown[]).map(String) : undefined),
  };
  const labels: ParameterLabel[] = [];
  const values: number[] = [];
  const multinomial = json.experts.type === 'multinomialLogistic';
  for (const [part, obj, blocks] of [['gate', json.gate, model.gate.blocks], ['experts', json.experts, model.expert.blocks]] as const) {
    for (const b of blocks) {
      const raw = (obj as Record<string, unknown>)[b.name];
      if (raw === undefined) continue;
      const slope = b.name === 'beta1' || b.name === 'omega1' || (b.name === 'a' && !multinomial) || (b.name === 'b' && multinomial);
      const classBlock = multinomial && (b.name === 'a' || b.name === 'b');
      const entries = b.perExpert && Array.isArray(raw) ? raw.map((v, i) => ({ v, expert: i + 1 })) : [{ v: raw, expert: null }];
      for (const { v, expert } of entries) {
        const flat: { path: number[]; value: number }[] = [];
        flattenValue(v, [], flat);
        for (const f of flat) {
          labels.push({ part, block: b.name, symbol: blockSymbol(b.name), expert, component: componentLabel(f.path, d, slope, names, classBlock) });
          values.push(f.value);
        }
      }
    }
  }
  return { labels, values };
}

/**
 * Jacobian J (m×p row-major) of the flattened JSON values with respect to θ, by central
 * differences with step h·max(1, |θ_j|); also returns the values at θ.
 */
export function parameterJacobian(model: MixtureOfExperts, naming?: Partial<Naming>, h = 1e-6): { flat: FlatParameters; J: Float64Array } {
  const flat = flattenModel(model, model.toJSON(), naming);
  const m = flat.values.length;
  const p = model.nParams;
  const J = new Float64Array(m * p);
  const th = model.theta.slice();
  for (let j = 0; j < p; j++) {
    const step = h * Math.max(1, Math.abs(th[j]));
    th[j] = model.theta[j] + step;
    const fp = flattenModel(model, model.withTheta(th).toJSON()).values;
    th[j] = model.theta[j] - step;
    const fm = flattenModel(model, model.withTheta(th).toJSON()).values;
    th[j] = model.theta[j];
    if (fp.length !== m || fm.length !== m) throw new RangeError('the JSON form of the model changed shape under a small perturbation');
    for (let e = 0; e < m; e++) J[e * p + j] = (fp[e] - fm[e]) / (2 * step);
  }
  return { flat, J };
}
