// Which TLS a caller originates and a listener terminates (src/compile/plan/tls.ts): explicit App
// Mesh TLS first, App Mesh's ACM behaviour without a client policy, then meshd's mesh-wide mTLS.
import { downstreamTls, upstreamTls, type ClientTls, type MeshMtls } from '../../src/compile/plan/tls';
import type { VirtualNode } from '../../src/model/virtual-node';

const STRICT: MeshMtls = { mode: 'STRICT', mesh: 'apps', trustDomain: 'td.example' };
const MANAGED_ID = { kind: 'sds', secretName: 'meshd/identity', source: 'ads' };
const MANAGED_TRUST = { kind: 'sds', secretName: 'meshd/trust-bundle', source: 'ads' };
const FILE_TRUST = { file: { certificateChain: '/ca.pem' } };

function node(tls?: object): VirtualNode {
  return {
    kind: 'VirtualNode',
    mesh: 'apps',
    name: 'api',
    spec: {
      listeners: [{ portMapping: { port: 8080, protocol: 'http' }, ...(tls ? { tls } : {}) }],
      serviceDiscovery: { awsCloudMap: { namespaceName: 'apps.local', serviceName: 'api' } },
    },
  } as unknown as VirtualNode;
}

const meshOrigination = {
  certificate: MANAGED_ID,
  validation: { trust: MANAGED_TRUST, spiffeIds: ['spiffe://td.example/mesh/apps/virtualNode/api'] },
};

describe('the TLS a caller originates', () => {
  it('follows a client policy that applies to the port, whatever the mesh mode', () => {
    const policy: ClientTls = { validation: { trust: FILE_TRUST } };
    expect(upstreamTls(policy, { node: node(), port: 8080 }, STRICT)).toEqual({
      validation: { trust: { kind: 'file', trustedCa: '/ca.pem' } },
    });
  });

  it('treats enforce: false and a port outside `ports` as no policy: the mesh-wide mTLS applies', () => {
    const off: ClientTls = { enforce: false, validation: { trust: FILE_TRUST } };
    const elsewhere: ClientTls = { ports: [9090], validation: { trust: FILE_TRUST } };
    expect(upstreamTls(off, { node: node(), port: 8080 }, STRICT)).toEqual(meshOrigination);
    expect(upstreamTls(elsewhere, { node: node(), port: 8080 }, STRICT)).toEqual(meshOrigination);
    expect(upstreamTls(off, { node: node(), port: 8080 }, undefined)).toBeUndefined();
  });

  it("originates TLS to an ACM listener without a client policy, checking its service discovery's name, as App Mesh did", () => {
    const acm = { mode: 'STRICT', certificate: { acm: { certificateArn: 'arn:aws:acm:eu-west-1:1:certificate/x' } } };
    expect(upstreamTls(undefined, { node: node(acm), port: 8080 }, undefined)).toEqual({
      validation: { trust: MANAGED_TRUST, subjectAltNames: ['api.apps.local'] },
    });
  });

  it("leaves a listener's own file TLS or DISABLED alone: plaintext without a client policy, even under STRICT", () => {
    const file = { mode: 'STRICT', certificate: { file: { certificateChain: '/c.pem', privateKey: '/k.pem' } } };
    expect(upstreamTls(undefined, { node: node(file), port: 8080 }, STRICT)).toBeUndefined();
    expect(upstreamTls(undefined, { node: node({ ...file, mode: 'DISABLED' }), port: 8080 }, STRICT)).toBeUndefined();
  });
});

describe('the TLS a listener terminates', () => {
  it("under the mesh-wide mode: the managed identity, and any client whose SPIFFE ID is in the mesh's", () => {
    expect(downstreamTls(undefined, undefined, { ...STRICT, mode: 'PERMISSIVE' })).toEqual({
      mode: 'PERMISSIVE',
      certificate: MANAGED_ID,
      validation: { trust: MANAGED_TRUST, uriSanPrefix: 'spiffe://td.example/mesh/apps/' },
    });
  });

  it("its own tls wins (DISABLED stays plaintext), and App Mesh's sources map to SDS", () => {
    expect(downstreamTls({ mode: 'DISABLED', certificate: { sds: { secretName: 's' } } }, undefined, STRICT)).toBe(
      undefined,
    );
    expect(
      downstreamTls(
        {
          mode: 'STRICT',
          certificate: { sds: { secretName: 'spiffe://x/api' } },
          validation: { trust: { sds: { secretName: 'spiffe://x' } } },
        },
        undefined,
        STRICT,
      ),
    ).toEqual({
      mode: 'STRICT',
      certificate: { kind: 'sds', secretName: 'spiffe://x/api', source: 'spire' },
      validation: { trust: { kind: 'sds', secretName: 'spiffe://x', source: 'spire' } },
    });
  });
});
