// Expected failures (a port taken, no Envoy, a mesh that does not validate, a child that died):
// the demo says them in a line or a few, never with a stack trace.

export class DemoError extends Error {
  /** Lines printed under the message, indented (a child's last log lines, the mesh's findings). */
  readonly details: readonly string[];

  constructor(message: string, details: readonly string[] = []) {
    super(message);
    this.details = details;
  }
}

/** The lines to print for an expected failure. */
export function describeFailure(err: DemoError): string[] {
  return [`demo: ${err.message}`, ...err.details.map((l) => `  ${l}`)];
}
