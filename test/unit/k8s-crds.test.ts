// meshd's CRDs of the App Mesh controller's kinds (k8s/crds.ts) and its install manifests
// (k8s/manifests.ts): structural schemas the API server takes, derived from the App Mesh shapes by
// the inverse of the loader's tables, so that every manifest the loader reads is admitted whole.
// The same against a real kube-apiserver: test/e2e/k8s-crds.test.ts.
import Ajv from 'ajv';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { K8S_ONLY_FIELDS, REFERENCES, RENAMED } from '../../src/load/k8s-manifest';
import {
  CRD_KINDS,
  customResourceDefinitionOf,
  customResourceDefinitions,
  droppedPatterns,
  STATUS_ARN_FIELDS,
  type CrdKind,
} from '../../src/k8s/crds';
import { k8sOnlyFieldNames, K8S_STRUCTURAL_FIELDS, re2Pattern, type JsonSchema } from '../../src/k8s/k8s-shape-schema';
import { APP_MESH_TYPES, type KubeObject } from '../../src/k8s/kube-api';
import {
  installManifests,
  MESHD_CLUSTER_ROLE_RULES,
  MESHD_LEADER_ELECTION_RULES,
  DEFAULT_INSTALL_OPTIONS,
  SIDECAR_INJECTOR_WEBHOOK,
} from '../../src/k8s/manifests';
import { goldenUpdateRequested } from '../helpers/golden';
import { MESHD_BIN } from '../helpers/processes';

const ROOT = path.resolve(__dirname, '../..');
const crds = customResourceDefinitions();

const versionOf = (crd: KubeObject) =>
  (crd.spec as { versions: Record<string, unknown>[] }).versions[0] as {
    name: string;
    served: boolean;
    storage: boolean;
    schema: { openAPIV3Schema: JsonSchema };
    subresources?: Record<string, unknown>;
    additionalPrinterColumns?: { name: string; type: string; jsonPath: string }[];
  };
const rootSchema = (kind: CrdKind) => versionOf(customResourceDefinitionOf(kind).crd).schema.openAPIV3Schema;
const specSchema = (kind: CrdKind) => (rootSchema(kind).properties as Record<string, JsonSchema>).spec!;

const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'];

/** What makes a schema not structural (Kubernetes' rules, those a derived schema could break), as paths. */
function structuralProblems(node: JsonSchema, at: string, inJunctor = false): string[] {
  const problems: string[] = [];
  if (inJunctor) {
    // Inside allOf/anyOf/oneOf/not: no type, description, default, additionalProperties (value validations only).
    for (const k of ['type', 'description', 'default', 'additionalProperties', 'nullable'])
      if (k in node) problems.push(`${at}: '${k}' inside a logical junctor`);
  } else if (typeof node.type !== 'string') problems.push(`${at}: no type`);
  if (node.additionalProperties === false) problems.push(`${at}: additionalProperties: false`);
  if (node.additionalProperties !== undefined && node.properties !== undefined)
    problems.push(`${at}: both properties and additionalProperties`);
  if (typeof node.additionalProperties === 'object')
    problems.push(
      ...structuralProblems(node.additionalProperties as JsonSchema, `${at}.additionalProperties`, inJunctor),
    );
  for (const [k, v] of Object.entries((node.properties as Record<string, JsonSchema> | undefined) ?? {}))
    problems.push(...structuralProblems(v, `${at}.${k}`, inJunctor));
  if (node.items) problems.push(...structuralProblems(node.items as JsonSchema, `${at}[]`, inJunctor));
  for (const j of JUNCTORS) {
    const branches =
      node[j] === undefined ? [] : Array.isArray(node[j]) ? (node[j] as JsonSchema[]) : [node[j] as JsonSchema];
    for (const b of branches) {
      problems.push(...structuralProblems(b, `${at}.${j}`, true));
      // A junctor may only name properties the structural part of the same node has.
      for (const name of (b.required as string[] | undefined) ?? [])
        if (!(name in ((node.properties as object | undefined) ?? {})) && !inJunctor)
          problems.push(`${at}.${j}: requires '${name}', which the node does not declare`);
    }
  }
  if (node.pattern !== undefined && !('pattern' in re2Pattern(new RegExp(node.pattern as string))))
    problems.push(`${at}: pattern ${String(node.pattern)} is not RE2`);
  return problems;
}

