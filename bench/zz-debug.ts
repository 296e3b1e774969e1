import { runScenario, SCENARIOS } from './faults.js';
const s = SCENARIOS.find((x) => x.name.startsWith('S3 unreachable'))!;
const load = { small: 8, smallRows: 150, large: 1, largeRows: 12_000 };
const rs = await Promise.allSettled([runScenario(s, load), runScenario(s, load), runScenario(s, load), runScenario(s, load)]);
for (const r of rs) console.log(r.status === 'fulfilled' ? JSON.stringify(r.value) : 'FAILED ' + (r.reason as Error).message);
