// What minio imports as `_` from 'lodash', cherry-picked from lodash's own per-function modules
// (the babel-plugin-lodash way): the monolith costs ~10 ms of every cold start to initialise.
// test/bundle-shims.test.ts fails when minio uses a function that is not here.
import chunk from 'lodash/chunk.js';
import isEmpty from 'lodash/isEmpty.js';
import mapKeys from 'lodash/mapKeys.js';
import mapValues from 'lodash/mapValues.js';
import pick from 'lodash/pick.js';
import pickBy from 'lodash/pickBy.js';

export default { chunk, isEmpty, mapKeys, mapValues, pick, pickBy };
