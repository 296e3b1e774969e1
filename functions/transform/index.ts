import { runFunction } from '../../shared/runtime/main.js';
import { transform } from './handler.js';

await runFunction(transform);
