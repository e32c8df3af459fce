// Workload identity for `meshd serve`: the CA (ca/), the workload certificates it issues to proxies
// (served over ADS as SDS secrets: proxy-secrets.ts), join tokens, the xDS server's own TLS
// certificate, and the admin API's /v1/tokens and /v1/ca. The CA's state is kept encrypted in a
// file beside the rollouts' state, or in PostgreSQL when replicas share a store.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Pool } from 'pg';
import {
  CertificateAuthority,
  FileCaStateStore,
  JoinTokens,
  PostgresCaStateStore,
  readKeyFile,
  WorkloadCertificates,
  type UserCaFiles,
} from '../ca';
import type { Logger } from '../util/log';
import { parseNodeId, formatNodeId } from '../model/node-id';
import { parseDuration } from '../util/duration';
import { ProxySecrets, type CertificateSource } from './proxy-secrets';
import { xdsAuthorizer } from './xds-authorizer';

export interface IdentityOptions {
  /** Files mode: the encrypted CA state and the key that encrypts it (created, 0600, when missing). */
  readonly stateFile: string;
  readonly keyFile: string;
  /** `--ca-cert`/`--ca-key`/`--ca-chain`: the user's CA instead of one meshd makes. */
  readonly userCa?: UserCaFiles;
  /** Life of a workload certificate (renewed at 50–80 % of it). */
  readonly workloadTtlMs?: number;
  /** How long both roots are trusted after a CA rotation. */
  readonly overlapMs?: number;
  /** Names in the xDS server's certificate (`--xds-tls`). */
  readonly serverNames?: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
}

/** The xDS server's TLS material. */
export interface ServerTls {
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  readonly trustedCaPem: string;
}

/**
 * After a CA rotation starts, every proxy is pushed the new trust bundle (both roots) at once; their
 * certificates are reissued by the new root only this much later, so that no proxy meets a peer's
 * new certificate before it trusts the new root.
 */
const BUNDLE_FIRST_MS = 5_000;
/** How often a replica reads the CA state again (another replica's rotation or revocation). */
const REFRESH_MS = 10_000;
/** Largest token life `meshd token` may ask for. */
const MAX_TOKEN_TTL_MS = 366 * 24 * 3600_000;
const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;

export class MeshIdentity {
  readonly tokens: JoinTokens;
  readonly certificates: WorkloadCertificates;
  readonly secrets: ProxySecrets;
  readonly authorize: ReturnType<typeof xdsAuthorizer>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private serverTls: { readonly tls: ServerTls; readonly notAfter: Date } | undefined;
  private readonly serverListeners = new Set<(tls: ServerTls) => void>();
  private closed = false;

  static async open(options: IdentityOptions, log: Logger, pool?: Pool): Promise<MeshIdentity> {
    // The key (and, alone, the state) live beside the rollouts' state, in a folder made on first start.
    for (const file of pool ? [options.keyFile] : [options.keyFile, options.stateFile])
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const store = pool
      ? new PostgresCaStateStore(pool, { key: readKeyFile(options.keyFile, { createKeyIfMissing: true, logger: log }) })
      : new FileCaStateStore(options.stateFile, options.keyFile, { createKeyIfMissing: true, logger: log });
    const ca = await CertificateAuthority.open({
      store,
      ...(options.userCa ? { userCa: options.userCa } : {}),
      ...(options.overlapMs !== undefined ? { overlapMs: options.overlapMs } : {}),
      logger: log,
    });
    return new MeshIdentity(ca, options, log, Boolean(pool));
  }

