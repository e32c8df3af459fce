// Preloaded into a Node server a bench measures (`node --require bench/event-loop-probe.js`):
// records how late the event loop runs a timer (perf_hooks.monitorEventLoopDelay, 1 ms
// resolution) and, on SIGUSR2, writes the figures since the last SIGUSR2 to the file named by
// MESHD_BENCH_LOOP_FILE, then starts over. The bench reads them with loopDelay() (processes.js).
// Measured from outside meshd's code so that meshd's own figures cannot flatter it.
'use strict';
const { monitorEventLoopDelay } = require('node:perf_hooks');
const fs = require('node:fs');

const file = process.env.MESHD_BENCH_LOOP_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  process.on('SIGUSR2', () => {
    const figures = { at: Date.now(), maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), meanMs: ms(h.mean) };
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(figures));
    fs.renameSync(`${file}.tmp`, file);
    h.reset();
  });
}
