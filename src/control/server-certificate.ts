// A server certificate from meshd's CA for one of meshd's own TLS servers (the xDS port, the sidecar
// injection webhook): issued on first use, renewed at two thirds of its life and at every CA change,
// and announced to its server on each renewal. A failed renewal keeps the current one and retries.
import type { CertificateAuthority } from '../ca';
import type { Logger } from '../util/log';

/** A server's TLS material. */
export interface ServerTls {
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  readonly trustedCaPem: string;
}

export interface ServerNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export class ServerCertificate {
  private issued: { readonly tls: ServerTls; readonly notAfter: Date } | undefined;
  private renewal: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(tls: ServerTls) => void>();
  private closed = false;

  constructor(
    private readonly ca: CertificateAuthority,
    readonly names: ServerNames,
    /** In messages: "the xDS server", "the injection webhook". */
    private readonly what: string,
    private readonly log: Logger,
    private readonly ttlMs?: number,
  ) {}

  /** The current material; the first call issues it (and rejects when the CA cannot). */
  async tls(): Promise<ServerTls> {
    if (!this.issued) await this.renew();
    return this.issued!.tls;
  }

  /** Called with the new material on every renewal. */
  onRenew(listener: (tls: ServerTls) => void): void {
    this.listeners.add(listener);
  }

  /** The CA changed (a rotation): issued again at once, if it was issued at all. */
  caChanged(): void {
    if (this.issued) void this.renew().catch((err) => this.log.warn(`identity: ${(err as Error).message}`));
  }

  close(): void {
    this.closed = true;
    if (this.renewal) clearTimeout(this.renewal);
  }

  /**
   * Issues the certificate again and schedules the next renewal, replacing any renewal already scheduled (one
   * chain of renewals, however many CA changes). Never rejects after the first issue: a failure is logged and
   * retried in a minute.
   */
  private async renew(): Promise<void> {
    if (this.closed) return;
    if (this.renewal) clearTimeout(this.renewal);
    this.renewal = undefined;
    let issued;
    try {
      issued = await this.ca.issueServer({
        dnsNames: this.names.dnsNames,
        ipAddresses: this.names.ipAddresses,
        ...(this.ttlMs !== undefined ? { ttlMs: this.ttlMs } : {}),
      });
    } catch (err) {
      if (!this.issued) throw err;
      this.log.warn(`identity: cannot renew ${this.what}'s certificate: ${(err as Error).message}; retrying in 1 min`);
      this.schedule(60_000);
      return;
    }
    const tls = {
      certificateChainPem: issued.certificateChainPem,
      privateKeyPem: issued.privateKeyPem,
      trustedCaPem: this.ca.trustBundlePem(),
    };
    const first = !this.issued;
    this.issued = { tls, notAfter: issued.notAfter };
    if (!first) for (const listener of this.listeners) listener(tls);
    this.schedule(Math.max(1_000, ((issued.notAfter.getTime() - Date.now()) * 2) / 3));
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.renewal) clearTimeout(this.renewal);
    // setTimeout's longest delay is about 24.8 days; a longer life is renewed in steps.
    this.renewal = setTimeout(
      () => {
        this.renewal = undefined;
        void this.renew().catch((err) => this.log.warn(`identity: ${(err as Error).message}`));
      },
      Math.min(ms, 2 ** 31 - 1),
    );
    this.renewal.unref();
  }
}
