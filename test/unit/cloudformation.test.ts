// The CloudFormation dialect: templates shaped like the App Mesh walkthroughs load as App Mesh
// would have them, the intrinsic functions give what CloudFormation gives, Cloud Map resources
// seed the local registry, and findings point at the template.
import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { parseArgs } from '../../src/cli/args';
import { loadOptions } from '../../src/cli/mesh-flags';
import { validateCommand } from '../../src/cli/validate';
import { offlineRegistry } from '../../src/control/offline-registry';
import type { CloudFormationOptions } from '../../src/load/cloudformation/stack-inputs';
import { loadDocuments, loadMesh, type LoadResult } from '../../src/load/mesh-source';
import { parseYamlDocuments } from '../../src/load/yaml-documents';
import { editWeights } from '../../src/rollout/route-file';
import { formatProblem } from '../../src/load/problems';
import { meshFolder } from '../helpers/mesh-text';

const FIXTURES = path.join(__dirname, '../fixtures/cloudformation');

function loadFolder(folder: string, parameters: Record<string, string>): LoadResult {
  return loadMesh([path.join(FIXTURES, folder)], {
    cloudFormation: { parameters: new Map(Object.entries(parameters)) },
  });
}

/** Findings without the folder, `file:line:col: severity: ...`. */
function findings(result: LoadResult, dir: string): string[] {
  return result.problems.map((p) => formatProblem(p).replaceAll(dir + path.sep, ''));
}

describe('CloudFormation templates of the App Mesh walkthroughs', () => {
  it('howto-grpc: names from !Sub and !GetAtt, Cloud Map discovery, a gRPC route', () => {
    const result = loadFolder('grpc', { ProjectName: 'demo' });
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(
      result.model.resources.map(
        (r) => `${r.kind} ${r.mesh}/${r.kind === 'Route' ? `${r.virtualRouter}/` : ''}${r.name}`,
      ),
    ).toEqual([
      'Mesh demo-mesh/demo-mesh',
      'Route demo-mesh/server-router/server-route',
      'VirtualNode demo-mesh/grpc_client',
      'VirtualNode demo-mesh/grpc_server',
      'VirtualRouter demo-mesh/server-router',
      'VirtualService demo-mesh/grpc_server.demo.local',
    ]);
    const server = result.model.virtualNodes().find((n) => n.name === 'grpc_server')!;
    expect(server.spec).toEqual({
      listeners: [
        {
          portMapping: { port: 8080, protocol: 'grpc' },
          healthCheck: {
            healthyThreshold: 2,
            intervalMillis: 5000,
            timeoutMillis: 2000,
            unhealthyThreshold: 3,
            port: 8080,
            protocol: 'grpc',
          },
        },
      ],
      serviceDiscovery: { awsCloudMap: { namespaceName: 'demo.local', serviceName: 'grpc_server' } },
    });
    expect(result.model.resources.find((r) => r.kind === 'Route')!.spec).toEqual({
      grpcRoute: {
        action: { weightedTargets: [{ virtualNode: 'grpc_server', weight: 100 }] },
        match: { serviceName: 'echo.EchoService', methodName: 'Echo' },
      },
    });
    // The walkthrough's client is reached by nothing, and meshd says so, as it does in every dialect.
    expect(findings(result, path.join(FIXTURES, 'grpc'))).toEqual([
      'mesh.yaml:16:24: warning: VirtualNode/grpc_client: no virtual service reaches this node: no service names it as provider and no route targets it (Resources.ClientNode.Properties.VirtualNodeName)',
    ]);
  });

  it('howto-cross-account: the second account adds a node to the mesh the first one shares', () => {
    const result = loadFolder('cross-account', {
      ProjectName: 'demo',
      MeshName: 'demo-mesh',
      MeshOwner: '111122223333',
    });
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(
      result.model.virtualNodes().map((n) => `${n.mesh}/${n.name} ${n.source.file.split(path.sep).pop()}`),
    ).toEqual([
      'demo-mesh/backend-1-vn primary.yaml',
      'demo-mesh/backend-2-vn secondary.yaml',
      'demo-mesh/front-vn primary.yaml',
    ]);
    expect(result.model.virtualNodes()[1]!.spec.serviceDiscovery).toEqual({
      dns: { hostname: 'backend.second.demo.local' },
    });
  });

  it('howto-ecs-basics: a Cloud Map namespace and service seed the registry; VPC, IAM and ECS resources are skipped', () => {
    const result = loadFolder('ecs-basics', { ProjectName: 'demo' });
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(result.cloudMapSeeds.map((s) => s.seed)).toEqual([
      { namespace: 'demo.pvtdns', service: 'color', instances: [] },
    ]);
    const color = result.model.virtualNodes().find((n) => n.name === 'demo-color-node')!;
    expect(color.spec.serviceDiscovery).toEqual({
      awsCloudMap: {
        namespaceName: 'demo.pvtdns',
        serviceName: 'color',
        attributes: [{ key: 'ECS_TASK_DEFINITION_FAMILY', value: 'demo-color' }],
      },
    });
    // A Number parameter is a string to Ref and to !Sub; the port property turns it into a port.
    expect(color.spec.listeners![0]!.portMapping.port).toBe(8080);
    expect(
      result.model.virtualNodes().find((n) => n.name === 'demo-front-node')!.spec.listeners![0]!.portMapping.port,
    ).toBe(8080);
    expect(result.model.resources.filter((r) => r.kind === 'VirtualService').map((s) => s.name)).toEqual([
      'color.demo.mesh.local',
    ]);
    expect(findings(result, path.join(FIXTURES, 'ecs-basics')).filter((f) => f.includes('info:'))).toEqual([
      'meshify.yaml:22:5: info: skipping AWS::EC2::VPC/VPC: not an App Mesh resource',
      'meshify.yaml:28:5: info: skipping AWS::EC2::Subnet/PublicSubnet1: not an App Mesh resource',
      'meshify.yaml:35:5: info: skipping AWS::IAM::Role/TaskIamRole: not an App Mesh resource',
      'meshify.yaml:65:5: info: skipping AWS::ECS::TaskDefinition/ColorTaskDef: not an App Mesh resource',
      'meshify.yaml:85:5: info: skipping AWS::ECS::Service/ColorECSService: not an App Mesh resource',
    ]);
  });

  it('a --parameter no template declares is a warning (a misspelt name would otherwise go unnoticed)', () => {
    const result = loadFolder('grpc', { ProjectName: 'demo', Projectname: 'typo' });
    expect(findings(result, path.join(FIXTURES, 'grpc'))[0]).toBe(
      "mesh.yaml:2:3: warning: --parameter Projectname: no template declares a parameter 'Projectname'; did you mean 'ProjectName'?",
    );
  });

  it('a parameter without a Default needs --parameter: the error names it, once, at its first use', () => {
    const result = loadMesh([path.join(FIXTURES, 'grpc')]);
    expect(findings(result, path.join(FIXTURES, 'grpc'))).toEqual([
      "mesh.yaml:10:22: error: Mesh/?: Fn::Sub: parameter 'ProjectName' has no value: give it a Default or pass --parameter ProjectName=<value> (Resources.Mesh.Properties.MeshName)",
    ]);
  });
});

