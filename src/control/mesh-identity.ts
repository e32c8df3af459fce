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
  type CaStateStore,
  type SharedCaStateOptions,
  type UserCaFiles,
} from '../ca';
import type { Logger } from '../util/log';
import { parseNodeId, formatNodeId } from '../model/node-id';
import { parseDuration } from '../util/duration';
import { ProxySecrets, type CertificateSource } from './proxy-secrets';
import type { StreamRegistry } from '../xds/stream-status';
import { tokenCredential } from './xds-authorizer';
import { ServerCertificate, type ServerNames, type ServerTls } from './server-certificate';

export type { ServerTls } from './server-certificate';

export interface IdentityOptions {
  /** Files mode: the encrypted CA state. */
  readonly stateFile: string;
  /**
   * The key the state is encrypted with (`--ca-key-file`). Files mode: made (0600) when missing, beside the state
   * when not given. A fleet (PostgreSQL): the row is encrypted only when one is given, and every replica needs the
   * same key (a key each replica made for itself would lock the others out).
   */
  readonly keyFile?: string;
  /** `--ca-cert`/`--ca-key`/`--ca-chain`: the user's CA instead of one meshd makes. */
  readonly userCa?: UserCaFiles;
  /** Life of a workload certificate (renewed at 50–80 % of it). */
  readonly workloadTtlMs?: number;
  /** How long both roots are trusted after a CA rotation. */
  readonly overlapMs?: number;
  /** Names in the xDS server's certificate (`--xds-tls`). */
  readonly serverNames?: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
}

/** How often a replica reads the CA state again (another replica's rotation or revocation). */
const REFRESH_MS = 10_000;
/**
 * After a CA rotation starts, every proxy is pushed the new trust bundle (both roots) at once, while the old root
 * goes on signing for this long (the CA's propagationMs); only then are certificates reissued by the new root, so
 * that no proxy meets a peer's new certificate before it trusts the new root. In a fleet, the other replicas see
 * the rotation up to REFRESH_MS later: their proxies get the bundle within that, so the wait covers it.
 */
const BUNDLE_FIRST_MS = 5_000;
const BUNDLE_FIRST_SHARED_MS = REFRESH_MS + BUNDLE_FIRST_MS;
/** Largest token life `meshd token` may ask for. */
const MAX_TOKEN_TTL_MS = 366 * 24 * 3600_000;
/**
 * A proxy presents its token on every reconnect (Envoy cannot use the certificate it gets over ADS for the ADS
 * connection itself), so a token must live as long as its proxy: a year unless asked otherwise, revocable.
 */
const DEFAULT_TOKEN_TTL_MS = 365 * 24 * 3600_000;

