// `meshd token` (join tokens for the xDS channel) and `meshd ca` (the certificate authority), through
// a running meshd's admin API (control/mesh-identity.ts). Writes send --admin-token-file's token.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  adminFlag,
  adminGet,
  adminRequest,
  answeredJson,
  adminTokenFileFlag,
  adminWriteHeaders,
  parseAdminAddress,
  unexpectedAnswer,
  type AdminAddress,
  type GetResult,
} from './admin-client';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';

export const tokenCommand: CommandSpec = {
  name: 'token',
  summary: 'issue or revoke the join token a proxy proves its node with on the xDS channel (--xds-tls)',
  usage: 'meshd token --node <node id> [--ttl 24h]  |  meshd token revoke <token id>  |  meshd token revoked',
  flags: {
    node: {
      type: 'string',
      metavar: 'id',
      help: 'the node the token lets a proxy subscribe as: mesh/<mesh>/virtualNode/<name>',
    },
    ttl: {
      type: 'string',
      metavar: 'time',
      help: 'how long the token is valid: a proxy presents it on every reconnect, so give it the life of the proxy (default 8760h, a year; at most 8784h; a Go duration such as 30m or 720h)',
    },
    admin: adminFlag,
    'admin-token-file': adminTokenFileFlag,
    format: {
      type: 'string',
      metavar: 'text|json',
      help: 'text: the token alone (for MESHD_TOKEN); json: with its id and expiry',
      default: 'text',
    },
  },
  notes: [
    'The proxy sends the token as gRPC metadata (meshd bootstrap --token-file, or MESHD_TOKEN_FILE for the entrypoint).',
    'A token is bound to its node: used to subscribe as another node, meshd ends the stream (PERMISSION_DENIED).',
    'revoke <id>: streams open with that token are ended, and new ones refused (UNAUTHENTICATED).',
    'Exit 0 when meshd did it, 1 when it refused (the reason is printed) or cannot be reached, 2 for bad flags. See docs/identity.md.',
  ],
};

export const caCommand: CommandSpec = {
  name: 'ca',
  summary: "show, rotate or issue from meshd's certificate authority",
  usage: 'meshd ca <status|bundle|rotate|finish-rotation|issue> [flags]',
  flags: {
    node: { type: 'string', metavar: 'id', help: 'issue: the node the certificate names (its SPIFFE ID)' },
    'trust-domain': {
      type: 'string',
      metavar: 'name',
      help: "issue: the SPIFFE trust domain (default meshd.local; the mesh's spec.meshd.trustDomain)",
    },
    ttl: {
      type: 'string',
      metavar: 'time',
      help: "issue: the certificate's life (default: meshd serve --workload-cert-ttl)",
    },
    out: {
      type: 'string',
      metavar: 'dir',
      help: 'issue: write cert.pem, key.pem (mode 600) and ca.pem into this folder',
    },
    admin: adminFlag,
    'admin-token-file': adminTokenFileFlag,
  },
  notes: [
    'status            the roots trusted, the issuing CA, and whether a rotation overlap is running (JSON)',
    "bundle            the trust bundle (PEM): what proxies need as --xds-ca-file to check meshd's xDS certificate",
    'rotate            make a new root; proxies trust both until --ca-rotation-overlap ends, and get new certificates',
    'finish-rotation   end the overlap now: only the new root stays trusted',
    'issue --node <id> --out <dir>   a workload certificate as files, for a proxy that proves itself with a certificate',
    'Exit 0 when meshd did it, 1 when it refused (the reason is printed) or cannot be reached, 2 for bad flags. See docs/identity.md.',
  ],
};

function writeHeaders(args: ParsedArgs): Record<string, string> {
  return { 'content-type': 'application/json', accept: 'application/json', ...adminWriteHeaders(args) };
}

/** The answer's JSON object, or undefined after printing why there is none (admin-client.ts answeredJson). */
function answered(
  command: string,
  admin: AdminAddress,
  pathName: string,
  res: GetResult,
): Record<string, unknown> | undefined {
  const json = answeredJson(command, admin, pathName, res);
  if (json === undefined) return undefined;
  if (typeof json === 'object' && json !== null) return json as Record<string, unknown>;
  process.stderr.write(unexpectedAnswer(command, admin, pathName, res.ok ? res.status : 0, res.ok ? res.body : ''));
  return undefined;
}

