/** What only transform reads. */
import { component, int, optionalUrl, variable } from '../../shared/runtime/config.js';

export const transformConfig = component({
  name: 'transform',
  vars: {
    TRANSFORM_JSON_MAX_BYTES: variable(int(10 * 1024 * 1024, 1024), 'Ad-hoc answers as one JSON document up to this size; larger ones ask for NDJSON or CSV.'),
    PUBLISH_URL: variable(optionalUrl, 'Where publish is called (default: `<GATEWAY_URL>/function/publish`).'),
  },
});
