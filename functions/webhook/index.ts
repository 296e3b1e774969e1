import { runFunction } from '../../shared/runtime/main.js';
import { webhook } from './handler.js';

await runFunction(webhook);
