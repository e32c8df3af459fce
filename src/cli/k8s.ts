// `meshd k8s crds` and `meshd k8s manifests`: what to `kubectl apply` to run meshd in a cluster,
// printed as multi-document YAML (k8s/crds.ts, k8s/manifests.ts). Nothing is sent to a cluster.
import { dumpYaml } from '../export/yaml-text';
import { customResourceDefinitions } from '../k8s/crds';
import type { KubeObject } from '../k8s/kube-api';
import { DEFAULT_INSTALL_OPTIONS, installManifests } from '../k8s/manifests';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';

const MANIFEST_FLAGS = ['namespace', 'image', 'proxy-init-image', 'replicas', 'xds-tls', 'without-crds'] as const;

export const k8sCommand: CommandSpec = {
  name: 'k8s',
  summary: 'print the App Mesh CRDs, or every manifest to install meshd in a Kubernetes cluster, as YAML',
  usage: 'meshd k8s <crds|manifests> [flags] | kubectl apply -f -',
  flags: {
    namespace: {
      type: 'string',
      metavar: 'name',
      help: "manifests: meshd's namespace (created)",
      default: DEFAULT_INSTALL_OPTIONS.namespace,
    },
    image: {
      type: 'string',
      metavar: 'ref',
      help: "manifests: meshd's container image",
      default: DEFAULT_INSTALL_OPTIONS.image,
    },
    'proxy-init-image': {
      type: 'string',
      metavar: 'ref',
      help: "manifests: the init image injected pods run to set App Mesh's iptables rules (built from envoy-bootstrap/proxy-init)",
      default: DEFAULT_INSTALL_OPTIONS.proxyInitImage,
    },
    replicas: {
      type: 'int',
      min: 1,
      max: 99,
      metavar: 'n',
      help: 'manifests: replicas of the Deployment (one leads, the others stand by and serve xDS)',
      default: DEFAULT_INSTALL_OPTIONS.replicas,
    },
    'xds-tls': {
      type: 'bool',
      help: "manifests: serve xDS over TLS (serve --xds-tls), with the Service's DNS names in its certificate; only for proxies given a join token or certificate yourself: injected sidecars do not speak TLS to meshd yet",
    },
    'without-crds': {
      type: 'bool',
      help: 'manifests: leave the CRDs out (install them once with meshd k8s crds)',
    },
  },
  notes: [
    'crds        the CustomResourceDefinitions of the App Mesh controller kinds (appmesh.k8s.aws/v1beta2), as meshd reads them',
    'manifests   namespace, service account, RBAC, Deployment, Service, the sidecar injector webhook and the CRDs',
    'Exit 0 when printed, 2 for bad flags. See docs/kubernetes.md.',
  ],
};

/** A Kubernetes namespace name: a DNS-1123 label. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function yamlDocuments(objects: readonly KubeObject[]): string {
  return objects.map((o) => `---\n${dumpYaml(o)}`).join('');
}

export function runK8s(args: ParsedArgs): number {
  const [sub, ...extra] = args.positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  switch (sub) {
    case 'crds': {
      const given = MANIFEST_FLAGS.find((f) => args.sources[f] !== undefined);
      if (given) throw new UsageError(`--${given} is for meshd k8s manifests only`);
      process.stdout.write(yamlDocuments(customResourceDefinitions()));
      return 0;
    }
    case 'manifests': {
      const namespace = args.flags.namespace as string;
      if (namespace.length > 63 || !DNS_LABEL.test(namespace))
        throw new UsageError(
          `--namespace must be a Kubernetes namespace name (lowercase letters, digits and '-', at most 63), got '${namespace}'`,
        );
      const image = (args.flags.image as string).trim();
      if (image === '' || /\s/.test(image)) throw new UsageError(`--image must be an image reference, got '${image}'`);
      const proxyInitImage = (args.flags['proxy-init-image'] as string).trim();
      if (proxyInitImage === '' || /\s/.test(proxyInitImage))
        throw new UsageError(`--proxy-init-image must be an image reference, got '${proxyInitImage}'`);
      const objects = installManifests({
        namespace,
        image,
        proxyInitImage,
        replicas: args.flags.replicas as number,
        xdsTls: args.flags['xds-tls'] === true,
        withoutCrds: args.flags['without-crds'] === true,
      });
      process.stdout.write(yamlDocuments(objects));
      return 0;
    }
    default:
      throw new UsageError(
        sub === undefined
          ? 'name what to print: meshd k8s crds, or meshd k8s manifests'
          : `unknown k8s command '${sub}'; expected crds or manifests`,
      );
  }
}
