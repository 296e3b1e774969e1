/**
 * V8 flags every function process runs with (the image's NODE_OPTIONS, the local stack, the
 * bench): a bounded heap for a 256 MiB container, and a small young generation so that the
 * per-batch garbage of a streaming transform is collected young. Measured in `npm run bench`.
 */
export const NODE_RUNTIME_FLAGS = '--max-old-space-size=128 --max-semi-space-size=8';
