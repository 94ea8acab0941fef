/**
 * Gate registry: maps a gate `type` (JSON) or a CLI spec (`topk:2`, `temperature:fixed=0.5`) to a
 * factory. Each gate family registers itself here with one entry.
 */
import type { GateJSON, GateFactory } from './gate.js';
import { SoftmaxGate } from './softmax.js';
import { topKGateFactory } from './top-k.js';
import { temperatureGateFactory } from './temperature.js';
import { activationGateFactory } from './activation.js';
import { modifiedGateFactory } from './modified.js';
import { hierarchicalGateFactory } from './hierarchical.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { lengthOf, widthOf } from '../json-read.js';

/** The factory contract lives beside the family contract (gate.ts), so families need not import the registry. */
export type { GateFactory };

const factories = new Map<string, GateFactory>();
const cliIndex = new Map<string, GateFactory>();

export function registerGate(f: GateFactory): void {
  factories.set(f.type, f);
  for (const c of f.cliNames) cliIndex.set(c.toLowerCase(), f);
}

export function gateFactory(type: string, path = 'gate.type'): GateFactory {
  const f = factories.get(type);
  if (!f) throw new ModelFormatError(`${path}: unknown gate type ${JSON.stringify(type)} (known: ${[...factories.keys()].join(', ')})`);
  return f;
}

export function gateTypes(): GateFactory[] {
  return [...factories.values()];
}

/** Parse a CLI gate spec such as `softmax`, `topk:2`, `temperature:fixed=0.5`. */
export function parseGateSpec(spec: string): GateJSON {
  const i = spec.indexOf(':');
  const name = (i < 0 ? spec : spec.slice(0, i)).trim().toLowerCase();
  const rest = i < 0 ? undefined : spec.slice(i + 1);
  const f = cliIndex.get(name);
  if (!f) throw new OptionError(`--gate: unknown gate ${JSON.stringify(name)} (known: ${[...cliIndex.keys()].join(', ')})`);
  return f.parseCli(rest, spec);
}

/** Helper for gates whose blocks are beta0 (k) and beta1 (k×d). */
export function linearDims(json: GateJSON, path: string): { k: number; d: number } {
  return { k: lengthOf(json.beta0, `${path}.beta0`), d: widthOf(json.beta1, `${path}.beta1`) };
}

registerGate({
  type: 'softmax',
  cliNames: ['softmax'],
  help: 'softmax(β₁ᵀx + β₀), last expert is the reference',
  create: (_spec, k, d) => new SoftmaxGate(k, d),
  dims: linearDims,
  parseCli: (rest, spec) => {
    if (rest !== undefined && rest !== '') throw new OptionError(`--gate ${spec}: softmax takes no options`);
    return { type: 'softmax' };
  },
});

// the gate family of the papers (issue 3): one factory per file
registerGate(topKGateFactory);
registerGate(temperatureGateFactory);
registerGate(activationGateFactory);
registerGate(modifiedGateFactory);
registerGate(hierarchicalGateFactory);