  private constructor(
    readonly ca: CertificateAuthority,
    private readonly options: IdentityOptions,
    private readonly log: Logger,
    shared: boolean,
  ) {
    this.tokens = new JoinTokens(ca);
    // The certificates hear of a CA change BUNDLE_FIRST_MS after the proxies were sent the new bundle; and
    // nothing (a routine renewal, a new proxy's first certificate) is signed by the new root before then,
    // or a peer that has not got the bundle yet would refuse it.
    let caChangedAt = -Infinity;
    ca.onChange(() => (caChangedAt = Date.now()));
    this.certificates = new WorkloadCertificates({
      authority: {
        issueWorkload: async (request) => {
          for (
            let wait = caChangedAt + BUNDLE_FIRST_MS - Date.now();
            wait > 0;
            wait = caChangedAt + BUNDLE_FIRST_MS - Date.now()
          )
            await new Promise((resolve) => setTimeout(resolve, wait).unref());
          return ca.issueWorkload(request);
        },
        onChange: (listener) => ca.onChange(() => this.later(BUNDLE_FIRST_MS, listener)),
      },
      ...(options.workloadTtlMs !== undefined ? { ttlMs: options.workloadTtlMs } : {}),
      logger: log,
    });
    const bundleListeners = new Set<(ids: readonly string[] | 'all') => void>();
    ca.onChange(() => {
      for (const listener of bundleListeners) listener('all');
      if (this.serverTls) void this.renewServerTls();
    });
    const source: CertificateSource = {
      current: (identity) => this.certificates.current(identity),
      trustBundlePem: () => ca.trustBundlePem(),
      onChange: (listener) => {
        bundleListeners.add(listener);
        this.certificates.onChange((ids) => listener(ids));
      },
      forget: (spiffeId) => this.certificates.forget(spiffeId),
    };
    this.secrets = new ProxySecrets(source);
    this.authorize = xdsAuthorizer(this.tokens);
    // Files mode has one writer; replicas of a fleet read each other's rotations and revocations.
    if (shared) this.every(REFRESH_MS, () => ca.refresh());
  }

  /** The xDS server's certificate and the roots client certificates must chain to; renewed before it expires. */
  async xdsServerTls(): Promise<ServerTls> {
    if (!this.serverTls) await this.renewServerTls();
    return this.serverTls!.tls;
  }

  /** Called with the new TLS material on every renewal (and CA change). */
  onServerTls(listener: (tls: ServerTls) => void): void {
    this.serverListeners.add(listener);
  }

