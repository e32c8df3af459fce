/** A model feature meshd cannot turn into Envoy configuration (see the README's table): the node is not compiled. */
export class UnsupportedFeature extends Error {}
