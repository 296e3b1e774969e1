/**
 * V8 flags every function process runs with (the image's NODE_OPTIONS, the local stack, the
 * bench): none. Any heap flag (--max-old-space-size, --max-semi-space-size) changes V8's flag
 * hash, and V8 then rejects Node's own built-in code cache: every Node module the function loads
 * is compiled from source, +20 ms for a bare HTTP server and +30 ms for a function here. The heap
 * is bounded instead by the container's memory limit (Node sizes V8's heap from the cgroup limit)
 * and kept small by streaming; `npm run bench` measures peak RSS without flags.
 */
export const NODE_RUNTIME_FLAGS: string[] = [];
