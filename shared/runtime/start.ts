/**
 * The process entry of a bundled function (`node index.cjs`): runs `function.cjs` beside it
 * through V8's code cache (see code-cache.ts).
 */
import { dirname } from 'node:path';
import { runBundle } from './code-cache.js';

runBundle(dirname(process.argv[1]));
