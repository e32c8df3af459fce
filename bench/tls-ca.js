// A throwaway CA and xDS server certificate for the benches' TLS runs (openssl CLI, P-256):
// writes ca.crt, server.crt, server.key into a fresh temporary folder and returns it with the
// name the certificate is for (clients override the target name with it).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const SERVER_NAME = 'xds.meshd.bench';
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeTlsDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-tls-'));
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  run([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=meshd bench CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  ]);
  fs.writeFileSync(path.join(dir, 'server.ext'), `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth\n`);
  run(['req', '-new', ...EC, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${SERVER_NAME}`]);
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  ]);
  return { dir, caFile: path.join(dir, 'ca.crt'), serverName: SERVER_NAME };
}

module.exports = { makeTlsDir, SERVER_NAME };
