// MeshIdentity after a CA rotation: the proxies are sent the bundle with the new root first, and no
// workload certificate is signed by the new root until BUNDLE_FIRST_MS (5 s) later, whether it is the
// re-issue of all or any other issue in that window (a routine renewal, a new proxy's first certificate,
// which the old root signs meanwhile): a peer that has not got the new bundle yet would refuse it.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MeshIdentity } from '../../src/control/mesh-identity';
import { createLogger } from '../../src/util/log';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

describe('MeshIdentity: bundle first after a CA rotation', () => {
  let dir: string;
  let identity: MeshIdentity | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-identity-'));
  });
  afterEach(() => {
    identity?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('signs nothing by the new root until 5 s after the rotation, even a first certificate', async () => {
    identity = await MeshIdentity.open(
      { stateFile: path.join(dir, 'ca-state.enc.json'), keyFile: path.join(dir, 'ca.key'), workloadTtlMs: 60_000 },
      createLogger({ level: 'error', write: () => undefined }),
    );
    const rotate = await identity.answer('POST', '/v1/ca/rotate', '');
    expect(rotate.status).toBe(200);
    const rotatedAt = Date.now();
    const bundle = identity.ca.trustBundlePem().match(PEM_CERT)!;
    expect(bundle).toHaveLength(2);
    const newRoot = new crypto.X509Certificate(bundle[0]!);

    const oldRoot = new crypto.X509Certificate(bundle[1]!);
    const leaf = (pem: string) => new crypto.X509Certificate(pem.match(PEM_CERT)![0]!);

    // A first certificate asked for in the window comes at once, from the old root every proxy trusts.
    const web = { spiffeId: 'spiffe://meshd.local/mesh/demo/virtualNode/web', dnsNames: [] };
    let issued = identity.certificates.current(web);
    while (!issued && Date.now() - rotatedAt < 15_000) {
      await new Promise((r) => setTimeout(r, 20));
      issued = identity.certificates.current(web);
    }
    expect(issued).toBeDefined();
    expect(Date.now() - rotatedAt).toBeLessThan(4_000);
    expect(leaf(issued!.certificateChainPem).checkIssued(oldRoot)).toBe(true);

    // It is issued again by the new root, and not before the window ends.
    while (
      !leaf(identity.certificates.current(web)?.certificateChainPem ?? issued!.certificateChainPem).checkIssued(newRoot)
    ) {
      if (Date.now() - rotatedAt > 15_000) throw new Error('no certificate from the new root within 15 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual(4_900);
  }, 30_000);
});
