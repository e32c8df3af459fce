// The certificate primitives meshd's CA needs, on @peculiar/x509 and Node's own crypto, so no
// ASN.1 is written by hand: EC P-256 keys, PEM in and out, certificates signed by a CA key.
// reflect-metadata must be loaded before @peculiar/x509 (its ASN.1 schemas use decorators).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** A private key ready to sign with, and the algorithm its signatures use. */
export interface SigningKey {
  readonly key: CryptoKey;
  readonly signingAlgorithm: { name: string; hash?: string };
}

export function generateEcKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** PKCS#8 PEM ("BEGIN PRIVATE KEY") of a generated key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/**
 * A private key in any PEM form Node reads (PKCS#8, SEC1 "EC PRIVATE KEY", PKCS#1 RSA) as a
 * WebCrypto signing key. EC P-256/P-384 and RSA are accepted; anything else throws.
 */
export async function importSigningKey(pem: string | KeyObject): Promise<SigningKey> {
  const object = typeof pem === 'string' ? createPrivateKey(pem) : pem;
  const der = object.export({ type: 'pkcs8', format: 'der' });
  const details = object.asymmetricKeyDetails ?? {};
  if (object.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve === 'prime256v1' ? 'P-256' : details.namedCurve === 'secp384r1' ? 'P-384' : '';
    if (!curve) throw new Error(`EC curve ${details.namedCurve ?? '?'} is not supported (P-256 or P-384)`);
    const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve }, false, ['sign']);
    return { key, signingAlgorithm: { name: 'ECDSA', hash: curve === 'P-256' ? 'SHA-256' : 'SHA-384' } };
  }
  if (object.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const key = await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
    return { key, signingAlgorithm: algorithm };
  }
  throw new Error(`${object.asymmetricKeyType ?? 'unknown'} keys are not supported (EC P-256, P-384 or RSA)`);
}

/** The PEM blocks of one kind ("CERTIFICATE") in a text, in order. */
export function pemBlocks(text: string, label = 'CERTIFICATE'): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return (text.match(re) ?? []).map((block) => block.trim() + '\n');
}

/** A random positive 16-byte serial (hex): the top bit clear keeps it positive, the next set keeps all 16 bytes. */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** The SHA-256 fingerprint of a certificate, lowercase hex without colons. */
export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256.replace(/:/g, '').toLowerCase();
}

export interface RootParams {
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A self-signed EC P-256 root: CA:true (critical), keyCertSign|cRLSign, subject O=meshd, CN=<commonName>. */
export async function createRoot(params: RootParams): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateEcKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: [{ O: ['meshd'] }, { CN: [params.commonName] }],
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

export interface LeafParams {
  readonly issuerCertPem: string;
  readonly issuerKey: SigningKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly extendedKeyUsages: readonly string[];
}

export interface Leaf {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serialHex: string;
}

/** An end-entity certificate with a fresh EC P-256 key, signed by the issuer. */
export async function createLeaf(params: LeafParams): Promise<Leaf> {
  const keys = await generateEcKeyPair();
  const issuer = new x509.X509Certificate(params.issuerCertPem);
  const serialHex = randomSerialHex();
  const names: x509.JsonGeneralName[] = [
    ...params.uris.map((value) => ({ type: 'url' as const, value })),
    ...params.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...params.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: [{ O: ['meshd'] }],
    issuer: issuer.subject,
    notBefore: params.notBefore,
    notAfter: params.notAfter,
    publicKey: keys.publicKey as never,
    signingKey: params.issuerKey.key as never,
    signingAlgorithm: params.issuerKey.signingAlgorithm as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([...params.extendedKeyUsages], false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      await x509.AuthorityKeyIdentifierExtension.create(issuer as never),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey), serialHex };
}

export const EKU_SERVER_AUTH = x509.ExtendedKeyUsage.serverAuth as string;
export const EKU_CLIENT_AUTH = x509.ExtendedKeyUsage.clientAuth as string;

/** Whether the certificate's basicConstraints says cA (x509 parses extensions Node does not expose). */
export function isCa(certPem: string): boolean {
  const ext = new x509.X509Certificate(certPem).getExtension(x509.BasicConstraintsExtension);
  return ext?.ca === true;
}
