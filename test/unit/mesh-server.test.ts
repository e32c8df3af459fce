// MeshServer's lifecycle: start() runs once, and a close() while start() is still opening its
// servers leaves nothing open (start() closes what it opens after the close).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { MeshServer } from '../../src/control/mesh-server';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { tmpDir, waitFor } from '../helpers/processes';

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

async function open(dir = tmpDir('mesh-server-')): Promise<MeshServer> {
  fs.copyFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
  return MeshServer.open({
    paths: [dir],
    log: quiet,
    cloudMap: { statePath: path.join(dir, 'cloud-map.json') },
    rollouts: { statePath: path.join(dir, 'rollouts.json') },
  });
}

/** Whether something accepts TCP connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('MeshServer lifecycle', () => {
  it('starts, serves, and closes every server', async () => {
    const server = await open();
    await server.start();
    const { xdsPort, adminPort } = server.listening;
    expect([await listening(xdsPort), await listening(adminPort)]).toEqual([true, true]);
    await server.close();
    expect([await listening(xdsPort), await listening(adminPort)]).toEqual([false, false]);
  });

  it('a close() while start() is opening its servers leaves none of them open', async () => {
    const server = await open();
    const starting = server.start();
    await server.close();
    await starting;
    // Nothing is listening: start() closed the xDS server it had opened, and opened no other.
    expect(() => server.listening).toThrow('not started');
  });

  it('start() runs once, and never after close()', async () => {
    const server = await open();
    await server.start();
    await expect(server.start()).rejects.toThrow('starts once');
    await server.close();
    const closed = await open();
    await closed.close();
    await expect(closed.start()).rejects.toThrow('starts once');
  });
});

describe("MeshServer and the App Mesh API's folder", () => {
  it('is made by the first API write, not at start; then edits by hand there are served', async () => {
    const dir = tmpDir('mesh-server-api-');
    const server = await open(dir);
    try {
      await server.start();
      const apiDir = path.join(dir, '.meshd-api');
      expect(fs.existsSync(apiDir)).toBe(false);
      const mesh = server.currentModel()!.resources.find((r) => r.kind === 'Mesh')!.name;
      const created = await server.apiHandler({
        method: 'PUT',
        path: `/v20190125/meshes/${mesh}/virtualNodes`,
        headers: {},
        body: Buffer.from(JSON.stringify({ virtualNodeName: 'by-api', spec: {} })),
      });
      expect(created.status).toBe(200);
      const file = path.join(apiDir, mesh, 'virtual-nodes', 'by-api.yaml');
      expect(fs.existsSync(file)).toBe(true);
      await waitFor('the API write to be served', () =>
        server.currentModel()!.resources.some((r) => r.name === 'by-api') ? true : undefined,
      );
      // An edit by hand: the folder is watched now that it exists (written again until the watch, started with the
      // folder, has seen it; no sleep).
      const edited = fs.readFileSync(file, 'utf8').replace('spec: {}', 'spec: { backendDefaults: {} }');
      const key = { kind: 'VirtualNode' as const, mesh, name: 'by-api' };
      await waitFor(
        'the edit by hand to be a new version',
        async () => {
          if ((await server.store.get(key))?.version === 2) return true;
          fs.writeFileSync(file, edited);
          return undefined;
        },
        15_000,
        200,
      );
    } finally {
      await server.close();
    }
  });
});

describe('MeshServer without a usable CA', () => {
  /** A CA state folder whose key file is a folder: the key cannot be read or made. */
  function brokenIdentity(dir: string) {
    fs.mkdirSync(path.join(dir, 'ca.key'));
    return { stateFile: path.join(dir, 'ca-state.enc.json'), keyFile: path.join(dir, 'ca.key') };
  }

  it('keeps serving configurations (certificates withheld, said why) when --xds-tls is off', async () => {
    const dir = tmpDir('mesh-server-');
    fs.copyFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
    const errors: string[] = [];
    const server = await MeshServer.open({
      paths: [dir],
      log: { ...quiet, error: (...args: unknown[]) => errors.push(args.map(String).join(' ')) },
      cloudMap: { statePath: path.join(dir, 'cloud-map.json') },
      rollouts: { statePath: path.join(dir, 'rollouts.json') },
      identity: brokenIdentity(dir),
    });
    await server.start();
    expect(server.identity).toBeUndefined();
    expect(errors.join('\n')).toMatch(/identity: the certificate authority cannot be opened: .*ca\.key/);
    expect(await listening(server.listening.xdsPort)).toBe(true);
    await server.close();
  });

  it('refuses to start with --xds-tls, naming the key file', async () => {
    const dir = tmpDir('mesh-server-');
    fs.copyFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
    await expect(
      MeshServer.open({
        paths: [dir],
        log: quiet,
        cloudMap: { statePath: path.join(dir, 'cloud-map.json') },
        rollouts: { statePath: path.join(dir, 'rollouts.json') },
        identity: { ...brokenIdentity(dir), xdsTls: true },
      }),
    ).rejects.toThrow(/the certificate authority cannot be opened: .*ca\.key/);
  });
});
