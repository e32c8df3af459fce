// CloudFormation templates on the command line: --parameter and the other stack flags reach the
// loader on validate and render, and their mistakes are one line with exit 2.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { MESHD_BIN } from '../helpers/processes';

const GRPC = path.join(__dirname, '../fixtures/cloudformation/grpc');

function meshd(...args: string[]) {
  const r = spawnSync(process.execPath, [MESHD_BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('meshd with CloudFormation templates', () => {
  it('validate: a parameter without a Default is one error line naming it and the flag to give', () => {
    expect(meshd('validate', GRPC)).toEqual({
      status: 1,
      stdout: `${GRPC}/mesh.yaml:10:22: error: Mesh/?: Fn::Sub: parameter 'ProjectName' has no value: give it a Default or pass --parameter ProjectName=<value> (Resources.Mesh.Properties.MeshName)\n`,
      stderr: '',
    });
  });

  it('validate --parameter: the template is valid (the path after the flag stays a path)', () => {
    const out = meshd('validate', '--parameter', 'ProjectName=demo', GRPC);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/1 file\(s\), 6 resource\(s\): valid\n$/);
  });

  it('render --parameter: the node the template names, under the names the parameters make', () => {
    const out = meshd(
      'render',
      '--mesh',
      GRPC,
      '--parameter=ProjectName=demo',
      '--node',
      'mesh/demo-mesh/virtualNode/grpc_server',
    );
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('name: cds_ingress_demo-mesh_grpc_server_grpc_8080');
  });

  it('a malformed --parameter is one line and exit 2', () => {
    expect(meshd('validate', GRPC, '--parameter', 'ProjectName')).toEqual({
      status: 2,
      stdout: '',
      stderr: "meshd validate: --parameter takes Key=Value, got 'ProjectName'\n",
    });
  });
});
