import { runFunction } from '../../shared/http/main.js';
import { publish } from './handler.js';

await runFunction(publish);