// ---- intrinsic functions, one value at a time: a node's DNS hostname is the expression under test ----

const STACK = `Parameters:
  Name: { Type: String, Default: web }
  Env: { Type: String, Default: prod, AllowedValues: [prod, dev] }
  Port: { Type: Number, Default: 8080 }
  Hosts: { Type: CommaDelimitedList, Default: 'x,y,z' }
  Owner: { Type: String, Default: '111122223333' }
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Equals ['8080', !Ref Port]]
  Either: !Or [!Condition IsDev, !Equals [a, b]]
Mappings:
  RegionHosts:
    us-east-1: { Host: east.example }
    eu-west-1: { Host: west.example }
Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties: { MeshName: m }
  Router:
    Type: AWS::AppMesh::VirtualRouter
    Properties:
      MeshName: m
      VirtualRouterName: r
      Spec: { Listeners: [{ PortMapping: { Port: 80, Protocol: http } }] }
  Route:
    Type: AWS::AppMesh::Route
    Properties:
      MeshName: m
      VirtualRouterName: !GetAtt Router.VirtualRouterName
      RouteName: rt
      Spec: { HttpRoute: { Match: { Prefix: / }, Action: { WeightedTargets: [{ VirtualNode: node, Weight: 1 }] } } }
  Gateway:
    Type: AWS::AppMesh::VirtualGateway
    Properties:
      MeshName: m
      VirtualGatewayName: gw
      Spec: { Listeners: [{ PortMapping: { Port: 8088, Protocol: http } }] }
  GatewayRoute:
    Type: AWS::AppMesh::GatewayRoute
    Properties:
      MeshName: m
      VirtualGatewayName: gw
      GatewayRouteName: gr
      Spec: { HttpRoute: { Match: { Prefix: / }, Action: { Target: { VirtualService: { VirtualServiceName: svc } } } } }
  Service:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: m
      VirtualServiceName: svc
      Spec: { Provider: { VirtualRouter: { VirtualRouterName: r } } }
  Shared:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: m
      MeshOwner: !Ref Owner
      VirtualNodeName: shared
      Spec: {}
  Node:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: !GetAtt Mesh.MeshName
      VirtualNodeName: node
      Spec:
        Listeners: [{ PortMapping: { Port: 80, Protocol: http } }]
        ServiceDiscovery:
          DNS:
            Hostname: `;