  private async renewServerTls(): Promise<void> {
    if (this.closed) return;
    const names = this.options.serverNames ?? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };
    const issued = await this.ca.issueServer({
      dnsNames: names.dnsNames,
      ipAddresses: names.ipAddresses,
      ...(this.options.workloadTtlMs !== undefined ? { ttlMs: this.options.workloadTtlMs } : {}),
    });
    const tls = {
      certificateChainPem: issued.certificateChainPem,
      privateKeyPem: issued.privateKeyPem,
      trustedCaPem: this.ca.trustBundlePem(),
    };
    const first = !this.serverTls;
    this.serverTls = { tls, notAfter: issued.notAfter };
    if (!first) for (const listener of this.serverListeners) listener(tls);
    // Renewed at two thirds of its life (a failure is retried in a minute).
    const life = issued.notAfter.getTime() - Date.now();
    this.later(Math.max(1_000, (life * 2) / 3), () =>
      this.renewServerTls().catch((err) => {
        this.log.warn(
          `identity: cannot renew the xDS server certificate: ${(err as Error).message}; retrying in 1 min`,
        );
        this.later(60_000, () => void this.renewServerTls());
      }),
    );
  }

  /** /v1/tokens and /v1/ca: the admin API's answers (the admin server guards the writes). */
  async answer(
    method: string,
    pathName: string,
    body: string,
  ): Promise<{ status: number; body: unknown; contentType?: string }> {
    const json = (): Record<string, unknown> | undefined => {
      try {
        const parsed: unknown = JSON.parse(body || '{}');
        return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
          ? (parsed as Record<string, unknown>)
          : undefined;
      } catch {
        return undefined;
      }
    };
    const bad = (error: string) => ({ status: 400, body: { error } });
    try {
      if (pathName === '/v1/tokens' && method === 'POST') {
        const request = json();
        if (!request) return bad('the body must be a JSON object: {"node": "<node id>", "ttl": "24h"}');
        const node = nodeIdOf(request.node);
        if ('error' in node) return bad(node.error);
        const ttl = durationOf(request.ttl, DEFAULT_TOKEN_TTL_MS, MAX_TOKEN_TTL_MS);
        if (typeof ttl === 'string') return bad(ttl);
        const issued = await this.tokens.issue(node.id, ttl);
        this.log.info(
          `identity: join token ${issued.id} issued for ${node.id}, valid until ${issued.expiresAt.toISOString()}`,
        );
        return {
          status: 201,
          body: { node: node.id, id: issued.id, expiresAt: issued.expiresAt, token: issued.token },
        };
      }
      if (pathName === '/v1/tokens/revoked' && method === 'GET') {
        return { status: 200, body: { revoked: this.tokens.revoked() } };
      }
      if (pathName === '/v1/tokens/revoke' && method === 'POST') {
        const request = json();
        const id = request?.id;
        if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(id))
          return bad('the body must be {"id": "<token id>"} (the id `meshd token` printed)');
        // The token's own expiry is not known from its id: kept revoked for the longest life a token can have.
        await this.tokens.revoke(id, new Date(Date.now() + MAX_TOKEN_TTL_MS));
        this.log.info(`identity: join token ${id} revoked`);
        return { status: 200, body: { revoked: id } };
      }
      if (pathName === '/v1/ca' && method === 'GET') {
        return { status: 200, body: { ...this.ca.state(), trustBundle: this.ca.trustBundlePem() } };
      }
      if (pathName === '/v1/ca/bundle.pem' && method === 'GET') {
        return { status: 200, body: this.ca.trustBundlePem(), contentType: 'application/x-pem-file' };
      }
      if (pathName === '/v1/ca/rotate' && method === 'POST') {
        const status = await this.ca.rotate();
        this.log.info('identity: CA rotation started: proxies trust both roots until the overlap ends');
        return { status: 200, body: status };
      }
      if (pathName === '/v1/ca/finish-rotation' && method === 'POST') {
        return { status: 200, body: await this.ca.finishRotation() };
      }
      if (pathName === '/v1/ca/issue' && method === 'POST') {
        // A node's certificate as files, for a proxy that proves itself with a certificate on the xDS channel.
        const request = json();
        if (!request)
          return bad('the body must be a JSON object: {"node": "<node id>", "trustDomain": "...", "ttl": "24h"}');
        const node = nodeIdOf(request.node);
        if ('error' in node) return bad(node.error);
        const trustDomain = typeof request.trustDomain === 'string' ? request.trustDomain : 'meshd.local';
        const ttl = durationOf(request.ttl, this.options.workloadTtlMs ?? DEFAULT_TOKEN_TTL_MS, MAX_TOKEN_TTL_MS);
        if (typeof ttl === 'string') return bad(ttl);
        const issued = await this.ca.issueWorkload({ spiffeId: `spiffe://${trustDomain}/${node.id}`, ttlMs: ttl });
        return {
          status: 201,
          body: {
            node: node.id,
            certificateChain: issued.certificateChainPem,
            privateKey: issued.privateKeyPem,
            trustBundle: this.ca.trustBundlePem(),
            notAfter: issued.notAfter,
          },
        };
      }
    } catch (err) {
      // CaError and friends say what is wrong in words meant for the user.
      return { status: 409, body: { error: (err as Error).message } };
    }
    return { status: 404, body: { error: `no ${method} ${pathName}: see docs/identity.md` } };
  }

  private later(ms: number, run: () => unknown): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed)
        void Promise.resolve(run()).catch((err) => this.log.warn(`identity: ${(err as Error).message}`));
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  private every(ms: number, run: () => Promise<unknown>): void {
    const timer = setInterval(() => {
      run().catch((err) => this.log.warn(`identity: cannot read the CA state: ${(err as Error).message}`));
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.certificates.close();
    this.ca.close();
  }
}

function nodeIdOf(value: unknown): { id: string } | { error: string } {
  if (typeof value !== 'string') return { error: 'name the node: "node": "mesh/<mesh>/virtualNode/<name>"' };
  const id = parseNodeId(value);
  return 'error' in id ? { error: id.error } : { id: formatNodeId(id) };
}

function durationOf(value: unknown, fallback: number, max: number): number | string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') return '"ttl" must be a duration such as "24h" or "30m"';
  const ms = parseDuration(value);
  if (typeof ms !== 'number' || !(ms > 0)) return `"ttl" must be a duration such as "24h" or "30m", got '${value}'`;
  if (ms > max) return `"ttl" must be at most ${Math.round(max / 86_400_000)} days`;
  return ms;
}

/** Default files of the CA state, beside the rollouts' state. */
export function defaultIdentityFiles(stateDir: string): { stateFile: string; keyFile: string } {
  return { stateFile: path.join(stateDir, 'ca-state.enc.json'), keyFile: path.join(stateDir, 'ca.key') };
}
