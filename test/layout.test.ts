/**
 * The layout's rules, checked on the import graph: functions on top, shared libraries below.
 * `shared/` never imports a function or the local stack, functions never import one another or
 * the local stack, no module imports itself round a cycle, and transform's bundle carries no
 * publish code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { bundleEntry } from '../dev/build.js';
import { repoRoot } from './kit.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(repoRoot, dir))) {
    const rel = join(dir, name);
    if (statSync(join(repoRoot, rel)).isDirectory()) out.push(...sources(rel));
    else if (rel.endsWith('.ts') && !rel.endsWith('.test.ts')) out.push(rel);
  }
  return out;
}

/** Module → the project modules it imports (relative imports, type-only ones included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of ['functions', 'shared', 'dev'].flatMap(sources)) {
    const text = readFileSync(join(repoRoot, file), 'utf8');
    const deps = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)]
      .map((m) => relative(repoRoot, join(repoRoot, dirname(file), m[1])).replace(/\.js$/, '.ts'))
      .filter((d) => d.endsWith('.ts'));
    graph.set(file, deps);
  }
  return graph;
}

const area = (file: string) => (file.startsWith('functions/') ? `functions/${file.split('/')[1]}` : file.split('/')[0]);

test('shared/ imports no function and nothing of the local stack', () => {
  for (const [file, deps] of importGraph()) {
    if (!file.startsWith('shared/')) continue;
    for (const d of deps) assert.ok(d.startsWith('shared/'), `${file} imports ${d}`);
  }
});

test('a function imports only itself and shared/', () => {
  for (const [file, deps] of importGraph()) {
    if (!file.startsWith('functions/')) continue;
    for (const d of deps) assert.ok(d.startsWith('shared/') || area(d) === area(file), `${file} imports ${d}`);
  }
});

test('the import graph has no cycles', () => {
  const graph = importGraph();
  const state = new Map<string, 'open' | 'done'>();
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === 'done') return;
    assert.notEqual(state.get(f), 'open', `cycle: ${[...path, f].join(' → ')}`);
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
});

test("transform's bundle carries no publish code and no Power BI sink", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'layout-'));
  try {
    const { metafile } = await bundleEntry(join(repoRoot, 'functions/transform/index.ts'), join(dir, 'transform.cjs'));
    const inputs = Object.keys(metafile.inputs).map((p) => relative(repoRoot, join(process.cwd(), p)));
    assert.ok(inputs.some((p) => p.startsWith('functions/transform/')), 'the bundle has transform');
    for (const p of inputs) {
      assert.ok(!p.startsWith('functions/publish/'), `transform bundles ${p}`);
      assert.ok(!p.startsWith('shared/sinks/'), `transform bundles ${p}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sink is its folder and one line in functions/publish/sinks.ts: no product module outside the sink folders names its kind, its sinks or its settings', async () => {
  const { SINKS } = await import('../functions/publish/sinks.js');
  const folders = readdirSync(join(repoRoot, 'shared/sinks')).filter((d) => statSync(join(repoRoot, 'shared/sinks', d)).isDirectory());
  const code = (file: string) => readFileSync(join(repoRoot, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const found: string[] = [];
  for (const spec of SINKS) {
    const home = folders.find((d) => readFileSync(join(repoRoot, 'shared/sinks', d, 'spec.ts'), 'utf8').includes(`name: '${spec.name}'`));
    assert.ok(home, `${spec.name}: a folder of shared/sinks/ with its spec.ts`);
    const settings = Object.keys(spec.config.vars);
    assert.ok(settings.length > 0, `${spec.name}: its settings`);
    const named = new RegExp(`['"\`/]${spec.name}(['"\`/-])|\\b(${settings.join('|')})\\b`);
    for (const file of ['functions', 'shared'].flatMap(sources)) {
      // (A sink may point to another in its messages, as Power BI's retirement notice names Eventstream.)
      if (folders.some((d) => file.startsWith(`shared/sinks/${d}/`)) || file === 'functions/publish/sinks.ts') continue;
      const m = named.exec(code(file));
      if (m) found.push(`${file}: ${m[0]}`);
    }
  }
  assert.deepEqual(found, [], 'adding a sink touches its folder and the list, nothing else');
});