/** Every property name anywhere in a schema, with its dotted path. */
function propertyPaths(node: JsonSchema, at = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries((node.properties as Record<string, JsonSchema> | undefined) ?? {})) {
    out.push(`${at}${k}`, ...propertyPaths(v, `${at}${k}.`));
  }
  if (node.items) out.push(...propertyPaths(node.items as JsonSchema, `${at}[].`));
  return out;
}

/** What the API server would prune of `value` under `schema` (unknown fields), as paths. */
function prunedFields(value: unknown, schema: JsonSchema, at: string): string[] {
  if (Array.isArray(value))
    return value.flatMap((v, i) => prunedFields(v, (schema.items as JsonSchema) ?? {}, `${at}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  const props = schema.properties as Record<string, JsonSchema> | undefined;
  const extra = schema.additionalProperties as JsonSchema | undefined;
  return Object.entries(value).flatMap(([k, v]) => {
    const sub = props?.[k] ?? extra;
    return sub === undefined ? [`${at}.${k}`] : prunedFields(v, sub, `${at}.${k}`);
  });
}

/** The App Mesh manifests (and Namespaces) of the repository's Kubernetes fixtures and examples. */
function k8sFixtureObjects(): { file: string; object: KubeObject }[] {
  const dirs = [
    'test/fixtures/dialects/k8s',
    'examples/colorapp-migration/mesh-k8s',
    'test/fixtures/k8s-feature-manifests',
  ];
  return dirs
    .filter((d) => fs.existsSync(path.join(ROOT, d)))
    .flatMap((d) =>
      fs
        .readdirSync(path.join(ROOT, d))
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .flatMap((f) =>
          parseAllDocuments(fs.readFileSync(path.join(ROOT, d, f), 'utf8'))
            .map((doc) => doc.toJS() as KubeObject | null)
            .filter((o): o is KubeObject => o !== null && typeof o === 'object')
            .map((object) => ({ file: `${d}/${f}`, object })),
        ),
    );
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = Object.fromEntries(CRD_KINDS.map((k) => [k, ajv.compile(specSchema(k))]));

describe('CRDs of the App Mesh kinds', () => {
  it('are seven apiextensions.k8s.io/v1 CRDs with the controller names, scope and a served, stored v1beta2', () => {
    expect(crds.map((c) => c.metadata.name)).toEqual(
      CRD_KINDS.map((k) => `${APP_MESH_TYPES[k].plural}.appmesh.k8s.aws`),
    );
    for (const kind of CRD_KINDS) {
      const { crd } = customResourceDefinitionOf(kind);
      const spec = crd.spec as { scope: string; group: string; names: Record<string, unknown> };
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(spec.group).toBe('appmesh.k8s.aws');
      expect(spec.scope).toBe(kind === 'Mesh' ? 'Cluster' : 'Namespaced');
      expect(spec.names).toEqual({
        kind,
        listKind: `${kind}List`,
        plural: APP_MESH_TYPES[kind].plural,
        singular: kind.toLowerCase(),
        categories: ['all'],
      });
      expect(versionOf(crd)).toMatchObject({ name: 'v1beta2', served: true, storage: true });
    }
  });

  it.each(CRD_KINDS)(
    '%s: the schema is structural (every node typed, no additionalProperties: false, RE2 patterns)',
    (kind) => {
      expect(structuralProblems(rootSchema(kind), kind)).toEqual([]);
    },
  );

  it('no pattern of the model had to be dropped, and one RE2 cannot take would be', () => {
    expect(droppedPatterns()).toEqual([]);
    expect(re2Pattern(/^(?=a)/)).toHaveProperty('reason');
    expect(re2Pattern(/^\/(.*\/)?$/)).toEqual({ pattern: '^\\/(.*\\/)?$' });
    expect(re2Pattern(/^abc$/i)).toEqual({ pattern: '(?i)^abc$' });
  });

  it.each(CRD_KINDS)(
    '%s: a status subresource with conditions, observedGeneration and its ARN, and printer columns',
    (kind) => {
      const version = versionOf(customResourceDefinitionOf(kind).crd);
      expect(version.subresources).toEqual({ status: {} });
      const status = (rootSchema(kind).properties as Record<string, JsonSchema>).status!;
      const fields = status.properties as Record<string, JsonSchema>;
      expect(Object.keys((fields.conditions!.items as JsonSchema).properties as object).sort()).toEqual([
        'lastTransitionTime',
        'message',
        'reason',
        'status',
        'type',
      ]);
      expect(fields.observedGeneration).toMatchObject({ type: 'integer' });
      const columns = version.additionalPrinterColumns ?? [];
      expect(columns.at(-1)).toEqual({ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' });
      const arn = STATUS_ARN_FIELDS[kind];
      if (arn === undefined) return;
      expect(fields[arn]).toMatchObject({ type: 'string' });
      expect(columns.map((c) => [c.name, c.jsonPath])).toEqual([
        ['ARN', `.status.${arn}`],
        ['Active', `.status.conditions[?(@.type=="${kind}Active")].status`],
        ['Age', '.metadata.creationTimestamp'],
      ]);
    },
  );

  it("the ARN fields are the App Mesh controller's, and a router's status maps its routes' ARNs", () => {
    expect(STATUS_ARN_FIELDS).toEqual({
      Mesh: 'meshARN',
      VirtualService: 'virtualServiceARN',
      VirtualNode: 'virtualNodeARN',
      VirtualRouter: 'virtualRouterARN',
      VirtualGateway: 'virtualGatewayARN',
      GatewayRoute: 'gatewayRouteARN',
      BackendGroup: undefined,
    });
    const status = (rootSchema('VirtualRouter').properties as Record<string, JsonSchema>).status!;
    expect((status.properties as Record<string, JsonSchema>).routeARNs).toMatchObject({
      type: 'object',
      additionalProperties: { type: 'string' },
    });
  });
});

describe("the CRDs' spec schemas agree with the Kubernetes loader", () => {
  const allPaths = CRD_KINDS.flatMap((k) => propertyPaths(specSchema(k)).map((p) => `${k}.${p}`));
  const leafNames = new Set(allPaths.map((p) => p.split('.').at(-1)!));

  it("every field the loader drops as Kubernetes-only is at the top of some kind's spec, and nothing else is added there", () => {
    const added = CRD_KINDS.flatMap((k) => k8sOnlyFieldNames(k).filter((f) => f !== K8S_STRUCTURAL_FIELDS[k]));
    expect([...new Set(added)].sort()).toEqual([...K8S_ONLY_FIELDS].sort());
    for (const kind of CRD_KINDS) {
      const top = Object.keys(specSchema(kind).properties as object);
      for (const f of k8sOnlyFieldNames(kind)) expect(top).toContain(f);
    }
    expect(Object.keys(specSchema('VirtualRouter').properties as object)).toContain('routes');
    expect(Object.keys(specSchema('VirtualNode').properties as object)).toContain('backendGroups');
  });

  it('every Kubernetes spelling the loader renames appears, and the App Mesh spelling only where the controller keeps it', () => {
    for (const [k8s, api] of Object.entries(RENAMED)) {
      expect(leafNames).toContain(k8s);
      const apiPaths = allPaths.filter((p) => p.split('.').at(-1) === api);
      if (api === 'serviceDiscovery') expect(apiPaths).toEqual(['VirtualNode.serviceDiscovery']);
      else expect(apiPaths).toEqual([]);
    }
    expect(allPaths).toContain('Mesh.meshServiceDiscovery');
    expect(allPaths).toContain(
      'VirtualNode.backends.[].virtualService.clientPolicy.tls.validation.trust.acm.certificateAuthorityARNs',
    );
    expect(allPaths).toContain('VirtualGateway.listeners.[].tls.certificate.acm.certificateARN');
  });

  it('every reference the loader resolves is a Ref/ARN pair, and no App Mesh name reference is left', () => {
    for (const base of Object.keys(REFERENCES)) {
      expect(leafNames).toContain(`${base}Ref`);
      expect(leafNames).toContain(`${base}ARN`);
      expect(leafNames).not.toContain(`${base}Name`);
    }
    expect(allPaths).toContain('VirtualRouter.routes.[].httpRoute.action.weightedTargets.[].virtualNodeRef');
    expect(allPaths).not.toContain('VirtualRouter.routes.[].httpRoute.action.weightedTargets.[].virtualNode');
    expect(allPaths).toContain('GatewayRoute.httpRoute.action.target.virtualService.virtualServiceRef');
    expect(allPaths).toContain('VirtualService.provider.virtualRouter.virtualRouterARN');
  });

  it('the fields of every spec are the reviewed ones (test/fixtures/k8s-crds/spec-fields.txt; MESHD_UPDATE_GOLDEN=1 rewrites it)', () => {
    const file = path.join(ROOT, 'test/fixtures/k8s-crds/spec-fields.txt');
    const text = `${allPaths.join('\n')}\n`;
    if (goldenUpdateRequested()) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
    }
    expect(text).toBe(fs.readFileSync(file, 'utf8'));
  });

  const fixtures = k8sFixtureObjects().filter(({ object }) => object.apiVersion === 'appmesh.k8s.aws/v1beta2');

  it('there are fixtures of every kind meshd reads', () => {
    const kinds = new Set(fixtures.map((f) => f.object.kind));
    for (const kind of CRD_KINDS.filter((k) => k !== 'BackendGroup')) expect(kinds).toContain(kind);
  });

  it("every App Mesh fixture and example manifest is valid for its CRD's spec schema and loses no field to pruning", () => {
    for (const { file, object } of fixtures) {
      const kind = object.kind as CrdKind;
      const validate = validators[kind]!;
      const spec = object.spec ?? {};
      const where = `${file}: ${kind} ${object.metadata.name}`;
      expect({ where, valid: validate(spec), errors: validate.errors ?? null }).toEqual({
        where,
        valid: true,
        errors: null,
      });
      expect({ where, pruned: prunedFields(spec, specSchema(kind), 'spec') }).toEqual({ where, pruned: [] });
    }
  });

  it.each([
    [
      'an enum value App Mesh does not have',
      'VirtualNode',
      { listeners: [{ portMapping: { port: 80, protocol: 'htp' } }] },
    ],
    [
      'both a Ref and an ARN',
      'VirtualService',
      {
        provider: {
          virtualNode: { virtualNodeRef: { name: 'a' }, virtualNodeARN: 'arn:aws:appmesh:r:1:mesh/m/virtualNode/a' },
        },
      },
    ],
    ['neither a Ref nor an ARN for a required reference', 'VirtualService', { provider: { virtualNode: {} } }],
    [
      'two members of an App Mesh union',
      'VirtualNode',
      {
        serviceDiscovery: { dns: { hostname: 'a' }, awsCloudMap: { namespaceName: 'n', serviceName: 's' } },
      },
    ],
    [
      'a route without its name',
      'VirtualRouter',
      {
        listeners: [{ portMapping: { port: 80, protocol: 'http' } }],
        routes: [{ tcpRoute: { action: { weightedTargets: [{ virtualNodeRef: { name: 'a' }, weight: 1 }] } } }],
      },
    ],
    [
      'a route of two kinds',
      'VirtualRouter',
      {
        listeners: [{ portMapping: { port: 80, protocol: 'http' } }],
        routes: [
          {
            name: 'r',
            tcpRoute: { action: { weightedTargets: [{ virtualNodeRef: { name: 'a' }, weight: 1 }] } },
            httpRoute: {
              match: { prefix: '/' },
              action: { weightedTargets: [{ virtualNodeRef: { name: 'a' }, weight: 1 }] },
            },
          },
        ],
      },
    ],
    ['a gateway route of no kind', 'GatewayRoute', { priority: 1 }],
    [
      'an unknown selector operator',
      'Mesh',
      { namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'Is' }] } },
    ],
  ] as const)('refuses %s', (_what, kind, spec) => {
    expect(validators[kind]!(spec)).toBe(false);
  });
});

describe('install manifests', () => {
  const objects = installManifests({
    namespace: 'mesh-system',
    image: 'example/meshd:1',
    proxyInitImage: 'example/proxy-init:1',
    replicas: 2,
    xdsTls: true,
  });
  const find = (kind: string, name?: string) =>
    objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

  it("RBAC is exactly COMMON.md's least privilege", () => {
    const seven = [
      'meshes',
      'virtualservices',
      'virtualnodes',
      'virtualrouters',
      'virtualgateways',
      'gatewayroutes',
      'backendgroups',
    ];
    const norm = (rules: readonly object[]) => rules.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();
    expect(norm(MESHD_CLUSTER_ROLE_RULES)).toEqual(
      norm([
        { apiGroups: ['appmesh.k8s.aws'], resources: seven, verbs: ['list', 'watch'] },
        { apiGroups: ['appmesh.k8s.aws'], resources: seven.map((p) => `${p}/status`), verbs: ['patch'] },
        { apiGroups: ['appmesh.k8s.aws'], resources: ['virtualrouters'], verbs: ['get', 'patch'] },
        { apiGroups: [''], resources: ['namespaces', 'pods'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          resourceNames: ['meshd-sidecar-injector'],
          verbs: ['get', 'patch'],
        },
      ]),
    );
    expect(MESHD_LEADER_ELECTION_RULES).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['meshd-leader'],
        verbs: ['get', 'update'],
      },
      { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['meshd-rollouts'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['meshd-ca'], verbs: ['get', 'update'] },
    ]);
    expect(find('ClusterRole', 'meshd')?.rules).toEqual(MESHD_CLUSTER_ROLE_RULES);
    expect(find('Role', 'meshd-leader-election')).toMatchObject({
      metadata: { namespace: 'mesh-system' },
      rules: MESHD_LEADER_ELECTION_RULES,
    });
    for (const binding of [find('ClusterRoleBinding', 'meshd'), find('RoleBinding', 'meshd-leader-election')])
      expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'meshd', namespace: 'mesh-system' }]);
  });

  it('the Deployment runs meshd in Kubernetes mode, non-root on a read-only root file system, ready on /readyz', () => {
    const deployment = find('Deployment', 'meshd') as unknown as {
      spec: {
        replicas: number;
        template: {
          spec: { securityContext: object; serviceAccountName: string; containers: Record<string, unknown>[] };
        };
      };
    };
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe('meshd');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
    const container = pod.containers[0]!;
    expect(container.image).toBe('example/meshd:1');
    expect((container.args as string[]).join(' ')).toContain(
      'serve --kubernetes --kubernetes-endpoints --kubernetes-namespace mesh-system --webhook-port 9443',
    );
    expect(container.args).toContain('--xds-tls');
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(JSON.stringify(container.readinessProbe)).toContain("path: '/readyz'");
    // Its ports open once every informer has listed: liveness waits for that (a slow API server) up to 5 minutes.
    expect(container.startupProbe).toMatchObject({ failureThreshold: 60, periodSeconds: 5 });
  });

  it('the Service and the sidecar injector webhook', () => {
    expect((find('Service', 'meshd')?.spec as { ports: object[] }).ports).toEqual([
      expect.objectContaining({ port: 18000, targetPort: 'xds' }),
      expect.objectContaining({ port: 443, targetPort: 'webhook' }),
    ]);
    const webhook = (
      find('MutatingWebhookConfiguration', SIDECAR_INJECTOR_WEBHOOK)?.webhooks as Record<string, unknown>[]
    )[0]!;
    expect(webhook).toMatchObject({
      clientConfig: { service: { name: 'meshd', namespace: 'mesh-system', path: '/mutate-pod', port: 443 } },
      namespaceSelector: { matchLabels: { 'appmesh.k8s.aws/sidecarInjectorWebhook': 'enabled' } },
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      failurePolicy: 'Fail',
    });
    expect(webhook.objectSelector).toBeUndefined();
    expect(JSON.stringify(webhook)).not.toContain('caBundle');
  });

  it('include the CRDs after the Namespace, and leave them out when asked', () => {
    expect(objects[0]).toMatchObject({ kind: 'Namespace', metadata: { name: 'mesh-system' } });
    expect(objects.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual(crds);
    const without = installManifests({ ...DEFAULT_INSTALL_OPTIONS, withoutCrds: true });
    expect(without.some((o) => o.kind === 'CustomResourceDefinition')).toBe(false);
  });
});

describe('meshd k8s', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [MESHD_BIN, 'k8s', ...args], { encoding: 'utf8' });

  it('crds prints the seven CRDs as multi-document YAML', () => {
    const res = run('crds');
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const docs = parseAllDocuments(res.stdout).map((d) => d.toJS() as unknown);
    expect(docs).toEqual(JSON.parse(JSON.stringify(crds)));
  });

  it('manifests takes --namespace, --image and --replicas', () => {
    const res = run('manifests', '--namespace', 'mesh-system', '--image', 'example/meshd:2', '--replicas', '3');
    expect(res.status).toBe(0);
    const docs = parseAllDocuments(res.stdout).map((d) => d.toJS() as KubeObject);
    expect(docs).toEqual(
      JSON.parse(
        JSON.stringify(
          installManifests({
            ...DEFAULT_INSTALL_OPTIONS,
            namespace: 'mesh-system',
            image: 'example/meshd:2',
            replicas: 3,
          }),
        ),
      ),
    );
  });

  it.each([
    [['manifests', '--namespace', 'Mesh_System'], '--namespace must be a Kubernetes namespace name'],
    [['manifests', '--replicas', '0'], '--replicas'],
    [['crds', '--image', 'x'], '--image is for meshd k8s manifests only'],
    [['charts'], "unknown k8s command 'charts'"],
    [[], 'name what to print'],
  ])('exits 2 for %j', (args, message) => {
    const res = run(...args);
    expect(res.status).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain(message);
  });
});
