/**
 * undici, loaded on first use: its evaluation costs ~60 ms of a function's cold start, and no
 * function needs an HTTP client before it is ready. One pooled agent per purpose, made once.
 */
import type { Agent } from 'undici';

type Undici = typeof import('undici');
let loaded: Promise<Undici> | undefined;

export function undici(): Promise<Undici> {
  loaded ??= import('undici');
  return loaded;
}

/** A lazily created pooled agent. */
export function lazyAgent(options: ConstructorParameters<typeof Agent>[0]): () => Promise<Agent> {
  let agent: Agent | undefined;
  return async () => (agent ??= new (await undici()).Agent(options));
}
