// minio's `async` (the library), loaded on first use: minio calls only `eachSeries`, in calls no
// cold start makes. Each name minio uses loads async when first called.
let async;
const load = () => (async ??= require('async'));
exports.eachSeries = (...args) => load().eachSeries(...args);
