/**
 * Deployment files, validated offline: stack.yml against faas-cli's stack fields and the
 * OpenFaaS CE rules, the Knative Services against the Knative CRD schema and Knative's own
 * rules, kustomize references, the template's Dockerfile, and the timeout budget.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import * as z from 'zod';
import { allComponents, componentsOf, FUNCTION_MODULES, variablesOf, type FunctionName } from '../dev/config-catalogue.js';
import { ConfigError } from '../shared/runtime/config.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';
import { loadFunctionConfig } from '../shared/runtime/main.js';
import { fixturePath, repoRoot } from './kit.js';

const read = (p: string) => readFileSync(join(repoRoot, p), 'utf8');
const allVars = variablesOf(allComponents());
const configKeys = new Set(allVars.keys());
const secretNames = new Set([...allVars.values()].flatMap((v) => (v.secret ? [v.secret] : [])));
/** What one function reads: its variables and its secret files. */
const readBy = (fn: string) => {
  assert.ok(fn in FUNCTION_MODULES, `${fn} is a function`);
  const vars = variablesOf(componentsOf(fn as FunctionName));
  return { vars, secrets: new Set([...vars.values()].flatMap((v) => (v.secret ? [v.secret] : []))) };
};
const WATCHDOG_ENV = new Set(['exec_timeout', 'write_timeout', 'read_timeout', 'ready_path', 'healthcheck_interval', 'max_inflight', 'prefix_logs', 'log_callid', 'upstream_url', 'mode', 'fprocess']);
const seconds = (v: string) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(v));
  assert.ok(m, `bad duration ${v}`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 's'] ?? 1);
};

// faas-cli's stack schema (go-sdk stack/schema.go): unknown keys are mistakes.
const Resources = z.strictObject({ memory: z.string().optional(), cpu: z.string().optional() });
const StackFunction = z.strictObject({
  lang: z.string(),
  handler: z.string(),
  image: z.string(),
  fprocess: z.string().optional(),
  environment: z.record(z.string(), z.string()).optional(),
  environment_file: z.array(z.string()).optional(),
  secrets: z.array(z.string()).optional(),
  skip_build: z.boolean().optional(),
  constraints: z.array(z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  limits: Resources.optional(),
  requests: Resources.optional(),
  readonly_root_filesystem: z.boolean().optional(),
  build_options: z.array(z.string()).optional(),
  build_args: z.record(z.string(), z.string()).optional(),
  platforms: z.string().optional(),
  namespace: z.string().optional(),
});
const Stack = z.strictObject({
  version: z.union([z.literal('1.0'), z.literal(1)]).optional(),
  provider: z.strictObject({ name: z.literal('openfaas'), gateway: z.string().optional() }),
  configuration: z.strictObject({ templates: z.array(z.object({ name: z.string(), source: z.string().optional() })).optional(), copy: z.array(z.string()).optional() }).optional(),
  functions: z.record(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/), StackFunction),
});

