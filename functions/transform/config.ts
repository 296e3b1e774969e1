/** What only transform reads. */
import { bool, component, int, optionalUrl, token, variable } from '../../shared/runtime/config.js';

export const transformConfig = component({
  name: 'transform',
  vars: {
    TRANSFORM_JSON_MAX_BYTES: variable(int(10 * 1024 * 1024, 1024), 'Ad-hoc answers as one JSON document up to this size; larger ones ask for NDJSON or CSV.'),
    ADHOC_SPOOL_MAX_BYTES: variable(int(1024 * 1024 * 1024, 1024), 'Largest ad-hoc CSV body (413 beyond). It is transformed as it arrives; the answer is held in a temporary file (in /tmp, up to 4× this, 413 beyond) until the body has been read whole, then sent.'),
    HTTP_FULL_DUPLEX: variable(bool(false), 'true only behind full-duplex proxies (Knative ≥ 1.13 with features.knative.dev/http-full-duplex): ad-hoc answers then stream while the body is read, without a temporary file.'),
    ADHOC_TOKEN: variable(token, 'If set, ad-hoc CSV requests need Authorization: Bearer <ADHOC_TOKEN> (or the internal token). Publishing an ad-hoc file always needs the internal token.', { secret: 'adhoc-token' }),
    PUBLISH_URL: variable(optionalUrl, 'Where publish is called (default: `<GATEWAY_URL>/function/publish`).'),
  },
});
