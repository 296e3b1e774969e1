/**
 * Scaffold for `faas-cli new <name> --lang node20-ts --handler functions/<name> --append stack.yml`
 * (see the README, "Add a function"): a typed (event, context) handler. Rename `hello` and give
 * `config` the components your function reads (shared/runtime/config.ts).
 */
import { defineFunction } from '../../shared/runtime/main.js';

export const hello = defineFunction({
  name: 'hello',
  maxBodyBytes: 1024 * 1024,
  config: {},
  create: () => ({ handle: async (event) => ({ json: { method: event.method, path: event.path } }) }),
});
