// meshd's certificate authority: the roots proxies trust and the CA that signs their workload
// certificates (SPIFFE X.509-SVIDs) and meshd's own server certificate. The CA is either made
// by meshd on first start (a self-signed EC P-256 root, which meshd can rotate) or given by the
// user as PEM files (a root, or an intermediate under the user's root). Its state lives in a
// CaStateStore shared by every replica; changes are compare-and-set, and reload() picks up
// another replica's rotation or revocation.
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import { isHostName } from '../util/host-name';
import type { Logger } from '../util/log';
import { CaStateError, type CaRoot, type CaState, type CaStateStore, type StoredCaState } from './ca-state';
import {
  createLeaf,
  createRoot,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  fingerprint,
  importSigningKey,
  isCa,
  pemBlocks,
  type SigningKey,
} from './x509';

export const DEFAULT_WORKLOAD_TTL_MS = 24 * 60 * 60 * 1000;
export const MAX_WORKLOAD_TTL_MS = 366 * 24 * 60 * 60 * 1000;
export const DEFAULT_OVERLAP_MS = 24 * 60 * 60 * 1000;
export const ROOT_LIFETIME_MS = 10 * 365 * 24 * 60 * 60 * 1000;
/** Leaves start this long before now, so a peer whose clock is a little behind accepts them. */
export const CLOCK_SKEW_MS = 60 * 1000;
const MAX_SPIFFE_ID = 2048;
const MAX_DNS_NAMES = 100;
/** The largest CA file read: a PEM bundle of a few certificates is a few KiB. */
const MAX_PEM_FILE_BYTES = 1024 * 1024;

/** A certificate and key meshd issued. */
export interface Issued {
  /** The leaf, then the intermediates up to (not including) the root. */
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialHex: string;
  /** The SHA-256 fingerprint (hex) of the CA certificate that signed the leaf. */
  readonly issuerFingerprint: string;
}

export interface WorkloadRequest {
  readonly spiffeId: string;
  readonly dnsNames?: readonly string[];
  readonly ttlMs?: number;
}

export interface ServerRequest {
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly spiffeId?: string;
  readonly ttlMs?: number;
}

/** The user's CA files (--ca-cert, --ca-key, --ca-chain). */
export interface UserCaFiles {
  /** The CA certificate (PEM): a root, or an intermediate. */
  readonly certFile: string;
  /** Its private key (PEM: PKCS#8, SEC1 or PKCS#1). */
  readonly keyFile: string;
  /** For an intermediate: its issuers up to and including the root (PEM, any order). */
  readonly chainFile?: string;
}

export interface CertificateAuthorityOptions {
  readonly store: CaStateStore;
  /** Use these files as the CA instead of one meshd makes. */
  readonly userCa?: UserCaFiles;
  /** How long old roots stay trusted after a rotation (or a change of the user's CA): 24 h by default. */
  readonly overlapMs?: number;
  /**
   * After a rotation starts, certificates are still issued by the old root for this long, so that every proxy
   * (including those of other replicas, which read the CA state again every few seconds) is sent the new trust
   * bundle before it meets a certificate from the new root. Default 0.
   */
  readonly propagationMs?: number;
  readonly now?: () => number;
  readonly logger?: Pick<Logger, 'info' | 'warn'>;
}

export type CaPhase = { readonly phase: 'steady' } | { readonly phase: 'overlap'; readonly until: Date };

export interface CaStatus {
  readonly source: 'generated' | 'user';
  readonly phase: CaPhase;
  /** The fingerprints (SHA-256 hex) of the trusted roots, the issuing CA's root first. */
  readonly roots: readonly { fingerprint: string; subject: string; notAfter: Date }[];
  readonly issuer: { fingerprint: string; subject: string; notAfter: Date };
  readonly seq: number;
}

/** A request the CA refuses (bad SPIFFE ID, DNS name, TTL), or a CA file that cannot be used. */
export class CaError extends Error {
  override name = 'CaError';
}

