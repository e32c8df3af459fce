// `meshd config-dump <node-id>`: the Envoy resources a running meshd serves that node id,
// as JSON (GET /v1/config/<node-id>), in the form Envoy's /config_dump prints them, filtered by
// section and name here. `meshd render` computes the same from files instead.
import { configFilterOf, filterConfig, toEnvoyYaml } from '../control/render';
import {
  adminFlag,
  adminGet,
  parseAdminAddress,
  parseJson,
  unexpectedAnswer,
  unreachableMessage,
} from './admin-client';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';
import { configFilterFlags } from './config-filter-flags';

export const configDumpCommand: CommandSpec = {
  name: 'config-dump',
  summary: "print the Envoy resources a running meshd serves a node id, as Envoy's /config_dump shows them",
  usage: 'meshd config-dump <node-id> [--type <section>] [--name <resource>] [--format json|yaml] [--admin host:port]',
  flags: {
    admin: adminFlag,
    ...configFilterFlags,
    format: { type: 'string', metavar: 'json|yaml', help: 'output format', default: 'json' },
  },
  notes: [
    'The node id is mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or their ARN form.',
    "Each resource is printed as Envoy's /config_dump?include_eds prints it (canonical proto3 JSON, with its @type), without Envoy's own version_info and last_updated, so the two can be diffed.",
    'Exit 1 when meshd cannot be reached, does not know the node id, or has no resource of the --name given.',
  ],
};

export async function runConfigDump(args: ParsedArgs): Promise<number> {
  const [nodeId, ...extra] = args.positionals;
  if (!nodeId) throw new UsageError('name the proxy: meshd config-dump mesh/<mesh>/virtualNode/<name>');
  if (extra.length > 0)
    throw new UsageError(`takes one node id, got ${args.positionals.length}: ${args.positionals.join(' ')}`);
  const admin = parseAdminAddress(args.flags.admin as string);
  const format = args.flags.format as string;
  if (format !== 'yaml' && format !== 'json') throw new UsageError(`--format must be json or yaml, got '${format}'`);
  const filter = configFilterOf(args.flags.type as string | undefined, args.flags.name as string | undefined);
  if (!filter.ok) throw new UsageError(filter.error);

  const pathName = `/v1/config/${encodeURIComponent(nodeId)}`;
  const res = await adminGet(admin, pathName);
  if (!res.ok) {
    process.stderr.write(unreachableMessage('config-dump', admin, res.reason));
    return 1;
  }
  const body = parseJson(res.body) as { error?: unknown } | undefined;
  if (res.status === 200 && isSections(body)) {
    const filtered = filterConfig(body, filter.filter);
    if (!filtered.ok) {
      process.stderr.write(`meshd config-dump: ${filtered.error}\n`);
      return 1;
    }
    process.stdout.write(
      format === 'json' ? `${JSON.stringify(filtered.config, null, 2)}\n` : toEnvoyYaml(filtered.config),
    );
    return 0;
  }
  if (res.status === 404 && body && typeof body === 'object' && typeof body.error === 'string') {
    process.stderr.write(`meshd config-dump: ${body.error}\n`);
    return 1;
  }
  process.stderr.write(unexpectedAnswer('config-dump', admin, pathName, res.status, res.body));
  return 1;
}

/** The admin API's answer: resources by section (`{clusters: [...], ...}`). */
function isSections(body: unknown): body is Record<string, unknown[]> {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && Object.values(body).every(Array.isArray);
}