describe('stack.yml (OpenFaaS)', () => {
  const stack = Stack.parse(parse(read('stack.yml')));

  test('has the three functions, each with an existing handler and template', () => {
    assert.deepEqual(Object.keys(stack.functions).sort(), ['publish', 'transform', 'webhook']);
    for (const [name, fn] of Object.entries(stack.functions)) {
      assert.ok(existsSync(join(repoRoot, fn.handler, 'index.ts')), `${name}: handler entry`);
      assert.ok(existsSync(join(repoRoot, fn.handler, 'handler.ts')), `${name}: handler`);
      assert.ok(existsSync(join(repoRoot, 'template', fn.lang, 'template.yml')), `${name}: template.yml`);
      assert.ok(existsSync(join(repoRoot, 'template', fn.lang, 'Dockerfile')), `${name}: Dockerfile`);
    }
    for (const p of stack.configuration?.copy ?? []) assert.ok(existsSync(join(repoRoot, p)), `copy path ${p}`);
  });

  test('is Community Edition safe: no Pro-only labels, 1 ≤ min ≤ max ≤ 5', () => {
    for (const [name, fn] of Object.entries(stack.functions)) {
      const labels = fn.labels ?? {};
      for (const k of Object.keys(labels)) {
        assert.ok(!/^com\.openfaas\.scale\.(zero|zero-duration|target|type|target-proportion)$/.test(k), `${name}: Pro-only label ${k}`);
      }
      const min = Number(labels['com.openfaas.scale.min'] ?? 1);
      const max = Number(labels['com.openfaas.scale.max'] ?? 5);
      assert.ok(min >= 1 && min <= max && max <= 5, `${name}: scale ${min}..${max}`);
    }
  });

  test('secrets and environment match what each function reads', () => {
    for (const [name, fn] of Object.entries(stack.functions)) {
      const reads = readBy(name);
      for (const s of fn.secrets ?? []) assert.ok(reads.secrets.has(s), `${name}: secret ${s} is not read by ${name}`);
      for (const k of Object.keys(fn.environment ?? {})) assert.ok(reads.vars.has(k) || WATCHDOG_ENV.has(k), `${name}: env ${k} is not read by ${name}`);
    }
    for (const [name, fn] of Object.entries(stack.functions)) assert.equal(fn.annotations?.['prometheus.io/path'], '/metrics', `${name}: metrics are scrapeable`);
    assert.ok(Number(stack.functions.publish.labels?.['com.openfaas.scale.max']) > 1, 'publish scales out: the Power BI budget is shared by its replicas');
    assert.ok(stack.functions.webhook.secrets?.includes('webhook-token'));
    assert.ok(stack.functions.publish.secrets?.includes('powerbi-push-url'));
  });

  test('timeout budget: handler < exec_timeout < write_timeout ≤ read_timeout; a claim is renewed, never outlived', () => {
    for (const [name, fn] of Object.entries(stack.functions)) {
      const env = fn.environment ?? {};
      const handler = Number(env.HANDLER_TIMEOUT_SECONDS);
      const exec = seconds(env.exec_timeout);
      const write = seconds(env.write_timeout);
      assert.ok(handler < exec && exec < write && write <= seconds(env.read_timeout), `${name}: ${handler} < ${exec} < ${write}`);
      assert.equal(env.ready_path, '/_/ready', `${name}: readiness must reach the Node server`);
    }
    const wh = stack.functions.webhook.environment!;
    assert.ok(seconds(wh.write_timeout) < 60, 'webhook answers MinIO within 60 s');
    const tr = stack.functions.transform.environment!;
    // No lease to outlive the handler: a run's claim is renewed by its heartbeat (CLAIM_SECONDS).
    assert.equal(tr.LEASE_SECONDS, undefined);
    assert.ok(Number(stack.functions.publish.environment!.HANDLER_TIMEOUT_SECONDS) < Number(tr.HANDLER_TIMEOUT_SECONDS), 'publish finishes before transform gives up on it');
  });
});

