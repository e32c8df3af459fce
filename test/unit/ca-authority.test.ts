// The certificate authority (src/ca/authority.ts): the leaves it issues verify with Node's X509Certificate and
// with `openssl verify` (the real chain check: a generated root, and an intermediate under a user's root made
// with the openssl CLI), carry exactly the names and usages asked for, and bad requests are refused. Rotation:
// during the overlap the bundle holds both roots and leaves of either verify; after it, only the new root.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaError, CertificateAuthority } from '../../src/ca/authority';
import { makeUserPki, MemoryCaStateStore, openssl, opensslText, opensslVerify } from '../helpers/ca';
import { tmpDir } from '../helpers/processes';

const SPIFFE = 'spiffe://meshd.local/mesh/demo/virtualNode/web';
const HOUR = 3600_000;

function certs(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (b) => new X509Certificate(b),
  );
}

describe('a CA meshd makes', () => {
  it('issues a workload certificate that verifies against the bundle, with the SPIFFE ID, DNS names and usages', async () => {
    const store = new MemoryCaStateStore();
    const ca = await CertificateAuthority.open({ store });
    const before = Date.now();
    const issued = await ca.issueWorkload({
      spiffeId: SPIFFE,
      dnsNames: ['web.demo.svc', '*.web.demo'],
      ttlMs: 2 * HOUR,
    });
    const [leaf, ...rest] = certs(issued.certificateChainPem);
    const [root] = certs(ca.trustBundlePem());
    expect(rest).toHaveLength(0); // the root is never sent in the chain
    expect(leaf!.checkIssued(root!)).toBe(true);
    expect(leaf!.verify(root!.publicKey)).toBe(true);
    expect(leaf!.subjectAltName).toBe(`URI:${SPIFFE}, DNS:web.demo.svc, DNS:*.web.demo`);
    expect(leaf!.checkPrivateKey(createPrivateKey(issued.privateKeyPem))).toBe(true);
    // notBefore 60 s back for clock skew; notAfter after the TTL.
    expect(Date.parse(leaf!.validFrom)).toBeLessThanOrEqual(before - 59_000);
    expect(Date.parse(leaf!.validFrom)).toBeGreaterThan(before - 62_000);
    expect(Math.abs(Date.parse(leaf!.validTo) - (before + 2 * HOUR))).toBeLessThan(5000);
    expect(issued.notAfter.getTime()).toBe(Date.parse(leaf!.validTo));
    expect(issued.serialHex).toMatch(/^[0-9a-f]{32}$/);
    expect(leaf!.serialNumber.toLowerCase()).toBe(issued.serialHex);
    expect(issued.issuerFingerprint).toBe(root!.fingerprint256.replace(/:/g, '').toLowerCase());
    // openssl agrees: the chain verifies, for TLS server and client use alike.
    expect(opensslVerify(ca.trustBundlePem(), issued.certificateChainPem, { purpose: 'sslserver' })).toBe('');
    expect(opensslVerify(ca.trustBundlePem(), issued.certificateChainPem, { purpose: 'sslclient' })).toBe('');
    const text = opensslText(issued.certificateChainPem);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toMatch(/ASN1 OID: prime256v1/);
    // The root: self-signed, a CA for 10 years, named meshd root CA <id>.
    const rootText = opensslText(ca.trustBundlePem());
    expect(rootText).toMatch(/Subject: O = meshd, CN = meshd root CA [0-9a-f]{8}/);
    expect(rootText).toMatch(/CA:TRUE/);
    expect(rootText).toMatch(/Certificate Sign, CRL Sign/);
    expect(Date.parse(root!.validTo) - Date.now()).toBeGreaterThan(9.9 * 365 * 24 * HOUR);
    ca.close();
  });

  it('gives every certificate a different serial and key', async () => {
    const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore() });
    const a = await ca.issueWorkload({ spiffeId: SPIFFE });
    const b = await ca.issueWorkload({ spiffeId: SPIFFE });
    expect(a.serialHex).not.toBe(b.serialHex);
    expect(a.privateKeyPem).not.toBe(b.privateKeyPem);
    expect(b.notAfter.getTime() - b.notBefore.getTime()).toBeGreaterThan(24 * HOUR); // 24 h default + 60 s
  });

  it('issues a server certificate for DNS names and IP addresses, serverAuth only', async () => {
    const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore() });
    const issued = await ca.issueServer({ dnsNames: ['meshd.meshd-system.svc'], ipAddresses: ['127.0.0.1', '::1'] });
    const [leaf] = certs(issued.certificateChainPem);
    expect(leaf!.subjectAltName).toBe('DNS:meshd.meshd-system.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(opensslVerify(ca.trustBundlePem(), issued.certificateChainPem, { purpose: 'sslserver' })).toBe('');
    expect(opensslVerify(ca.trustBundlePem(), issued.certificateChainPem, { purpose: 'sslclient' })).toMatch(
      /unsuitable certificate purpose/,
    );
    await expect(ca.issueServer({ ipAddresses: ['300.1.1.1'] })).rejects.toThrow(/'300.1.1.1' is not an IP address/);
    await expect(ca.issueServer({})).rejects.toThrow(/needs a DNS name or an IP address/);
  });

  it.each([
    ['http://meshd.local/x', /is not a SPIFFE ID/],
    ['spiffe://meshd.local/x y', /has a character SPIFFE refuses/],
    ['spiffe://meshd.local/x?y=1', /no query or fragment/],
    ['spiffe://meshd.local/x#f', /no query or fragment/],
    ['spiffe://Meshd.Local/x', /trust domain/],
    ['spiffe://meshd.local//x', /empty, '.' or '..' segments/],
    ['spiffe://meshd.local/../x', /empty, '.' or '..' segments/],
    [`spiffe://meshd.local/${'a'.repeat(2048)}`, /at most 2048/],
  ])('refuses the SPIFFE ID %.60s', async (spiffeId, message) => {
    const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore() });
    await expect(ca.issueWorkload({ spiffeId })).rejects.toThrow(CaError);
    await expect(ca.issueWorkload({ spiffeId })).rejects.toThrow(message);
  });

  it.each(['-web.demo', 'web..demo', 'web_demo.svc', 'a.*.demo', `${'a'.repeat(64)}.demo`, 'web demo', ''])(
    'refuses the DNS name %j',
    async (name) => {
      const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore() });
      await expect(ca.issueWorkload({ spiffeId: SPIFFE, dnsNames: [name] })).rejects.toThrow(/is not a DNS name/);
    },
  );

  it('refuses a lifetime under a minute or over 366 days', async () => {
    const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore() });
    await expect(ca.issueWorkload({ spiffeId: SPIFFE, ttlMs: 1000 })).rejects.toThrow(/between 1 minute and 366 days/);
    await expect(ca.issueWorkload({ spiffeId: SPIFFE, ttlMs: 400 * 24 * HOUR })).rejects.toThrow(/366 days/);
    await expect(ca.issueWorkload({ spiffeId: SPIFFE, ttlMs: NaN })).rejects.toThrow(/366 days/);
  });

  it('keeps its CA across restarts: a second open of the same store issues under the same root', async () => {
    const store = new MemoryCaStateStore();
    const first = await CertificateAuthority.open({ store });
    const second = await CertificateAuthority.open({ store });
    expect(second.trustBundlePem()).toBe(first.trustBundlePem());
    const issued = await second.issueWorkload({ spiffeId: SPIFFE });
    expect(opensslVerify(first.trustBundlePem(), issued.certificateChainPem)).toBe('');
  });
});

