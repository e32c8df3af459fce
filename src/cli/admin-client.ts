// What the CLI commands that talk to a running meshd share: the --admin flag, one HTTP GET
// against the admin API, and the one-line message when meshd is not there.
import * as http from 'node:http';
import { readAdminTokenFile } from '../admin/admin-auth';
import { UsageError, type FlagSpec, type ParsedArgs } from './args';

export const DEFAULT_ADMIN = '127.0.0.1:18001';

export const adminFlag: FlagSpec = {
  type: 'string',
  metavar: 'host:port',
  help: "meshd's admin API (see meshd serve --admin-port)",
  default: DEFAULT_ADMIN,
  env: ['MESHD_ADMIN_ADDRESS'],
};

/** The token a write to meshd's admin API sends (meshd serve --admin-token-file). */
export const adminTokenFileFlag: FlagSpec = {
  type: 'string',
  metavar: 'file',
  help: 'a file holding the admin token meshd serve was given (--admin-token-file), sent with each write as Authorization: Bearer',
  env: ['MESHD_ADMIN_TOKEN_FILE'],
};

/** The Authorization header of an admin write: none without --admin-token-file; a UsageError names a bad file. */
export function adminWriteHeaders(args: ParsedArgs): Record<string, string> {
  const file = args.flags['admin-token-file'] as string | undefined;
  if (file === undefined) return {};
  try {
    return { authorization: `Bearer ${readAdminTokenFile(file)}` };
  } catch (err) {
    throw new UsageError(`${args.sources['admin-token-file'] ?? '--admin-token-file'}: ${(err as Error).message}`);
  }
}

export interface AdminAddress {
  readonly host: string;
  readonly port: number;
  /** http://host:port, as shown to the user. */
  readonly url: string;
}

/** `host:port`, `[::1]:port` or `http://host:port`; anything else is a UsageError. */
export function parseAdminAddress(value: string): AdminAddress {
  const bare = value.replace(/^http:\/\//, '').replace(/\/+$/, '');
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:/[\]\s]+):(\d+)$/.exec(bare);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port <= 65535))
    throw new UsageError(`--admin must be host:port (for example ${DEFAULT_ADMIN}), got '${value}'`);
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port, url: `http://${m[1]}:${port}` };
}

export type GetResult = { ok: true; status: number; body: string } | { ok: false; reason: string };

const TIMEOUT_MS = 5000;

/** One GET; never rejects: a transport failure comes back as a short reason. */
export function adminGet(admin: AdminAddress, pathName: string): Promise<GetResult> {
  return adminRequest(admin, pathName, { method: 'GET', headers: { accept: 'application/json' } });
}

/** One request of any method, with an optional body; never rejects, like adminGet. */
export function adminRequest(
  admin: AdminAddress,
  pathName: string,
  opts: { method: string; headers: Record<string, string>; body?: string },
): Promise<GetResult> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: admin.host, port: admin.port, path: pathName, agent: false, method: opts.method, headers: opts.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err) => resolve({ ok: false, reason: describeError(err) }));
      },
    );
    req.on('error', (err) => resolve({ ok: false, reason: describeError(err) }));
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.end(opts.body);
  });
}

function describeError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ETIMEDOUT':
      return 'connection timed out';
    default:
      return err.message || err.code || 'unknown error';
  }
}

export function unreachableMessage(command: string, admin: AdminAddress, reason: string): string {
  return `meshd ${command}: cannot reach meshd's admin API at ${admin.url} (${reason}); is meshd serve running? pass --admin host:port\n`;
}

/** The body as JSON, or undefined when it is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** One line about an answer that is not what meshd sends (wrong port, older meshd, a bug). */
export function unexpectedAnswer(
  command: string,
  admin: AdminAddress,
  pathName: string,
  status: number,
  body: string,
): string {
  const json = parseJson(body) as { error?: unknown } | undefined;
  const detail =
    json && typeof json === 'object' && typeof json.error === 'string'
      ? json.error
      : body.trim().split('\n')[0]!.slice(0, 200);
  return `meshd ${command}: ${admin.url}${pathName} answered ${status}${detail ? `: ${detail}` : ''}; is ${admin.url} meshd's admin API?\n`;
}

/**
 * The JSON meshd answered, or undefined after printing why there is none: meshd unreachable, meshd refusing (its
 * `error`, as it said it), or an answer that is not meshd's.
 */
export function answeredJson(command: string, admin: AdminAddress, pathName: string, res: GetResult): unknown {
  if (!res.ok) {
    process.stderr.write(unreachableMessage(command, admin, res.reason));
    return undefined;
  }
  const body = parseJson(res.body);
  if (res.status >= 400 && body && typeof (body as { error?: unknown }).error === 'string') {
    process.stderr.write(`meshd ${command}: ${(body as { error: string }).error}\n`);
    return undefined;
  }
  if (res.status >= 300 || body === undefined) {
    process.stderr.write(unexpectedAnswer(command, admin, pathName, res.status, res.body));
    return undefined;
  }
  return body;
}