export async function runToken(args: ParsedArgs): Promise<number> {
  const [sub, target, ...extra] = args.positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  const admin = parseAdminAddress(args.flags.admin as string);
  const format = args.flags.format as string;
  if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, got '${format}'`);
  if (sub === 'revoke') {
    if (!target)
      throw new UsageError(
        'name the token: meshd token revoke <token id> (the id `meshd token --format json` printed)',
      );
    const pathName = '/v1/tokens/revoke';
    const res = await adminRequest(admin, pathName, {
      method: 'POST',
      headers: writeHeaders(args),
      body: JSON.stringify({ id: target }),
    });
    if (!answered('token revoke', admin, pathName, res)) return 1;
    process.stdout.write(`token ${target} revoked: new xDS streams presenting it are refused\n`);
    return 0;
  }
  if (sub === 'revoked') {
    const res = await adminGet(admin, '/v1/tokens/revoked');
    const json = answered('token revoked', admin, '/v1/tokens/revoked', res);
    if (!json) return 1;
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  if (sub !== undefined)
    throw new UsageError(`unknown token command '${sub}'; expected revoke, revoked, or none (issue)`);
  const node = args.flags.node as string | undefined;
  if (!node) throw new UsageError('name the node: meshd token --node mesh/<mesh>/virtualNode/<name>');
  const ttl = args.flags.ttl as string | undefined;
  const res = await adminRequest(admin, '/v1/tokens', {
    method: 'POST',
    headers: writeHeaders(args),
    body: JSON.stringify({ node, ...(ttl !== undefined ? { ttl } : {}) }),
  });
  const json = answered('token', admin, '/v1/tokens', res);
  if (!json) return 1;
  process.stdout.write(format === 'json' ? `${JSON.stringify(json, null, 2)}\n` : `${String(json.token)}\n`);
  return 0;
}

/**
 * Writes a file that is made anew with exactly `mode`: an existing file (whose mode could leave a key readable) is
 * replaced, and a symbolic link in its place is refused rather than followed.
 */
function writeNew(file: string, text: string, mode: number): void {
  const existing = fs.lstatSync(file, { throwIfNoEntry: false });
  if (existing?.isSymbolicLink())
    throw new UsageError(`${file} is a symbolic link: remove it, or choose another --out`);
  if (existing) fs.unlinkSync(file);
  const fd = fs.openSync(file, 'wx', mode);
  try {
    fs.writeFileSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

export async function runCa(args: ParsedArgs): Promise<number> {
  const [sub, ...extra] = args.positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  const admin = parseAdminAddress(args.flags.admin as string);
  const issueFlags = ['node', 'trust-domain', 'ttl', 'out'].filter((f) => args.flags[f] !== undefined);
  if (sub !== 'issue' && issueFlags.length > 0) throw new UsageError(`--${issueFlags[0]} is for meshd ca issue only`);
  switch (sub) {
    case 'status':
    case 'bundle': {
      const res = await adminGet(admin, '/v1/ca');
      const json = answered(`ca ${sub}`, admin, '/v1/ca', res);
      if (!json) return 1;
      process.stdout.write(sub === 'bundle' ? String(json.trustBundle) : `${JSON.stringify(json, null, 2)}\n`);
      return 0;
    }
    case 'rotate':
    case 'finish-rotation': {
      const pathName = `/v1/ca/${sub}`;
      const res = await adminRequest(admin, pathName, { method: 'POST', headers: writeHeaders(args), body: '{}' });
      const json = answered(`ca ${sub}`, admin, pathName, res);
      if (!json) return 1;
      process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      return 0;
    }
    case 'issue': {
      const node = args.flags.node as string | undefined;
      const out = args.flags.out as string | undefined;
      if (!node)
        throw new UsageError('name the node: meshd ca issue --node mesh/<mesh>/virtualNode/<name> --out <dir>');
      if (!out) throw new UsageError('name the folder the files go to: --out <dir>');
      const trustDomain = args.flags['trust-domain'] as string | undefined;
      const ttl = args.flags.ttl as string | undefined;
      const res = await adminRequest(admin, '/v1/ca/issue', {
        method: 'POST',
        headers: writeHeaders(args),
        body: JSON.stringify({ node, ...(trustDomain ? { trustDomain } : {}), ...(ttl ? { ttl } : {}) }),
      });
      const json = answered('ca issue', admin, '/v1/ca/issue', res);
      if (!json) return 1;
      fs.mkdirSync(out, { recursive: true, mode: 0o700 });
      writeNew(path.join(out, 'cert.pem'), String(json.certificateChain), 0o644);
      writeNew(path.join(out, 'key.pem'), String(json.privateKey), 0o600);
      writeNew(path.join(out, 'ca.pem'), String(json.trustBundle), 0o644);
      process.stdout.write(
        `wrote ${path.join(out, 'cert.pem')}, key.pem (mode 600) and ca.pem for ${String(json.node)}, valid until ${String(json.notAfter)}\n`,
      );
      return 0;
    }
    default:
      throw new UsageError(
        sub === undefined
          ? 'name what to do: meshd ca <status|bundle|rotate|finish-rotation|issue>'
          : `unknown ca command '${sub}'; expected status, bundle, rotate, finish-rotation or issue`,
      );
  }
}