describe('template/node20-ts', () => {
  const dockerfile = read('template/node20-ts/Dockerfile');
  const template = parse(read('template/node20-ts/template.yml')) as { language: string; fprocess: string };

  test('template.yml names the language and the process the watchdog starts', () => {
    assert.equal(template.language, 'node20-ts');
    assert.equal(template.fprocess, 'node index.cjs');
    assert.match(dockerfile, /fprocess="node index\.cjs"/);
  });

  test('base images are pinned by tag, the runtime is non-root and carries only the bundle', () => {
    const args = Object.fromEntries([...dockerfile.matchAll(/^ARG (\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
    const stages = new Set([...dockerfile.matchAll(/^FROM .* AS (\S+)$/gm)].map((m) => m[1]));
    const froms = [...dockerfile.matchAll(/^FROM (?:--platform=\S+ )?(\S+)/gm)].map((m) => m[1].replace(/\$\{(\w+)\}/g, (_, k) => args[k])).filter((image) => !stages.has(image));
    assert.ok(froms.length >= 3);
    assert.deepEqual([...stages], ['build', 'knative', 'watchdog', 'openfaas'], 'a knative target without the watchdog; openfaas adds only the watchdog layer');
    for (const image of froms) {
      assert.match(image, /:[\w.-]+$/, `${image} has a tag`);
      assert.doesNotMatch(image, /:latest$/, `${image} is not :latest`);
      assert.match(image, /\d/, `${image} pins a version`);
    }
    // The runtime: the knative stage and the openfaas layer on top of it.
    const ship = dockerfile.slice(dockerfile.indexOf('AS knative')).replace(/FROM \S+ AS watchdog\n/, '');
    assert.match(ship, /^USER \d+(:\d+)?$/m, 'numeric non-root user (runAsNonRoot can verify it)');
    assert.doesNotMatch(ship, /^USER (0|root)/m);
    assert.doesNotMatch(ship, /npm (ci|install|i) /, 'no installs in the runtime stage');
    const copies = [...ship.matchAll(/^COPY (.*)$/gm)].map((m) => m[1]);
    assert.ok(copies.every((c) => c.includes('--from=')), `runtime copies only from other stages: ${copies.join(' | ')}`);
    assert.match(dockerfile, /ready_path="\/_\/ready"/);
    // The image runs with the V8 flags the local stack and the bench run with (none: see flags.ts).
    if (NODE_RUNTIME_FLAGS.length) assert.ok(dockerfile.includes(`NODE_OPTIONS="${NODE_RUNTIME_FLAGS.join(' ')}"`), 'the image runs with the measured V8 flags');
    else assert.doesNotMatch(dockerfile, /NODE_OPTIONS=/, 'the image runs with no V8 flags, as the bench measured it');
    assert.match(dockerfile, /mode="http"/);
  });

  test('the template is committed, not git-ignored', () => {
    assert.doesNotMatch(read('.gitignore'), /^\/?template\/?$/m);
  });
});

interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

function loadDocs(path: string): K8sDoc[] {
  return parseAllDocuments(read(path)).map((d) => d.toJSON() as K8sDoc).filter(Boolean);
}

describe('knative/', () => {
  const kustomization = parse(read('knative/kustomization.yaml')) as { resources: string[]; images: { name: string }[] };
  const docs = kustomization.resources.flatMap((r) => loadDocs(join('knative', r)));
  const services = docs.filter((d) => d.kind === 'Service' && d.apiVersion === 'serving.knative.dev/v1');
  const crd = parse(readFileSync(fixturePath('schemas/knative-service-crd.yaml'), 'utf8')) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: Record<string, unknown> } }[] };
  };
  const ajv = new Ajv({ strict: false, allErrors: true });
  for (const k of ['x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type', 'x-kubernetes-preserve-unknown-fields']) ajv.addKeyword(k);
  const validate = ajv.compile(crd.spec.versions.find((v) => v.name === 'v1')!.schema.openAPIV3Schema);

  test('every listed file exists and the three functions are Knative Services', () => {
    for (const r of kustomization.resources) assert.ok(existsSync(join(repoRoot, 'knative', r)), r);
    assert.deepEqual(services.map((s) => s.metadata.name).sort(), ['publish', 'transform', 'webhook']);
  });

  test('each Service validates against the Knative Service CRD schema (v1.23)', () => {
    for (const s of services) assert.ok(validate(s), `${s.metadata.name}: ${ajv.errorsText(validate.errors)}`);
    // The schema is strict enough to catch a typo: prove it on a broken copy.
    const broken = structuredClone(services[0]) as unknown as { spec: { template: { spec: { timeoutSeconds: unknown } } } };
    broken.spec.template.spec.timeoutSeconds = 'sixty';
    assert.equal(validate(broken), false);
  });

  test("Knative's own rules: annotations, scale bounds, env, ports, probes, visibility, timeouts", () => {
    const reservedEnv = new Set(['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION']);
    const reservedPorts = new Set([8012, 8013, 8022, 8008, 9090, 9091]);
    for (const s of services) {
      const name = s.metadata.name;
      const meta = Object.keys(s.metadata.annotations ?? {});
      assert.ok(!meta.some((k) => k.startsWith('autoscaling.knative.dev/')), `${name}: autoscaling annotations belong under spec.template.metadata`);
      const tpl = (s.spec as { template: { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> } }).template;
      const ann = tpl.metadata.annotations;
      assert.equal(ann['autoscaling.knative.dev/min-scale'], '0', `${name}: scales to zero`);
      assert.equal(ann['prometheus.io/scrape'], 'true', `${name}: metrics are scrapeable`);
      assert.equal(ann['prometheus.io/path'], '/metrics');
      if (name === 'publish') assert.ok(Number(ann['autoscaling.knative.dev/max-scale']) > 1, 'publish scales out: the Power BI budget is shared by its replicas');
      assert.notEqual(ann['autoscaling.knative.dev/class'], 'hpa.autoscaling.knative.dev', 'HPA cannot scale to zero');
      const max = Number(ann['autoscaling.knative.dev/max-scale']);
      assert.ok(max >= Number(ann['autoscaling.knative.dev/min-scale']));
      const spec = tpl.spec as { timeoutSeconds: number; responseStartTimeoutSeconds: number; containers: Record<string, unknown>[]; volumes: { secret?: { secretName: string } }[] };
      assert.ok(spec.timeoutSeconds <= 600, `${name}: timeoutSeconds ≤ max-revision-timeout-seconds (600)`);
      assert.ok(spec.responseStartTimeoutSeconds < spec.timeoutSeconds);
      assert.equal(spec.containers.length, 1);
      const c = spec.containers[0] as { env?: { name: string; value?: string }[]; ports?: { name?: string; containerPort: number }[]; readinessProbe: { httpGet: { path: string; port?: number } }; volumeMounts: { mountPath: string }[]; command?: string[] };
      const reads = readBy(name);
      for (const e of c.env ?? []) {
        assert.ok(!reservedEnv.has(e.name), `${name}: reserved env ${e.name}`);
        assert.ok(reads.vars.has(e.name), `${name}: env ${e.name} is not read by ${name}`);
      }
      assert.ok((c.ports ?? []).length <= 1);
      for (const p of c.ports ?? []) {
        assert.ok(['', 'http1', 'h2c', undefined].includes(p.name));
        assert.ok(!reservedPorts.has(p.containerPort));
      }
      assert.equal(c.readinessProbe.httpGet.path, '/_/ready');
      assert.ok(c.readinessProbe.httpGet.port === undefined, 'probe port must match the container port (omit it)');
      assert.deepEqual(c.command, ['node', 'index.cjs'], 'the Node server serves PORT directly on Knative');
      assert.ok(c.volumeMounts.some((m) => m.mountPath === '/var/openfaas/secrets'), 'secrets at the OpenFaaS path');
      const handler = Number(c.env?.find((e) => e.name === 'HANDLER_TIMEOUT_SECONDS')?.value);
      assert.ok(handler < spec.responseStartTimeoutSeconds, `${name}: handler deadline inside Knative's`);
      const internal = name !== 'webhook';
      assert.equal(s.metadata.labels?.['networking.knative.dev/visibility'] === 'cluster-local', internal, `${name}: visibility`);
    }
    const t = services.find((s) => s.metadata.name === 'transform')!;
    const tEnv = ((t.spec as { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } }).template.spec.containers[0].env);
    assert.ok(!tEnv.some((e) => e.name === 'LEASE_SECONDS'), 'no lease: a claim is renewed while its run lives');
    const tSpec = (t.spec as { template: { spec: { containers: { volumeMounts: { name: string; mountPath: string }[] }[]; volumes: { name: string; emptyDir?: { medium?: string } }[] } } }).template.spec;
    const tmp = tSpec.containers[0].volumeMounts.find((m) => m.mountPath === '/tmp');
    assert.ok(tmp, 'transform holds ad-hoc answers in /tmp: writable under a read-only root');
    const vol = tSpec.volumes.find((v) => v.name === tmp.name);
    assert.ok(vol?.emptyDir && vol.emptyDir.medium !== 'Memory', 'an emptyDir on disk (a tmpfs would count against the 256Mi limit)');
  });

  test("NetworkPolicy: only webhook (and Knative's data path) reaches transform, only transform reaches publish", () => {
    const policies = docs.filter((d) => d.kind === 'NetworkPolicy' && d.apiVersion === 'networking.k8s.io/v1');
    const allowed = (target: string) => {
      const p = policies.find((d) => (d.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels['serving.knative.dev/service'] === target);
      assert.ok(p, `a policy selects ${target}`);
      const spec = p.spec as { policyTypes: string[]; ingress: { from: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: { matchLabels: Record<string, string> } }[] }[] };
      assert.deepEqual(spec.policyTypes, ['Ingress']);
      return spec.ingress.flatMap((i) => i.from).map((f) => f.podSelector?.matchLabels['serving.knative.dev/service'] ?? `ns:${f.namespaceSelector?.matchLabels['kubernetes.io/metadata.name']}`);
    };
    assert.deepEqual(allowed('transform').sort(), ['ns:knative-serving', 'ns:kourier-system', 'webhook']);
    assert.deepEqual(allowed('publish').sort(), ['ns:knative-serving', 'ns:kourier-system', 'transform']);
  });

  test('references resolve: config maps, secrets and their keys, images', () => {
    const configMaps = new Map(docs.filter((d) => d.kind === 'ConfigMap').map((d) => [d.metadata.name, d]));
    const example = loadDocs('knative/secret.example.yaml')[0];
    const secretKeys = new Set(Object.keys(example.stringData ?? {}));
    for (const k of secretKeys) assert.ok(secretNames.has(k), `secret key ${k} is read by the config module`);
    const text = kustomization.resources.map((r) => read(join('knative', r))).join('\n');
    for (const m of text.matchAll(/configMapRef: \{ name: ([\w-]+) \}/g)) assert.ok(configMaps.has(m[1]), `configmap ${m[1]}`);
    for (const m of text.matchAll(/secretName: ([\w-]+)/g)) assert.equal(m[1], example.metadata.name);
    for (const m of text.matchAll(/secretKeyRef: \{ name: ([\w-]+), key: ([\w-]+) \}/g)) {
      assert.equal(m[1], example.metadata.name);
      assert.ok(secretKeys.has(m[2]), `secret key ${m[2]}`);
    }
    for (const m of text.matchAll(/- \{ key: ([\w-]+), path: /g)) assert.ok(secretKeys.has(m[1]), `secret key ${m[1]}`);
    for (const k of Object.keys(configMaps.get('pipeline-config')!.data ?? {})) assert.ok(configKeys.has(k), `config map key ${k} is read by nothing`);
    const imageNames = new Set(kustomization.images.map((i) => i.name));
    for (const m of text.matchAll(/image: (mini-pipeline-[\w-]+)/g)) assert.ok(imageNames.has(m[1]), `image ${m[1]} is mapped`);
  });

  test('MinIO is configured by environment: webhook target, token from the secret, queue_dir, sync events', () => {
    const minio = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'minio')!;
    const env = (minio.spec as { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } }).template.spec.containers[0].env;
    const get = (n: string) => env.find((e) => e.name === n);
    assert.equal(get('MINIO_NOTIFY_WEBHOOK_ENABLE_PIPELINE')?.value, 'on');
    assert.match(get('MINIO_NOTIFY_WEBHOOK_ENDPOINT_PIPELINE')?.value ?? '', /^http:\/\/webhook\./);
    assert.ok(get('MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_PIPELINE'));
    assert.match(get('MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_PIPELINE')?.value ?? '', /^\//);
    assert.equal(get('MINIO_API_SYNC_EVENTS')?.value, 'on');
    const job = docs.find((d) => d.kind === 'Job')!;
    assert.match(JSON.stringify(job), /arn:minio:sqs::PIPELINE:webhook/);
  });
});

