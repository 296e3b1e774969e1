// minio's `https`, loaded on first use: minio imports node:https (and with it tls) for TLS
// endpoints; a function whose store is plain http (the local stack, a store inside the
// cluster) never needs it, and loading it is ~10 ms of every cold start. Each name minio uses
// is a getter that loads node:https when it is first read (test/bundle-shims.test.ts).
let https;
const load = () => (https ??= require('node:https'));
for (const name of ['request', 'get', 'Agent', 'globalAgent']) Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });
