// Starting and stopping the demo's children (meshd, the apps, Envoy, and one-shot commands).
// Each child runs in its own process group, so the terminal's Ctrl-C reaches the demo only and
// the demo stops them in order; a child that exits while the demo is not stopping is reported
// (with its last lines) through `onUnexpectedExit`.
import { spawn, type ChildProcess } from 'node:child_process';

const KEEP_LINES = 40;

export interface LineHandlers {
  readonly onStdoutLine?: (line: string) => void;
  readonly onStderrLine?: (line: string) => void;
}

export interface StartOptions extends LineHandlers {
  readonly env?: Readonly<Record<string, string>>;
}

export interface Child {
  readonly name: string;
  readonly pid: number | undefined;
  readonly process: ChildProcess;
  /** Its last lines on stderr (or on stdout when it wrote nothing to stderr). */
  lastLines(n?: number): string[];
  /** Exit code, or the signal that ended it, once it has exited. */
  exitDescription(): string | undefined;
}

/** What `run` keeps of a command's standard output (a bootstrap is a few KiB). */
const RUN_OUTPUT_LIMIT = 1 << 20;

/** Splits a stream into lines, keeping the last few. */
function lineCollector(stream: NodeJS.ReadableStream | null, kept: string[], onLine?: (line: string) => void): void {
  if (!stream) return;
  let partial = '';
  stream.setEncoding('utf8');
  const emit = (line: string) => {
    kept.push(line);
    if (kept.length > KEEP_LINES) kept.shift();
    onLine?.(line);
  };
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    parts.forEach(emit);
  });
  stream.on('end', () => {
    if (partial) emit(partial);
    partial = '';
  });
}

class ManagedChild implements Child {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  exited = false;
  /** Started with `start` (a service), not `run` (a one-shot command). */
  longRunning = false;
  private exitText: string | undefined;
  readonly exitedPromise: Promise<void>;

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
    handlers: LineHandlers,
  ) {
    lineCollector(process.stdout, this.stdout, handlers.onStdoutLine);
    lineCollector(process.stderr, this.stderr, handlers.onStderrLine);
    this.exitedPromise = new Promise((resolve) => {
      // 'close' comes after 'exit' once the output is read to the end, so lastLines() is complete.
      process.once('close', (code, signal) => {
        this.exited = true;
        this.exitText ??= signal ? `killed by ${signal}` : `exit code ${code}`;
        resolve();
      });
      process.once('error', (err) => {
        // Could not be started (or signalled); 'close' may never come when it did not start.
        this.exitText = `could not run: ${err.message}`;
        if (process.pid === undefined) {
          this.exited = true;
          resolve();
        }
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  lastLines(n = 12): string[] {
    const lines = (this.stderr.some((l) => l.trim()) ? this.stderr : this.stdout).filter((l) => l.trim());
    return lines.slice(-n);
  }

  exitDescription(): string | undefined {
    return this.exitText;
  }
}

export class Supervisor {
  private readonly children: ManagedChild[] = [];
  private stopping = false;

  /** Called once per child that exits while the demo is not stopping (`start`ed children only). */
  constructor(private readonly onUnexpectedExit: (child: Child) => void) {}

  /** Starts a long-running child. */
  start(name: string, command: string, args: readonly string[], options: StartOptions = {}): Child {
    const child = this.spawn(name, command, args, options);
    child.longRunning = true;
    void child.exitedPromise.then(() => {
      if (!this.stopping) this.onUnexpectedExit(child);
    });
    return child;
  }

  /** Runs a command to its end (stopped with the others if the demo stops first). */
  async run(
    name: string,
    command: string,
    args: readonly string[],
    options: StartOptions = {},
  ): Promise<{ ok: boolean; stdout: string; child: Child }> {
    const child = this.spawn(name, command, args, options);
    // The whole output (child.stdout keeps only the last lines, for messages), up to a bound.
    let stdout = '';
    child.process.stdout?.on('data', (chunk: string) => {
      if (stdout.length < RUN_OUTPUT_LIMIT) stdout += chunk.slice(0, RUN_OUTPUT_LIMIT - stdout.length);
    });
    await child.exitedPromise;
    return { ok: child.process.exitCode === 0, stdout, child };
  }

  /** Whether stopAll has begun. */
  isStopping(): boolean {
    return this.stopping;
  }

  /** The long-running children (`start`), in the order they were started. */
  started(): Child[] {
    return this.children.filter((c) => c.longRunning);
  }

  /** Every child (long-running or one-shot) that has not exited yet. */
  running(): Child[] {
    return this.children.filter((c) => !c.exited);
  }

  /** SIGTERM to every child still running, SIGKILL to those still there after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exited) return;
        signal(child, 'SIGTERM');
        const timer = setTimeout(() => signal(child, 'SIGKILL'), graceMs);
        await child.exitedPromise;
        clearTimeout(timer);
      }),
    );
  }

  /** Last resort when the demo exits without stopAll (an uncaught error): SIGKILL, synchronously. */
  killAllNow(): void {
    this.stopping = true;
    for (const child of this.children) if (!child.exited) signal(child, 'SIGKILL');
  }

  private spawn(name: string, command: string, args: readonly string[], options: StartOptions): ManagedChild {
    if (this.stopping) throw new Error(`not starting ${name}: the demo is stopping`);
    const proc = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      detached: true, // its own process group: Ctrl-C in the terminal is the demo's to handle
    });
    const child = new ManagedChild(name, proc, options);
    this.children.push(child);
    return child;
  }
}

function signal(child: ManagedChild, sig: NodeJS.Signals): void {
  try {
    child.process.kill(sig);
  } catch {
    // already gone
  }
}
