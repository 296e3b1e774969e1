// What minio imports as `_` from 'lodash', cherry-picked from lodash's own per-function modules
// (the babel-plugin-lodash way): the monolith costs ~10 ms of every cold start to initialise.
// Each is loaded when minio first reads it (its modules and their dozens of helpers are ~2 ms of
// every start otherwise), and is lodash's own function.
// test/bundle-shims.test.ts fails when minio uses a function that is not here.
const load = {
  chunk: () => require('lodash/chunk.js'),
  isEmpty: () => require('lodash/isEmpty.js'),
  mapKeys: () => require('lodash/mapKeys.js'),
  mapValues: () => require('lodash/mapValues.js'),
  pick: () => require('lodash/pick.js'),
  pickBy: () => require('lodash/pickBy.js'),
};
for (const [name, get] of Object.entries(load)) Object.defineProperty(exports, name, { enumerable: true, get });