describe('an issuing CA at its end', () => {
  it('refuses to issue (no certificate that dies at once, renewed in a loop) and says what to do', async () => {
    let now = Date.now();
    const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore(), now: () => now });
    now += 10 * 365 * 24 * HOUR; // the generated root lives 10 years
    await expect(ca.issueWorkload({ spiffeId: SPIFFE })).rejects.toThrow(
      /expires at .*: it cannot issue certificates any more; rotate the CA/,
    );
  });
});

describe('rotating the CA', () => {
  it('goes on signing with the old root while the new bundle propagates, then with the new one', async () => {
    let now = Date.now();
    const ca = await CertificateAuthority.open({
      store: new MemoryCaStateStore(),
      now: () => now,
      propagationMs: 15_000,
    });
    const oldBundle = ca.trustBundlePem();
    const before = await ca.issueWorkload({ spiffeId: SPIFFE });
    await ca.rotate();
    expect(ca.newRootIssuesAt()).toEqual(new Date(now + 15_000));
    // A proxy still holding only the old bundle accepts what is issued during the propagation.
    const during = await ca.issueWorkload({ spiffeId: SPIFFE });
    expect(during.issuerFingerprint).toBe(before.issuerFingerprint);
    expect(opensslVerify(oldBundle, during.certificateChainPem)).toBe('');
    now += 15_000;
    expect(ca.newRootIssuesAt()).toBeUndefined();
    const after = await ca.issueWorkload({ spiffeId: SPIFFE });
    expect(after.issuerFingerprint).not.toBe(before.issuerFingerprint);
    expect(opensslVerify(ca.trustBundlePem(), after.certificateChainPem)).toBe('');
    expect(opensslVerify(oldBundle, after.certificateChainPem)).toMatch(/unable to get local issuer certificate/);
  });

  it('trusts old and new roots during the overlap, issues from the new, and only the new one afterwards', async () => {
    let now = Date.now();
    const store = new MemoryCaStateStore();
    const ca = await CertificateAuthority.open({ store, now: () => now, overlapMs: 48 * HOUR });
    const changes: string[] = [];
    ca.onChange(() => changes.push(ca.state().phase.phase));
    const oldLeaf = await ca.issueWorkload({ spiffeId: SPIFFE });
    const oldBundle = ca.trustBundlePem();
    expect(ca.state().phase).toEqual({ phase: 'steady' });

    await ca.rotate();
    expect(changes).toEqual(['overlap']);
    expect(ca.state().phase).toEqual({ phase: 'overlap', until: new Date(now + 48 * HOUR) });
    const bundle = ca.trustBundlePem();
    expect(certs(bundle)).toHaveLength(2);
    const newLeaf = await ca.issueWorkload({ spiffeId: SPIFFE });
    expect(newLeaf.issuerFingerprint).not.toBe(oldLeaf.issuerFingerprint);
    expect(opensslVerify(bundle, oldLeaf.certificateChainPem)).toBe('');
    expect(opensslVerify(bundle, newLeaf.certificateChainPem)).toBe('');
    expect(opensslVerify(oldBundle, newLeaf.certificateChainPem)).toMatch(/unable to get local issuer certificate/);
    await expect(ca.rotate()).rejects.toThrow(/a rotation is in its overlap until/);

    // Another replica (a second open of the store) sees the overlap; past its end either one finishes it.
    now += 47 * HOUR;
    const replica = await CertificateAuthority.open({ store, now: () => now });
    expect(certs(replica.trustBundlePem())).toHaveLength(2);
    now += 2 * HOUR;
    const restarted = await CertificateAuthority.open({ store, now: () => now });
    expect(restarted.state().phase).toEqual({ phase: 'steady' });
    await ca.refresh(); // the first replica reloads and hears of the end
    expect(changes).toEqual(['overlap', 'steady']);
    const finalBundle = ca.trustBundlePem();
    expect(certs(finalBundle)).toHaveLength(1);
    expect(opensslVerify(finalBundle, newLeaf.certificateChainPem)).toBe('');
    expect(opensslVerify(finalBundle, oldLeaf.certificateChainPem)).toMatch(/unable to get local issuer certificate/);
    for (const c of [ca, replica, restarted]) c.close();
  });

  it('ends the overlap on its own when it runs out, telling the listeners', async () => {
    const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore(), overlapMs: 100 });
    let heard = 0;
    ca.onChange(() => heard++);
    await ca.rotate();
    expect(heard).toBe(1);
    const began = Date.now();
    while (ca.state().phase.phase !== 'steady' && Date.now() - began < 5000)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ca.state().phase).toEqual({ phase: 'steady' });
    expect(certs(ca.trustBundlePem())).toHaveLength(1);
    expect(heard).toBe(2);
    ca.close();
  });

  it('a replica started during the overlap ends it on time too', async () => {
    const store = new MemoryCaStateStore();
    const first = await CertificateAuthority.open({ store, overlapMs: 300 });
    await first.rotate();
    first.close(); // stops its timer: only the new replica can end the overlap
    const second = await CertificateAuthority.open({ store });
    expect(second.state().phase.phase).toBe('overlap');
    const began = Date.now();
    while (second.state().phase.phase !== 'steady' && Date.now() - began < 5000)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(second.state().phase).toEqual({ phase: 'steady' });
    second.close();
  });

  it('finishRotation ends the overlap at once', async () => {
    const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore() });
    await ca.rotate();
    expect(certs(ca.trustBundlePem())).toHaveLength(2);
    const status = await ca.finishRotation();
    expect(status.phase).toEqual({ phase: 'steady' });
    expect(certs(ca.trustBundlePem())).toHaveLength(1);
    expect(status.roots[0]!.fingerprint).toBe(status.issuer.fingerprint);
    ca.close();
  });
});

