// Where the CA keeps what it must not lose: its roots and keys, the issuing CA, the join-token
// signing key and the revoked tokens. One serialisable CaState, kept either in a file encrypted
// with AES-256-GCM under the key of --ca-key-file, or in PostgreSQL (one row every replica shares).
// Writes are compare-and-set on a sequence number, so two replicas never overwrite each other.
import { createCipheriv, createDecipheriv, randomBytes, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import type { Pool } from 'pg';
import { replaceFileAtomically } from '../util/atomic-json-file';
import { readPrivateFile, type PrivateFileError } from '../util/private-file';
import type { Logger } from '../util/log';

export const CA_STATE_VERSION = 1;

export interface CaRoot {
  readonly certPem: string;
  /** Present for a root meshd made; a user's root (above a user intermediate) has none. */
  readonly keyPem?: string;
}

export interface RevokedToken {
  readonly jti: string;
  /** Seconds since the epoch (the token's exp): the entry is dropped once this has passed. */
  readonly exp: number;
}

export interface CaState {
  readonly version: typeof CA_STATE_VERSION;
  /** 'generated': meshd made the CA (and can rotate it); 'user': --ca-cert/--ca-key-file files. */
  readonly source: 'generated' | 'user';
  /** Every trusted root, the newest (the issuing CA's) first. */
  readonly roots: readonly CaRoot[];
  /** The CA that signs leaves: a root, or a user's intermediate with its issuers up to (not incl.) the root. */
  readonly issuing: { readonly certPem: string; readonly keyPem: string; readonly chainPem: readonly string[] };
  /** The ES256 private key (JWK) join tokens are signed with. */
  readonly tokenSigningKey: Record<string, string>;
  readonly revokedTokens: readonly RevokedToken[];
  /** During a rotation's overlap: the old roots stay trusted until `overlapUntil` (ISO time). */
  readonly rotation?: { readonly startedAt: string; readonly overlapUntil: string };
}

/** A state as stored, with the sequence number a compare-and-set update names. */
export interface StoredCaState {
  readonly state: CaState;
  readonly seq: number;
}

export interface CaStateStore {
  /** What the store names itself in messages ("/var/lib/meshd/ca.json", "PostgreSQL"). */
  readonly description: string;
  load(): Promise<StoredCaState | undefined>;
  /** Stores `state` unless one is there already; either way answers the stored one (the winner). */
  create(state: CaState): Promise<StoredCaState>;
  /** Replaces the state if it is still at `expectedSeq`; the new seq, or undefined when another writer won. */
  update(expectedSeq: number, state: CaState): Promise<number | undefined>;
}

export class CaStateError extends Error {
  override name = 'CaStateError';
}

/** The largest state file or row read: revocations are pruned, so a real state stays far below this. */
const MAX_STATE_BYTES = 16 * 1024 * 1024;

// ---- validation: whatever is read from disk or the database is checked before use ----

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length < 1_000_000;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The state in `value`, or a CaStateError naming `where` and the field that is wrong. */
export function parseCaState(value: unknown, where: string): CaState {
  const fail = (field: string, what: string): never => {
    throw new CaStateError(`${where}: the CA state's ${field} ${what}`);
  };
  if (!isObject(value)) return fail('top level', 'is not an object');
  if (value.version !== CA_STATE_VERSION)
    fail('version', `is ${JSON.stringify(value.version)}, this meshd reads ${CA_STATE_VERSION}`);
  if (value.source !== 'generated' && value.source !== 'user') fail('source', "is not 'generated' or 'user'");
  if (!Array.isArray(value.roots) || value.roots.length === 0) fail('roots', 'is not a non-empty list');
  (value.roots as unknown[]).forEach((r, i) => {
    if (!isObject(r) || !isString(r.certPem)) fail(`roots[${i}].certPem`, 'is missing');
    if ((r as Record<string, unknown>).keyPem !== undefined && !isString((r as Record<string, unknown>).keyPem))
      fail(`roots[${i}].keyPem`, 'is not a string');
  });
  const issuing = value.issuing;
  if (!isObject(issuing) || !isString(issuing.certPem) || !isString(issuing.keyPem))
    fail('issuing', 'lacks certPem or keyPem');
  const chain = (issuing as Record<string, unknown>).chainPem;
  if (!Array.isArray(chain) || !chain.every(isString)) fail('issuing.chainPem', 'is not a list of PEM strings');
  const jwk = value.tokenSigningKey;
  if (!isObject(jwk) || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !isString(jwk.d))
    fail('tokenSigningKey', 'is not a private EC P-256 JWK');
  if (!Array.isArray(value.revokedTokens)) fail('revokedTokens', 'is not a list');
  (value.revokedTokens as unknown[]).forEach((t, i) => {
    if (!isObject(t) || !isString(t.jti) || typeof t.exp !== 'number' || !Number.isFinite(t.exp))
      fail(`revokedTokens[${i}]`, 'is not { jti, exp }');
  });
  if (value.rotation !== undefined) {
    const r = value.rotation;
    if (!isObject(r) || !isString(r.startedAt) || !isString(r.overlapUntil) || Number.isNaN(Date.parse(r.overlapUntil)))
      fail('rotation', 'is not { startedAt, overlapUntil } with ISO times');
  }
  const checkCert = (pem: unknown, field: string): void => {
    try {
      new X509Certificate(pem as string);
    } catch {
      fail(field, 'is not a PEM certificate');
    }
  };
  (value.roots as { certPem: string }[]).forEach((r, i) => checkCert(r.certPem, `roots[${i}].certPem`));
  checkCert((issuing as Record<string, unknown>).certPem, 'issuing.certPem');
  (chain as string[]).forEach((pem, i) => checkCert(pem, `issuing.chainPem[${i}]`));
  return value as unknown as CaState;
}

// ---- the key file and the encrypted envelope ----

export interface KeyFileOptions {
  /** Make a key file (32 random bytes, hex, mode 0600) when there is none: the laptop default. */
  readonly createKeyIfMissing?: boolean;
  readonly logger?: Pick<Logger, 'info'>;
}

/**
 * The 32-byte key in `keyFile`: 32 raw bytes, 64 hex characters or base64 of 32 bytes (a
 * trailing newline is fine). A key file others can read is refused: it guards every CA key.
 */
export function readKeyFile(keyFile: string, options: KeyFileOptions = {}): Buffer {
  let bytes: Buffer;
  try {
    bytes = readPrivateFile(keyFile, 1024);
  } catch (err) {
    const problem = (err as PrivateFileError).problem;
    switch (problem?.kind) {
      case 'unreadable':
        if (problem.error.code === 'ENOENT' && options.createKeyIfMissing) return createKeyFile(keyFile, options);
        if (problem.error.code === 'ENOENT')
          throw new CaStateError(
            `--ca-key-file ${keyFile}: cannot read: it does not exist (make one: 32 random bytes, mode 0600)`,
          );
        throw new CaStateError(`--ca-key-file ${keyFile}: cannot read: ${message(problem.error)}`);
      case 'not_file':
        throw new CaStateError(`--ca-key-file ${keyFile}: not a regular file`);
      case 'exposed':
        throw new CaStateError(
          `--ca-key-file ${keyFile}: readable by group or others (mode ${problem.mode.toString(8)}): chmod 600 ${keyFile}`,
        );
      case 'too_large':
        throw new CaStateError(`--ca-key-file ${keyFile}: ${problem.size} bytes, a key is 32`);
      default:
        throw err;
    }
  }
  const key = decodeKey(bytes);
  if (!key)
    throw new CaStateError(
      `--ca-key-file ${keyFile}: not a 32-byte key (give 32 raw bytes, 64 hex characters or base64 of 32 bytes)`,
    );
  return key;
}

function decodeKey(bytes: Buffer): Buffer | undefined {
  if (bytes.length === 32) return bytes;
  if (bytes.length === 33 && bytes[32] === 0x0a) return bytes.subarray(0, 32);
  const text = bytes.toString('latin1').replace(/\r?\n$/, '');
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) {
    const key = Buffer.from(text, 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

function createKeyFile(keyFile: string, options: KeyFileOptions): Buffer {
  const key = randomBytes(32);
  try {
    // 'wx': never replace a key file another process made meanwhile; 0600 before any byte is written.
    const fd = fs.openSync(keyFile, 'wx', 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeFileSync(fd, key.toString('hex') + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(keyFile, {});
    throw new CaStateError(`--ca-key-file ${keyFile}: cannot create: ${message(err)}`);
  }
  options.logger?.info(
    { keyFile },
    `created the CA key file ${keyFile} (32 random bytes, mode 0600): keep it, the CA state cannot be read without it`,
  );
  return key;
}

/** Authenticated with the envelope's version, so a v1 body cannot be passed off as another version's. */
const AAD = Buffer.from('meshd-ca-state v1');

export interface Envelope {
  readonly v: 1;
  readonly alg: 'A256GCM';
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
}

export function encrypt(key: Buffer, plaintext: string): Envelope {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(AAD);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    v: 1,
    alg: 'A256GCM',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}

/** The plaintext, or a CaStateError: `where` and `keyName` name the file and the key in the message. */
export function decrypt(key: Buffer, envelope: unknown, where: string, keyName: string): string {
  if (!isObject(envelope) || envelope.v !== 1 || envelope.alg !== 'A256GCM')
    throw new CaStateError(`${where}: not a meshd encrypted CA state (expected {v:1, alg:'A256GCM', …})`);
  const field = (name: string, length?: number): Buffer => {
    const value = envelope[name];
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
      throw new CaStateError(`${where}: the envelope's ${name} is not base64`);
    const bytes = Buffer.from(value, 'base64');
    if (length !== undefined && bytes.length !== length)
      throw new CaStateError(`${where}: the envelope's ${name} is ${bytes.length} bytes, not ${length}`);
    return bytes;
  };
  const iv = field('iv', 12);
  const tag = field('tag', 16);
  const data = field('data');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(AAD);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  } catch {
    throw new CaStateError(`cannot decrypt ${where} with ${keyName}: wrong key or the file was modified`);
  }
}

// ---- files ----

export type FileCaStateStoreOptions = KeyFileOptions;

/** The CA state in one file, encrypted with the key of `keyFile`; written atomically, mode 0600. */
export class FileCaStateStore implements CaStateStore {
  readonly description: string;
  private key: Buffer | undefined;

  constructor(
    readonly path: string,
    readonly keyFile: string,
    private readonly options: FileCaStateStoreOptions = {},
  ) {
    this.description = path;
  }

  private keyFor(stateExists: boolean): Buffer {
    if (this.key) return this.key;
    if (stateExists && !fs.existsSync(this.keyFile))
      throw new CaStateError(
        `${this.path} exists but its key file ${this.keyFile} does not: restore the key file (a new key cannot read the state)`,
      );
    this.key = readKeyFile(this.keyFile, this.options);
    return this.key;
  }

  async load(): Promise<StoredCaState | undefined> {
    return this.loadSync();
  }

  private loadSync(): StoredCaState | undefined {
    let text: string;
    try {
      const stat = fs.statSync(this.path);
      if (stat.size > MAX_STATE_BYTES)
        throw new CaStateError(`${this.path}: ${stat.size} bytes, too large for a CA state`);
      text = fs.readFileSync(this.path, 'utf8');
    } catch (err) {
      if (err instanceof CaStateError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Read (or make) the key now, so a bad key file is reported at start, not at the first write.
        this.keyFor(false);
        return undefined;
      }
      throw new CaStateError(`${this.path}: cannot read: ${message(err)}`);
    }
    const key = this.keyFor(true);
    let envelope: unknown;
    try {
      envelope = JSON.parse(text);
    } catch {
      throw new CaStateError(`${this.path}: not JSON: not a meshd encrypted CA state`);
    }
    const plaintext = decrypt(key, envelope, this.path, this.keyFile);
    let body: unknown;
    try {
      body = JSON.parse(plaintext);
    } catch {
      throw new CaStateError(`${this.path}: the decrypted CA state is not JSON`);
    }
    if (!isObject(body) || !Number.isSafeInteger(body.seq))
      throw new CaStateError(`${this.path}: no seq in the CA state`);
    return { seq: body.seq as number, state: parseCaState(body.state, this.path) };
  }

  private write(seq: number, state: CaState): void {
    const key = this.keyFor(false);
    const envelope = encrypt(key, JSON.stringify({ seq, state }));
    try {
      // A new file is made 0600; replaceFileAtomically keeps an existing file's mode, so set it every time.
      replaceFileAtomically(this.path, JSON.stringify(envelope) + '\n');
      fs.chmodSync(this.path, 0o600);
    } catch (err) {
      throw new CaStateError(`${this.path}: cannot write: ${message(err)}`);
    }
  }

  async create(state: CaState): Promise<StoredCaState> {
    const existing = this.loadSync();
    if (existing) return existing;
    this.write(1, state);
    return { seq: 1, state };
  }

  async update(expectedSeq: number, state: CaState): Promise<number | undefined> {
    const existing = this.loadSync();
    if (!existing || existing.seq !== expectedSeq) return undefined;
    this.write(expectedSeq + 1, state);
    return expectedSeq + 1;
  }
}

// ---- shared stores (PostgreSQL, a Kubernetes Secret) ----

export interface SharedCaStateOptions {
  /** Encrypt the state with this 32-byte key (readKeyFile of --ca-key-file); unencrypted without it. */
  readonly key?: Buffer;
  /** How the key is named in messages: the key file's path. */
  readonly keyName?: string;
}

/**
 * The CA state as a store that every replica shares keeps it: encrypted with the shared key when one is
 * given, plain JSON otherwise; failing closed on a plain state where an encrypted one is expected.
 */
export class SharedCaStateCodec {
  constructor(
    /** What the store names itself in messages. */
    private readonly where: string,
    private readonly options: SharedCaStateOptions = {},
  ) {}

  encode(state: CaState): unknown {
    return this.options.key ? { encrypted: encrypt(this.options.key, JSON.stringify(state)) } : state;
  }

  decode(stored: unknown): CaState {
    const where = this.where;
    let value = stored;
    if (isObject(value) && 'encrypted' in value) {
      if (!this.options.key)
        throw new CaStateError(`${where}: the CA state is encrypted: give the key file with --ca-key-file`);
      const text = decrypt(this.options.key, value.encrypted, where, this.options.keyName ?? 'the CA key');
      if (text.length > MAX_STATE_BYTES) throw new CaStateError(`${where}: the CA state is too large`);
      value = JSON.parse(text) as unknown;
    } else if (this.options.key) {
      // Fail closed: an unencrypted state where an encrypted one is expected may have been written by anyone.
      throw new CaStateError(`${where}: the CA state is not encrypted, yet --ca-key-file was given`);
    }
    return parseCaState(value, where);
  }
}

/**
 * The CA state in the `meshd_ca` row (migration 2 of src/store/postgres/schema.ts) every replica
 * shares: the first replica to start inserts its new CA, the others read that one back.
 */
export class PostgresCaStateStore implements CaStateStore {
  readonly description = 'PostgreSQL table meshd_ca';
  private readonly codec: SharedCaStateCodec;

  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    options: SharedCaStateOptions = {},
  ) {
    this.codec = new SharedCaStateCodec(this.description, options);
  }

  private encode(state: CaState): unknown {
    return this.codec.encode(state);
  }

  private decode(row: { state: unknown; seq: string | number }): StoredCaState {
    return { seq: Number(row.seq), state: this.codec.decode(row.state) };
  }

  async load(): Promise<StoredCaState | undefined> {
    const result = await this.pool.query<{ state: unknown; seq: string }>(
      'SELECT state, seq FROM meshd_ca WHERE id = 1',
    );
    const row = result.rows[0];
    return row ? this.decode(row) : undefined;
  }

  async create(state: CaState): Promise<StoredCaState> {
    await this.pool.query('INSERT INTO meshd_ca (id, state, seq) VALUES (1, $1, 1) ON CONFLICT (id) DO NOTHING', [
      JSON.stringify(this.encode(state)),
    ]);
    const stored = await this.load();
    if (!stored) throw new CaStateError(`${this.description}: the CA state row vanished after it was inserted`);
    return stored;
  }

  async update(expectedSeq: number, state: CaState): Promise<number | undefined> {
    const result = await this.pool.query<{ seq: string }>(
      'UPDATE meshd_ca SET state = $1, seq = seq + 1 WHERE id = 1 AND seq = $2 RETURNING seq',
      [JSON.stringify(this.encode(state)), expectedSeq],
    );
    const row = result.rows[0];
    return row ? Number(row.seq) : undefined;
  }
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}
