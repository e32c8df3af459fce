// SDS over ADS against a real Envoy, which itself connects over TLS with a client certificate:
// a cluster whose TLS names secrets served over ADS warms until they arrive and then becomes
// active; a changed certificate reaches Envoy (/certs shows its serial) with SDS alone, no CDS
// response and no change of the cluster's version. Both protocols (SotW and Delta).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { AuthorizeResult, StreamCredentials } from '../../src/xds/ads-session';
import { encodeResource } from '../../src/xds/protos';
import { startXdsServer, type XdsServer } from '../../src/xds/server';
import { buildSnapshot, makeResource, SnapshotCache, type Resource } from '../../src/xds/snapshot-cache';
import { TypeUrl } from '../../src/xds/type-urls';
import { createTestPki, issueCertificate, type TestPki } from '../helpers/certs';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import { freePorts, getOk, waitFor } from '../helpers/processes';

const NODE_ID = 'mesh/sds/virtualNode/client';
const SERVER_NAME = 'xds.meshd.test';
const SDS = { ads: {}, resource_api_version: 'V3' };
const read = (file: string) => fs.readFileSync(file);

function bootstrap(o: { adminPort: number; xdsPort: number; pki: TestPki; delta: boolean }): string {
  const proxy = o.pki.certs.proxy!;
  return JSON.stringify({
    node: { id: NODE_ID, cluster: 'client' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort } } },
    dynamic_resources: {
      ads_config: {
        api_type: o.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'xds',
          type: 'STATIC',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: 'xds',
            endpoints: [
              {
                lb_endpoints: [
                  { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: o.xdsPort } } } },
                ],
              },
            ],
          },
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
              sni: SERVER_NAME,
              common_tls_context: {
                alpn_protocols: ['h2'],
                tls_certificates: [
                  { certificate_chain: { filename: proxy.certFile }, private_key: { filename: proxy.keyFile } },
                ],
                validation_context: {
                  trusted_ca: { filename: o.pki.ca.certFile },
                  match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: SERVER_NAME } }],
                },
              },
            },
          },
        },
      ],
    },
  });
}

/** A cluster whose upstream TLS takes its certificate and its trust bundle from SDS over ADS. */
function backendCluster(): Resource {
  const cluster = {
    name: 'backend',
    type: 'STATIC',
    connect_timeout: { seconds: 1 },
    load_assignment: {
      cluster_name: 'backend',
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9 } } } }] },
      ],
    },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: {
          tls_certificate_sds_secret_configs: [{ name: 'meshd/identity', sds_config: SDS }],
          validation_context_sds_secret_config: { name: 'meshd/trust-bundle', sds_config: SDS },
        },
      },
    },
  };
  return makeResource(TypeUrl.Cluster, 'backend', encodeResource(TypeUrl.Cluster, cluster));
}

function secrets(pki: TestPki, leaf: { certFile: string; keyFile: string }): Resource[] {
  const identity = {
    name: 'meshd/identity',
    tls_certificate: {
      certificate_chain: { inline_bytes: read(leaf.certFile) },
      private_key: { inline_bytes: read(leaf.keyFile) },
    },
  };
  const trust = {
    name: 'meshd/trust-bundle',
    validation_context: { trusted_ca: { inline_bytes: read(pki.ca.certFile) } },
  };
  return [identity, trust].map((s) => makeResource(TypeUrl.Secret, s.name, encodeResource(TypeUrl.Secret, s)));
}

interface ClusterDump {
  dynamic_active_clusters?: { version_info: string; cluster: { name: string } }[];
  dynamic_warming_clusters?: { cluster: { name: string } }[];
}

async function clustersDump(envoy: RunningEnvoy): Promise<ClusterDump> {
  const dump = JSON.parse(await getOk(envoy.adminPort, '/config_dump')) as { configs: { '@type': string }[] };
  return dump.configs.find((c) => c['@type'].endsWith('ClustersConfigDump')) as ClusterDump;
}

/** Serial numbers of the certificates Envoy holds (/certs), as hex strings. */
async function serials(envoy: RunningEnvoy): Promise<string[]> {
  const certs = JSON.parse(await getOk(envoy.adminPort, '/certs')) as {
    certificates: { cert_chain?: { serial_number: string }[] }[];
  };
  return certs.certificates.flatMap((c) => (c.cert_chain ?? []).map((x) => x.serial_number.toLowerCase()));
}

