import { compileProxy } from '../compile';
import { DEFAULT_EGRESS_PORT, DEFAULT_INGRESS_PORT } from '../compile/defaults';
import { renderProxyConfig, toEnvoyYaml } from '../control/render';
import { staticBootstrap } from '../control/static-bootstrap';
import { offlineRegistry } from '../control/offline-registry';
import { openRegistryReadOnly } from '../discovery/cloud-map/state-file';
import { loadMesh } from '../load/mesh-source';
import { formatProblem } from '../load/problems';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';
import { cloudFormationFlags, loadOptions, meshNameFlag, strictFlag } from './mesh-flags';

export const renderCommand: CommandSpec = {
  name: 'render',
  summary: 'print the Envoy resources (listeners, routes, clusters, endpoints) a node gets',
  usage: 'meshd render --mesh <file|folder>... --node <node-id> [--format yaml|json] [--static]',
  flags: {
    mesh: { type: 'list', metavar: 'path', help: 'mesh files or folders' },
    'mesh-name': meshNameFlag,
    strict: strictFlag,
    ...cloudFormationFlags,
    node: { type: 'string', metavar: 'node-id', help: 'mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or their ARN' },
    format: { type: 'string', metavar: 'yaml|json', help: 'output format', default: 'yaml' },
    static: { type: 'bool', help: 'print a complete Envoy bootstrap with the resources inlined (for envoy --mode validate)' },
    'ingress-port': { type: 'int', help: 'ingress listener port', default: DEFAULT_INGRESS_PORT },
    'egress-port': { type: 'int', help: "egress listener port (a gateway's loopback hop)", default: DEFAULT_EGRESS_PORT },
    'cloud-map-state': { type: 'string', metavar: 'file', help: "Cloud Map endpoints from this registry file (meshd serve's --cloud-map-state); read, never written", env: ['MESHD_CLOUD_MAP_STATE'] },
  },
  notes: ['Cloud Map endpoints come from the mesh files\' CloudMapService documents, over the registry file when one is given.'],
};

export function runRender(args: ParsedArgs): number {
  const paths = [...(args.flags.mesh as string[]), ...args.positionals];
  const nodeId = args.flags.node as string | undefined;
  const format = args.flags.format as string;
  if (paths.length === 0) throw new UsageError('name the mesh with --mesh <file|folder>');
  if (!nodeId) throw new UsageError('name the proxy with --node mesh/<mesh>/virtualNode/<name> (or mesh/<mesh>/virtualGateway/<name>)');
  if (format !== 'yaml' && format !== 'json') throw new UsageError(`--format must be yaml or json, got '${format}'`);

  const loaded = loadMesh(paths, loadOptions(args));
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const statePath = args.flags['cloud-map-state'] as string | undefined;
  const cloudMap = offlineRegistry(loaded.cloudMapSeeds, statePath ? openRegistryReadOnly(statePath) : undefined);
  if (!cloudMap.ok) {
    for (const p of cloudMap.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const settings = { ingressPort: args.flags['ingress-port'] as number, egressPort: args.flags['egress-port'] as number };
  const result = compileProxy(loaded.model, cloudMap.registry, nodeId, settings);
  if (!result.ok) {
    process.stderr.write(`meshd render: ${result.error}\n`);
    return 1;
  }
  const out = args.flags.static ? staticBootstrap(nodeId, result.config) : renderProxyConfig(result.config);
  process.stdout.write(format === 'json' ? `${JSON.stringify(out, null, 2)}\n` : toEnvoyYaml(out));
  return 0;
}
