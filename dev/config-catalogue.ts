/**
 * Every configuration component of the project, and which ones each function is built from:
 * the source of the README's configuration table (`npm run docs`) and of the deploy checks
 * (a manifest may set only variables its function reads).
 */
import { publish } from '../functions/publish/handler.js';
import { setupConfig } from '../functions/setup/config.js';
import { transform } from '../functions/transform/handler.js';
import { webhook } from '../functions/webhook/handler.js';
import { runtimeConfig, type Components, type Variable } from '../shared/runtime/config.js';
import { devConfig } from './config.js';

export const FUNCTION_MODULES = { webhook, transform, publish } as const;
export type FunctionName = keyof typeof FUNCTION_MODULES;

/** The components one function process loads: the runtime's and its own. */
export function componentsOf(name: FunctionName): Components {
  return { runtime: runtimeConfig, ...FUNCTION_MODULES[name].config };
}

/** All components, each once, in the order the README lists them. */
export function allComponents(): Components {
  const all: Components = { runtime: runtimeConfig };
  for (const name of Object.keys(FUNCTION_MODULES) as FunctionName[]) Object.assign(all, FUNCTION_MODULES[name].config);
  return { ...all, setup: setupConfig, dev: devConfig };
}

/** Every variable of a set of components by name. */
export function variablesOf(components: Components): Map<string, Variable> {
  const out = new Map<string, Variable>();
  for (const c of Object.values(components)) for (const [name, v] of Object.entries(c.vars as Record<string, Variable>)) out.set(name, v);
  return out;
}