export class MeshIdentity {
  readonly tokens: JoinTokens;
  readonly certificates: WorkloadCertificates;
  readonly secrets: ProxySecrets;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** meshd's own TLS servers' certificates (the xDS port's first): renewed together on a CA change. */
  private readonly serverCertificates: ServerCertificate[] = [];
  /** DNS names of meshd's own servers: a workload certificate never carries one (it could pose as meshd). */
  private readonly reservedNames: Set<string>;
  private closed = false;

  /**
   * `shared`: where a fleet's replicas keep the one CA they all sign with (PostgreSQL with --store, a Secret in
   * Kubernetes mode); files of this replica's own otherwise.
   */
  static async open(
    options: IdentityOptions,
    log: Logger,
    shared?: { readonly pool: Pool } | { readonly store: (options: SharedCaStateOptions) => CaStateStore },
  ): Promise<MeshIdentity> {
    let store;
    if (shared) {
      const key = options.keyFile !== undefined ? { key: readKeyFile(options.keyFile), keyName: options.keyFile } : {};
      store = 'pool' in shared ? new PostgresCaStateStore(shared.pool, key) : shared.store(key);
      if (options.keyFile === undefined)
        log.warn(
          `identity: the CA's state in ${store.description} is not encrypted (give every replica the same --ca-key-file to encrypt it); protect it as you would the CA key`,
        );
    } else {
      // The key and the state live beside the rollouts' state unless told otherwise, in folders made on first start.
      const keyFile = options.keyFile ?? defaultIdentityFiles(path.dirname(options.stateFile)).keyFile;
      for (const file of [keyFile, options.stateFile])
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      store = new FileCaStateStore(options.stateFile, keyFile, { createKeyIfMissing: true, logger: log });
    }
    const ca = await CertificateAuthority.open({
      store,
      propagationMs: shared ? BUNDLE_FIRST_SHARED_MS : BUNDLE_FIRST_MS,
      ...(options.userCa ? { userCa: options.userCa } : {}),
      ...(options.overlapMs !== undefined ? { overlapMs: options.overlapMs } : {}),
      logger: log,
    });
    return new MeshIdentity(ca, options, log, Boolean(shared));
  }

  private constructor(
    readonly ca: CertificateAuthority,
    private readonly options: IdentityOptions,
    private readonly log: Logger,
    shared: boolean,
  ) {
    this.tokens = new JoinTokens(ca);
    // The certificates hear of a CA change once the new root signs (the proxies were sent the new bundle at once).
    this.certificates = new WorkloadCertificates({
      authority: {
        issueWorkload: (request) => ca.issueWorkload(request),
        onChange: (listener) =>
          ca.onChange(() => {
            const at = ca.newRootIssuesAt();
            this.later(at ? Math.max(0, at.getTime() - Date.now()) + 1_000 : 0, listener);
          }),
      },
      ...(options.workloadTtlMs !== undefined ? { ttlMs: options.workloadTtlMs } : {}),
      logger: log,
    });
    const bundleListeners = new Set<(ids: readonly string[] | 'all') => void>();
    ca.onChange(() => {
      for (const listener of bundleListeners) listener('all');
      for (const server of this.serverCertificates) server.caChanged();
    });
    const xdsNames = options.serverNames ?? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };
    this.reservedNames = new Set();
    this.serverCertificates.push(this.serverCertificate(xdsNames, 'the xDS server'));
    const reserved = this.reservedNames;
    const source: CertificateSource = {
      current: (identity) =>
        this.certificates.current(
          identity.dnsNames.some((n) => reserved.has(n))
            ? { ...identity, dnsNames: identity.dnsNames.filter((n) => !reserved.has(n)) }
            : identity,
        ),
      trustBundlePem: () => ca.trustBundlePem(),
      onChange: (listener) => {
        bundleListeners.add(listener);
        this.certificates.onChange((ids) => listener(ids));
      },
      forget: (spiffeId) => this.certificates.forget(spiffeId),
    };
    this.secrets = new ProxySecrets(source);
    // Files mode has one writer; replicas of a fleet read each other's rotations and revocations.
    if (shared) this.every(REFRESH_MS, () => ca.refresh());
  }

  /**
   * Ends the open streams let in with a join token once it is revoked (here, or by another replica: seen when the
   * CA state is read again).
   */
  endRevokedStreams(streams: StreamRegistry): void {
    const end = () => {
      const revoked = new Set(this.tokens.revoked().map((t) => tokenCredential(t.id)));
      const ended = streams.end(
        (status) => status.credential !== undefined && revoked.has(status.credential),
        'unauthenticated',
        'join token revoked',
      );
      if (ended > 0) this.log.warn(`identity: ended ${ended} xDS stream(s) opened with a join token since revoked`);
    };
    this.ca.onRevocation(end);
  }

  /** The xDS server's certificate and the roots client certificates must chain to; renewed before it expires. */
  xdsServerTls(): Promise<ServerTls> {
    return this.serverCertificates[0]!.tls();
  }

  /** Called with the xDS server's new TLS material on every renewal (and CA change). */
  onServerTls(listener: (tls: ServerTls) => void): void {
    this.serverCertificates[0]!.onRenew(listener);
  }

  /**
   * A certificate for another of meshd's servers (the injection webhook), renewed like the xDS server's. Its DNS
   * names become reserved: no workload certificate carries them.
   */
  serverCertificate(names: ServerNames, what: string): ServerCertificate {
    for (const name of names.dnsNames) this.reservedNames.add(name.toLowerCase());
    const certificate = new ServerCertificate(this.ca, names, what, this.log, this.options.workloadTtlMs);
    if (this.serverCertificates.length > 0) this.serverCertificates.push(certificate);
    return certificate;
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
        const ttl = durationOf(request.ttl, this.options.workloadTtlMs ?? 24 * 3600_000, MAX_TOKEN_TTL_MS);
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
    for (const server of this.serverCertificates) server.close();
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
  if (typeof value !== 'string') return '"ttl" must be a Go duration such as "24h" or "30m"';
  const ms = parseDuration(value);
  if (typeof ms !== 'number' || !(ms > 0)) return `"ttl" must be a Go duration such as "24h" or "30m", got '${value}'`;
  if (ms > max) return `"ttl" must be at most ${Math.round(max / 86_400_000)} days`;
  return ms;
}

/** Default files of the CA state, beside the rollouts' state. */
export function defaultIdentityFiles(stateDir: string): { stateFile: string; keyFile: string } {
  return { stateFile: path.join(stateDir, 'ca-state.enc.json'), keyFile: path.join(stateDir, 'ca.key') };
}
