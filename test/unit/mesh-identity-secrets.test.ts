// The control layer's side of workload identity: which proxies are served which Secret resources
// (MeshController + ProxySecrets, with a certificate source the test drives), and who may subscribe
// as which node (xdsAuthorizer, with real join tokens and real certificates from meshd's CA).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CertificateAuthority, FileCaStateStore, JoinTokens } from '../../src/ca';
import { MANAGED_IDENTITY_SECRET, MANAGED_TRUST_SECRET, type WorkloadIdentity } from '../../src/compile/identity';
import { MeshController } from '../../src/control/mesh-controller';
import { ProxySecrets, type CertificateSource, type IssuedPems } from '../../src/control/proxy-secrets';
import { nodeIdOfSpiffeId, xdsAuthorizer } from '../../src/control/xds-authorizer';
import { CloudMapRegistry } from '../../src/discovery/cloud-map/registry';
import { loadMesh } from '../../src/load/mesh-source';
import { decodeAny } from '../../src/xds/protos';
import { SnapshotCache } from '../../src/xds/snapshot-cache';
import { TypeUrl } from '../../src/xds/type-urls';
import { meshFolder } from '../helpers/mesh-text';

const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const envoyNode = (id: string) => ({ id, metadata: { fields: {} }, user_agent_name: 'envoy' }) as never;

function model(mtls: 'STRICT' | 'DISABLED') {
  const dir = meshFolder({
    'mesh.yaml': `kind: Mesh
name: apps
spec: { meshd: { mtls: ${mtls} } }
---
kind: VirtualNode
mesh: apps
name: a
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: a.apps.local } }
---
kind: VirtualNode
mesh: apps
name: b
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: b.apps.local } }
  backends: [{ virtualService: { virtualServiceName: a.apps.local } }]
---
kind: VirtualService
mesh: apps
name: a.apps.local
spec: { provider: { virtualNode: { virtualNodeName: a } } }
`,
  });
  const result = loadMesh([dir]);
  if (!result.ok) throw new Error(result.problems[0]?.message);
  return result.model;
}

/** A certificate source the test issues from: each call of issue() makes a new "certificate" for the identity. */
class TestSource implements CertificateSource {
  readonly issued = new Map<string, IssuedPems>();
  readonly asked: WorkloadIdentity[] = [];
  readonly forgotten: string[] = [];
  bundle = 'ROOT-1';
  private listener: ((ids: readonly string[] | 'all') => void) | undefined;
  private serial = 0;
  current(identity: WorkloadIdentity): IssuedPems | undefined {
    this.asked.push(identity);
    return this.issued.get(identity.spiffeId);
  }
  trustBundlePem(): string {
    return this.bundle;
  }
  onChange(listener: (ids: readonly string[] | 'all') => void): void {
    this.listener = listener;
  }
  forget(spiffeId: string): void {
    this.forgotten.push(spiffeId);
  }
  issue(spiffeId: string): void {
    this.serial++;
    this.issued.set(spiffeId, {
      certificateChainPem: `CERT ${spiffeId} #${this.serial}`,
      privateKeyPem: `KEY #${this.serial}`,
    });
    this.listener?.([spiffeId]);
  }
  rotateBundle(bundle: string): void {
    this.bundle = bundle;
    this.listener?.('all');
  }
}

/** The secrets a proxy is served: name → the text of its certificate chain (or its bundle). */
function secretsOf(cache: SnapshotCache, key: string): Record<string, string> {
  const set = cache.get(key)?.types.get(TypeUrl.Secret);
  const out: Record<string, string> = {};
  for (const r of set?.resources.values() ?? []) {
    const secret = decodeAny(r.any).resource as {
      tls_certificate?: { certificate_chain: { inline_bytes: string }; private_key: { inline_bytes: string } };
      validation_context?: { trusted_ca: { inline_bytes: string } };
    };
    const bytes =
      secret.tls_certificate?.certificate_chain.inline_bytes ?? secret.validation_context!.trusted_ca.inline_bytes;
    out[r.name] = Buffer.from(bytes, 'base64').toString();
  }
  return out;
}

