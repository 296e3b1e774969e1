import { runFunction } from '../../shared/runtime/main.js';
import { hello } from './handler.js';

// No top-level await: the bundle is CommonJS, so that V8's code cache can start it (shared/runtime/code-cache.ts).
void runFunction(hello);
