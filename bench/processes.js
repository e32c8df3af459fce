// Child processes for the benchmarks (a helper, not a bench): processes that talk in JSON lines,
// their RSS and CPU time from /proc, and a way to stop them all if a bench fails.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');

/** Every process a bench started, to stop them if it fails. */
const children = new Set();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wall-clock ms with sub-ms precision, comparable between processes (as bench/ads-load.js reports). */
const preciseNow = () => performance.timeOrigin + performance.now();

function killAll() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * Starts a process that prints one JSON object a line on stdout (an `event` field each) and
 * reads commands on stdin. Lines that are not JSON are kept in `output()` (meshd's own log).
 * Returns { child, exited, event(name, timeoutMs, filter), send(line), output(), stderr() }.
 */
function startJsonLineProcess(label, command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  children.add(child);
  const events = [];
  const waiters = [];
  let buffered = '';
  let output = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.on('error', () => undefined); // it may exit before reading everything
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        output += `${line}\n`;
        continue;
      }
      if (typeof event?.event !== 'string') {
        output += `${line}\n`;
        continue;
      }
      events.push(event);
      for (const w of [...waiters]) if (w.match(event)) w.resolve(event);
    }
  });
  let ended = false;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const endedMessage = (name) =>
    `${label} exited before reporting '${name}': ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
  exited.then(() => {
    ended = true;
    children.delete(child);
    for (const w of [...waiters]) w.fail(new Error(endedMessage(w.name)));
  });
  return {
    child,
    exited,
    /** The first event (already seen or to come) named `name` that passes `filter`. */
    event(name, timeoutMs = 60000, filter = () => true) {
      const match = (e) => e.event === name && filter(e);
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      if (ended) return Promise.reject(new Error(endedMessage(name)));
      return new Promise((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(w), 1);
        };
        const w = {
          name,
          match,
          resolve: (e) => (done(), resolve(e)),
          fail: (err) => (done(), reject(err)),
        };
        const timer = setTimeout(
          () => w.fail(new Error(`${label} did not report '${name}' within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push(w);
      });
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    output: () => output,
    stderr: () => stderr,
    /** Stops it: `exit` on stdin, then SIGKILL if it has not exited within a few seconds. */
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end('exit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** RSS, peak RSS (MB) and CPU time (ms, user + system) of a process, from /proc (Linux). */
function procStats(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return {
      rssMb: Math.round(kb('VmRSS') / 102.4) / 10,
      peakRssMb: Math.round(kb('VmHWM') / 102.4) / 10,
      cpuMs: Math.round((ticks * 1000) / 100),
    };
  } catch {
    return { rssMb: null, peakRssMb: null, cpuMs: null };
  }
}

/**
 * The event-loop delay a process preloaded with bench/event-loop-probe.js saw since the last call
 * (the probe starts over on each): { maxMs, p99Ms, meanMs }, or undefined if it did not answer.
 */
async function loopDelay(pid, file) {
  const sent = Date.now();
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 200; i++) {
    try {
      const r = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (r.at >= sent) return r;
    } catch {
      /* not written yet */
    }
    await sleep(10);
  }
  return undefined;
}

/** Calls `onLine` with each line (trimmed) of a readable stream, e.g. commands on stdin; `onEnd` when it ends. */
function readLines(stream, onLine, onEnd = () => undefined) {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      onLine(line);
    }
  });
  stream.on('end', onEnd);
}

/** The p-th percentile (nearest rank) of a list of numbers. */
function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

module.exports = {
  children,
  killAll,
  sleep,
  preciseNow,
  startJsonLineProcess,
  readLines,
  procStats,
  percentile,
  loopDelay,
};