describe('MeshController serves each proxy its own managed secrets', () => {
  it('adds them once issued, pushes renewals and bundle changes as SDS alone, and forgets a gone proxy', () => {
    const cache = new SnapshotCache();
    const source = new TestSource();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET as never, {
      secrets: new ProxySecrets(source),
    });
    controller.setModel(model('STRICT'));
    const a = controller.nodeKey(envoyNode('mesh/apps/virtualNode/a'));
    const b = controller.nodeKey(envoyNode('mesh/apps/virtualNode/b'));
    const idA = 'spiffe://meshd.local/mesh/apps/virtualNode/a';
    const idB = 'spiffe://meshd.local/mesh/apps/virtualNode/b';
    // Compiled, certificates not issued yet: the config is served, the secrets are not.
    expect(cache.get(a)?.types.get(TypeUrl.Cluster)).toBeDefined();
    expect(secretsOf(cache, a)).toEqual({});
    expect(source.asked.find((i) => i.spiffeId === idA)?.dnsNames).toEqual(['a.apps.local']);

    source.issue(idA);
    source.issue(idB);
    expect(secretsOf(cache, a)).toEqual({
      [MANAGED_IDENTITY_SECRET]: `CERT ${idA} #1`,
      [MANAGED_TRUST_SECRET]: 'ROOT-1',
    });
    // b is served b's certificate, never a's.
    expect(secretsOf(cache, b)[MANAGED_IDENTITY_SECRET]).toBe(`CERT ${idB} #2`);

    // A renewal of a's certificate changes a's Secret set alone: b's snapshot and a's other types stay as they were.
    const before = { a: cache.get(a)!, b: cache.get(b)! };
    source.issue(idA);
    expect(secretsOf(cache, a)[MANAGED_IDENTITY_SECRET]).toBe(`CERT ${idA} #3`);
    expect(cache.get(b)).toBe(before.b);
    for (const type of [TypeUrl.Cluster, TypeUrl.Listener, TypeUrl.Route, TypeUrl.Endpoint])
      expect(cache.get(a)!.types.get(type)).toBe(before.a.types.get(type));

    // A CA change reaches every proxy.
    source.rotateBundle('ROOT-2\nROOT-1');
    expect(secretsOf(cache, a)[MANAGED_TRUST_SECRET]).toBe('ROOT-2\nROOT-1');
    expect(secretsOf(cache, b)[MANAGED_TRUST_SECRET]).toBe('ROOT-2\nROOT-1');

    // The last proxy of an identity gone: its certificate is forgotten.
    controller.onNodeGone(a);
    expect(source.forgotten).toEqual([idA]);
  });

  it('serves no secrets and asks for no certificate when the mesh names none, and says why when they are withheld', () => {
    const source = new TestSource();
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET as never, {
      secrets: new ProxySecrets(source),
    });
    controller.setModel(model('DISABLED'));
    const a = controller.nodeKey(envoyNode('mesh/apps/virtualNode/a'));
    expect(cache.get(a)?.types.get(TypeUrl.Secret)).toBeUndefined();
    expect(source.asked).toEqual([]);

    const withheld = new SnapshotCache();
    const plain = new MeshController(withheld, new CloudMapRegistry(), QUIET as never, {
      secretsWithheld: 'the xDS port listens on 0.0.0.0 without authentication',
    });
    plain.setModel(model('STRICT'));
    const key = plain.nodeKey(envoyNode('mesh/apps/virtualNode/a'));
    expect(withheld.get(key)?.types.get(TypeUrl.Secret)).toBeUndefined();
    expect(withheld.problem(key)).toMatch(/withheld: the xDS port listens on 0\.0\.0\.0 without authentication/);
  });

  it('issues no certificate for a node compiled ahead of its proxy, and serves it once a proxy claims it', () => {
    const source = new TestSource();
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET as never, {
      secrets: new ProxySecrets(source),
    });
    controller.setModel(model('STRICT'));
    expect(controller.precompile(1000, 60_000)).toBe(2);
    expect(source.asked).toEqual([]);
    const a = controller.nodeKey(envoyNode('mesh/apps/virtualNode/a'));
    expect(source.asked.map((i) => i.spiffeId)).toEqual(['spiffe://meshd.local/mesh/apps/virtualNode/a']);
    source.issue('spiffe://meshd.local/mesh/apps/virtualNode/a');
    expect(Object.keys(secretsOf(cache, a)).sort()).toEqual([MANAGED_IDENTITY_SECRET, MANAGED_TRUST_SECRET]);
  });
});

