// `meshd bootstrap`: the Envoy bootstrap that attaches a sidecar to meshd over ADS, from
// flags or from App Mesh's environment variables (APPMESH_RESOURCE_ARN, …).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_EGRESS_PORT, DEFAULT_INGRESS_PORT } from '../compile/defaults';
import { parseNodeId } from '../model/node-id';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';

export const TEMPLATE_PATH = path.resolve(__dirname, '../../envoy-bootstrap/bootstrap.yaml');

export const bootstrapCommand: CommandSpec = {
  name: 'bootstrap',
  summary: 'print an Envoy bootstrap (YAML) that connects a proxy to meshd',
  usage: 'meshd bootstrap [--node <node-id>] [--xds-address host:port] [flags]',
  flags: {
    node: { type: 'string', metavar: 'node-id', help: 'mesh/<mesh>/virtualNode/<name> or its ARN; default: $APPMESH_RESOURCE_ARN, $APPMESH_RESOURCE_NAME, $APPMESH_VIRTUAL_NODE_NAME' },
    cluster: { type: 'string', help: 'node.cluster; default: $APPMESH_RESOURCE_CLUSTER, $APPMESH_VIRTUAL_NODE_CLUSTER, else the node id' },
    'xds-address': { type: 'string', metavar: 'host:port', help: "meshd's xDS address; default: $MESHD_XDS_ADDRESS or 127.0.0.1:18000" },
    'admin-address': { type: 'string', metavar: 'ip', help: "Envoy's admin address", default: '0.0.0.0' },
    'admin-port': { type: 'int', help: "Envoy's admin port; default: $ENVOY_ADMIN_ACCESS_PORT or 9901" },
    'ingress-port': { type: 'int', help: `ingress listener port; default: $APPMESH_ENVOY_INGRESS_PORT or ${DEFAULT_INGRESS_PORT}` },
    'egress-port': { type: 'int', help: `egress listener port; default: $APPMESH_ENVOY_EGRESS_PORT or ${DEFAULT_EGRESS_PORT}` },
    ads: { type: 'string', metavar: 'sotw|delta', help: 'ADS flavour: sotw (state of the world) or delta (incremental); default: $MESHD_ADS_PROTOCOL or sotw' },
  },
};

export interface BootstrapParams {
  nodeId: string;
  cluster: string;
  xdsHost: string;
  xdsPort: number;
  adminAddress: string;
  adminPort: number;
  ingressPort: number;
  egressPort: number;
  ads: 'sotw' | 'delta';
}

type Env = Record<string, string | undefined>;

/** Resolves flags and App Mesh env vars (flags win) into bootstrap parameters. */
export function bootstrapParams(args: ParsedArgs, env: Env): BootstrapParams {
  const flag = (name: string) => args.flags[name] as string | number | undefined;
  const nodeId = (flag('node') as string | undefined) ?? env.APPMESH_RESOURCE_ARN ?? env.APPMESH_RESOURCE_NAME ?? env.APPMESH_VIRTUAL_NODE_NAME;
  if (!nodeId) throw new UsageError('no node id: pass --node mesh/<mesh>/virtualNode/<name> or set APPMESH_VIRTUAL_NODE_NAME');
  const parsed = parseNodeId(nodeId);
  if ('error' in parsed) throw new UsageError(parsed.error);
  const xds = (flag('xds-address') as string | undefined) ?? env.MESHD_XDS_ADDRESS ?? '127.0.0.1:18000';
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(xds);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--xds-address must be host:port, got '${xds}'`);
  const ads = (flag('ads') as string | undefined) ?? env.MESHD_ADS_PROTOCOL ?? 'sotw';
  if (ads !== 'sotw' && ads !== 'delta') throw new UsageError(`--ads must be sotw or delta, got '${ads}'`);
  return {
    nodeId,
    ads,
    cluster: (flag('cluster') as string | undefined) ?? env.APPMESH_RESOURCE_CLUSTER ?? env.APPMESH_VIRTUAL_NODE_CLUSTER ?? nodeId,
    xdsHost: m[1]!.replace(/^\[|\]$/g, ''),
    xdsPort: Number(m[2]),
    adminAddress: flag('admin-address') as string,
    adminPort: (flag('admin-port') as number | undefined) ?? envPort(env, 'ENVOY_ADMIN_ACCESS_PORT') ?? 9901,
    ingressPort: (flag('ingress-port') as number | undefined) ?? envPort(env, 'APPMESH_ENVOY_INGRESS_PORT') ?? DEFAULT_INGRESS_PORT,
    egressPort: (flag('egress-port') as number | undefined) ?? envPort(env, 'APPMESH_ENVOY_EGRESS_PORT') ?? DEFAULT_EGRESS_PORT,
  };
}

function envPort(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`${name} must be a port number, got '${raw}'`);
  return port;
}

/** Fills the template; strings are JSON-quoted, which YAML reads as double-quoted scalars. */
export function renderBootstrap(p: BootstrapParams, template = fs.readFileSync(TEMPLATE_PATH, 'utf8')): string {
  const values: Record<string, string | number> = {
    NODE_ID: p.nodeId,
    NODE_CLUSTER: p.cluster,
    XDS_HOST: p.xdsHost,
    XDS_PORT: p.xdsPort,
    ADMIN_ADDRESS: p.adminAddress,
    ADMIN_PORT: p.adminPort,
    INGRESS_PORT: String(p.ingressPort),
    EGRESS_PORT: String(p.egressPort),
    ADS_API_TYPE: p.ads === 'delta' ? 'DELTA_GRPC' : 'GRPC',
  };
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`bootstrap template has an unknown placeholder {{${key}}}`);
    return JSON.stringify(values[key]);
  });
}

export function runBootstrap(args: ParsedArgs): number {
  process.stdout.write(renderBootstrap(bootstrapParams(args, process.env)));
  return 0;
}