/** The ```sh blocks of a Markdown file, as a reader pastes them. */
const shellBlocks = (md: string) => [...md.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
/** stack.yml's image with its ${VAR:-default}s resolved to the defaults. */
const withDefaults = (s: string) => s.replace(/\$\{\w+:-([^}]*)\}/g, '$1');

describe('docs/microk8s-lab.md and the README, against the manifests', () => {
  const lab = read('docs/microk8s-lab.md');
  const labShell = shellBlocks(lab).join('\n');
  const readme = read('README.md');
  const stack = Stack.parse(parse(read('stack.yml')));
  const stackSecrets = [...new Set(Object.values(stack.functions).flatMap((f) => f.secrets ?? []))].sort();
  const kustomization = parse(read('knative/kustomization.yaml')) as { resources: string[]; images: { name: string; newName: string; newTag: string }[] };

  test('every command block is valid shell (bash -n), and watch is not given the kubectl alias', () => {
    for (const block of shellBlocks(lab)) {
      const r = spawnSync('bash', ['-n'], { input: block, encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stderr}\n${block}`);
    }
    assert.doesNotMatch(lab, /watch [^`\n]*(?<!microk8s )kubectl/, 'watch runs a program, not an alias: microk8s kubectl');
  });

  test('every secret stack.yml requires is listed in the README, created (and removed) by the lab, and in secret.example.yaml', () => {
    assert.deepEqual(stackSecrets, ['internal-token', 'powerbi-push-url', 's3-access-key', 's3-secret-key', 'webhook-token']);
    const deploy = readme.slice(readme.indexOf('\n## Deploy'), readme.indexOf('\n## Benchmarks'));
    const openfaasBullet = deploy.slice(deploy.indexOf('- OpenFaaS:'), deploy.indexOf('- Knative:'));
    for (const s of stackSecrets) assert.ok(openfaasBullet.includes(`\`${s}\``), `README's OpenFaaS secrets list names ${s}`);
    const loops = [...labShell.matchAll(/for s in ([\w\s-]+?); do\s*\n\s*faas-cli secret (create|remove) \$s/g)].map((m) => ({ op: m[2], names: m[1].trim().split(/\s+/).sort() }));
    assert.deepEqual(loops.find((l) => l.op === 'create')?.names, stackSecrets, 'the lab creates every secret');
    assert.deepEqual(loops.find((l) => l.op === 'remove')?.names, stackSecrets, 'and its cleanup removes them');
    for (const s of stackSecrets) assert.match(labShell, new RegExp(`> \\.secrets/${s}\\b`), `the lab writes .secrets/${s}`);
    const example = loadDocs('knative/secret.example.yaml')[0];
    assert.deepEqual(Object.keys(example.stringData ?? {}).sort(), stackSecrets);
  });

  test('without Power BI the secret is not empty (faas-cli refuses that) and publish then has no push URL', () => {
    assert.doesNotMatch(labShell, /(^|\n)\s*(: ?>|touch|> ?)\s*\.secrets\//, 'no empty secret file');
    const values = [...labShell.matchAll(/echo -n '?([^'\s]+)'? > \.secrets\/powerbi-push-url/g)].map((m) => m[1]);
    assert.equal(values.length, 2, 'with and without Power BI');
    const without = values.find((v) => !v.startsWith('http'))!;
    assert.ok(without.length > 0);
    const loaded = loadFunctionConfig(FUNCTION_MODULES.publish, { POWERBI_PUSH_URL: without, INTERNAL_TOKEN: 'lab-internal-token-0123456789', SECRETS_DIR: '/nonexistent' });
    assert.ok(!(loaded instanceof ConfigError), String(loaded instanceof ConfigError && loaded.message));
    assert.equal((loaded.config as unknown as { powerbi: { POWERBI_PUSH_URL?: string } }).powerbi.POWERBI_PUSH_URL, undefined, `"${without}" means no push URL`);
    assert.doesNotMatch(lab, /patch configmap pipeline-config/, 'nothing patched beside the manifests');
  });

  test('each target has its own tags: the lab builds what the manifests deploy, and never over the other', () => {
    const openfaas = Object.values(stack.functions).map((f) => withDefaults(f.image)).sort();
    const knative = kustomization.images.map((i) => `${i.newName}:${i.newTag}`).sort();
    for (const k of knative) assert.ok(!openfaas.includes(k), `${k} is not an OpenFaaS image`);
    const built = [...labShell.matchAll(/for fn in ([\w\s]+?); do[\s\S]*?docker build --target knative -t (\S+) build\/\$fn\s*\n\s*docker push (\S+)/g)];
    assert.equal(built.length, 1, 'one loop builds the knative target');
    const [, fns, tag, pushed] = built[0];
    assert.equal(tag, pushed);
    assert.deepEqual(fns.trim().split(/\s+/).map((fn) => tag.replace('$fn', fn)).sort(), knative, 'the lab pushes the images knative/ deploys');
    assert.match(labShell, /faas-cli build -f stack\.yml && faas-cli push -f stack\.yml/);
    const setupImage = /sed 's#image: mini-pipeline-webhook#image: (\S+?)#'/.exec(labShell)?.[1];
    assert.equal(setupImage, withDefaults(stack.functions.webhook.image), "OpenFaaS path: the set-up Job runs webhook's OpenFaaS image");
  });

  test('Knative resolves the images: their registry skips tag resolution, set on the addon KnativeServing before apply -k', () => {
    const patch = parse(read('knative/knative-serving-patch.yaml')) as { spec: { config: { deployment: Record<string, string> } } };
    const skipped = patch.spec.config.deployment['registries-skipping-tag-resolving'].split(',').map((r) => r.trim());
    for (const d of ['kind.local', 'ko.local', 'dev.local']) assert.ok(skipped.includes(d), `Knative's default ${d} is kept`);
    for (const i of kustomization.images) assert.ok(skipped.includes(i.newName.split('/')[0]), `${i.newName}: registry listed`);
    // microk8s-community-addons addons/knative/enable: KnativeServing "knative-serving" in namespace knative-serving.
    const cmd = `kubectl -n knative-serving patch knativeserving knative-serving --type merge --patch-file knative/knative-serving-patch.yaml`;
    assert.ok(labShell.includes(cmd), 'the lab applies it to the addon object');
    assert.ok(labShell.indexOf(cmd) < labShell.indexOf('kubectl apply -k knative/'), 'before the Services');
    assert.match(read('knative/knative-serving-patch.yaml'), /operator/i, 'the reason is written down');
  });

  test('the cleanup removes what the lab made and fails on nothing the kustomization already deleted', () => {
    const cleanup = shellBlocks(lab.slice(lab.indexOf('## 5. Clean up'))).join('\n');
    assert.ok(kustomization.resources.includes('namespace.yaml'), 'the kustomization owns the namespace');
    assert.match(cleanup, /kubectl delete -k knative\//);
    assert.doesNotMatch(cleanup, /delete namespace mini-pipeline/, 'already gone with delete -k');
    const created = [...labShell.matchAll(/kubectl -n openfaas-fn create (secret generic|configmap) ([\w-]+)/g)].map((m) => `${m[1] === 'configmap' ? 'configmap' : 'secret'}/${m[2]}`);
    const minio = loadDocs('knative/minio.yaml').map((d) => `${{ Deployment: 'deployment', Service: 'svc', PersistentVolumeClaim: 'pvc' }[d.kind] ?? d.kind}/${d.metadata.name}`);
    for (const r of [...created, ...minio, 'job/setup-buckets']) assert.ok(cleanup.includes(r), `cleanup deletes ${r} from openfaas-fn`);
    assert.match(cleanup, /faas-cli remove -f stack\.yml/);
  });

  test('drain: Node keeps serving at least as long as the watchdog routes after SIGTERM', () => {
    const dockerfile = read('template/node20-ts/Dockerfile');
    const env = (k: string) => Number(new RegExp(`${k}="(\\d+)s?"`).exec(dockerfile)?.[1]);
    assert.ok(env('healthcheck_interval') > 0, 'healthcheck_interval set (its default is write_timeout)');
    assert.ok(env('DRAIN_SECONDS') > env('healthcheck_interval'), `DRAIN_SECONDS ${env('DRAIN_SECONDS')} > healthcheck_interval ${env('healthcheck_interval')}`);
  });
});
