/** Scaffold for `faas-cli new --lang node20-ts`: a typed (event, context) handler. */
import type { FunctionModule } from '../../shared/runtime/main.js';

export const hello: FunctionModule = {
  name: 'hello',
  maxBodyBytes: 1024 * 1024,
  create: () => async (event) => ({ json: { method: event.method, path: event.path } }),
};
