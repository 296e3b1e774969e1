import { runFunction } from '../../shared/http/main.js';
import { webhook } from './handler.js';

await runFunction(webhook);