/** The error a store conflict that kept losing ends in. */
const MAX_CAS_ATTEMPTS = 10;

export class CertificateAuthority {
  private stored!: StoredCaState;
  private issuingKey: { certPem: string; key: Promise<SigningKey>; intermediates: string[] } | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly revocationListeners = new Set<() => void>();
  /** trustBundlePem()'s answer for the roots it was made from. */
  private bundle: { readonly roots: CaState['roots']; readonly pem: string } | undefined;
  private readonly now: () => number;
  private readonly overlapMs: number;
  private finishTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Mutations run one at a time, each on the newest state. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly options: CertificateAuthorityOptions) {
    this.now = options.now ?? Date.now;
    this.overlapMs = options.overlapMs ?? DEFAULT_OVERLAP_MS;
  }

  /**
   * Loads the CA from the store, or makes it (the first replica to start wins; the others take
   * its CA). With `userCa`, the files are checked and become the CA; a change of files starts an
   * overlap in which the previous roots stay trusted.
   */
  static async open(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const ca = new CertificateAuthority(options);
    const user = options.userCa ? readUserCa(options.userCa, ca.now()) : undefined;
    let stored = await options.store.load();
    if (!stored) {
      const fresh = user ? await ca.stateFromUserCa(user, undefined) : await ca.freshGeneratedState();
      stored = await options.store.create(fresh);
      // Another replica may have won the race: then its CA is the one, and nothing new was made here.
      if (stored.state.issuing.certPem === fresh.issuing.certPem) options.logger?.info(ca.describeNew(fresh));
    }
    ca.stored = stored;
    if (user && user.issuing.certPem !== normalisePem(stored.state.issuing.certPem)) {
      await ca.mutate(async (s) =>
        s.issuing.certPem === user.issuing.certPem ? undefined : ca.stateFromUserCa(user, s),
      );
      options.logger?.info(`the CA is now the one in ${options.userCa!.certFile}`);
    }
    await ca.finishRotationIfDue();
    ca.scheduleFinish();
    return ca;
  }

  /** Stops the timer that ends a rotation's overlap (the state keeps its end; any replica finishes it). */
  close(): void {
    this.closed = true;
    if (this.finishTimer) clearTimeout(this.finishTimer);
    this.finishTimer = undefined;
  }

  /** A timer for the end of the overlap, so a replica that runs through it drops the old root on time. */
  private scheduleFinish(minDelayMs = 1000): void {
    if (this.finishTimer) clearTimeout(this.finishTimer);
    this.finishTimer = undefined;
    const rotation = this.stored.state.rotation;
    if (!rotation || this.closed) return;
    const untilEnd = Date.parse(rotation.overlapUntil) - this.now();
    const delay = Math.min(Math.max(minDelayMs, untilEnd + 1000), 2 ** 31 - 1);
    this.finishTimer = setTimeout(() => {
      this.finishTimer = undefined;
      this.refresh().then(
        () => this.scheduleFinish(),
        (err: unknown) => {
          this.options.logger?.warn(
            `could not finish the CA rotation: ${err instanceof Error ? err.message : String(err)} (retrying in 30 s)`,
          );
          this.scheduleFinish(30_000);
        },
      );
    }, delay);
    this.finishTimer.unref();
  }

  private describeNew(state: CaState): string {
    const root = new X509Certificate(state.roots[0]!.certPem);
    return state.source === 'generated'
      ? `made a new CA: ${root.subject.replace(/\n/g, ', ')} (kept in ${this.options.store.description})`
      : `the CA is the one given (${this.options.userCa?.certFile ?? ''})`;
  }

  private async freshGeneratedState(): Promise<CaState> {
    return { ...(await this.newRootState()), tokenSigningKey: await newTokenSigningKey(), revokedTokens: [] };
  }

  private async newRootState(): Promise<Pick<CaState, 'version' | 'source' | 'roots' | 'issuing'>> {
    const now = this.now();
    const root = await createRoot({
      commonName: `meshd root CA ${randomBytes(4).toString('hex')}`,
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(now + ROOT_LIFETIME_MS),
    });
    return {
      version: 1,
      source: 'generated',
      roots: [root],
      issuing: { certPem: root.certPem, keyPem: root.keyPem, chainPem: [] },
    };
  }

  private async stateFromUserCa(user: UserCa, previous: CaState | undefined): Promise<CaState> {
    const roots: CaRoot[] = [user.root];
    let rotation: CaState['rotation'];
    if (previous) {
      // The previous roots stay trusted for the overlap, so leaves they signed keep working meanwhile.
      const newRoot = fingerprint(user.root.certPem);
      const old = previous.roots.filter((r) => fingerprint(r.certPem) !== newRoot);
      if (old.length > 0) {
        roots.push(...old);
        rotation = this.overlapFromNow();
      }
    }
    return {
      version: 1,
      source: 'user',
      roots,
      issuing: user.issuing,
      tokenSigningKey: previous?.tokenSigningKey ?? (await newTokenSigningKey()),
      revokedTokens: previous?.revokedTokens ?? [],
      ...(rotation ? { rotation } : {}),
    };
  }

  private overlapFromNow(): NonNullable<CaState['rotation']> {
    const now = this.now();
    return { startedAt: new Date(now).toISOString(), overlapUntil: new Date(now + this.overlapMs).toISOString() };
  }

  // ---- the state, changed compare-and-set ----

  /** The state as this replica last read or wrote it. */
  get caState(): CaState {
    return this.stored.state;
  }

  /**
   * Applies `change` to the newest state and stores it; on a conflict (another replica wrote
   * first) reloads and applies it again. `change` answering undefined changes nothing.
   */
  mutate(change: (state: CaState) => CaState | undefined | Promise<CaState | undefined>): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        const current = this.stored;
        const next = await change(current.state);
        if (!next) return false;
        const seq = await this.options.store.update(current.seq, next);
        if (seq !== undefined) {
          this.replace({ state: next, seq });
          return true;
        }
        await this.reload();
      }
      throw new CaStateError(`${this.options.store.description}: the CA state kept changing under this replica`);
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private replace(next: StoredCaState): void {
    const before = this.stored;
    this.stored = next;
    if (before.state.rotation?.overlapUntil !== next.state.rotation?.overlapUntil) this.scheduleFinish();
    const caChanged =
      before.state.issuing.certPem !== next.state.issuing.certPem ||
      before.state.roots.map((r) => r.certPem).join() !== next.state.roots.map((r) => r.certPem).join();
    if (caChanged) this.emit(this.listeners);
    const revocations = (s: CaState) => s.revokedTokens.map((t) => t.jti).join();
    if (revocations(before.state) !== revocations(next.state)) this.emit(this.revocationListeners);
  }

  /**
   * Reads the state again (another replica may have rotated the CA or revoked a token), and
   * finishes a rotation whose overlap has passed. Listeners hear of a changed CA or bundle.
   */
  async reload(): Promise<void> {
    const latest = await this.options.store.load();
    if (latest && latest.seq !== this.stored.seq) this.replace(latest);
  }

  /** reload() and then finish a due rotation: what a periodic timer or a change notification calls. */
  async refresh(): Promise<void> {
    await this.reload();
    await this.finishRotationIfDue();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The revoked join tokens changed (here, or in another replica's write seen by reload()). */
  onRevocation(listener: () => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  private emit(listeners: Set<() => void>): void {
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (err) {
        this.options.logger?.warn(`a CA change listener failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  // ---- rotation ----

  /** Starts a rotation: a new root issues from now on; the old stays in the bundle for the overlap. */
  async rotate(): Promise<CaStatus> {
    await this.mutate(async (s) => {
      if (s.source === 'user')
        throw new CaError(
          'the CA is the user-provided one: meshd cannot rotate it; give the new CA files (--ca-cert, --ca-key) and restart',
        );
      if (s.rotation)
        throw new CaError(
          `a rotation is in its overlap until ${s.rotation.overlapUntil}: finish it first (finishRotation) or wait`,
        );
      const fresh = await this.newRootState();
      return {
        ...s,
        roots: [...fresh.roots, ...s.roots],
        issuing: fresh.issuing,
        rotation: this.overlapFromNow(),
      };
    });
    this.options.logger?.info(
      `CA rotation started: the old root stays trusted until ${this.caState.rotation?.overlapUntil}`,
    );
    return this.state();
  }

  /** Ends a rotation's overlap now: only the issuing CA's root stays trusted. */
  async finishRotation(): Promise<CaStatus> {
    const changed = await this.mutate((s) => {
      if (!s.rotation) return undefined;
      const { rotation: _done, ...rest } = s;
      return { ...rest, roots: [s.roots[0]!] };
    });
    if (changed) this.options.logger?.info('CA rotation finished: the old root is no longer trusted');
    return this.state();
  }

  /** Finishes the rotation if its overlap has passed (any replica, after any restart). */
  async finishRotationIfDue(): Promise<boolean> {
    const rotation = this.caState.rotation;
    if (!rotation || Date.parse(rotation.overlapUntil) > this.now()) return false;
    await this.mutate((s) => {
      if (!s.rotation || Date.parse(s.rotation.overlapUntil) > this.now()) return undefined;
      const { rotation: _done, ...rest } = s;
      return { ...rest, roots: [s.roots[0]!] };
    });
    return true;
  }

  // ---- join tokens' key and revocations (join-tokens.ts) ----

  /** The ES256 private key (JWK) join tokens are signed with. */
  tokenSigningKey(): Record<string, string> {
    return this.caState.tokenSigningKey;
  }

  /** The revoked token ids not yet expired. */
  revokedTokens(): readonly { jti: string; exp: number }[] {
    const nowSeconds = this.now() / 1000;
    return this.caState.revokedTokens.filter((t) => t.exp > nowSeconds);
  }

  /** Records a revocation (kept until `exp`, seconds since the epoch); expired entries are pruned meanwhile. */
  async revokeToken(jti: string, exp: number): Promise<void> {
    await this.mutate((s) => {
      const nowSeconds = this.now() / 1000;
      if (s.revokedTokens.some((t) => t.jti === jti) || exp <= nowSeconds) return undefined;
      return { ...s, revokedTokens: [...s.revokedTokens.filter((t) => t.exp > nowSeconds), { jti, exp }] };
    });
  }

  state(): CaStatus {
    const s = this.caState;
    const describe = (pem: string) => {
      const cert = new X509Certificate(pem);
      return {
        fingerprint: fingerprint(pem),
        subject: cert.subject.replace(/\n/g, ', '),
        notAfter: new Date(cert.validTo),
      };
    };
    return {
      source: s.source,
      phase: s.rotation ? { phase: 'overlap', until: new Date(s.rotation.overlapUntil) } : { phase: 'steady' },
      roots: s.roots.map((r) => describe(r.certPem)),
      issuer: describe(s.issuing.certPem),
      seq: this.stored.seq,
    };
  }

  /** Every trusted root, concatenated PEM: the issuing CA's first, then (during an overlap) the old. */
  trustBundlePem(): string {
    // Asked for by every proxy compile that serves secrets: made once per state (a state is never changed in place).
    const roots = this.caState.roots;
    if (this.bundle?.roots !== roots) this.bundle = { roots, pem: roots.map((r) => normalisePem(r.certPem)).join('') };
    return this.bundle.pem;
  }

  // ---- issuing ----

  private issuer(): NonNullable<CertificateAuthority['issuingKey']> {
    const issuing = this.caState.issuing;
    if (this.issuingKey?.certPem !== issuing.certPem) {
      // A root issues alone; an intermediate sends itself and its issuers below the root along with each leaf.
      const intermediates = isSelfSigned(issuing.certPem) ? [] : [issuing.certPem, ...issuing.chainPem];
      const key = importSigningKey(issuing.keyPem);
      key.catch(() => undefined);
      this.issuingKey = { certPem: issuing.certPem, key, intermediates: intermediates.map(normalisePem) };
    }
    return this.issuingKey;
  }

  /** A workload certificate (X.509-SVID): URI SAN = spiffeId, serverAuth + clientAuth. */
  async issueWorkload(request: WorkloadRequest): Promise<Issued> {
    checkSpiffeId(request.spiffeId);
    return this.issue({
      uris: [request.spiffeId],
      dnsNames: checkDnsNames(request.dnsNames ?? []),
      ipAddresses: [],
      ttlMs: checkTtl(request.ttlMs),
      extendedKeyUsages: [EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
    });
  }

  /** meshd's own server certificate (xDS, webhook): serverAuth, DNS and IP SANs. */
  async issueServer(request: ServerRequest): Promise<Issued> {
    if (request.spiffeId !== undefined) checkSpiffeId(request.spiffeId);
    const ips = (request.ipAddresses ?? []).map((ip) => {
      if (typeof ip !== 'string' || isIP(ip) === 0)
        throw new CaError(`'${String(ip).slice(0, 64)}' is not an IP address`);
      return ip;
    });
    const dnsNames = checkDnsNames(request.dnsNames ?? []);
    if (dnsNames.length === 0 && ips.length === 0)
      throw new CaError('a server certificate needs a DNS name or an IP address');
    return this.issue({
      uris: request.spiffeId !== undefined ? [request.spiffeId] : [],
      dnsNames,
      ipAddresses: ips,
      ttlMs: checkTtl(request.ttlMs),
      extendedKeyUsages: [EKU_SERVER_AUTH],
    });
  }

  /**
   * The root that signs now: during a rotation's propagation (propagationMs from its start) the old one, still
   * in every proxy's bundle, rather than the new one, which some may not trust yet.
   */
  private propagatingRoot(): { certPem: string; keyPem: string } | undefined {
    const rotation = this.caState.rotation;
    const old = this.caState.roots[1];
    if (!rotation || !old?.keyPem) return undefined;
    if (this.now() >= Date.parse(rotation.startedAt) + (this.options.propagationMs ?? 0)) return undefined;
    return { certPem: old.certPem, keyPem: old.keyPem };
  }

  /** When certificates start coming from the new root after a rotation (undefined: they do now). */
  newRootIssuesAt(): Date | undefined {
    const rotation = this.caState.rotation;
    if (!rotation || !this.propagatingRoot()) return undefined;
    return new Date(Date.parse(rotation.startedAt) + (this.options.propagationMs ?? 0));
  }

  private async issue(request: {
    uris: string[];
    dnsNames: string[];
    ipAddresses: string[];
    ttlMs: number;
    extendedKeyUsages: string[];
  }): Promise<Issued> {
    const old = this.propagatingRoot();
    const issuing = old ?? this.caState.issuing;
    const issuer = old
      ? { certPem: old.certPem, key: importSigningKey(old.keyPem), intermediates: [] as string[] }
      : this.issuer();
    const key = await issuer.key;
    const now = this.now();
    const notBefore = new Date(Math.floor((now - CLOCK_SKEW_MS) / 1000) * 1000);
    let notAfter = new Date(Math.floor((now + request.ttlMs) / 1000) * 1000);
    // A leaf never outlives its issuer (a verifier would refuse it then anyway).
    const issuerEnd = new X509Certificate(issuing.certPem).validTo;
    if (Date.parse(issuerEnd) < notAfter.getTime()) notAfter = new Date(Date.parse(issuerEnd));
    // An issuer about to expire would give certificates that die at once (renewed in a loop): refused once it
    // leaves a certificate less than half the life asked for.
    if (notAfter.getTime() - now < request.ttlMs / 2)
      throw new CaError(
        `the issuing CA (${new X509Certificate(issuing.certPem).subject.replace(/\n/g, ', ')}) expires at ${new Date(
          Date.parse(issuerEnd),
        ).toISOString()}: it cannot issue certificates any more; rotate the CA (meshd ca rotate) or give meshd a new one`,
      );
    const leaf = await createLeaf({
      issuerCertPem: issuing.certPem,
      issuerKey: key,
      notBefore,
      notAfter,
      uris: request.uris,
      dnsNames: request.dnsNames,
      ipAddresses: request.ipAddresses,
      extendedKeyUsages: request.extendedKeyUsages,
    });
    return {
      certificateChainPem: [leaf.certPem, ...issuer.intermediates].join(''),
      privateKeyPem: leaf.keyPem,
      notBefore,
      notAfter,
      serialHex: leaf.serialHex,
      issuerFingerprint: fingerprint(issuing.certPem),
    };
  }
}

// ---- checks of what is asked for ----

/** Throws CaError unless `id` is a SPIFFE ID: spiffe://<trust domain>/<path>, no query or fragment. */
export function checkSpiffeId(id: unknown): asserts id is string {
  if (typeof id !== 'string') throw new CaError('the SPIFFE ID is not a string');
  if (id.length > MAX_SPIFFE_ID)
    throw new CaError(`the SPIFFE ID is ${id.length} characters (at most ${MAX_SPIFFE_ID})`);
  const shown = JSON.stringify(id.slice(0, 200));
  const match = /^spiffe:\/\/([a-z0-9._-]+)(\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$/.exec(id);
  if (!match) {
    if (!id.startsWith('spiffe://')) throw new CaError(`${shown} is not a SPIFFE ID (spiffe://<trust domain>/<path>)`);
    if (/[?#]/.test(id)) throw new CaError(`${shown}: a SPIFFE ID has no query or fragment`);
    throw new CaError(
      `${shown}: the trust domain (lowercase letters, digits, . _ -) or path has a character SPIFFE refuses`,
    );
  }
  const path = match[2] ?? '';
  if (
    path
      .split('/')
      .slice(1)
      .some((segment) => segment === '' || segment === '.' || segment === '..')
  )
    throw new CaError(`${shown}: a SPIFFE ID's path has no empty, '.' or '..' segments`);
}

/** The DNS names, checked: RFC 1123 labels, optionally `*.` first; at most 253 characters each. */
export function checkDnsNames(names: readonly unknown[]): string[] {
  if (!Array.isArray(names)) throw new CaError('dnsNames is not a list');
  if (names.length > MAX_DNS_NAMES) throw new CaError(`${names.length} DNS names (at most ${MAX_DNS_NAMES})`);
  return names.map((name) => {
    if (typeof name !== 'string') throw new CaError('a DNS name is not a string');
    const shown = JSON.stringify(name.slice(0, 300));
    const bare = name.startsWith('*.') ? name.slice(2) : name;
    if (name.length > 253 || !isHostName(bare))
      throw new CaError(`${shown} is not a DNS name (RFC 1123 labels, optionally '*.' first)`);
    return name.toLowerCase();
  });
}

function checkTtl(ttlMs: number | undefined): number {
  if (ttlMs === undefined) return DEFAULT_WORKLOAD_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs < 60_000 || ttlMs > MAX_WORKLOAD_TTL_MS)
    throw new CaError(`a certificate's lifetime must be between 1 minute and 366 days, not ${ttlMs} ms`);
  return ttlMs;
}

// ---- the user's CA files ----

interface UserCa {
  readonly root: CaRoot;
  readonly issuing: CaState['issuing'];
}

function readPemFile(file: string, flag: string): string {
  try {
    const stat = fs.statSync(file);
    if (stat.size > MAX_PEM_FILE_BYTES) throw new CaError(`${flag} ${file}: ${stat.size} bytes, too large for PEM`);
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof CaError) throw err;
    throw new CaError(`${flag} ${file}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parseCert(pem: string, where: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new CaError(`${where}: not a valid X.509 certificate`);
  }
}

function isSelfSigned(pem: string): boolean {
  const cert = new X509Certificate(pem);
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/**
 * The user's CA, checked: the key matches the certificate, the certificate is a CA and valid
 * now, and (for an intermediate) the chain file leads from it to a self-signed root.
 */
function readUserCa(files: UserCaFiles, now: number): UserCa {
  const certText = readPemFile(files.certFile, '--ca-cert');
  const keyText = readPemFile(files.keyFile, '--ca-key');
  const certBlocks = pemBlocks(certText);
  if (certBlocks.length === 0) throw new CaError(`--ca-cert ${files.certFile}: no PEM certificate in it`);
  const caPem = certBlocks[0]!;
  const ca = parseCert(caPem, `--ca-cert ${files.certFile}`);
  let key;
  try {
    key = createPrivateKey(keyText);
  } catch {
    throw new CaError(`--ca-key ${files.keyFile}: not a PEM private key (an encrypted key must be decrypted first)`);
  }
  if (!ca.checkPrivateKey(key))
    throw new CaError(`--ca-key ${files.keyFile}: does not match the certificate in ${files.certFile}`);
  const checkCa = (cert: X509Certificate, pem: string, where: string): void => {
    if (!isCa(pem))
      throw new CaError(`${where}: ${subject(cert)} is not a CA certificate (basicConstraints cA is not true)`);
    if (Date.parse(cert.validFrom) > now)
      throw new CaError(`${where}: ${subject(cert)} is not valid until ${cert.validFrom}`);
    if (Date.parse(cert.validTo) <= now) throw new CaError(`${where}: ${subject(cert)} expired on ${cert.validTo}`);
  };
  checkCa(ca, caPem, `--ca-cert ${files.certFile}`);
  const keyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
  if (isSelfSigned(caPem))
    return { root: { certPem: caPem, keyPem }, issuing: { certPem: caPem, keyPem, chainPem: [] } };

  // An intermediate: walk up through the pool (the chain file, and any further certificates in the cert file).
  const where = files.chainFile ? `--ca-chain ${files.chainFile}` : `--ca-cert ${files.certFile}`;
  const pool = [
    ...certBlocks.slice(1),
    ...(files.chainFile ? pemBlocks(readPemFile(files.chainFile, '--ca-chain')) : []),
  ];
  const chain: string[] = [];
  let current = ca;
  for (let depth = 0; depth < 10; depth++) {
    const issuerPem = pool.find((pem) => {
      const candidate = parseCert(pem, where);
      return current.checkIssued(candidate) && current.verify(candidate.publicKey);
    });
    if (!issuerPem)
      throw new CaError(
        `${subject(current)} is issued by ${current.issuer.replace(/\n/g, ', ')}, which is not in ${where}: give the chain up to the root with --ca-chain`,
      );
    const issuer = parseCert(issuerPem, where);
    checkCa(issuer, issuerPem, where);
    if (isSelfSigned(issuerPem))
      return { root: { certPem: issuerPem }, issuing: { certPem: caPem, keyPem, chainPem: chain } };
    chain.push(issuerPem);
    current = issuer;
  }
  throw new CaError(`${where}: no self-signed root within 10 certificates above ${files.certFile}`);
}

function subject(cert: X509Certificate): string {
  return JSON.stringify(cert.subject.replace(/\n/g, ', '));
}

function normalisePem(pem: string): string {
  return pem.trim() + '\n';
}

/** A fresh ES256 private key, as a JWK, for join tokens. */
export async function newTokenSigningKey(): Promise<Record<string, string>> {
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const jwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey);
  const { kty, crv, x, y, d } = jwk;
  return { kty: kty!, crv: crv!, x: x!, y: y!, d: d! };
}

/** The public half of the token key (for verifying only). */
export function publicJwk(jwk: Record<string, string>): Record<string, string> {
  const { kty, crv, x, y } = jwk;
  return { kty: kty!, crv: crv!, x: x!, y: y! };
}
