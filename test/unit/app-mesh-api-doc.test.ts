// docs/app-mesh-api.md against the code: its operations table names every operation's method and
// path, its errors table gives each error type the HTTP status meshd answers with, its JavaScript
// If-Match example, taken from the page as written, is sent with the real SDK to the handler (over
// the in-memory store) and makes an update conditional; and its first call and its hand-over, with
// the page's names, specs, paths and commands, go as the page says over the files-backed store on a
// copy of the quickstart mesh (the SDK in the AWS CLI's place; `meshd export` run as a process).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ConflictException,
  CreateMeshCommand,
  CreateVirtualNodeCommand,
  DescribeRouteCommand,
  ForbiddenException,
  UpdateRouteCommand,
  UpdateVirtualNodeCommand,
} from '@aws-sdk/client-app-mesh';
import { ERROR_STATUS } from '../../src/api/errors';
import { API_VERSION_PREFIX, OPERATIONS } from '../../src/api/operations';
import { FileStore } from '../../src/store/file-store';
import { startApiServer, type ApiServer } from '../helpers/app-mesh-api-server';
import { MESHD_BIN, tmpDir } from '../helpers/processes';

const PAGE = fs.readFileSync(path.resolve(__dirname, '../../docs/app-mesh-api.md'), 'utf8');

/** The lines of the table that follows a heading of the page. */
function tableAfter(heading: string): string[][] {
  const start = PAGE.indexOf(`\n${heading}\n`);
  expect(start).toBeGreaterThan(0);
  const lines = PAGE.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
  }
  return rows;
}