/** The hostname `expression` (YAML, after `Hostname: `) gives. */
function hostname(expression: string, options: CloudFormationOptions = {}): string {
  const dir = meshFolder({ 'stack.yaml': `${STACK}${expression}\n` });
  const result = loadMesh([dir], { cloudFormation: options });
  if (!result.ok) throw new Error(findings(result, dir).join('\n'));
  const node = result.model.virtualNodes().find((n) => n.name === 'node')!;
  return (node.spec.serviceDiscovery as { dns: { hostname: string } }).dns.hostname;
}

describe('intrinsic functions', () => {
  it.each([
    ['!Ref Name', 'web'],
    ['!Ref Port', '8080'],
    ['!Ref AWS::Region', 'us-east-1'],
    ['!Ref AWS::AccountId', '000000000000'],
    ['!Ref AWS::StackName', 'stack'],
    ['!Ref AWS::Partition', 'aws'],
    ['!Ref AWS::URLSuffix', 'amazonaws.com'],
    // Ref of an App Mesh resource is its ARN, as CloudFormation's resource reference says.
    ['!Ref Mesh', 'arn:aws:appmesh:us-east-1:000000000000:mesh/m'],
    ['!Ref Router', 'arn:aws:appmesh:us-east-1:000000000000:mesh/m/virtualRouter/r'],
    ['!GetAtt Route.Arn', 'arn:aws:appmesh:us-east-1:000000000000:mesh/m/virtualRouter/r/route/rt'],
    ['!GetAtt GatewayRoute.Arn', 'arn:aws:appmesh:us-east-1:000000000000:mesh/m/virtualGateway/gw/gatewayRoute/gr'],
    ['!GetAtt Service.Arn', 'arn:aws:appmesh:us-east-1:000000000000:mesh/m/virtualService/svc'],
    // A node in a shared mesh: the ARN and MeshOwner are the owner's account, ResourceOwner the stack's.
    ['!GetAtt Shared.Arn', 'arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualNode/shared'],
    ['!GetAtt Shared.MeshOwner', '111122223333'],
    ['!GetAtt Shared.ResourceOwner', '000000000000'],
    ['!GetAtt Mesh.MeshOwner', '000000000000'],
    ['!GetAtt Route.VirtualRouterName', 'r'],
    ['!GetAtt Route.RouteName', 'rt'],
    ['!GetAtt GatewayRoute.VirtualGatewayName', 'gw'],
    ['!GetAtt [Gateway, VirtualGatewayName]', 'gw'],
    ["{ 'Fn::GetAtt': Service.VirtualServiceName }", 'svc'],
    ["!Sub '${Name}.${AWS::Region}'", 'web.us-east-1'],
    ["!Sub '${!Literal}-${Name}'", '${Literal}-web'],
    ["!Sub ['${A}-${Name}', { A: !Ref Env }]", 'prod-web'],
    ["!Sub '${Router.VirtualRouterName}.${Mesh.MeshName}'", 'r.m'],
    ["!Join ['-', [a, !Ref Name, 3]]", 'a-web-3'],
    ["!Join ['', !Split [',', 'a,b,c']]", 'abc'],
    ["!Select [1, !Split [',', 'a,b,c']]", 'b'],
    ["!Select ['2', !Ref Hosts]", 'z'],
    ['!If [IsProd, prod, dev]', 'prod'],
    ['!If [IsDev, dev, prod]', 'prod'],
    ['!If [Both, both, neither]', 'both'],
    ['!If [Either, either, neither]', 'neither'],
    ['!FindInMap [RegionHosts, !Ref AWS::Region, Host]', 'east.example'],
    ['!Base64 abc', 'YWJj'],
    ["{ 'Fn::Join': ['.', [{ Ref: Name }, { 'Fn::Sub': '${Env}' }]] }", 'web.prod'],
  ])('%s gives %s', (expression, expected) => {
    expect(hostname(expression)).toBe(expected);
  });

  it('Uid is a UUID, the same for the same ARN', () => {
    const uid = hostname('!GetAtt Node.Uid');
    expect(uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(hostname('!GetAtt Node.Uid')).toBe(uid);
    expect(hostname('!GetAtt Shared.Uid')).not.toBe(uid);
  });

  it('--parameter, --region, --account-id, --stack-name and --import-value give what the stack would have had', () => {
    expect(hostname('!Ref Name', { parameters: new Map([['Name', 'api']]) })).toBe('api');
    expect(hostname('!If [IsProd, prod, dev]', { parameters: new Map([['Env', 'dev']]) })).toBe('dev');
    expect(hostname('!FindInMap [RegionHosts, !Ref AWS::Region, Host]', { region: 'eu-west-1' })).toBe('west.example');
    expect(hostname('!Ref Mesh', { region: 'cn-north-1', accountId: '123456789012' })).toBe(
      'arn:aws-cn:appmesh:cn-north-1:123456789012:mesh/m',
    );
    expect(hostname('!Ref AWS::URLSuffix', { region: 'cn-north-1' })).toBe('amazonaws.com.cn');
    expect(hostname('!Ref AWS::StackName', { stackName: 'prod-mesh' })).toBe('prod-mesh');
    expect(hostname('!ImportValue shared:host', { importValues: new Map([['shared:host', 'db.internal']]) })).toBe(
      'db.internal',
    );
  });

  it("--resource-value gives Ref and Fn::GetAtt of a resource meshd does not model (the walkthroughs' load balancer DNSName)", () => {
    const lb =
      '\n  PublicLoadBalancer:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties: { Scheme: internet-facing }';
    const resourceValues = new Map([
      ['PublicLoadBalancer.DNSName', 'lb-1.elb.example'],
      ['PublicLoadBalancer', 'arn:aws:elasticloadbalancing:lb-1'],
    ]);
    expect(hostname(`!GetAtt PublicLoadBalancer.DNSName${lb}`, { resourceValues })).toBe('lb-1.elb.example');
    expect(hostname(`!Select [1, !Split [':', !Ref PublicLoadBalancer]]${lb}`, { resourceValues })).toBe('aws');
  });

  it('AWS::NoValue leaves a property or a list item out', () => {
    const dir = meshFolder({
      'stack.yaml': `${STACK}n.local\n        Backends:\n          - !If [IsDev, { VirtualService: { VirtualServiceName: svc } }, !Ref AWS::NoValue]\n          - VirtualService: { VirtualServiceName: svc, ClientPolicy: !Ref AWS::NoValue }\n`,
    });
    const result = loadMesh([dir]);
    const node = result.ok ? result.model.virtualNodes().find((n) => n.name === 'node') : undefined;
    expect(node?.spec.backends).toEqual([{ virtualService: { virtualServiceName: 'svc' } }]);
  });
});

describe('positions in the template', () => {
  it('a field in the branch Fn::If took is found where it is written', () => {
    const dir = meshFolder({
      'stack.yaml': `${STACK}n.local
      Tags:
        - !If
          - IsProd
          - { Key: team, Value: ${'v'.repeat(257)} }
          - !Ref AWS::NoValue
`,
    });
    expect(findings(loadMesh([dir]), dir)).toEqual([
      `stack.yaml:72:33: error: VirtualNode/node: must be 0–256 characters long, got 257 (Resources.Node.Properties.Tags[0].Fn::If[1].Value)`,
    ]);
  });

  it('a list item after one that AWS::NoValue left out is found where it is written', () => {
    const dir = meshFolder({
      'stack.yaml': `${STACK}n.local
        Backends:
          - !If [IsDev, { VirtualService: { VirtualServiceName: svc } }, !Ref AWS::NoValue]
          - VirtualService: { VirtualServiceName: ghost }
`,
    });
    expect(findings(loadMesh([dir]), dir)).toEqual([
      "stack.yaml:71:51: error: VirtualNode/node: virtual service 'ghost' is not defined in mesh 'm' (Resources.Node.Properties.Spec.Backends[1].VirtualService.VirtualServiceName)",
    ]);
  });

  it('an unknown short tag is refused at the tag', () => {
    const dir = meshFolder({
      'stack.yaml': 'Resources:\n  Mesh:\n    Type: AWS::AppMesh::Mesh\n    Properties: { MeshName: !Foo m }\n',
    });
    expect(findings(loadMesh([dir]), dir)).toEqual([
      "stack.yaml:4:29: error: invalid YAML: unknown tag !Foo; the tags meshd reads are CloudFormation's short forms (!Ref, !Sub, !GetAtt, !If, !Join, ...)",
    ]);
  });
});

describe('resources', () => {
  it('without their optional name are named after their logical ID, with an info line; a false Condition skips a resource', () => {
    const dir = meshFolder({
      'stack.yaml': `Conditions:
  Never: !Equals [a, b]
Resources:
  AppMesh:
    Type: AWS::AppMesh::Mesh
  Api:
    Type: AWS::AppMesh::VirtualNode
    Properties: { MeshName: !GetAtt AppMesh.MeshName, Spec: {} }
  Legacy:
    Type: AWS::AppMesh::VirtualNode
    Condition: Never
    Properties: { MeshName: !Ref AWS::NoValue, Spec: {} }
`,
    });
    const result = loadMesh([dir]);
    expect(result.ok && result.model.resources.map((r) => `${r.kind} ${r.mesh}/${r.name}`)).toEqual([
      'Mesh AppMesh/AppMesh',
      'VirtualNode AppMesh/Api',
    ]);
    expect(findings(result, dir)).toEqual([
      "stack.yaml:5:5: info: Mesh/AppMesh: no MeshName: named 'AppMesh' after its logical ID (CloudFormation would generate a name)",
      "stack.yaml:7:5: info: VirtualNode/Api: no VirtualNodeName: named 'Api' after its logical ID (CloudFormation would generate a name)",
      "stack.yaml:11:16: info: skipping AWS::AppMesh::VirtualNode/Legacy: its Condition 'Never' is false",
    ]);
  });
});

describe('canary rollouts', () => {
  it('edit the weights of a route written in a template in place (the rollout controller writes through whereWritten)', () => {
    const dir = meshFolder({
      'shop.yaml': fs.readFileSync(path.join(__dirname, '../fixtures/dialects/cloudformation/shop.yaml'), 'utf8'),
    });
    const result = loadMesh([dir]);
    if (!result.ok) throw new Error(findings(result, dir).join('\n'));
    const route = result.model.routesOf('shop', 'catalog_shop').find((r) => r.name === 'catalog-canary')!;
    const weight = (i: number) =>
      result.whereWritten(route, ['spec', 'httpRoute', 'action', 'weightedTargets', i, 'weight'])!;
    expect(weight(1)).toEqual({
      file: path.join(dir, 'shop.yaml'),
      document: 0,
      path: [
        'Resources',
        'CatalogCanaryRoute',
        'Properties',
        'Spec',
        'HttpRoute',
        'Action',
        'WeightedTargets',
        1,
        'Weight',
      ],
    });
    expect(
      editWeights(
        [
          { at: weight(0), expected: 90, value: 70 },
          { at: weight(1), expected: 10, value: 30 },
        ],
        [{ at: result.whereWritten(route, ['name'])!, value: 'catalog-canary' }],
      ),
    ).toEqual({ ok: true });
    const reloaded = loadMesh([dir]);
    const after = reloaded.ok
      ? reloaded.model.routesOf('shop', 'catalog_shop').find((r) => r.name === 'catalog-canary')
      : undefined;
    expect(after?.spec.httpRoute?.action.weightedTargets.map((t) => t.weight)).toEqual([70, 30]);
  });
});

describe('Cloud Map resources', () => {
  const CLOUD_MAP = `Resources:
  Namespace:
    Type: AWS::ServiceDiscovery::HttpNamespace
    Properties: { Name: apps.local }
  Registry:
    Type: AWS::ServiceDiscovery::Service
    Properties:
      Name: api
      NamespaceId: !Ref Namespace
      HealthCheckCustomConfig: { FailureThreshold: 1 }
  Task1:
    Type: AWS::ServiceDiscovery::Instance
    Properties:
      ServiceId: !GetAtt Registry.Id
      InstanceId: task-1
      InstanceAttributes: { AWS_INSTANCE_IPV4: 10.0.0.1, AWS_INSTANCE_PORT: 8080 }
  Task2:
    Type: AWS::ServiceDiscovery::Instance
    Properties:
      ServiceId: !Ref Registry
      InstanceAttributes: { AWS_INSTANCE_IPV4: 10.0.0.2, AWS_INSTANCE_PORT: '8080', version: v2 }
`;

  it('seed the local registry: a service, its namespace by name, and its instances (an instance without InstanceId is named after its logical ID)', () => {
    const dir = meshFolder({ 'cloud-map.yaml': CLOUD_MAP, 'mesh.yaml': 'kind: Mesh\nname: m\n' });
    const result = loadMesh([dir]);
    if (!result.ok) throw new Error(findings(result, dir).join('\n'));
    expect(result.cloudMapSeeds.map((s) => s.seed)).toEqual([
      {
        namespace: 'apps.local',
        service: 'api',
        instances: [
          { id: 'task-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '8080' } },
          { id: 'Task2', attributes: { AWS_INSTANCE_IPV4: '10.0.0.2', AWS_INSTANCE_PORT: '8080', version: 'v2' } },
        ],
      },
    ]);
    const registry = offlineRegistry(result.cloudMapSeeds);
    expect(
      registry.ok &&
        registry.registry
          .discover('apps.local', 'api')!
          .map((i) => i.id)
          .sort(),
    ).toEqual(['Task2', 'task-1']);
  });

  it('a service in a namespace of another stack is not seeded, with a warning saying why', () => {
    const text = CLOUD_MAP.replace('NamespaceId: !Ref Namespace', 'NamespaceId: ns-0123456789abcdef');
    const dir = meshFolder({ 'cloud-map.yaml': text, 'mesh.yaml': 'kind: Mesh\nname: m\n' });
    const result = loadMesh([dir]);
    expect(result.ok && result.cloudMapSeeds).toEqual([]);
    expect(findings(result, dir)).toEqual([
      'cloud-map.yaml:9:20: warning: AWS::ServiceDiscovery::Service/Registry: not seeded in the local Cloud Map registry: "ns-0123456789abcdef" is not a namespace of this template, so meshd does not know its name (Ref a namespace declared here) (Resources.Registry.Properties.NamespaceId)',
    ]);
  });
});

describe('command-line flags', () => {
  it('--parameter takes one Key=Value each time (the value may hold =), and the paths after it stay paths', () => {
    const args = parseArgs(
      validateCommand,
      ['--parameter', 'A=1', 'mesh/', '--parameter=B=x=y', '--import-value', 'e:x=', '--region', 'eu-west-1'],
      {},
    );
    expect(args.positionals).toEqual(['mesh/']);
    const options = loadOptions(args).cloudFormation!;
    expect([
      ...loadOptions(parseArgs(validateCommand, ['--resource-value', 'Lb.DNSName=a.b'], {})).cloudFormation!
        .resourceValues!,
    ]).toEqual([['Lb.DNSName', 'a.b']]);
    expect([...options.parameters!]).toEqual([
      ['A', '1'],
      ['B', 'x=y'],
    ]);
    expect([...options.importValues!]).toEqual([['e:x', '']]);
    expect(options.region).toBe('eu-west-1');
    // Without --region, the region is the one the AWS tools use.
    expect(
      loadOptions(parseArgs(validateCommand, ['mesh/'], { AWS_REGION: 'ap-south-1' })).cloudFormation!.region,
    ).toBe('ap-south-1');
    expect(loadOptions(parseArgs(validateCommand, ['mesh/'], {})).cloudFormation).toMatchObject({
      region: 'us-east-1',
      accountId: '000000000000',
    });
  });

  it.each([
    [['--parameter', 'A'], "--parameter takes Key=Value, got 'A'"],
    [['--parameter', 'A=1', '--parameter', 'A=2'], '--parameter A is given twice'],
    [['--region', 'US East'], "--region must be an AWS region such as us-east-1, got 'US East'"],
    [['--account-id', '42'], "--account-id must be 12 digits, got '42'"],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => loadOptions(parseArgs(validateCommand, argv, {}))).toThrow(message);
  });
});

describe('random intrinsic functions', () => {
  // Names that exist (parameters, conditions, resources, attributes) and some that do not.
  const name = fc.constantFrom(
    'Name',
    'Env',
    'Hosts',
    'IsProd',
    'IsDev',
    'Node',
    'Shared',
    'Mesh',
    'Router',
    'Ghost',
    'AWS::NoValue',
    'AWS::Region',
    'RegionHosts',
    'us-east-1',
    'Host',
  );
  const attribute = fc.constantFrom('Arn', 'MeshName', 'VirtualNodeName', 'Uid', 'Nope');
  const { expression } = fc.letrec<{ expression: unknown }>((tie) => ({
    expression: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.integer({ min: -1, max: 5 }),
        name,
        fc.constant('${Name}.${Node.VirtualNodeName}'),
      ),
      name.map((n) => ({ Ref: n })),
      fc.tuple(name, attribute).map((t) => ({ 'Fn::GetAtt': t })),
      tie('expression').map((e) => ({ 'Fn::Sub': e })),
      fc.tuple(tie('expression'), tie('expression')).map(([t, v]) => ({ 'Fn::Sub': [t, { Name: v }] })),
      fc.tuple(tie('expression'), fc.array(tie('expression'), { maxLength: 3 })).map((t) => ({ 'Fn::Join': t })),
      fc.tuple(tie('expression'), tie('expression')).map((t) => ({ 'Fn::Select': t })),
      fc.tuple(tie('expression'), tie('expression')).map((t) => ({ 'Fn::Split': t })),
      fc.tuple(name, tie('expression'), tie('expression')).map((t) => ({ 'Fn::If': t })),
      fc.tuple(name, tie('expression'), tie('expression')).map((t) => ({ 'Fn::FindInMap': t })),
      fc.array(tie('expression'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('Port', 'Protocol', 'Hostname', 'Ref', 'Fn::If', '__proto__'), tie('expression'), {
        maxKeys: 2,
      }),
    ),
  }));

  it('through a chain of 300 resources, each named after the next, are refused where the limit is reached, not a stack overflow', () => {
    const node = (i: number) =>
      `  Node${i}:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: m\n      VirtualNodeName: ${i === 300 ? 'last' : `!Sub '\${Node${i + 1}.VirtualNodeName}-'`}\n      Spec: {}\n`;
    const dir = meshFolder({
      'chain.yaml': `Resources:\n  Mesh:\n    Type: AWS::AppMesh::Mesh\n    Properties: { MeshName: m }\n${Array.from({ length: 301 }, (_, i) => node(i)).join('')}`,
    });
    const result = loadMesh([dir]);
    expect(result.ok).toBe(false);
    expect(findings(result, dir)).toEqual([
      expect.stringMatching(
        /^chain\.yaml:\d+:\d+: error: VirtualNode\/\?: functions and references nest more than 200 deep; meshd stops here \(Resources\.Node\d+\.Properties\.VirtualNodeName\)$/,
      ),
    ]);
  });

  it('that would make a huge string stop at the limit', () => {
    // Each level repeats the one below 16 times: 16^6 characters, were it not stopped.
    let expression = "'x'";
    for (let i = 0; i < 6; i++) expression = `!Sub ['${'${A}'.repeat(16)}', { A: ${expression} }]`;
    const dir = meshFolder({ 'stack.yaml': `${STACK}${expression}\n` });
    expect(findings(loadMesh([dir]), dir)).toEqual([
      expect.stringContaining('Fn::Sub: makes a string longer than 65536 characters'),
    ]);
  });

  it('never crash the loader: a model, or errors at real lines of the template', () => {
    fc.assert(
      fc.property(expression, expression, expression, (hostname, nodeName, port) => {
        const template = parseYamlDocuments('t.yaml', `${STACK}x\n`).documents[0]!.value as any;
        template.Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname = hostname;
        template.Resources.Node.Properties.VirtualNodeName = nodeName;
        template.Resources.Node.Properties.Spec.Listeners[0].PortMapping.Port = port;
        const text = stringify(template);
        const parsed = parseYamlDocuments('t.yaml', text);
        const result = loadDocuments(parsed.documents, [...parsed.problems], ['t.yaml']);
        if (!result.ok) expect(result.problems.some((p) => p.severity === 'error')).toBe(true);
        for (const p of result.problems) {
          expect(p.location.file).toBe('t.yaml');
          expect(p.location.line).toBeGreaterThanOrEqual(1);
          expect(p.location.line).toBeLessThanOrEqual(text.split('\n').length);
        }
      }),
      { numRuns: 300 },
    );
  });
});
