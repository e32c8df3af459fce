/** A model feature meshd cannot turn into Envoy configuration (see docs/compatibility.md): the node is not compiled. */
export class UnsupportedFeature extends Error {}
