import { runFunction } from '../../shared/runtime/main.js';
import { publish } from './handler.js';

await runFunction(publish);
