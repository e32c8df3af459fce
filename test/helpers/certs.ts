// Test PKI made with the openssl CLI: certificate authorities and leaf certificates with DNS
// SANs (App Mesh matches subjectAlternativeNames against DNS SANs). Every file is readable
// by the proxy user (uid 1337), since the Envoy sidecars in the namespace tests run as it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readableTmpDir, writeReadable } from './netns';

export interface CertificateAuthority {
  readonly name: string;
  /** PEM file of the CA certificate (what `validation.trust.file.certificateChain` names). */
  readonly certFile: string;
  readonly keyFile: string;
}

export interface Certificate {
  readonly name: string;
  readonly sans: readonly string[];
  /** PEM certificate chain file (`certificate.file.certificateChain`). */
  readonly certFile: string;
  /** PEM private key file (`certificate.file.privateKey`). */
  readonly keyFile: string;
}

export function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() || e.message}`);
  }
}

function makeReadable(...files: string[]): void {
  for (const f of files) fs.chmodSync(f, 0o644);
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA (P-256, valid 2 days) in `dir`. */
export function createCertificateAuthority(dir: string, name: string): CertificateAuthority {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  openssl(dir, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  makeReadable(certFile, keyFile);
  return { name, certFile, keyFile };
}

/** A leaf signed by `ca`, usable as server and client: what it names, and the files it is written to. */
export interface LeafRequest {
  /** `subjectAltName` entries as openssl writes them: `DNS:a.local`, `URI:spiffe://td/x`. */
  readonly sans: readonly string[];
  readonly subject: string;
  readonly keyUsage: string;
  readonly days: number;
  /** The files' names in `dir`: `<base>.crt`, `<base>.key` (and the request and extension files made on the way). */
  readonly base: string;
}

/** Signs a new P-256 leaf with `ca`; its certificate and key files are readable by the proxy user. */
export function issueLeaf(
  ca: CertificateAuthority,
  dir: string,
  leaf: LeafRequest,
): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, `${leaf.base}.crt`);
  const keyFile = path.join(dir, `${leaf.base}.key`);
  const csr = path.join(dir, `${leaf.base}.csr`);
  const ext = writeReadable(
    dir,
    `${leaf.base}.ext`,
    [
      `subjectAltName=${leaf.sans.join(',')}`,
      'basicConstraints=critical,CA:FALSE',
      `keyUsage=${leaf.keyUsage}`,
      'extendedKeyUsage=serverAuth,clientAuth',
      '',
    ].join('\n'),
  );
  openssl(dir, ['req', '-new', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', leaf.subject]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-CAcreateserial',
    '-out',
    certFile,
    '-days',
    String(leaf.days),
    '-extfile',
    ext,
  ]);
  makeReadable(certFile, keyFile);
  return { certFile, keyFile };
}

/** A leaf certificate signed by `ca`, usable as server and client, with the given DNS SANs. */
export function issueCertificate(ca: CertificateAuthority, dir: string, name: string, dnsSans: string[]): Certificate {
  if (dnsSans.length === 0) throw new Error('a certificate needs at least one DNS SAN');
  const files = issueLeaf(ca, dir, {
    base: name,
    sans: dnsSans.map((s) => `DNS:${s}`),
    subject: `/CN=${dnsSans[0]}`,
    keyUsage: 'critical,digitalSignature,keyEncipherment',
    days: 2,
  });
  return { name, sans: dnsSans, ...files };
}

export interface TestPki {
  readonly dir: string;
  /** The CA the mesh trusts. */
  readonly ca: CertificateAuthority;
  /** A second CA nobody in the mesh trusts. */
  readonly untrustedCa: CertificateAuthority;
  /** Leaf certificates by name, signed by `ca` unless listed under `untrusted`. */
  readonly certs: Record<string, Certificate>;
}

/**
 * A CA, an untrusted second CA, and one leaf certificate per entry of `leaves`
 * (name → DNS SANs), in a fresh folder readable by the proxy user.
 */
export function createTestPki(leaves: Record<string, string[]>, untrusted: Record<string, string[]> = {}): TestPki {
  const dir = readableTmpDir('pki-');
  const ca = createCertificateAuthority(dir, 'mesh-ca');
  const untrustedCa = createCertificateAuthority(dir, 'untrusted-ca');
  const certs: Record<string, Certificate> = {};
  for (const [name, sans] of Object.entries(leaves)) certs[name] = issueCertificate(ca, dir, name, sans);
  for (const [name, sans] of Object.entries(untrusted)) certs[name] = issueCertificate(untrustedCa, dir, name, sans);
  return { dir, ca, untrustedCa, certs };
}
