// MeshServer's lifecycle: start() runs once, and a close() while start() is still opening its
// servers leaves nothing open (start() closes what it opens after the close).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { MeshServer } from '../../src/control/mesh-server';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { tmpDir } from '../helpers/processes';

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

async function open(): Promise<MeshServer> {
  const dir = tmpDir('mesh-server-');
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
