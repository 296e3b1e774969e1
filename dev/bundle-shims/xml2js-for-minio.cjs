// minio's `xml2js`, loaded on first use: minio builds one `xml2js.Builder` as it loads and the
// others in the calls that send XML (bucket settings, multi-object delete), none of which a cold
// start makes; xml2js with xmlbuilder and sax is ~600 KiB of objects made at every start otherwise.
// A Builder keeps its options and makes xml2js's own on its first `buildObject`.
class Builder {
  constructor(options) {
    this.options = options;
  }
  buildObject(rootObj) {
    const { Builder: Real } = require('xml2js');
    this.real ??= new Real(this.options);
    return this.real.buildObject(rootObj);
  }
}
module.exports = { Builder };