/** A path as the page writes it (`…/meshes/{mesh}/virtualNodes/{name}`) or as the table of operations does. */
const shape = (p: string) => p.replace(/^…/, API_VERSION_PREFIX).replace(/\{[^}]*\}/g, '{}');
const code = (cell: string) => /`([^`]+)`/.exec(cell)?.[1] ?? '';

describe('docs/app-mesh-api.md', () => {
  it('lists each operation of every kind with its method and path', () => {
    const rows = new Map(tableAfter('## What is served').map((r) => [r[0]!, r]));
    expect([...rows.keys()].sort()).toEqual([...new Set(OPERATIONS.flatMap((o) => o.kind ?? []))].sort());
    const documented = (o: (typeof OPERATIONS)[number]): { method: string; path: string } => {
      const row = rows.get(o.kind!)!;
      const onCollection = o.action === 'Create' || o.action === 'List';
      const method = { Create: 'PUT', List: 'GET', Describe: 'GET', Update: 'PUT', Delete: 'DELETE' }[
        o.action as string
      ]!;
      return { method, path: shape(code(row[onCollection ? 1 : 2]!)) };
    };
    const resourceOps = OPERATIONS.filter((o) => o.kind !== undefined);
    expect(resourceOps).toHaveLength(35);
    expect(resourceOps.map(documented)).toEqual(resourceOps.map((o) => ({ method: o.method, path: shape(o.path) })));
    for (const o of OPERATIONS.filter((op) => op.kind === undefined))
      expect(PAGE).toContain(`- \`${o.action}\` (\`${o.method} ${o.path}?resourceArn=…`);
  });

  it('gives each error type the HTTP status meshd answers it with', () => {
    const documented = new Map(tableAfter('## Errors').map((r) => [r[0]!, r[1]!.split(',')[0]!.trim()]));
    // Never answered by meshd: it has no throttling.
    const answered = Object.keys(ERROR_STATUS).filter(
      (t) => t !== 'TooManyRequestsException',
    ) as (keyof typeof ERROR_STATUS)[];
    expect(answered.map((t) => [t, documented.get(t)])).toEqual(answered.map((t) => [t, String(ERROR_STATUS[t])]));
  });

  describe('the JavaScript If-Match example', () => {
    let api: ApiServer;
    beforeEach(async () => {
      api = await startApiServer();
    });
    afterEach(() => api.close());

    /** The page's `ifMatch(command, version)`, as written there. */
    function documentedIfMatch(): <T>(command: T, version: number) => T {
      const start = PAGE.indexOf('function ifMatch(command, version) {');
      expect(start).toBeGreaterThan(0);
      const text = PAGE.slice(start, PAGE.indexOf('\n}\n', start) + 2);
      return new Function(`return ${text}`)() as <T>(command: T, version: number) => T;
    }

    it('sends the version the update is based on, and a stale one is refused with ConflictException', async () => {
      const ifMatch = documentedIfMatch();
      const names = { meshName: 'apps', virtualNodeName: 'color-red' };
      const spec = {
        listeners: [{ portMapping: { port: 9083, protocol: 'http' as const } }],
        serviceDiscovery: { dns: { hostname: '127.0.0.1' } },
      };
      await api.client.send(new CreateMeshCommand({ meshName: 'apps' }));
      await api.client.send(new CreateVirtualNodeCommand({ ...names, spec }));

      const updated = await api.client.send(ifMatch(new UpdateVirtualNodeCommand({ ...names, spec }), 1));
      expect(updated.virtualNode?.metadata?.version).toBe(2);

      const writes = api.store.writes;
      const stale = await api.client.send(ifMatch(new UpdateVirtualNodeCommand({ ...names, spec }), 1)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(stale).toBeInstanceOf(ConflictException);
      expect((stale as Error).message).toBe(
        'VirtualNode color-red is at version 2, but the request was based on version 1 (If-Match)',
      );
      expect(api.store.writes).toBe(writes);
    });
  });

  describe('the first call and the hand-over, over the files-backed store', () => {
    const QUICKSTART = path.resolve(__dirname, '../../examples/quickstart/mesh');
    let root: string;
    let mesh: string;
    let store: FileStore;
    let api: ApiServer<FileStore>;
    beforeEach(async () => {
      root = tmpDir('app-mesh-api-doc-');
      mesh = path.join(root, 'apps-mesh');
      fs.cpSync(QUICKSTART, mesh, { recursive: true });
      store = new FileStore({
        paths: [mesh],
        apiDir: path.join(mesh, '.meshd-api'),
        metadataPath: path.join(root, 'resource-metadata.json'),
      });
      expect(store.load().ok).toBe(true);
      api = await startApiServer({}, store);
    });
    afterEach(() => api.close());

    /** The page's text with its example folder, /tmp/apps-mesh, where this test keeps it. */
    const here = (text: string) => text.replaceAll('/tmp/apps-mesh', mesh);
    /** The JSON of the `--spec '...'` that follows `command` in the page. */
    function specAfter(command: string): Record<string, unknown> {
      const at = PAGE.indexOf(command);
      expect(at).toBeGreaterThan(0);
      return JSON.parse(/--spec '([^']+)'/.exec(PAGE.slice(at))![1]!) as Record<string, unknown>;
    }

    it('writes the created node where the page says, and refuses the update with the message it shows', async () => {
      const spec = specAfter('aws appmesh create-virtual-node --mesh-name apps --virtual-node-name color-red');
      await api.client.send(new CreateVirtualNodeCommand({ meshName: 'apps', virtualNodeName: 'color-red', spec }));
      const file = here(/^cat (\S+)$/m.exec(PAGE)![1]!);
      expect(fs.readFileSync(file, 'utf8')).toContain('name: color-red');

      const names = { meshName: 'apps', virtualRouterName: 'color', routeName: 'color-split' };
      const refused = await api.client
        .send(new UpdateRouteCommand({ ...names, spec: specAfter('aws appmesh update-route') }))
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(refused).toBeInstanceOf(ForbiddenException);
      const shown =
        /# An error occurred \(ForbiddenException\) when calling the UpdateRoute operation: (.*)\n# (.*)\n# (.*)\n/
          .exec(PAGE)!
          .slice(1)
          .join(' ');
      expect((refused as Error).message).toBe(here(shown));
    });

    it('hands the route over by export: refused while defined twice, then the same uid one version up', async () => {
      const names = { meshName: 'apps', virtualRouterName: 'color', routeName: 'color-split' };
      const before = (await api.client.send(new DescribeRouteCommand(names))).route!.metadata!;
      const exported = path.join(root, 'exported');
      // The page's commands, in mesh/'s place the copy of the quickstart.
      execFileSync(process.execPath, [MESHD_BIN, 'export', '--mesh', mesh, '--format', 'yaml', '--out', exported], {
        stdio: 'pipe',
      });
      const target = path.join(mesh, '.meshd-api/apps/routes/color');
      expect(PAGE).toContain('cp /tmp/exported/apps/routes/color/color-split.yaml mesh/.meshd-api/apps/routes/color/');
      fs.mkdirSync(target, { recursive: true });
      fs.copyFileSync(path.join(exported, 'apps/routes/color/color-split.yaml'), path.join(target, 'color-split.yaml'));
      expect(store.load().ok).toBe(false);
      expect((await api.client.send(new DescribeRouteCommand(names))).route!.metadata!.version).toBe(before.version);

      // "now delete the route's document from your own file"
      const own = path.join(mesh, 'mesh.yaml');
      const text = fs.readFileSync(own, 'utf8');
      const start = text.indexOf('kind: Route');
      fs.writeFileSync(own, text.slice(0, start) + text.slice(text.indexOf('---', start) + 4));
      expect(store.load().ok).toBe(true);

      const after = (await api.client.send(new DescribeRouteCommand(names))).route!.metadata!;
      expect({ uid: after.uid, version: after.version }).toEqual({ uid: before.uid, version: before.version! + 1 });
      const spec = {
        httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: 'color-green', weight: 1 }] } },
      };
      const updated = await api.client.send(new UpdateRouteCommand({ ...names, spec }));
      expect(updated.route!.metadata!.version).toBe(before.version! + 2);
    });
  });
});
