/** Scaffold for `faas-cli new --lang node20-ts`: a typed (event, context) handler. */
import { defineFunction } from '../../shared/runtime/main.js';

export const hello = defineFunction({
  name: 'hello',
  maxBodyBytes: 1024 * 1024,
  config: {},
  create: () => ({ handle: async (event) => ({ json: { method: event.method, path: event.path } }) }),
});
