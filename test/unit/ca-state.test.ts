// The CA state at rest (src/ca/ca-state.ts): the file is AES-256-GCM encrypted under --ca-key-file and
// round-trips through a restart; a wrong key, a changed byte, a group-readable or malformed key file are refused
// with one line naming the files; a missing key file is made (0600) only when asked; writes are compare-and-set.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CertificateAuthority } from '../../src/ca/authority';
import { CaStateError, encrypt, FileCaStateStore, readKeyFile } from '../../src/ca/ca-state';
import { opensslVerify } from '../helpers/ca';
import { tmpDir } from '../helpers/processes';

const SPIFFE = 'spiffe://meshd.local/mesh/demo/virtualNode/web';

function keyFile(dir: string, content: string | Buffer, mode = 0o600): string {
  const file = path.join(dir, `key-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
  return file;
}

describe('the encrypted CA state file', () => {
  it('round-trips through a restart: the same CA, the file 0600 and holding no key in the clear', async () => {
    const dir = tmpDir('ca-state-');
    const state = path.join(dir, 'ca.json');
    const key = path.join(dir, 'ca.key');
    const logs: string[] = [];
    const logger = { info: (...a: unknown[]) => logs.push(String(a[a.length - 1])), warn: () => undefined };
    const first = await CertificateAuthority.open({
      store: new FileCaStateStore(state, key, { createKeyIfMissing: true, logger }),
      logger,
    });
    expect(logs.join('\n')).toMatch(/created the CA key file .*ca.key \(32 random bytes, mode 0600\)/);
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);
    expect(fs.statSync(state).mode & 0o777).toBe(0o600);
    expect(readKeyFile(key)).toHaveLength(32);
    const text = fs.readFileSync(state, 'utf8');
    const envelope = JSON.parse(text);
    expect(Object.keys(envelope).sort()).toEqual(['alg', 'data', 'iv', 'tag', 'v']);
    expect(envelope).toMatchObject({ v: 1, alg: 'A256GCM' });
    expect(Buffer.from(envelope.iv, 'base64')).toHaveLength(12);
    expect(text).not.toMatch(/PRIVATE KEY|BEGIN|CERTIFICATE/);
    const issued = await first.issueWorkload({ spiffeId: SPIFFE });

    const second = await CertificateAuthority.open({ store: new FileCaStateStore(state, key) });
    expect(second.trustBundlePem()).toBe(first.trustBundlePem());
    expect(opensslVerify(second.trustBundlePem(), issued.certificateChainPem)).toBe('');
    // A rotation is stored too (and the file stays 0600).
    await second.rotate();
    const third = await CertificateAuthority.open({ store: new FileCaStateStore(state, key) });
    expect(third.state().phase.phase).toBe('overlap');
    expect(fs.statSync(state).mode & 0o777).toBe(0o600);
    for (const ca of [first, second, third]) ca.close();
  });

  it('refuses a wrong key and a changed byte with one line naming the file and the key file', async () => {
    const dir = tmpDir('ca-state-');
    const state = path.join(dir, 'ca.json');
    const key = keyFile(dir, 'a'.repeat(64) + '\n');
    (await CertificateAuthority.open({ store: new FileCaStateStore(state, key) })).close();
    const wrong = keyFile(dir, 'b'.repeat(64));
    await expect(new FileCaStateStore(state, wrong).load()).rejects.toThrow(
      new CaStateError(`cannot decrypt ${state} with ${wrong}: wrong key or the file was modified`),
    );
    const envelope = JSON.parse(fs.readFileSync(state, 'utf8'));
    const data = Buffer.from(envelope.data, 'base64');
    data[Math.floor(data.length / 2)]! ^= 1;
    fs.writeFileSync(state, JSON.stringify({ ...envelope, data: data.toString('base64') }));
    await expect(new FileCaStateStore(state, key).load()).rejects.toThrow(
      `cannot decrypt ${state} with ${key}: wrong key or the file was modified`,
    );
    fs.writeFileSync(state, '{"v":2}');
    await expect(new FileCaStateStore(state, key).load()).rejects.toThrow(/not a meshd encrypted CA state/);
    fs.writeFileSync(state, 'garbage');
    await expect(new FileCaStateStore(state, key).load()).rejects.toThrow(`${state}: not JSON`);
  });

  it('checks the decrypted state field by field: a state with a broken certificate is refused, naming it', async () => {
    const dir = tmpDir('ca-state-');
    const state = path.join(dir, 'ca.json');
    const key = keyFile(dir, 'c'.repeat(64));
    (await CertificateAuthority.open({ store: new FileCaStateStore(state, key) })).close();
    const stored = (await new FileCaStateStore(state, key).load())!;
    const broken = { ...stored.state, roots: [{ certPem: 'not a certificate' }] };
    fs.writeFileSync(state, JSON.stringify(encrypt(readKeyFile(key), JSON.stringify({ seq: 9, state: broken }))));
    await expect(new FileCaStateStore(state, key).load()).rejects.toThrow(
      `${state}: the CA state's roots[0].certPem is not a PEM certificate`,
    );
    const noKey = { ...stored.state, tokenSigningKey: { kty: 'EC', crv: 'P-256' } };
    fs.writeFileSync(state, JSON.stringify(encrypt(readKeyFile(key), JSON.stringify({ seq: 9, state: noKey }))));
    await expect(new FileCaStateStore(state, key).load()).rejects.toThrow(
      /tokenSigningKey is not a private EC P-256 JWK/,
    );
  });

  it('reads a key as 32 raw bytes, 64 hex characters or base64, and refuses anything else', () => {
    const dir = tmpDir('ca-key-');
    const raw = Buffer.alloc(32, 7);
    expect(readKeyFile(keyFile(dir, raw))).toEqual(raw);
    expect(readKeyFile(keyFile(dir, raw.toString('hex') + '\n'))).toEqual(raw);
    expect(readKeyFile(keyFile(dir, raw.toString('base64') + '\n'))).toEqual(raw);
    for (const bad of ['a'.repeat(63), 'secret', Buffer.alloc(31), Buffer.alloc(16, 1).toString('base64'), '']) {
      const file = keyFile(dir, bad);
      expect(() => readKeyFile(file)).toThrow(`--ca-key-file ${file}: not a 32-byte key`);
    }
  });

  it('refuses a key file group or others can read, saying chmod 600', () => {
    const dir = tmpDir('ca-key-');
    for (const mode of [0o640, 0o604, 0o644]) {
      const file = keyFile(dir, 'a'.repeat(64), mode);
      expect(() => readKeyFile(file)).toThrow(`chmod 600 ${file}`);
    }
  });

  it('makes no key when not asked to, and never a new key for an existing state', async () => {
    const dir = tmpDir('ca-key-');
    const state = path.join(dir, 'ca.json');
    const key = path.join(dir, 'ca.key');
    await expect(new FileCaStateStore(state, key).load()).rejects.toThrow(`--ca-key-file ${key}: cannot read`);
    expect(fs.existsSync(key)).toBe(false);
    (
      await CertificateAuthority.open({ store: new FileCaStateStore(state, key, { createKeyIfMissing: true }) })
    ).close();
    fs.unlinkSync(key);
    await expect(new FileCaStateStore(state, key, { createKeyIfMissing: true }).load()).rejects.toThrow(
      `${state} exists but its key file ${key} does not: restore the key file`,
    );
    expect(fs.existsSync(key)).toBe(false);
  });

  it('updates compare-and-set: a write from a stale seq is refused', async () => {
    const dir = tmpDir('ca-state-');
    const store = new FileCaStateStore(path.join(dir, 'ca.json'), path.join(dir, 'k'), { createKeyIfMissing: true });
    const ca = await CertificateAuthority.open({ store });
    const { state, seq } = (await store.load())!;
    expect(await store.update(seq, state)).toBe(seq + 1);
    expect(await store.update(seq, state)).toBeUndefined();
    // The CA, holding the old seq, reloads and applies its change again.
    await ca.rotate();
    expect((await store.load())!.seq).toBe(seq + 2);
    ca.close();
  });
});
