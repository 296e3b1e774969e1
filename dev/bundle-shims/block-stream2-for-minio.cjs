// minio's `block-stream2` (with readable-stream, a copy of Node's streams), loaded on first use:
// only uploads of unknown size chunk through it, never a cold start. `new BlockStream2(opts)`
// gives block-stream2's own stream.
module.exports = function BlockStream2(options) {
  const Real = require('block-stream2');
  return new Real(options);
};
