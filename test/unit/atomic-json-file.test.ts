// meshd's registry state file, on the real filesystem: round trips, clear errors, and no torn or
// lost writes when the writer is SIGKILLed at any moment.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AtomicJsonFile, StateFileError } from '../../src/util/atomic-json-file';

// The same module object the code under test uses (`import * as` gives a read-only copy), to spy on.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const realFs: typeof fs = require('node:fs');

const SRC = path.resolve(__dirname, '../../src/util/atomic-json-file.ts');
const DIST = path.resolve(__dirname, '../../dist/util/atomic-json-file.js');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-atomic-json-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

const tempFiles = (folder = dir) => fs.readdirSync(folder).filter((name) => name.endsWith('.tmp'));

function errorOf(f: () => unknown): StateFileError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(StateFileError);
    return err as StateFileError;
  }
  throw new Error('expected a StateFileError, but nothing was thrown');
}

describe('AtomicJsonFile', () => {
  it('reads undefined before the first write, creates the folder, and round-trips', () => {
    const file = path.join(dir, 'a', 'b', 'registry.json');
    const store = new AtomicJsonFile(file);
    expect(store.read()).toBeUndefined();

    const value = {
      services: [{ name: 'web', instances: { i1: { AWS_INSTANCE_IPV4: '10.0.0.1' } } }],
      n: 1.5,
      ok: true,
      none: null,
    };
    store.write(value); // also fsyncs the folder, which must work on this platform
    expect(store.read()).toEqual(value);
    expect(fs.readFileSync(file, 'utf8')).toBe(JSON.stringify(value, null, 2) + '\n');
    expect(new AtomicJsonFile(file).read()).toEqual(value);

    store.write([1, 'two']);
    expect(store.read()).toEqual([1, 'two']);
    expect(tempFiles(path.dirname(file))).toEqual([]);
  });

  it('fsyncs the temp file before the rename and the folder after it', () => {
    const file = path.join(dir, 'registry.json');
    const open = jest.spyOn(realFs, 'openSync');
    const fsync = jest.spyOn(realFs, 'fsyncSync');
    const rename = jest.spyOn(realFs, 'renameSync');
    new AtomicJsonFile(file).write({ a: 1 });

    const fdOf = (match: (p: string) => boolean) => {
      const i = open.mock.calls.findIndex(([p]) => match(String(p)));
      expect(i).toBeGreaterThanOrEqual(0);
      return open.mock.results[i]!.value as number;
    };
    expect(fsync.mock.calls.map(([fd]) => fd)).toEqual([fdOf((p) => p.endsWith('.tmp')), fdOf((p) => p === dir)]);
    expect(rename).toHaveBeenCalledTimes(1);
    const [first, second] = fsync.mock.invocationCallOrder;
    expect(rename.mock.invocationCallOrder[0]).toBeGreaterThan(first!);
    expect(rename.mock.invocationCallOrder[0]).toBeLessThan(second!);
  });

  it('rejects a corrupt file, naming it', () => {
    const file = path.join(dir, 'registry.json');
    fs.writeFileSync(file, '{"a":');
    const err = errorOf(() => new AtomicJsonFile(file).read());
    expect(err.message).toContain(file);
    expect(err.message).toContain('not valid JSON');
    expect(err.message).not.toContain('\n');
  });

  it('rejects a file it cannot read, naming it', () => {
    const file = path.join(dir, 'registry.json');
    fs.mkdirSync(file);
    const err = errorOf(() => new AtomicJsonFile(file).read());
    expect(err.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read: `));
  });

  it('fails to write under a regular file, naming the path, leaving no temp file', () => {
    fs.writeFileSync(path.join(dir, 'plain'), 'not a folder');
    const file = path.join(dir, 'plain', 'sub', 'registry.json');
    const err = errorOf(() => new AtomicJsonFile(file).write({ a: 1 }));
    expect(err.message).toContain(`${file}: cannot write: `);
    expect(fs.readdirSync(dir)).toEqual(['plain']);
  });

  it('removes its temp file when the rename fails', () => {
    const file = path.join(dir, 'registry.json');
    fs.mkdirSync(file); // rename() of a file over a folder fails after the temp file was written
    const err = errorOf(() => new AtomicJsonFile(file).write({ a: 1 }));
    expect(err.message).toContain(`${file}: cannot write: `);
    expect(tempFiles()).toEqual([]);
  });

  it('refuses values that are not JSON, keeping the old value', () => {
    const file = path.join(dir, 'registry.json');
    const store = new AtomicJsonFile(file);
    store.write({ keep: true });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const bad of [undefined, () => 1, cycle, 10n]) {
      expect(errorOf(() => store.write(bad)).message).toContain(`${file}: cannot write: `);
    }
    expect(store.read()).toEqual({ keep: true });
    expect(tempFiles()).toEqual([]);
  });

  it("removes a crashed writer's temp files on read, and only those", () => {
    const file = path.join(dir, 'registry.json');
    const others = ['.registry.json.bak.1.ab.tmp', '.other.json.12.ab.tmp', 'registry.json.tmp'];
    for (const name of ['.registry.json.123.0a1b2c.tmp', '.registry.json.9.ff.tmp', ...others]) {
      fs.writeFileSync(path.join(dir, name), '{"half');
    }
    expect(new AtomicJsonFile(file).read()).toBeUndefined();
    expect(fs.readdirSync(dir).sort()).toEqual([...others].sort());
  });

  it('never loses a completed write nor tears the file when the writer is SIGKILLed', async () => {
    if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first`);
    if (fs.statSync(DIST).mtimeMs < fs.statSync(SRC).mtimeMs)
      throw new Error(`${DIST} is older than ${SRC}: run \`npm run build\` first`);

    const file = path.join(dir, 'registry.json');
    const script = path.join(dir, 'writer.js');
    // Writes forever, printing each seq only after its write() has returned.
    fs.writeFileSync(
      script,
      `
const { AtomicJsonFile } = require(${JSON.stringify(DIST)});
const store = new AtomicJsonFile(process.argv[2]);
for (let n = Number(process.argv[3]); ; n++) {
  store.write({ seq: n, padding: 'x'.repeat(200000 + (n % 1000)) });
  process.stdout.write(n + '\\n');
}
`,
    );
    const store = new AtomicJsonFile(file);
    store.write({ seq: 0, padding: 'x'.repeat(200000) });

    // When to kill: ms after spawning (maybe before the first write is done), ms after the first
    // completed write, or once k writes are reported.
    type Plan = { afterSpawnMs: number } | { afterFirstMs: number } | { afterLines: number };
    const plans: Plan[] = [
      ...[0, 1, 2, 3, 5, 8, 13, 21, 29, 40].map((ms) => ({ afterFirstMs: ms })),
      ...[1, 2, 3, 5, 8, 13].map((k) => ({ afterLines: k })),
      ...[20, 40, 60, 80].map((ms) => ({ afterSpawnMs: ms })),
    ];

    let next = 1;
    for (const [round, plan] of plans.entries()) {
      const printed = await runWriter(script, file, next, plan);
      expect(printed).toEqual(printed.map((_, i) => next + i)); // sanity: the child counts up
      const lastCompleted = printed.length > 0 ? printed[printed.length - 1]! : next - 1;

      const value = store.read() as { seq: number; padding: string };
      expect(tempFiles()).toEqual([]);
      const where = `round ${round} (${JSON.stringify(plan)}): last completed ${lastCompleted}, file has ${value.seq}`;
      // The file holds the last completed write, or the one in flight if its rename happened.
      expect({ where, ok: value.seq === lastCompleted || value.seq === lastCompleted + 1 }).toEqual({
        where,
        ok: true,
      });
      expect(value.padding.length).toBe(200000 + (value.seq % 1000));
      expect(/^x*$/.test(value.padding)).toBe(true);
      next = value.seq + 1;
    }
  }, 30000);
});

/** Runs the writer from seq `start`, SIGKILLs it as planned; the seqs it printed as complete. */
function runWriter(
  script: string,
  file: string,
  start: number,
  plan: { afterSpawnMs: number } | { afterFirstMs: number } | { afterLines: number },
): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, file, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timers: NodeJS.Timeout[] = [];
    const kill = () => child.kill('SIGKILL');
    const later = (ms: number) => timers.push(setTimeout(kill, ms));
    later(10000); // never hang the test on a stuck child
    if ('afterSpawnMs' in plan) later(plan.afterSpawnMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const first = out === '';
      out += chunk;
      if ('afterFirstMs' in plan && first) later(plan.afterFirstMs);
      if ('afterLines' in plan && out.split('\n').length - 1 >= plan.afterLines) kill();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    // 'close' comes after stdout is drained: lines printed just before the kill count too.
    child.on('close', (code, signal) => {
      timers.forEach(clearTimeout);
      if (signal !== 'SIGKILL') return reject(new Error(`the writer exited by itself (code ${code}): ${err}`));
      const complete = out.slice(0, out.lastIndexOf('\n') + 1); // a torn last line was not reported
      resolve(complete.split('\n').filter(Boolean).map(Number));
    });
  });
}
