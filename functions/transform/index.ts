import { runFunction } from '../../shared/http/main.js';
import { transform } from './handler.js';

await runFunction(transform);
