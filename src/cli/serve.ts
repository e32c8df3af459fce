// `meshd serve`: load the mesh, serve it over ADS, reload it when the files change.
import { startAdminServer } from '../admin/http-server';
import { meshdMetrics } from '../admin/meshd-metrics';
import { compileProxy } from '../compile';
import { DEFAULT_EGRESS_PORT, DEFAULT_INGRESS_PORT } from '../compile/defaults';
import { MeshController } from '../control/mesh-controller';
import { renderProxyConfig, renderSnapshot } from '../control/render';
import { loadMesh } from '../load/mesh-source';
import { watchMeshPaths } from '../load/watcher';
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../log';
import { formatNodeId } from '../model/node-id';
import { SnapshotCache } from '../xds/snapshot-cache';
import { startXdsServer } from '../xds/server';
import { StreamRegistry } from '../xds/stream-status';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';
import { errorCount, loadOptions, logProblems, meshNameFlag } from './mesh-flags';

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'serve mesh files to Envoy proxies over ADS, reloading them on every change',
  usage: 'meshd serve --mesh <file|folder>... [flags]',
  flags: {
    mesh: { type: 'list', metavar: 'path', help: 'mesh files or folders (watched for changes); in the variable, comma-separated', env: ['MESHD_MESH'] },
    'mesh-name': { ...meshNameFlag, env: ['MESHD_MESH_NAME'] },
    'xds-address': { type: 'string', metavar: 'ip', help: 'address for the xDS gRPC server', default: '0.0.0.0', env: ['MESHD_XDS_LISTEN_ADDRESS'] },
    'xds-port': { type: 'int', help: 'port for the xDS gRPC server', default: 18000, env: ['MESHD_XDS_PORT'] },
    'admin-address': { type: 'string', metavar: 'ip', help: 'address for the admin HTTP API', default: '127.0.0.1', env: ['MESHD_ADMIN_LISTEN_ADDRESS'] },
    'admin-port': { type: 'int', help: 'port for the admin HTTP API', default: 18001, env: ['MESHD_ADMIN_PORT'] },
    'debounce-ms': { type: 'int', metavar: 'ms', help: 'wait this long after a file change before reloading (changes within it are served as one)', default: 10, env: ['MESHD_DEBOUNCE_MS'] },
    'log-format': { type: 'string', metavar: 'text|json', help: 'text: one line per event; json: structured (pino) lines', default: 'text', env: ['MESHD_LOG_FORMAT'] },
    'log-level': { type: 'string', metavar: 'level', help: 'debug (every response and ACK), info, warn or error', default: 'info', env: ['MESHD_LOG_LEVEL'] },
  },
  notes: [
    'A change that does not validate is reported (file:line:col) and the last good mesh keeps serving.',
    'Each flag may also be set by the variable in [brackets] (for compose files); the flag wins.',
  ],
};

export async function runServe(args: ParsedArgs): Promise<number> {
  const paths = [...(args.flags.mesh as string[]), ...args.positionals];
  if (paths.length === 0) throw new UsageError('name the mesh with --mesh <file|folder> (for example: --mesh examples/quickstart/mesh)');
  const format = args.flags['log-format'] as string;
  const level = args.flags['log-level'] as string;
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--log-format must be ${LOG_FORMATS.join(' or ')}, got '${format}'`);
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  if ((args.flags['debounce-ms'] as number) < 0) throw new UsageError('--debounce-ms must be 0 or more');
  const log = createLogger({ format: format as LogFormat, level: level as LogLevel });
  const cache = new SnapshotCache();
  const controller = new MeshController(cache, log);
  const streams = new StreamRegistry();
  const metrics = meshdMetrics(streams);

  const reload = (reason: string, detectedAt = Date.now()) => {
    const result = loadMesh(paths, loadOptions(args));
    logProblems(log, result.problems);
    metrics.reloaded(result.ok);
    if (result.ok) {
      controller.setModel(result.model, detectedAt);
      log.info(`mesh ${reason}: ${result.model.resources.length} resources from ${result.files.length} file(s)`);
      return;
    }
    const errors = errorCount(result.problems);
    log.error(
      controller.currentModel()
        ? `mesh not ${reason}: ${errors} error(s); the last good mesh keeps serving`
        : `mesh not ${reason}: ${errors} error(s); nothing is served until the mesh is valid`,
    );
  };
  reload('loaded');

  const xdsHost = args.flags['xds-address'] as string;
  const adminHost = args.flags['admin-address'] as string;
  let xds;
  let admin;
  try {
    xds = await startXdsServer({ host: xdsHost, port: args.flags['xds-port'] as number, cache, hooks: controller, log, observer: metrics.observer, streams });
    admin = await startAdminServer(adminHost, args.flags['admin-port'] as number, {
      streams: xds.streams,
      readiness: () => (controller.currentModel() ? { ready: true } : { ready: false, reason: 'no valid mesh loaded yet' }),
      metrics: () => metrics.registry.render(),
      // A connected proxy's config is what it is being served; any other node id's is what it would get.
      configOf: (nodeId) => {
        const served = controller.servedSnapshot(nodeId);
        if (served) return { ok: true, config: renderSnapshot(served) };
        const model = controller.currentModel();
        if (!model) return { ok: false, error: 'no valid mesh loaded yet' };
        const result = compileProxy(model, nodeId, { ingressPort: DEFAULT_INGRESS_PORT, egressPort: DEFAULT_EGRESS_PORT });
        return result.ok ? { ok: true, config: renderProxyConfig(result.config) } : result;
      },
    });
  } catch (err) {
    log.error(`cannot start: ${(err as Error).message}`);
    await xds?.close();
    return 1;
  }
  const watcher = watchMeshPaths(paths, (changed, detectedAt) => reload(`reloaded after a change to ${changed.join(', ')}`, detectedAt), args.flags['debounce-ms'] as number);
  await watcher.ready;

  const xdsShown = `${xdsHost === '0.0.0.0' ? '127.0.0.1' : xdsHost}:${xds.port}`;
  // Nodes that call other services first: they are the interesting ones to attach an Envoy to.
  const virtualNodes = controller.currentModel()?.virtualNodes() ?? [];
  const hasBackends = (n: (typeof virtualNodes)[number]) => (n.spec.backends ?? []).length > 0;
  const nodes = [...virtualNodes.filter(hasBackends), ...virtualNodes.filter((n) => !hasBackends(n))].map((n) =>
    formatNodeId({ mesh: n.mesh, type: 'virtualNode', name: n.name }),
  );
  process.stdout.write(
    [
      `meshd is serving ${paths.join(' ')}`,
      `  xDS (ADS gRPC):  ${xdsHost}:${xds.port}`,
      `  admin API:       http://${adminHost}:${admin.port}/v1/proxies`,
      `  node ids:        ${nodes.length ? nodes.join('\n                   ') : '(none yet)'}`,
      `attach an Envoy to one of them (scripts/install-envoy installs one and prints its path):`,
      `  bin/meshd bootstrap --node ${nodes[0] ?? 'mesh/<mesh>/virtualNode/<name>'} --xds-address ${xdsShown} > envoy.yaml`,
      `  envoy -c envoy.yaml`,
      '',
    ].join('\n'),
  );

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('shutting down');
  await watcher.close();
  await admin.close();
  await xds.close();
  return 0;
}
