import { runFunction } from '../../shared/http/main.js';
import { hello } from './handler.js';

await runFunction(hello);
