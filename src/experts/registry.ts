/** Expert-family registry: JSON `type` / CLI spec (`gaussian`, `multinomial`, `regression:gelu`) → factory. */
import type { ExpertJSON, ExpertFactory } from './expert.js';
import { GaussianLinearExperts, gaussianOptionsFromJSON } from './gaussian-linear.js';
import { multinomialLogisticFactory } from './multinomial-logistic.js';
import { regressionFactory } from './regression.js';
import { ModelFormatError, OptionError } from '../errors.js';
import { lengthOf, widthOf } from '../json-read.js';

/** The factory contract lives beside the family contract (expert.ts), so families need not import the registry. */
export type { ExpertFactory };

const factories = new Map<string, ExpertFactory>();
const cliIndex = new Map<string, ExpertFactory>();

export function registerExpert(f: ExpertFactory): void {
  factories.set(f.type, f);
  for (const c of f.cliNames) cliIndex.set(c.toLowerCase(), f);
}

export function expertFactory(type: string, path = 'experts.type'): ExpertFactory {
  const f = factories.get(type);
  if (!f) throw new ModelFormatError(`${path}: unknown expert type ${JSON.stringify(type)} (known: ${[...factories.keys()].join(', ')})`);
  return f;
}

export function expertTypes(): ExpertFactory[] {
  return [...factories.values()];
}

export function parseExpertSpec(spec: string): ExpertJSON {
  const i = spec.indexOf(':');
  const name = (i < 0 ? spec : spec.slice(0, i)).trim().toLowerCase();
  const rest = i < 0 ? undefined : spec.slice(i + 1);
  const f = cliIndex.get(name);
  if (!f) throw new OptionError(`--expert: unknown expert family ${JSON.stringify(name)} (known: ${[...cliIndex.keys()].join(', ')})`);
  return f.parseCli(rest, spec);
}

registerExpert({
  type: 'gaussianLinear',
  cliNames: ['gaussian', 'gaussianlinear'],
  help: 'y ~ N(aᵀx + b, ν)',
  kind: 'density',
  create: (spec, k, d) => new GaussianLinearExperts(k, d, gaussianOptionsFromJSON(spec)),
  dims: (json, path) => ({ k: lengthOf(json.b, `${path}.b`), d: widthOf(json.a, `${path}.a`) }),
  parseCli: (rest, spec) => {
    if (rest !== undefined && rest !== '') throw new OptionError(`--expert ${spec}: gaussian takes no options`);
    return { type: 'gaussianLinear' };
  },
});

registerExpert(multinomialLogisticFactory);
registerExpert(regressionFactory);