const serialOf = (certFile: string) => new crypto.X509Certificate(read(certFile)).serialNumber.toLowerCase();

describeWithEnvoy('SDS over ADS with a real Envoy', (envoyBin) => {
  let pki: TestPki;
  beforeAll(() => {
    pki = createTestPki({ server: [SERVER_NAME], proxy: ['client.sds.local'], workload: ['client.sds.local'] });
  });

  for (const delta of [false, true]) {
    describe(delta ? 'Delta' : 'SotW', () => {
      let server: XdsServer;
      let envoy: RunningEnvoy | undefined;
      const sent: string[] = [];
      const creds: StreamCredentials[] = [];

      afterEach(async () => {
        await envoy?.stop();
        await server?.close();
      });

      it('warms the cluster until its secrets arrive, then picks up a rotated certificate with SDS alone', async () => {
        const cache = new SnapshotCache();
        const cluster = backendCluster();
        cache.set(NODE_ID, buildSnapshot(new Map([[TypeUrl.Cluster, [cluster]]])));
        server = await startXdsServer({
          host: '127.0.0.1',
          port: 0,
          cache,
          log: { debug: () => {}, info: () => {}, warn: () => {} },
          tls: {
            certificateChainPem: read(pki.certs.server!.certFile).toString(),
            privateKeyPem: read(pki.certs.server!.keyFile).toString(),
            trustedCaPem: read(pki.ca.certFile).toString(),
          },
          observer: { responseSent: (typeUrl) => sent.push(typeUrl) },
          hooks: {
            nodeKey: (node) => node.id,
            authorize: (_node, c): AuthorizeResult => {
              creds.push(c);
              return c.peerCertificate ? undefined : { code: 'unauthenticated', message: 'no certificate' };
            },
          },
        });
        const [adminPort] = (await freePorts(1)) as [number];
        envoy = startEnvoy(envoyBin, bootstrap({ adminPort, xdsPort: server.port, pki, delta }), adminPort);

        // No secret yet: the cluster warms (Envoy asked for both by name).
        await waitFor(
          'the backend cluster warming',
          async () =>
            ((await clustersDump(envoy!)).dynamic_warming_clusters ?? []).some((c) => c.cluster.name === 'backend') ||
            undefined,
          15000,
        ).catch((err: Error) => {
          throw new Error(`${err.message}\n${envoy!.logs().slice(-3000)}`);
        });
        expect(creds[0]?.peerCertificate?.subjectAltName).toBe('DNS:client.sds.local');

        const workload = pki.certs.workload!;
        cache.set(
          NODE_ID,
          buildSnapshot(
            new Map([
              [TypeUrl.Cluster, [cluster]],
              [TypeUrl.Secret, secrets(pki, workload)],
            ]),
          ),
        );
        // Well before Envoy's initial_fetch_timeout (15 s), after which it would give up waiting for the secrets.
        const active = await waitFor(
          'the backend cluster active',
          async () => (await clustersDump(envoy!)).dynamic_active_clusters?.find((c) => c.cluster.name === 'backend'),
          5000,
        );
        await waitFor(
          'the first certificate in /certs',
          async () => (await serials(envoy!)).includes(serialOf(workload.certFile)) || undefined,
        );

        // Rotation: a new certificate for the same identity; the cluster is the same resource.
        const cdsBefore = sent.filter((t) => t === TypeUrl.Cluster).length;
        const rotated = issueCertificate(pki.ca, pki.dir, `rotated-${delta ? 'delta' : 'sotw'}`, ['client.sds.local']);
        cache.set(
          NODE_ID,
          buildSnapshot(
            new Map([
              [TypeUrl.Cluster, [cluster]],
              [TypeUrl.Secret, secrets(pki, rotated)],
            ]),
          ),
        );
        await waitFor('the rotated certificate in /certs', async () => {
          const now = await serials(envoy!);
          return (now.includes(serialOf(rotated.certFile)) && !now.includes(serialOf(workload.certFile))) || undefined;
        });
        expect(sent.filter((t) => t === TypeUrl.Cluster).length).toBe(cdsBefore);
        expect(sent.filter((t) => t === TypeUrl.Listener)).toEqual([]);
        const after = (await clustersDump(envoy!)).dynamic_active_clusters?.find((c) => c.cluster.name === 'backend');
        expect(after?.version_info).toBe(active.version_info);
        expect(creds).toHaveLength(1);
      }, 60000);
    });
  }
});
