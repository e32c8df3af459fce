/** A model feature this compiler does not turn into Envoy configuration yet (see the README's table). */
export class UnsupportedFeature extends Error {}