describe('xdsAuthorizer: a credential subscribes as its own node only', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let tokens: JoinTokens;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-authz-'));
    ca = await CertificateAuthority.open({
      store: new FileCaStateStore(path.join(dir, 'ca.json'), path.join(dir, 'ca.key'), { createKeyIfMissing: true }),
    });
    tokens = new JoinTokens(ca);
  });
  afterAll(() => {
    ca.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('maps meshd SPIFFE IDs to node ids and nothing else', () => {
    expect(nodeIdOfSpiffeId('spiffe://meshd.local/mesh/apps/virtualNode/a')).toBe('mesh/apps/virtualNode/a');
    expect(nodeIdOfSpiffeId('spiffe://x.org/mesh/apps/virtualGateway/gw')).toBe('mesh/apps/virtualGateway/gw');
    for (const other of [
      'spiffe://meshd.local/mesh/apps/virtualNode/a/extra',
      'spiffe://meshd.local/ns/default/sa/a',
      'https://meshd.local/mesh/apps/virtualNode/a',
      'spiffe://meshd.local/mesh/apps/virtualRouter/a',
    ])
      expect(nodeIdOfSpiffeId(other)).toBeUndefined();
  });

  it('lets a token or certificate in as its node (ARN form too) and refuses every other claim', async () => {
    const authorize = xdsAuthorizer(tokens, (mesh) => (mesh === 'apps' ? 'meshd.local' : undefined));
    const { token, id } = await tokens.issue('mesh/apps/virtualNode/a', 60_000);
    const bearer = `Bearer ${token}`;
    const asA = envoyNode('mesh/apps/virtualNode/a');
    const asB = envoyNode('mesh/apps/virtualNode/b');
    expect(await authorize(asA, { authorization: bearer })).toEqual({ credential: `join token ${id}` });
    expect(
      await authorize(envoyNode('arn:aws:appmesh:us-east-1:000000000000:mesh/apps/virtualNode/a'), {
        authorization: bearer,
      }),
    ).toEqual({ credential: `join token ${id}` });
    expect(await authorize(asB, { authorization: bearer })).toMatchObject({ code: 'permission_denied' });
    expect(await authorize(asA, {})).toMatchObject({
      code: 'unauthenticated',
      message: expect.stringMatching(/no credential/),
    });
    expect(await authorize(asA, { authorization: 'Basic abc' })).toMatchObject({ code: 'unauthenticated' });
    expect(await authorize(asA, { authorization: `Bearer ${token.slice(0, -4)}AAAA` })).toMatchObject({
      code: 'unauthenticated',
    });

    const issued = await ca.issueWorkload({ spiffeId: 'spiffe://meshd.local/mesh/apps/virtualNode/a' });
    const certificate = new crypto.X509Certificate(issued.certificateChainPem);
    expect(await authorize(asA, { peerCertificate: certificate })).toEqual({
      credential: `certificate ${certificate.serialNumber.toLowerCase()}`,
    });
    expect(await authorize(asB, { peerCertificate: certificate })).toMatchObject({ code: 'permission_denied' });
    // A's certificate with B's token is still A: every credential given must name the node.
    const { token: tokenB } = await tokens.issue('mesh/apps/virtualNode/b', 60_000);
    expect(await authorize(asB, { peerCertificate: certificate, authorization: `Bearer ${tokenB}` })).toMatchObject({
      code: 'permission_denied',
    });
    // Another trust domain, or a mesh not served, under the same CA (a user's root signing for other systems): refused.
    for (const [spiffeId, why] of [
      ['spiffe://other.org/mesh/apps/virtualNode/a', /trust domain is other\.org; mesh apps's is meshd\.local/],
      ['spiffe://meshd.local/mesh/elsewhere/virtualNode/a', /mesh elsewhere, which is not served/],
    ] as const) {
      const foreign = await ca.issueWorkload({ spiffeId });
      const node = envoyNode(nodeIdOfSpiffeId(spiffeId)!);
      expect(
        await authorize(node, { peerCertificate: new crypto.X509Certificate(foreign.certificateChainPem) }),
      ).toMatchObject({ code: 'permission_denied', message: expect.stringMatching(why) });
    }
    const server = await ca.issueServer({ dnsNames: ['localhost'] });
    expect(
      await authorize(asA, { peerCertificate: new crypto.X509Certificate(server.certificateChainPem) }),
    ).toMatchObject({
      code: 'permission_denied',
      message: expect.stringMatching(/names no meshd node/),
    });
  });
});

describe("MeshIdentity's admin answers: hostile bodies get a 400 naming the fix, never a throw", () => {
  let dir: string;
  let identity: import('../../src/control/mesh-identity').MeshIdentity;
  beforeAll(async () => {
    const { MeshIdentity } = await import('../../src/control/mesh-identity');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-identity-'));
    identity = await MeshIdentity.open(
      { stateFile: path.join(dir, 'state', 'ca.json'), keyFile: path.join(dir, 'state', 'ca.key') },
      QUIET as never,
    );
  });
  afterAll(() => {
    identity.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['/v1/tokens', 'not json', /JSON object/],
    ['/v1/tokens', '[1,2]', /JSON object/],
    ['/v1/tokens', '{"node": 5}', /name the node/],
    ['/v1/tokens', '{"node": "apps/a"}', /is not of the form/],
    ['/v1/tokens', '{"node": "mesh/apps/virtualNode/a", "ttl": "forever"}', /duration/],
    ['/v1/tokens', '{"node": "mesh/apps/virtualNode/a", "ttl": "9000h"}', /at most 366 days/],
    ['/v1/tokens', '{"node": "mesh/apps/virtualNode/a", "ttl": "-5m"}', /duration/],
    ['/v1/tokens/revoke', '{"id": "../../etc"}', /token id/],
    ['/v1/tokens/revoke', `{"id": "${'x'.repeat(200)}"}`, /token id/],
    ['/v1/ca/issue', '{"node": "mesh/apps/virtualNode/a", "trustDomain": "Bad Domain"}', /./],
  ])('POST %s %s', async (pathName, body, message) => {
    const answer = await identity.answer('POST', pathName, body);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    expect(JSON.stringify(answer.body)).toMatch(message);
  });

  it('issues a token that verifies for its node, and a revoked one that does not', async () => {
    const issued = await identity.answer('POST', '/v1/tokens', '{"node": "mesh/apps/virtualNode/a", "ttl": "1h"}');
    expect(issued.status).toBe(201);
    const { token, id } = issued.body as { token: string; id: string };
    expect(await identity.tokens.verify(token)).toMatchObject({ nodeId: 'mesh/apps/virtualNode/a', id });
    expect((await identity.answer('POST', '/v1/tokens/revoke', JSON.stringify({ id }))).status).toBe(200);
    expect(await identity.tokens.verify(token)).toMatchObject({ error: 'revoked' });
    expect((await identity.answer('GET', '/v1/nothing', '')).status).toBe(404);
  });

  it("ends the open streams let in with a token once it is revoked, and no other's", async () => {
    const { StreamRegistry } = await import('../../src/xds/stream-status');
    const streams = new StreamRegistry();
    identity.endRevokedStreams(streams);
    const ended: string[] = [];
    const stream = (streamId: number, credential?: string) =>
      streams.add(
        {
          streamId,
          protocol: 'sotw',
          nodeId: `mesh/apps/virtualNode/n${streamId}`,
          nodeCluster: '',
          nodeKey: `k${streamId}`,
          client: 'envoy',
          peer: '127.0.0.1:1',
          connectedAt: '',
          ...(credential ? { credential } : {}),
          types: new Map(),
        },
        (code, message) => ended.push(`${streamId} ${code} ${message}`),
      );
    const one = (await identity.answer('POST', '/v1/tokens', '{"node": "mesh/apps/virtualNode/n1"}')).body as {
      id: string;
    };
    const two = (await identity.answer('POST', '/v1/tokens', '{"node": "mesh/apps/virtualNode/n2"}')).body as {
      id: string;
    };
    stream(1, `join token ${one.id}`);
    stream(2, `join token ${two.id}`);
    stream(3);
    await identity.answer('POST', '/v1/tokens/revoke', JSON.stringify({ id: one.id }));
    expect(ended).toEqual(['1 unauthenticated join token revoked']);
  });
});

describe("a workload certificate never carries a name of meshd's own xDS certificate", () => {
  it('leaves the server names out of the DNS names a node asks for', async () => {
    const { MeshIdentity } = await import('../../src/control/mesh-identity');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-identity-'));
    const identity = await MeshIdentity.open(
      {
        stateFile: path.join(dir, 'ca.json'),
        keyFile: path.join(dir, 'ca.key'),
        serverNames: { dnsNames: ['meshd.internal'], ipAddresses: [] },
      },
      QUIET as never,
    );
    try {
      const asked = {
        spiffeId: 'spiffe://meshd.local/mesh/apps/virtualNode/a',
        dnsNames: ['meshd.internal', 'a.local'],
      };
      let set = identity.secrets.secretsFor(asked);
      for (let i = 0; !set && i < 200; i++) {
        await new Promise((r) => setTimeout(r, 10));
        set = identity.secrets.secretsFor(asked);
      }
      const secret = decodeAny(set!.resources.get(MANAGED_IDENTITY_SECRET)!.any).resource as {
        tls_certificate: { certificate_chain: { inline_bytes: string } };
      };
      const leaf = new crypto.X509Certificate(
        Buffer.from(secret.tls_certificate.certificate_chain.inline_bytes, 'base64').toString(),
      );
      expect(leaf.subjectAltName).toContain('DNS:a.local');
      expect(leaf.subjectAltName).not.toContain('meshd.internal');
    } finally {
      identity.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
