// A real Prometheus for the tests: Debian's /usr/bin/prometheus (or PROMETHEUS_BIN), started on
// loopback with a generated config that scrapes each given Envoy's admin /stats/prometheus
// every second, keeping its data in a temporary folder. A suite that needs it is skipped when
// it is missing, and fails with MESHD_REQUIRE_ENVOY=1 (CI), as the Envoy suites do.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { describeIfAvailable, findEnvoy, NO_ENVOY } from './envoy';
import { freePort, tmpDir, waitFor } from './processes';

const DEBIAN_PROMETHEUS = '/usr/bin/prometheus';

export function findPrometheus(): string | undefined {
  const candidate = process.env.PROMETHEUS_BIN || DEBIAN_PROMETHEUS;
  try {
    execFileSync(candidate, ['--version'], { stdio: 'ignore' });
    return candidate;
  } catch {
    return undefined;
  }
}

export const NO_PROMETHEUS = `no Prometheus binary (set PROMETHEUS_BIN or install Debian's prometheus package, ${DEBIAN_PROMETHEUS})`;

/** `describe` for suites that need a real Envoy and a real Prometheus. */
export function describeWithEnvoyAndPrometheus(
  name: string,
  body: (bins: { envoy: string; prometheus: string }) => void,
): void {
  const envoy = findEnvoy();
  const prometheus = findPrometheus();
  const why = !envoy ? NO_ENVOY : !prometheus ? NO_PROMETHEUS : undefined;
  describeIfAvailable(name, 'a real Envoy and a real Prometheus', why, () =>
    body({ envoy: envoy!, prometheus: prometheus! }),
  );
}

/** One scrape job: an Envoy's admin address (`host:port`), scraped at /stats/prometheus unless told otherwise. */
export interface ScrapeTarget {
  readonly job: string;
  readonly address: string;
  readonly metricsPath?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** The scrape config for `targets`, every second (YAML is a superset of JSON: written as JSON). */
export function prometheusConfig(targets: readonly ScrapeTarget[], intervalS = 1): string {
  return JSON.stringify(
    {
      global: {
        scrape_interval: `${intervalS}s`,
        evaluation_interval: `${intervalS}s`,
        scrape_timeout: `${intervalS}s`,
      },
      scrape_configs: targets.map((t) => ({
        job_name: t.job,
        metrics_path: t.metricsPath ?? '/stats/prometheus',
        static_configs: [{ targets: [t.address], ...(t.labels ? { labels: t.labels } : {}) }],
      })),
    },
    null,
    2,
  );
}

export interface RunningPrometheus {
  readonly url: string;
  readonly port: number;
  /** An instant query through the HTTP API; the `data` of a success, else throws with Prometheus's error. */
  query(promql: string): Promise<{ resultType: string; result: unknown }>;
  /** Waits until the query returns at least one series (e.g. once the first scrapes are in). */
  waitForSeries(promql: string, timeoutMs?: number): Promise<void>;
  logs(): string;
  /** SIGTERM, then waits for the process to exit (SIGKILL after 10 s); the data folder is removed. */
  stop(): Promise<void>;
}

function get(port: number, pathAndQuery: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** Starts Prometheus on 127.0.0.1 scraping `targets`; resolves once it says it is ready. */
export async function startPrometheus(
  bin: string,
  targets: readonly ScrapeTarget[],
  /** `port`: where it listens (taken beforehand from freePort, so meshd can be told its URL first). */
  options: { intervalS?: number; port?: number } = {},
): Promise<RunningPrometheus> {
  const dir = tmpDir('prometheus-');
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(config, prometheusConfig(targets, options.intervalS ?? 1));
  const port = options.port ?? (await freePort());
  const child = spawn(
    bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'Prometheus to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${output}`);
        const r = await get(port, '/-/ready').catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      },
      30_000,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const query = async (promql: string) => {
    const r = await get(port, `/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = JSON.parse(r.body) as {
      status: string;
      error?: string;
      data: { resultType: string; result: unknown };
    };
    if (body.status !== 'success') throw new Error(`prometheus: ${promql}: ${body.error ?? r.body}`);
    return body.data;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    query,
    waitForSeries: (promql, timeoutMs = 30_000) =>
      waitFor(
        `Prometheus to have ${promql}`,
        async () => {
          const data = await query(promql);
          return Array.isArray(data.result) && data.result.length > 0 ? true : undefined;
        },
        timeoutMs,
        250,
      ).then(() => undefined),
    logs: () => output,
    stop,
  };
}
