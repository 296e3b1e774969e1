// minio's `query-string`, loaded on first use: minio calls only `stringify` (object tags and
// some listings), never before a function is ready.
let qs;
const load = () => (qs ??= require('query-string'));
exports.stringify = (...args) => load().stringify(...args);
