// minio's `mime.lookup`, loaded on first use: mime-types builds its tables from mime-db (~7 ms of
// every cold start) for a lookup minio makes only in fPutObject, which no function calls.
let mime;
exports.lookup = (path) => (mime ??= require('mime-types')).lookup(path);
