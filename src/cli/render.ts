import { compileProxy } from '../compile';
import { DEFAULT_EGRESS_PORT, DEFAULT_INGRESS_PORT } from '../compile/defaults';
import { configFilterOf, filterConfig, renderProxyConfig, toEnvoyYaml } from '../control/render';
import { staticBootstrap } from '../control/static-bootstrap';
import { offlineRegistry } from '../control/offline-registry';
import { openRegistryReadOnly } from '../discovery/cloud-map/state-file';
import { loadMesh } from '../load/mesh-source';
import { formatProblem } from '../load/problems';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';
import { configFilterFlags } from './config-filter-flags';
import { apiDirFlag, cloudFormationFlags, loadOptions, meshNameFlag, meshPathsOf, strictFlag } from './mesh-flags';

export const renderCommand: CommandSpec = {
  name: 'render',
  summary: 'print the Envoy resources (listeners, routes, clusters, endpoints) a node gets',
  usage:
    'meshd render --mesh <file|folder>... --node <node-id> [--type <section>] [--name <resource>] [--format yaml|json] [--static]',
  flags: {
    mesh: { type: 'list', metavar: 'path', help: 'mesh files or folders' },
    'mesh-name': meshNameFlag,
    'api-dir': apiDirFlag,
    strict: strictFlag,
    ...cloudFormationFlags,
    node: {
      type: 'string',
      metavar: 'node-id',
      help: 'mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or their ARN',
    },
    ...configFilterFlags,
    format: { type: 'string', metavar: 'yaml|json', help: 'output format', default: 'yaml' },
    static: {
      type: 'bool',
      help: 'print a complete Envoy bootstrap with the resources inlined (for envoy --mode validate)',
    },
    'ingress-port': { type: 'int', help: 'ingress listener port', default: DEFAULT_INGRESS_PORT },
    'egress-port': {
      type: 'int',
      help: "egress listener port (a gateway's loopback hop)",
      default: DEFAULT_EGRESS_PORT,
    },
    'cloud-map-state': {
      type: 'string',
      metavar: 'file',
      help: "Cloud Map endpoints from this registry file (meshd serve's --cloud-map-state); read, never written",
      env: ['MESHD_CLOUD_MAP_STATE'],
    },
  },
  notes: [
    "Cloud Map endpoints come from the mesh files' CloudMapService documents, over the registry file when one is given.",
    "The resources are printed as Envoy's /config_dump prints them (canonical proto3 JSON, and YAML from it), each with its @type, so the two can be diffed.",
  ],
};

export function runRender(args: ParsedArgs): number {
  const paths = [...(args.flags.mesh as string[]), ...args.positionals];
  const nodeId = args.flags.node as string | undefined;
  const format = args.flags.format as string;
  if (paths.length === 0) throw new UsageError('name the mesh with --mesh <file|folder>');
  if (!nodeId)
    throw new UsageError(
      'name the proxy with --node mesh/<mesh>/virtualNode/<name> (or mesh/<mesh>/virtualGateway/<name>)',
    );
  if (format !== 'yaml' && format !== 'json') throw new UsageError(`--format must be yaml or json, got '${format}'`);
  const filter = configFilterOf(args.flags.type as string | undefined, args.flags.name as string | undefined);
  if (!filter.ok) throw new UsageError(filter.error);
  if (args.flags.static && (args.flags.type !== undefined || args.flags.name !== undefined))
    throw new UsageError('--type and --name pick resources; --static prints the whole bootstrap');

  const loaded = loadMesh(meshPathsOf(args, paths), loadOptions(args));
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
  const settings = {
    ingressPort: args.flags['ingress-port'] as number,
    egressPort: args.flags['egress-port'] as number,
  };
  const result = compileProxy(loaded.model, cloudMap.registry, nodeId, settings);
  if (!result.ok) {
    process.stderr.write(`meshd render: ${result.error}\n`);
    return 1;
  }
  let out: unknown;
  if (args.flags.static) out = staticBootstrap(nodeId, result.config);
  else {
    const filtered = filterConfig(renderProxyConfig(result.config), filter.filter);
    if (!filtered.ok) {
      process.stderr.write(`meshd render: ${filtered.error}\n`);
      return 1;
    }
    out = filtered.config;
  }
  process.stdout.write(format === 'json' ? `${JSON.stringify(out, null, 2)}\n` : toEnvoyYaml(out));
  return 0;
}
