// `meshd config-dump <node-id>`: the Envoy resources a running meshd serves that node id,
// as JSON (GET /v1/config/<node-id>). `meshd render` computes the same from files instead.
import { adminFlag, adminGet, parseAdminAddress, parseJson, unexpectedAnswer, unreachableMessage } from './admin-client';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';

export const configDumpCommand: CommandSpec = {
  name: 'config-dump',
  summary: 'print, as JSON, the Envoy resources a running meshd serves a node id',
  usage: 'meshd config-dump <node-id> [--admin host:port]',
  flags: { admin: adminFlag },
  notes: [
    'The node id is mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or their ARN form.',
    'Exit 1 when meshd cannot be reached or does not know the node id.',
  ],
};

export async function runConfigDump(args: ParsedArgs): Promise<number> {
  const [nodeId, ...extra] = args.positionals;
  if (!nodeId) throw new UsageError('name the proxy: meshd config-dump mesh/<mesh>/virtualNode/<name>');
  if (extra.length > 0) throw new UsageError(`takes one node id, got ${args.positionals.length}: ${args.positionals.join(' ')}`);
  const admin = parseAdminAddress(args.flags.admin as string);

  const pathName = `/v1/config/${encodeURIComponent(nodeId)}`;
  const res = await adminGet(admin, pathName);
  if (!res.ok) {
    process.stderr.write(unreachableMessage('config-dump', admin, res.reason));
    return 1;
  }
  const body = parseJson(res.body) as { error?: unknown } | undefined;
  if (res.status === 200 && body !== undefined) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  if (res.status === 404 && body && typeof body === 'object' && typeof body.error === 'string') {
    process.stderr.write(`meshd config-dump: ${body.error}\n`);
    return 1;
  }
  process.stderr.write(unexpectedAnswer('config-dump', admin, pathName, res.status, res.body));
  return 1;
}
