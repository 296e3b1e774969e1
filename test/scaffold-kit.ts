/**
 * What faas-cli does with the template, step by step, for the scaffold tests: `faas-cli new
 * <name> --lang node20-ts --handler <dir> --append stack.yml` (faas-cli commands/new_function.go)
 * and the build context of `faas-cli build --shrinkwrap` (go-sdk builder.CreateBuildContext).
 */
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from './kit.js';

export const LANG = 'node20-ts';
export type Stack = { configuration?: { copy?: string[] }; functions: Record<string, { lang: string; handler: string; image: string }> };

/** What the repository holds that faas-cli and the build read. */
export function copyRepository(to: string): void {
  for (const path of ['template', 'stack.yml', 'shared', 'dev', 'functions', 'package.json', 'package-lock.json', 'tsconfig.json', '.gitignore']) {
    cpSync(join(repoRoot, path), join(to, path), { recursive: true, filter: (src) => !src.endsWith('.test.ts') });
  }
}

/** `faas-cli new <name> --lang node20-ts --handler <dir> --append stack.yml`, step by step, in `cwd`. */
export function faasCliNewAppend(cwd: string, name: string, handlerDir: string): void {
  const stackFile = join(cwd, 'stack.yml');
  assert.ok(!(name in (parse(readFileSync(stackFile, 'utf8')) as Stack).functions), 'no duplicate function name');
  assert.ok(!existsSync(join(cwd, handlerDir)), `folder: ${handlerDir} already exists`);
  mkdirSync(join(cwd, handlerDir), { mode: 0o700 }); // os.Mkdir: the parent must exist
  const ignore = readFileSync(join(cwd, '.gitignore'), 'utf8').split('\n');
  for (const line of ['template', 'build', '.secrets']) if (!ignore.includes(line)) ignore.push(line);
  writeFileSync(join(cwd, '.gitignore'), ignore.join('\n') + '\n');
  cpSync(join(cwd, 'template', LANG, 'function'), join(cwd, handlerDir), { recursive: true });
  // prepareYAMLContent(appendMode = true): two-space indented, appended as text at the file's end.
  appendFileSync(stackFile, `  ${name}:\n    lang: ${LANG}\n    handler: ./${handlerDir}\n    image: ${name}:latest\n\n`);
}

/** `faas-cli build --shrinkwrap`: build/<name>/ = the template, function/ = the handler + configuration.copy paths. */
export function createBuildContext(cwd: string, name: string): string {
  const stack = parse(readFileSync(join(cwd, 'stack.yml'), 'utf8')) as Stack;
  const fn = stack.functions[name];
  const ctx = join(cwd, 'build', name);
  rmSync(ctx, { recursive: true, force: true });
  cpSync(join(cwd, 'template', fn.lang), ctx, { recursive: true });
  const handler = join(cwd, fn.handler);
  for (const entry of readdirSync(handler)) {
    if (entry === 'build' || entry === 'template') continue;
    cpSync(join(handler, entry), join(ctx, 'function', entry), { recursive: true });
  }
  for (const path of stack.configuration?.copy ?? []) cpSync(join(cwd, path), join(ctx, 'function', path), { recursive: true });
  return ctx;
}
