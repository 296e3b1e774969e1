import { runFunction } from '../../shared/runtime/main.js';
import { hello } from './handler.js';

await runFunction(hello);