describe("a user's CA", () => {
  it('issues under an intermediate: the chain carries it, the bundle is the user root, openssl verifies', async () => {
    const pki = makeUserPki();
    const ca = await CertificateAuthority.open({
      store: new MemoryCaStateStore(),
      userCa: { certFile: pki.intermediateCert, keyFile: pki.intermediateKey, chainFile: pki.rootCert },
    });
    expect(ca.trustBundlePem()).toBe(fs.readFileSync(pki.rootCert, 'utf8'));
    const issued = await ca.issueWorkload({ spiffeId: SPIFFE, dnsNames: ['web'] });
    const chain = certs(issued.certificateChainPem);
    expect(chain).toHaveLength(2);
    expect(chain[1]!.fingerprint256).toBe(new X509Certificate(fs.readFileSync(pki.intermediateCert)).fingerprint256);
    expect(opensslVerify(ca.trustBundlePem(), issued.certificateChainPem, { purpose: 'sslclient' })).toBe('');
    // Without the intermediate openssl cannot build the chain: the chain really carries it.
    expect(opensslVerify(ca.trustBundlePem(), chain[0]!.toString())).toMatch(/unable to get local issuer/);
    await expect(ca.rotate()).rejects.toThrow(/user-provided one: meshd cannot rotate it; give the new CA files/);
  });

  it('signs with a user RSA root (SHA-256 with RSA), which openssl verifies', async () => {
    const dir = tmpDir('ca-rsa-');
    openssl(dir, [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'rsa.key',
      '-out',
      'rsa.pem',
      '-days',
      '3',
      '-subj',
      '/CN=rsa root',
      '-addext',
      'basicConstraints=critical,CA:true',
      '-addext',
      'keyUsage=critical,keyCertSign',
    ]);
    const ca = await CertificateAuthority.open({
      store: new MemoryCaStateStore(),
      userCa: { certFile: path.join(dir, 'rsa.pem'), keyFile: path.join(dir, 'rsa.key') },
    });
    const issued = await ca.issueWorkload({ spiffeId: SPIFFE });
    expect(opensslText(issued.certificateChainPem)).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
    expect(opensslVerify(ca.trustBundlePem(), issued.certificateChainPem)).toBe('');
  });

  it('uses a user root as it is', async () => {
    const pki = makeUserPki();
    const ca = await CertificateAuthority.open({
      store: new MemoryCaStateStore(),
      userCa: { certFile: pki.rootCert, keyFile: pki.rootKey },
    });
    const issued = await ca.issueWorkload({ spiffeId: SPIFFE });
    expect(certs(issued.certificateChainPem)).toHaveLength(1);
    expect(opensslVerify(fs.readFileSync(pki.rootCert, 'utf8'), issued.certificateChainPem)).toBe('');
  });

  it('refuses a key that does not match, a non-CA certificate, a missing chain and an expired CA, naming the file', async () => {
    const pki = makeUserPki();
    const open = (userCa: { certFile: string; keyFile: string; chainFile?: string }) =>
      CertificateAuthority.open({ store: new MemoryCaStateStore(), userCa });
    await expect(open({ certFile: pki.rootCert, keyFile: pki.intermediateKey })).rejects.toThrow(
      `--ca-key ${pki.intermediateKey}: does not match the certificate in ${pki.rootCert}`,
    );
    await expect(open({ certFile: pki.intermediateCert, keyFile: pki.intermediateKey })).rejects.toThrow(
      /"O=corp, CN=corp intermediate" is issued by O=corp, CN=corp root, which is not in --ca-cert .*int.pem: give the chain up to the root/,
    );
    // A leaf (CA:false) is not a CA.
    const dir = tmpDir('ca-leaf-');
    openssl(dir, [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.pem',
      '-days',
      '3',
      '-subj',
      '/CN=leaf',
      '-addext',
      'basicConstraints=CA:false',
    ]);
    await expect(open({ certFile: path.join(dir, 'leaf.pem'), keyFile: path.join(dir, 'leaf.key') })).rejects.toThrow(
      /--ca-cert .*leaf.pem: "CN=leaf" is not a CA certificate/,
    );
    await expect(open({ certFile: path.join(dir, 'nope.pem'), keyFile: pki.rootKey })).rejects.toThrow(
      /--ca-cert .*nope.pem: cannot read/,
    );
    fs.writeFileSync(path.join(dir, 'garbage.key'), 'not a key');
    await expect(open({ certFile: pki.rootCert, keyFile: path.join(dir, 'garbage.key') })).rejects.toThrow(
      /--ca-key .*garbage.key: not a PEM private key/,
    );
    // Expired: the CA is checked against the clock.
    await expect(
      CertificateAuthority.open({
        store: new MemoryCaStateStore(),
        userCa: { certFile: pki.rootCert, keyFile: pki.rootKey },
        now: () => Date.now() + 40 * 24 * HOUR,
      }),
    ).rejects.toThrow(/--ca-cert .*root.pem: "O=corp, CN=corp root" expired on/);
  });

  it('switching from the generated CA to user files keeps the old root trusted for the overlap', async () => {
    const store = new MemoryCaStateStore();
    const generated = await CertificateAuthority.open({ store });
    const oldLeaf = await generated.issueWorkload({ spiffeId: SPIFFE });
    const pki = makeUserPki();
    const user = await CertificateAuthority.open({ store, userCa: { certFile: pki.rootCert, keyFile: pki.rootKey } });
    expect(user.state().source).toBe('user');
    expect(user.state().phase.phase).toBe('overlap');
    const newLeaf = await user.issueWorkload({ spiffeId: SPIFFE });
    expect(opensslVerify(user.trustBundlePem(), oldLeaf.certificateChainPem)).toBe('');
    expect(opensslVerify(user.trustBundlePem(), newLeaf.certificateChainPem)).toBe('');
    // The join-token key and revocations carry over.
    expect(user.tokenSigningKey()).toEqual(generated.tokenSigningKey());
    generated.close();
    user.close();
  });
});
