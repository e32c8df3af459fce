// Helpers for the CA tests: an in-memory CaStateStore, a user PKI made with the openssl CLI, and
// `openssl verify` as the independent judge of the chains meshd issues.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CaState, CaStateStore, StoredCaState } from '../../src/ca/ca-state';
import { tmpDir } from './processes';

/** A CaStateStore in memory; `writes` counts updates, so tests see whether a change was stored. */
export class MemoryCaStateStore implements CaStateStore {
  readonly description = 'memory';
  stored: StoredCaState | undefined;
  writes = 0;
  load(): Promise<StoredCaState | undefined> {
    return Promise.resolve(this.stored && structuredClone(this.stored));
  }
  create(state: CaState): Promise<StoredCaState> {
    this.stored ??= { state: structuredClone(state), seq: 1 };
    return Promise.resolve(structuredClone(this.stored));
  }
  update(expectedSeq: number, state: CaState): Promise<number | undefined> {
    if (this.stored?.seq !== expectedSeq) return Promise.resolve(undefined);
    this.writes++;
    this.stored = { state: structuredClone(state), seq: expectedSeq + 1 };
    return Promise.resolve(expectedSeq + 1);
  }
}

export function openssl(dir: string, args: string[], input?: string): string {
  const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', ...(input ? { input } : {}) });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/**
 * `openssl verify -CAfile bundle -untrusted <intermediates> leaf` on an issued chain (leaf first):
 * '' when it verifies, else openssl's complaint. `purpose` checks the EKU too (sslserver, sslclient).
 */
export function opensslVerify(
  bundlePem: string,
  chainPem: string,
  options: { purpose?: string; at?: Date } = {},
): string {
  const dir = tmpDir('ca-verify-');
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
  fs.writeFileSync(path.join(dir, 'bundle.pem'), bundlePem);
  fs.writeFileSync(path.join(dir, 'leaf.pem'), blocks[0] ?? '');
  fs.writeFileSync(path.join(dir, 'untrusted.pem'), blocks.slice(1).join(''));
  const args = ['verify', '-CAfile', 'bundle.pem'];
  if (blocks.length > 1) args.push('-untrusted', 'untrusted.pem');
  if (options.purpose) args.push('-purpose', options.purpose);
  if (options.at) args.push('-attime', String(Math.floor(options.at.getTime() / 1000)));
  args.push('leaf.pem');
  const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return result.status === 0 ? '' : `${result.stdout}${result.stderr}`.trim();
}

export interface UserPki {
  readonly dir: string;
  readonly rootCert: string;
  readonly rootKey: string;
  readonly intermediateCert: string;
  readonly intermediateKey: string;
}

/** A user root and an intermediate under it (both EC P-256, CA:true), made with the openssl CLI. */
export function makeUserPki(name = 'corp'): UserPki {
  const dir = tmpDir('ca-user-pki-');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'root.key',
    '-out',
    'root.pem',
    '-days',
    '30',
    '-subj',
    `/O=${name}/CN=${name} root`,
    '-addext',
    'basicConstraints=critical,CA:true',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(dir, ['req', ...ec, '-keyout', 'int.key', '-out', 'int.csr', '-subj', `/O=${name}/CN=${name} intermediate`]);
  fs.writeFileSync(
    path.join(dir, 'int.ext'),
    'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'int.csr',
    '-CA',
    'root.pem',
    '-CAkey',
    'root.key',
    '-CAcreateserial',
    '-out',
    'int.pem',
    '-days',
    '20',
    '-extfile',
    'int.ext',
  ]);
  return {
    dir,
    rootCert: path.join(dir, 'root.pem'),
    rootKey: path.join(dir, 'root.key'),
    intermediateCert: path.join(dir, 'int.pem'),
    intermediateKey: path.join(dir, 'int.key'),
  };
}

/** The certificate's text as openssl prints it (for the extensions). */
export function opensslText(certPem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text'], { input: certPem, encoding: 'utf8' });
}
