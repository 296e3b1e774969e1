/**
 * The sinks publish delivers to. Each is one folder under shared/sinks/ that exports a SinkSpec
 * (its configuration and how its sinks are built): adding a sink is one line in this list.
 */
import type { Components } from '../../shared/runtime/config.js';
import { eventstreamSinks } from '../../shared/sinks/eventstream/spec.js';
import { powerbiSinks } from '../../shared/sinks/powerbi/spec.js';
import type { RowSink, SinkContext, SinkSpec } from '../../shared/sinks/sink.js';

export const SINKS: readonly SinkSpec[] = [powerbiSinks, eventstreamSinks];

/** Every sink's configuration component, by its name (publish loads them all). */
export const sinkConfigs: Components = Object.fromEntries(SINKS.map((s) => [s.name, s.config]));

/** Built once per process: limiters, token caches and connections then hold across requests. */
export function createSinks(loaded: Record<string, unknown>, ctx: SinkContext): RowSink[] {
  return SINKS.flatMap((s) => s.create(loaded[s.name], ctx));
}
