// HTTP to a local meshd, as the benches' API clients share it: a request answered in JSON, and waiting for /readyz.
'use strict';
const http = require('node:http');

/**
 * Sends `body` (a string, or undefined for none) with the request `options` (host, port, path,
 * method, headers, agent); resolves with the parsed answer, rejects on anything but 200 with
 * `label`, the status and the text.
 */
function requestJson(options, body, label) {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`${label}: ${res.statusCode} ${text}`)),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Waits until meshd's /readyz answers 200, trying every 50 ms, `tries` times at most. */
async function waitReady(port, tries = 200) {
  for (let i = 0; i < tries; i++) {
    const ok = await new Promise((resolve) =>
      http
        .get({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (r) => {
          r.resume();
          resolve(r.statusCode === 200);
        })
        .on('error', () => resolve(false)),
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('meshd did not become ready');
}

module.exports = { requestJson, waitReady };
