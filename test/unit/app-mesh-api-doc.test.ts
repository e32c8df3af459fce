// docs/app-mesh-api.md against the code: its operations table names every operation's method and
// path, its errors table gives each error type the HTTP status meshd answers with, and its
// JavaScript If-Match example, taken from the page as written, is sent with the real SDK to the
// handler (over the in-memory store) and makes an update conditional.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ConflictException,
  CreateMeshCommand,
  CreateVirtualNodeCommand,
  UpdateVirtualNodeCommand,
} from '@aws-sdk/client-app-mesh';
import { ERROR_STATUS } from '../../src/api/errors';
import { API_VERSION_PREFIX, OPERATIONS } from '../../src/api/operations';
import { startApiServer, type ApiServer } from '../helpers/app-mesh-api-server';

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
    // Never answered by meshd: it has no throttling and no dependency that can be unavailable.
    const answered = Object.keys(ERROR_STATUS).filter(
      (t) => t !== 'TooManyRequestsException' && t !== 'ServiceUnavailableException',
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
});
